"""Block-wise restoration of lazy frames: the same result as the whole frame, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from emrestore.errors import NotAnImageError, ParameterError
from emrestore.restoration import load_model
from emrestore.restoration.blockwise import (
    block_depth,
    frame_statistics,
    percentiles,
    restore_dask_array,
)
from emrestore.restoration.engine import Restorer


def _frame(shape=(330, 290), seed=0):
    """A frame whose blocks have very different statistics: a ramp, a bright patch, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    signal = 40 + 0.4 * xx + 30 * np.cos(0.6 * xx) * np.cos(0.5 * yy) ** 2
    signal[: shape[0] // 3, : shape[1] // 3] += 400
    frame = rng.poisson(signal).astype(np.float32)
    frame[7, 11] = 3e4  # an X-ray hit: the TEM models clip it away
    return frame


def _compute(array):
    return array.compute(scheduler="threads", num_workers=1)


def _finish(restorer, frame, blocks):
    """The block-wise result with the whole-frame steps (grid pattern, spectral cap), which the
    block-wise path leaves out (they need the whole restored frame): then it is restore_array's result."""
    if blocks.ndim == 3:
        return np.stack([_finish(restorer, f, b) for f, b in zip(frame, blocks)])
    return restorer.whole_frame_steps(restorer.normalisation(frame)[0], blocks)


def test_percentiles_are_numpys_exactly():
    rng = np.random.default_rng(5)
    for trial in range(24):
        shape = tuple(int(n) for n in rng.integers(3, 120, 2))
        frame = (rng.normal(0, 1, shape) * 10.0 ** rng.uniform(-4, 4)).astype(np.float32)
        if trial % 3 == 0:
            frame = np.round(frame)  # many ties
        percent = float(rng.choice([0.0, 0.1, 0.37, 5.0, 50.0]))
        want = np.percentile(frame, [percent, 100 - percent])
        got = percentiles(da.from_array(frame, chunks=int(rng.integers(16, 60))), [percent, 100 - percent])
        assert np.float32(got[0]) == np.float32(want[0]) and np.float32(got[1]) == np.float32(want[1])


@pytest.mark.parametrize("tag", ["hrtem", "hrstem"])
def test_statistics_are_those_of_the_whole_frame(tag):
    restorer = load_model(tag, progress=False)
    frame = _frame()
    _, mean, std = restorer.normalisation(frame)
    low, high, lazy_mean, lazy_std, _ = frame_statistics(restorer, da.from_array(frame, chunks=64))
    assert lazy_mean == pytest.approx(mean, rel=1e-12) and lazy_std == pytest.approx(std, rel=1e-12)
    if restorer.clip_percent:
        assert (low, high) == tuple(float(np.float32(v)) for v in np.percentile(frame, [0.1, 99.9]))
    else:
        assert low is None and high is None


@pytest.mark.parametrize(("tag", "chunk"), [("hrstem", 128), ("hrtem", 96)])
def test_blockwise_equals_the_whole_frame_and_per_block_statistics_would_not(tag, chunk):
    restorer = load_model(tag, progress=False)
    frame = _frame()
    whole = restorer.restore_array(frame)
    lazy = restore_dask_array(restorer, da.from_array(frame, chunks=chunk))
    assert lazy.chunks == da.from_array(frame, chunks=chunk).chunks and lazy.dtype == np.float32
    blocks = _compute(lazy)
    assert np.abs(_finish(restorer, frame, blocks) - whole).max() < 1e-5 * frame.std()
    # restoring each block on its own (its own statistics, no halo) is visibly different
    naive = np.block([[restorer.restore_array(frame[r:r + chunk, c:c + chunk])
                       for c in range(0, frame.shape[1], chunk)] for r in range(0, frame.shape[0], chunk)])
    assert np.abs(naive - whole).max() > 1e-2 * frame.std()


def test_series_frames_each_get_their_own_statistics(stats_model):
    restorer = Restorer(stats_model, progress=False)
    series = np.stack([_frame((150, 140), seed=1), 10 * _frame((150, 140), seed=2) + 500])
    whole = restorer.restore_data(series)
    blocks = _compute(restore_dask_array(restorer, da.from_array(series, chunks=(2, 64, 64))))
    assert blocks.shape == series.shape
    assert np.abs(_finish(restorer, series, blocks) - whole).max() < 1e-5 * series.std()


def test_odd_sizes_and_a_frame_smaller_than_one_block(stats_model):
    restorer = Restorer(stats_model, progress=False)
    for shape, chunk in [((131, 77), 40), ((30, 21), 256)]:
        frame = _frame(shape)
        whole = restorer.restore_array(frame)
        blocks = _compute(restore_dask_array(restorer, da.from_array(frame, chunks=chunk), chunk=chunk))
        assert blocks.shape == shape and np.abs(_finish(restorer, frame, blocks) - whole).max() < 1e-5 * frame.std()


def test_bad_inputs_are_refused(stats_model):
    restorer = Restorer(stats_model, progress=False)
    with pytest.raises(ParameterError, match="dask"):
        restore_dask_array(restorer, np.zeros((32, 32), np.float32))
    with pytest.raises(NotAnImageError):
        restore_dask_array(restorer, da.zeros((4, 4, 32, 32), chunks=16))
    with pytest.raises(ParameterError, match="chunk"):
        restore_dask_array(restorer, da.zeros((32, 32), chunks=16), chunk=0)


def test_halo_is_half_the_models_overlap():
    for tag, depth in (("hrstem", 72), ("hrtem", 56)):
        restorer = load_model(tag, progress=False)
        assert block_depth(restorer) == depth == restorer.needed_overlap // 2 > restorer.context


def test_memory_mapped_zarr_hdf5_and_lazy_hyperspy_inputs(tmp_path, stats_model):
    import h5py
    import zarr

    import emrestore

    restorer = Restorer(stats_model, progress=False)
    frame = _frame((200, 180))
    whole = restorer.restore_array(frame)
    np.save(tmp_path / "f.npy", frame)
    zarr.save_array(str(tmp_path / "f.zarr"), frame, chunks=(64, 64))
    with h5py.File(tmp_path / "f.h5", "w") as h5:
        h5.create_dataset("image", data=frame, chunks=(64, 64))
    emrestore.write(emrestore.EMImage(frame, pixel_size=0.1, unit="nm", modality="stem"), tmp_path / "f.hspy")
    hs = pytest.importorskip("hyperspy.api")
    lazy_signal = hs.load(tmp_path / "f.hspy", lazy=True)
    with h5py.File(tmp_path / "f.h5", "r") as h5:
        inputs = {
            "npy": da.from_array(np.load(tmp_path / "f.npy", mmap_mode="r"), chunks=64),
            "zarr": da.from_zarr(str(tmp_path / "f.zarr")),
            "hdf5": da.from_array(h5["image"], chunks=h5["image"].chunks),
            "hyperspy": lazy_signal.data,
        }
        for name, data in inputs.items():
            restored = _compute(restore_dask_array(restorer, data))
            assert np.abs(_finish(restorer, frame, restored) - whole).max() < 1e-5 * frame.std(), name


MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys, tracemalloc
    import numpy as np
    from emrestore.restoration.engine import Restorer
    from emrestore.restoration.blockwise import restore_dask_array
    from emrestore.restoration.lazy_files import open_lazy, write_tiled_tiff
    model, source, target, small = sys.argv[1:5]
    restorer = Restorer(model, progress=False)

    def run(source, target):
        data, header = open_lazy(source, chunk=256)
        write_tiled_tiff(restore_dask_array(restorer, data, chunk=256), header, target)

    np.save(small, np.ones((300, 300), np.float32))
    run(small, small + ".tif")  # imports and first calls happen before the measurement
    tracemalloc.start()
    run(source, target)
    current, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"peak": peak, "current": current}))
""")


@pytest.mark.parametrize(("side", "ceiling"), [
    (2048, 8 << 20),  # 16 MiB frame, 2x the ceiling (measured peak 6.5 MiB)
    pytest.param(4096, 12 << 20, marks=pytest.mark.slow),  # 64 MiB, 5.3x (measured 8.5 MiB)
])
def test_peak_memory_does_not_follow_the_frame_size(tmp_path, stats_model, side, ceiling):
    """A memory-mapped float32 frame larger than the ceiling (the in-memory restore would
    hold about six copies of it) is restored into a tiled TIFF with a Python-heap peak
    (every numpy array included; tracemalloc) below the ceiling."""
    import tifffile

    source = tmp_path / "big.npy"
    mapped = np.lib.format.open_memmap(source, mode="w+", dtype=np.float32, shape=(side, side))
    rng = np.random.default_rng(0)
    for row in range(0, side, 512):
        mapped[row:row + 512] = rng.poisson(40, (512, side))
    mapped.flush()
    del mapped
    frame_bytes = side * side * 4
    assert frame_bytes >= 2 * ceiling
    target = tmp_path / "big_restored.tif"
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(stats_model), str(source), str(target),
                             str(tmp_path / "small.npy")],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    peak = json.loads(result.stdout.strip().splitlines()[-1])["peak"]
    assert peak < ceiling, f"peak {peak / 2**20:.1f} MiB for a {frame_bytes / 2**20:.0f} MiB frame"
    with tifffile.TiffFile(target) as tif:
        assert tif.pages[0].is_tiled and tif.pages[0].shape == (side, side)
        corner = tif.pages[0].asarray()[:300, :300]
    original = np.load(source, mmap_mode="r")[:300, :300]
    assert np.isfinite(corner).all() and abs(float(corner.mean()) - float(original.mean())) < 5  # units kept

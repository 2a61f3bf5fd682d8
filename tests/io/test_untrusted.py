"""Untrusted input: hostile or damaged files cost a clear error, never a hang or the machine.

Each test reproduces a finding of the reliability review (issue 21) with a small file
made here (or a mutated shared format file) and checks the behaviour that replaced it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

import emrestore
from emrestore.errors import (
    CorruptFileError,
    InputNotFoundError,
    LimitExceededError,
    ParameterError,
)
from emrestore.image import EMImage, normalize_unit
from emrestore.io.limits import ReadLimits
from emrestore.io.signal import EMRestoreWarning, signal_to_image

FORMATS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "formats"
needs_formats = pytest.mark.skipif(not FORMATS.is_dir(), reason="../shared/data/formats not present")


def _sparse_hdf5(path: Path, shape: tuple[int, int]) -> Path:
    """A HyperSpy file declaring a float32 image whose chunks were never written."""
    emrestore.write(EMImage(np.ones((8, 8), np.float32), pixel_size=0.1, unit="nm"), path)
    with h5py.File(path, "r+") as f:
        def find(name: str, obj: object) -> str | None:
            return name if name.endswith("/data") and isinstance(obj, h5py.Dataset) else None

        name = f.visititems(find)
        del f[name]
        f.create_dataset(name, shape=shape, dtype="float32", chunks=(256, 256), compression="gzip")
        group = f[name.rsplit("/", 1)[0]]
        for i, size in enumerate(shape):
            group[f"axis-{i}"].attrs["size"] = size
    return path


# ----------------------------------------------------------------------- declared sizes
def test_hspy_declaring_20000_squared_is_refused_before_allocation(tmp_path):
    path = _sparse_hdf5(tmp_path / "huge.hspy", (20000, 20000))
    assert path.stat().st_size < 200_000
    with pytest.raises(LimitExceededError, match="declares an image of 20000 × 20000"):
        emrestore.read(path, limits=ReadLimits(isolate=False))


def test_hspy_declaring_far_more_than_it_holds_is_refused(tmp_path):
    # within the pixel limit, but 576 MB declared in a file of a few KB
    path = _sparse_hdf5(tmp_path / "sparse.hspy", (12000, 12000))
    with pytest.raises(LimitExceededError, match="damaged or crafted"):
        emrestore.read(path, limits=ReadLimits(isolate=False))


def test_deflate_tiff_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.tif"
    tifffile.imwrite(path, np.zeros((12000, 12000), np.uint8), compression="zlib")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(LimitExceededError):
        emrestore.read(path, limits=ReadLimits(isolate=False))
    with pytest.raises(LimitExceededError, match="more than the limit"):
        emrestore.read(path, limits=ReadLimits(isolate=False, max_pixels=8192**2))


def test_png_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((12000, 12000), np.uint8)).save(path)
    with pytest.raises(LimitExceededError):
        emrestore.read(path, limits=ReadLimits(isolate=False))


def test_npy_larger_than_the_limit_is_refused_from_its_header(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((300, 400), np.float32))
    with pytest.raises(LimitExceededError, match="300 × 400"):
        emrestore.read(path, limits=ReadLimits(isolate=False, max_pixels=100_000))


def test_limits_are_validated():
    with pytest.raises(ParameterError):
        ReadLimits(max_pixels=0)
    with pytest.raises(TypeError):
        emrestore.read(__file__, limits={"max_pixels": 1})  # type: ignore[arg-type]


# ---------------------------------------------------------------- isolation / watchdog
@needs_formats
def test_hdf5_header_that_makes_h5py_spin_is_stopped_by_the_deadline(tmp_path):
    # found by the fuzz run: zeroing these bytes makes h5py loop forever holding the GIL
    data = bytearray((FORMATS / "example2_v3.1.hspy").read_bytes())
    data[2140:2140 + 3391] = bytes(3391)
    path = tmp_path / "example2_v3.1.hspy"
    path.write_bytes(bytes(data))
    with pytest.raises(LimitExceededError, match="took longer than 2 s and was stopped"):
        emrestore.read(path, limits=ReadLimits(timeout_s=2))
    # the caller's process is unharmed and reads the next file normally
    assert emrestore.read(FORMATS / "example2_v3.1.hspy").shape == (16, 16)


def test_parse_that_needs_more_memory_than_its_ceiling_is_stopped(tmp_path):
    path = tmp_path / "wide.npy"
    np.save(path, np.ones((3000, 3000)))  # 72 MB of float64 to read, 36 MB as float32
    with pytest.raises(LimitExceededError, match="needs more memory than its limit"):
        emrestore.read(path, limits=ReadLimits(max_memory_bytes=32 * 2**20))
    assert emrestore.read(path).shape == (3000, 3000)


def test_isolated_read_equals_in_process_read_and_keeps_warnings(tmp_path):
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0] = 200
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    with pytest.warns(EMRestoreWarning, match="colour"):
        isolated = emrestore.read(path)
    with pytest.warns(EMRestoreWarning, match="colour"):
        local = emrestore.read(path, limits=ReadLimits(isolate=False))
    np.testing.assert_array_equal(isolated.data, local.data)
    assert isolated.summary() == local.summary()


def test_errors_raised_in_the_child_keep_their_type(tmp_path):
    path = tmp_path / "bad.dm3"
    path.write_bytes(b"not a dm3 file at all" * 10)
    with pytest.raises(CorruptFileError, match="bad.dm3"):
        emrestore.read(path)


def test_script_without_main_guard_is_not_run_again_by_the_reader(tmp_path):
    # multiprocessing re-imports the caller's __main__ in its children; the reader must not
    image = tmp_path / "frame.npy"
    np.save(image, np.arange(64, dtype=np.float32).reshape(8, 8))
    log = tmp_path / "runs.txt"
    script = tmp_path / "user_script.py"
    script.write_text(
        "import emrestore\n"
        f"open({str(log)!r}, 'a').write('run\\n')\n"
        f"print(emrestore.read({str(image)!r}).shape)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "(8, 8)" in result.stdout
    assert log.read_text() == "run\n"


@needs_formats
def test_dm4_tag_array_declaring_2_to_31_elements_fails_at_once(tmp_path):
    # a damaged length field made the DM reader loop over 2**31 elements (minutes, GBs)
    data = bytearray((FORMATS / "test-1.dm4").read_bytes())
    data[876:884] = (0x7FFFFFF0).to_bytes(8, "big")
    path = tmp_path / "test-1.dm4"
    path.write_bytes(bytes(data))
    from emrestore.io.parser_guards import guard_digitalmicrograph

    assert guard_digitalmicrograph()
    # the guard refuses the damaged tag array before the loop starts
    with pytest.raises(CorruptFileError, match="declares a tag array of .* elements"):
        emrestore.read(path, limits=ReadLimits(isolate=False))


def test_symlink_loop_is_a_clear_error(tmp_path):
    loop = tmp_path / "loop.dm3"
    os.symlink(loop, loop)
    with pytest.raises(InputNotFoundError, match="loop.dm3"):
        emrestore.read(loop)


# ------------------------------------------------------------------ silent wrong answers
def test_values_beyond_float32_are_refused_not_turned_into_nan():
    data = np.full((16, 16), 1e39)
    with pytest.raises(ParameterError, match="float32 range"):
        EMImage(data)
    with pytest.raises(ParameterError, match="float32 range"):
        emrestore.restore(data, model="hrstem", progress=False)
    EMImage(np.full((4, 4), 3e38))  # within range: fine


def test_rgb_npy_is_read_as_one_grey_image(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    path = tmp_path / "rgb.npy"
    np.save(path, rgb)
    with pytest.warns(EMRestoreWarning, match="colour"):
        image = emrestore.read(path)
    assert image.shape == (64, 64)
    stack = tmp_path / "stack.npy"
    np.save(stack, np.zeros((3, 64, 64), np.float32))  # a real series stays a series
    assert emrestore.read(stack).shape == (3, 64, 64)


@needs_formats
def test_truncated_fei_tiff_warns_that_its_metadata_is_lost(tmp_path):
    path = tmp_path / "FEI-Helios-Ebeam-16bits.tif"
    path.write_bytes((FORMATS / "FEI-Helios-Ebeam-16bits.tif").read_bytes()[:-1])
    with pytest.warns(EMRestoreWarning, match="damaged .probably truncated."):
        image = emrestore.read(path)
    assert image.pixel_size is None  # what was lost, now said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        intact = emrestore.read(FORMATS / "FEI-Helios-Ebeam-16bits.tif")
    assert intact.modality == "sem"


def _signal(units: str, scale: float = 0.05, original: dict | None = None) -> dict:
    axes = [{"name": n, "size": 8, "scale": scale, "offset": 0.0, "units": units, "navigate": False}
            for n in "yx"]
    return {"data": np.ones((8, 8), np.float32), "axes": axes, "metadata": {},
            "original_metadata": original or {}}


def test_ncem_emd_units_are_understood():
    assert normalize_unit("n_m") == "nm"
    assert normalize_unit("[u_m]") == "µm"
    image = signal_to_image(_signal("n_m"), "x.emd")
    assert (image.pixel_size, image.unit) == (0.05, "nm")


def test_scale_without_unit_warns():
    with pytest.warns(EMRestoreWarning, match="no unit"):
        image = signal_to_image(_signal(""), "x.hdf5")
    assert image.pixel_size is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signal_to_image(_signal("", scale=1.0), "plain.hdf5")  # the default scale: nothing to say


def test_velox_stem_frame_is_stem():
    velox = {"Optics": {"OperatingMode": "2"}, "BinaryResult": {"Detector": "DF4"}}
    assert signal_to_image(_signal("nm", original=velox), "haadf.emd").modality == "stem"
    velox_tem = {"Optics": {"OperatingMode": "1"}, "BinaryResult": {"Detector": "BM-Ceta"}}
    assert signal_to_image(_signal("nm", original=velox_tem), "ceta.emd").modality == "tem"


def test_bare_array_says_which_model_it_assumed():
    frame = np.random.default_rng(0).poisson(5, (64, 64)).astype(np.float32)
    with pytest.warns(EMRestoreWarning, match="no modality or pixel size.*hrstem"):
        emrestore.restore(frame, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EMRestoreWarning)
        emrestore.restore(frame, model="hrstem", progress=False)


# ------------------------------------------------------------------------------ fuzzing
def _fuzz_module():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_readers.py"
    spec = importlib.util.spec_from_file_location("fuzz_readers", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_mutations_are_reproducible():
    fuzz = _fuzz_module()
    data = bytes(range(256)) * 8
    first = [fuzz.mutate(data, np.random.default_rng(3)) for _ in range(5)]
    again = [fuzz.mutate(data, np.random.default_rng(3)) for _ in range(5)]
    assert first == again
    assert all(mutant != data for mutant, _ in first)


@needs_formats
def test_seeded_fuzz_run_finds_no_traceback_hang_or_crash():
    fuzz = _fuzz_module()
    files = [FORMATS / name for name in fuzz.FORMAT_FILES if (FORMATS / name).is_file()]
    report = fuzz.run_fuzz(files, mutations=250, seed=2026, timeout_s=5)
    assert sum(report.outcomes.values()) == 250
    # every read ended in an image or an EMRestoreError; hangs are stopped by the watchdog
    assert report.outcomes.get("traceback", 0) == 0, report.findings
    assert report.outcomes.get("ok", 0) > 0 and report.outcomes.get("clean-error", 0) > 0
    assert set(report.outcomes) <= {"ok", "clean-error", "refused-size", "watchdog-time",
                                    "watchdog-memory", "crash-contained"}


def test_without_a_fork_server_the_read_happens_here_with_a_warning(tmp_path, monkeypatch):
    import emrestore.io.isolation as isolation

    def no_start(*args, **kwargs):
        raise isolation.IsolationUnavailable("fork server refused")

    monkeypatch.setattr(isolation, "read_isolated", no_start)
    path = tmp_path / "frame.npy"
    np.save(path, np.ones((8, 8), np.float32))
    with pytest.warns(EMRestoreWarning, match="no child process could be started"):
        assert emrestore.read(path).shape == (8, 8)

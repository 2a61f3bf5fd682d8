"""HyperSpy and TIFF round trips: calibration, origin, data bar, square pixels, record, laziness.

Every test runs HyperSpy itself (``hs.load``, real signals); they skip without it, and the
ones on vendor files skip without ../shared/data.
"""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pytest
import tifffile

import emrestore
from emrestore.errors import ParameterError
from emrestore.io.metadata import restoration_record, set_restoration_record
from emrestore.io.tiff import calibration_tags

hs = pytest.importorskip("hyperspy.api", reason="HyperSpy is not installed (pip install emrestore[hyperspy])")

UNITS = [("nm", 0.24851), ("Å", 1.5), ("pm", 7.3), ("µm", 0.25)]


@pytest.fixture(autouse=True)
def _quiet_hyperspy():
    """HyperSpy logs and warns about its own things; the assertions say what matters."""
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)


def _axes(signal) -> list[tuple[float, str, float]]:
    """(scale, units, offset) of each axis, in array order."""
    return [(a.scale, str(a.units), a.offset) for a in signal.axes_manager._axes]


def _small_image(unit: str = "nm", size: float = 0.05, origin=(0.0, 0.0)) -> emrestore.EMImage:
    data = np.random.default_rng(3).normal(100.0, 10.0, (48, 56))
    return emrestore.EMImage(data, pixel_size=size, unit=unit, modality="stem", origin=origin,
                             metadata={"voltage_kV": 200.0})


# ---------------------------------------------------------------- 1. TIFF calibration
@pytest.mark.parametrize(("unit", "size"), UNITS)
def test_tiff_calibration_reaches_hyperspy_imagej_and_emrestore(tmp_path, unit, size):
    image = _small_image(unit, size, origin=(-7.0, 3.0))
    out = emrestore.write(image, tmp_path / "cal.tif")

    signal = hs.load(out)  # HyperSpy
    assert [(pytest.approx(s, rel=1e-9), u, pytest.approx(o)) for s, u, o in _axes(signal)] == [
        (size, unit, -7.0), (size, unit, 3.0)]
    np.testing.assert_array_equal(signal.data, image.data)

    with tifffile.TiffFile(out) as tif:  # what ImageJ parses: description + resolution tags
        meta = tif.imagej_metadata
        page = tif.pages[0]
        assert meta["unit"] == {"µm": "micron", "Å": "A"}.get(unit, unit)
        numerator, denominator = page.tags["XResolution"].value
        assert denominator / numerator == pytest.approx(size, rel=1e-9)  # ImageJ's pixel width
        assert page.tags["YResolution"].value == page.tags["XResolution"].value
        # ImageJ: x = (i - xorigin) * width, so the origin is -offset / width pixels
        assert meta["xorigin"] == pytest.approx(-3.0 / size)
        assert meta["yorigin"] == pytest.approx(7.0 / size)
        assert page.dtype == np.float32

    back = emrestore.read(out)  # emrestore
    assert (back.pixel_size, back.unit, back.origin, back.modality) == (size, unit, (-7.0, 3.0), "stem")
    assert back.metadata == image.metadata


def test_tiff_series_reaches_hyperspy_and_imagej_as_frames(tmp_path):
    series = emrestore.EMImage(np.random.default_rng(0).random((3, 16, 20)), pixel_size=0.1, unit="Å")
    out = emrestore.write(series, tmp_path / "series.tif")
    signal = hs.load(out)
    assert signal.axes_manager.navigation_shape == (3,)
    assert [(s, u) for s, u, _ in _axes(signal)][1:] == [(0.1, "Å"), (0.1, "Å")]
    with tifffile.TiffFile(out) as tif:
        assert tif.imagej_metadata["frames"] == 3 and tif.imagej_metadata["images"] == 3
        assert tif.series[0].shape == (3, 16, 20)
    back = emrestore.read(out)
    assert back.shape == (3, 16, 20) and (back.pixel_size, back.unit) == (0.1, "Å")


def test_calibration_tags_calibrate_a_tiled_block_by_block_write(tmp_path):
    """What the Dask writer does: calibration_tags + a tiled write fed tile by tile."""
    data = np.random.default_rng(5).random((64, 96)).astype(np.float32)
    tags = calibration_tags(0.125, "nm", shape=data.shape, origin=(1.0, 2.0), modality="tem",
                            metadata={"restoration": {"model": "hrtem"}})
    tiles = (data[y:y + 32, x:x + 32] for y in range(0, 64, 32) for x in range(0, 96, 32))
    path = tmp_path / "tiled.tif"
    with tifffile.TiffWriter(path) as writer:
        writer.write(tiles, shape=data.shape, dtype=np.float32, tile=(32, 32),
                     photometric="minisblack", **tags)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].is_tiled
    assert _axes(hs.load(path)) == [(0.125, "nm", 1.0), (0.125, "nm", 2.0)]
    back = emrestore.read(path)
    np.testing.assert_array_equal(back.data, data)
    assert (back.pixel_size, back.unit, back.origin, back.modality) == (0.125, "nm", (1.0, 2.0), "tem")
    assert back.metadata["restoration"] == {"model": "hrtem"}


def test_resolution_keeps_awkward_pixel_sizes(tmp_path):
    for size in (3.3724e-3, 2.614514, 4999.5, 0.0081728831922):
        image = emrestore.EMImage(np.ones((8, 8)), pixel_size=size, unit="nm")
        out = emrestore.write(image, tmp_path / f"{size}.tif")
        assert hs.load(out).axes_manager[0].scale == pytest.approx(size, rel=1e-8)


# ---------------------------------------------------------------- 2. origin
def test_origin_survives_read_restore_write_to_hspy_and_tiff(shared, tmp_path):
    source = emrestore.read(shared("formats/test_STEM_image.dm3"))
    assert source.origin != (0.0, 0.0)  # DigitalMicrograph stores an origin
    restored = emrestore.restore(source, progress=False)
    assert restored.origin == source.origin
    for name in ("restored.hspy", "restored.tif"):
        out = emrestore.write(restored, tmp_path / name)
        offsets = [o for _, _, o in _axes(hs.load(out))]
        assert offsets == pytest.approx(list(source.origin), rel=1e-12)
        assert emrestore.read(out).origin == pytest.approx(source.origin, rel=1e-12)


def test_origin_is_read_from_vendor_axes_in_the_displayed_unit(shared):
    signal = hs.load(shared("formats/test_STEM_image.dm3"))
    image = emrestore.read(shared("formats/test_STEM_image.dm3"))
    assert image.origin == pytest.approx([a.offset for a in signal.axes_manager.signal_axes][::-1])


def test_hyperspy_signal_keeps_its_offsets_through_restore(shared):
    signal = hs.load(shared("formats/test_STEM_image.dm3"))
    restored = emrestore.restore(signal, progress=False)
    assert _axes(restored) == _axes(signal)


# ---------------------------------------------------------------- 3. data bar
def test_zeiss_signal_data_bar_is_found_like_the_reader_does(shared):
    from emrestore.restoration.hyperspy import signal_as_image

    path = shared("real/zeiss_sem_1k.tif")
    signal = hs.load(path)
    image = signal_as_image(signal)
    read = emrestore.read(path)
    assert image.metadata["databar_height_px"] == read.metadata["databar_height_px"] == 77
    assert image.shape == read.shape == (691, 1024)
    assert (image.modality, image.unit) == ("sem", "µm")


def test_zeiss_signal_is_restored_without_its_data_bar(shared):
    path = shared("formats/test_tiff_Zeiss_SEM_512pix.tif")
    signal = hs.load(path)
    bar = emrestore.read(path).metadata["databar_height_px"]
    assert bar > 0
    restored = emrestore.restore(signal, progress=False)
    height = signal.data.shape[0] - bar
    assert restored.data.shape == signal.data.shape and restored.data.dtype == np.float32
    # the bar is copied as it was, the micrograph restored exactly as emrestore.restore(path) does
    np.testing.assert_array_equal(restored.data[height:], signal.data[height:].astype(np.float32))
    from_file = emrestore.restore(path, progress=False)
    np.testing.assert_allclose(restored.data[:height], from_file.data, rtol=1e-5, atol=1e-4)
    record = restoration_record(restored)
    assert record["databar_height_px"] == bar and record["model"] == from_file.metadata["restoration"]["model"]


# ---------------------------------------------------------------- 4. square pixels
def test_emimage_refuses_non_square_pixels():
    with pytest.raises(ParameterError, match="non-square pixels.*Resample"):
        emrestore.EMImage(np.ones((4, 4)), pixel_size=(0.1, 0.2), unit="nm")
    same = emrestore.EMImage(np.ones((4, 4)), pixel_size=(0.1, 0.10001), unit="nm")
    assert same.pixel_size == 0.10001


def test_reader_refuses_non_square_pixels(tmp_path):
    signal = hs.signals.Signal2D(np.ones((16, 16), np.float32))
    for axis, scale in zip(signal.axes_manager.signal_axes, (0.1, 0.3)):
        axis.scale, axis.units = scale, "nm"
    for name in ("stretched.tif", "stretched.hspy"):
        signal.save(tmp_path / name)
        with pytest.raises(ParameterError, match="non-square pixels"):
            emrestore.read(tmp_path / name)


def test_restore_refuses_non_square_hyperspy_signal():
    signal = hs.signals.Signal2D(np.ones((16, 16), np.float32))
    signal.axes_manager[0].scale, signal.axes_manager[1].scale = 0.1, 0.3
    signal.axes_manager[0].units = signal.axes_manager[1].units = "nm"
    with pytest.raises(ParameterError, match="non-square pixels"):
        emrestore.restore(signal, model="hrstem", progress=False)


# ---------------------------------------------------------------- 5. one restoration record
def test_restoration_record_is_in_one_place_on_both_paths(tmp_path):
    image = _small_image()
    restored_image = emrestore.restore(image, model="hrstem", progress=False)
    signal = hs.signals.Signal2D(image.data.copy())
    for axis in signal.axes_manager.signal_axes:
        axis.scale, axis.units = 0.05, "nm"
    restored_signal = emrestore.restore(signal, model="hrstem", progress=False)
    np.testing.assert_array_equal(restored_signal.data, restored_image.data)

    from_image = restoration_record(restored_image)
    from_signal = restoration_record(restored_signal)
    assert restored_signal.metadata.has_item("emrestore.restoration")
    assert not restored_signal.metadata.has_item("Processing")
    ignore = {"date", "model_choice"}  # when, and "chosen by the user" on both
    assert {k: v for k, v in from_image.items() if k not in ignore} == \
        {k: v for k, v in from_signal.items() if k not in ignore}

    # emrestore's HSPY → HyperSpy finds it where the HyperSpy path puts it
    written = hs.load(emrestore.write(restored_image, tmp_path / "ours.hspy"))
    assert restoration_record(written) == from_image
    assert written.metadata.emrestore.restoration.model == "hrstem"
    # HyperSpy's save of a restored signal → emrestore reads it as from its own file
    restored_signal.save(tmp_path / "theirs.hspy")
    assert restoration_record(emrestore.read(tmp_path / "theirs.hspy")) == from_signal
    # TIFF keeps it too
    assert restoration_record(emrestore.read(emrestore.write(restored_image, tmp_path / "r.tif"))) == from_image


def test_set_restoration_record_replaces_an_old_record():
    signal = hs.signals.Signal2D(np.ones((4, 4), np.float32))
    set_restoration_record(signal, {"model": "a", "tile_px": 256})
    set_restoration_record(signal, {"model": "b"})
    assert restoration_record(signal) == {"model": "b"}
    image = emrestore.EMImage(np.ones((4, 4)))
    set_restoration_record(image, {"model": "b", "note": None})
    assert image.metadata["restoration"]["model"] == "b"
    assert restoration_record(image) == {"model": "b"}
    assert restoration_record(emrestore.EMImage(np.ones((4, 4)))) is None


# ---------------------------------------------------------------- 6. lazy signals
def _equal_but_the_grid_pattern(lazy, eager, rows=None):
    """Lazy (block-wise) results keep the network's 4-px grid pattern that the eager path removes
    (restoration/grid_pattern.py): they differ by a pattern repeating every 4 px, and by nothing else."""
    from emrestore.restoration.grid_pattern import tile_cell

    diff = np.asarray(lazy, np.float64) - np.asarray(eager, np.float64)
    for frame in diff.reshape(-1, *diff.shape[-2:]):
        part = frame[:rows]
        np.testing.assert_allclose(part, tile_cell(part[:4, :4], part.shape), atol=2e-3)
        assert np.abs(part).max() < 0.05 * float(np.abs(np.asarray(eager)).mean())
        if rows is not None:
            assert (frame[rows:] == 0).all()


def test_lazy_signal_stays_lazy_and_matches_eager():
    pytest.importorskip("dask.array")
    data = np.random.default_rng(7).normal(50.0, 5.0, (2, 40, 48)).astype(np.float32)
    eager = hs.signals.Signal2D(data)
    for axis in eager.axes_manager.signal_axes:
        axis.scale, axis.units, axis.offset = 0.05, "nm", 1.5
    lazy = eager.as_lazy()
    restored = emrestore.restore(lazy, model="hrstem", progress=False)
    assert restored._lazy
    assert _axes(restored) == _axes(eager)
    expected = emrestore.restore(eager, model="hrstem", progress=False).data
    _equal_but_the_grid_pattern(restored.data.compute(), expected)
    assert restoration_record(restored)["model"] == "hrstem"


def test_lazy_zeiss_signal_stays_lazy_with_its_data_bar_untouched(shared):
    pytest.importorskip("dask.array")
    path = shared("formats/test_tiff_Zeiss_SEM_512pix.tif")
    lazy = emrestore.restore(hs.load(path, lazy=True), progress=False)
    eager = emrestore.restore(hs.load(path), progress=False)
    assert lazy._lazy and not eager._lazy
    bar = restoration_record(lazy)["databar_height_px"]
    assert bar == restoration_record(eager)["databar_height_px"] > 0
    _equal_but_the_grid_pattern(lazy.data.compute(), eager.data, rows=eager.data.shape[-2] - bar)
    assert "grid_pattern_removed_px" not in restoration_record(lazy)
    assert restoration_record(eager)["grid_pattern_removed_px"] == 4


def test_signal_with_two_navigation_axes_is_refused():
    signal = hs.signals.Signal2D(np.ones((2, 2, 8, 8), np.float32))
    with pytest.raises(ParameterError, match="navigation axes"):
        emrestore.restore(signal, model="hrstem", progress=False)


def test_tiff_description_json_is_one_ascii_line(tmp_path):
    image = _small_image("Å", 0.5)
    image.metadata["detector"] = "HAADF – Ø 50 mrad"  # non-ASCII metadata
    out = emrestore.write(image, tmp_path / "a.tif")
    with tifffile.TiffFile(out) as tif:
        block = json.loads(tif.imagej_metadata["emrestore"])
    assert block["metadata"]["detector"] == "HAADF – Ø 50 mrad"
    assert emrestore.read(out).metadata["detector"] == "HAADF – Ø 50 mrad"

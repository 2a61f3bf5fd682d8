"""Writing and reading back keeps data, pixel size and metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import emrestore
from emrestore.errors import OutputExistsError, UnsupportedFormatError


def test_dm3_to_tiff_keeps_data_and_pixel_size_exactly(shared, tmp_path):
    original = emrestore.read(shared("formats/test_STEM_image.dm3"))
    out = emrestore.write(original, tmp_path / "stem.tif")
    back = emrestore.read(out)
    np.testing.assert_array_equal(back.data, original.data)
    assert back.pixel_size == original.pixel_size  # exact, not approximate
    assert back.unit == original.unit == "nm"
    assert back.modality == "stem"
    assert back.metadata == original.metadata


def test_tiff_calibration_is_imagej_readable(shared, tmp_path):
    original = emrestore.read(shared("formats/test_STEM_image.dm3"))
    out = emrestore.write(original, tmp_path / "stem.tif")
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej
        assert tif.pages[0].dtype == np.float32
        assert tif.imagej_metadata["unit"] == "nm"
        numerator, denominator = tif.pages[0].tags["XResolution"].value
        assert denominator / numerator == pytest.approx(original.pixel_size, rel=1e-6)
        block = json.loads(tif.imagej_metadata["emrestore"])
        assert block["metadata"]["voltage_kV"] == pytest.approx(200.0)


def test_micron_tiff_is_read_by_rosettasciio_with_units(tmp_path):
    from rsciio.tiff import file_reader

    image = emrestore.EMImage(np.arange(20.0).reshape(4, 5), pixel_size=0.25, unit="µm")
    out = emrestore.write(image, tmp_path / "um.tif")
    axes = file_reader(str(out))[0]["axes"]
    assert [(a["scale"], a["units"]) for a in axes] == [(0.25, "µm"), (0.25, "µm")]


def test_ser_to_hspy_keeps_data_and_pixel_size_exactly(shared, tmp_path):
    original = emrestore.read(shared("formats/128x128-TEM_search.emi"))
    out = emrestore.write(original, tmp_path / "tem.hspy")
    back = emrestore.read(out)
    np.testing.assert_array_equal(back.data, original.data)
    assert back.pixel_size == original.pixel_size
    assert back.unit == "nm" and back.modality == "tem"
    assert back.metadata == original.metadata


def test_hspy_has_hyperspy_metadata_tree(shared, tmp_path):
    from rsciio.hspy import file_reader

    original = emrestore.read(shared("formats/test_STEM_image.dm3"))
    out = emrestore.write(original, tmp_path / "stem.hspy")
    signal = file_reader(str(out))[0]
    tem = signal["metadata"]["Acquisition_instrument"]["TEM"]
    assert tem["beam_energy"] == pytest.approx(200.0)
    assert [a["units"] for a in signal["axes"]] == ["nm", "nm"]
    # the vendor tree travels with the file
    assert "ImageList" in signal["original_metadata"]


def test_series_round_trip_tiff_and_hspy(shared, tmp_path):
    original = emrestore.read(shared("formats/fei_example_tem_stack.emd"))
    for name in ("stack.tif", "stack.hspy"):
        back = emrestore.read(emrestore.write(original, tmp_path / name))
        assert back.shape == (2, 3, 3)
        np.testing.assert_array_equal(back.data, original.data)
        assert back.pixel_size == original.pixel_size and back.unit == "pm"


def test_png_is_8bit_view_with_calibration(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    data = rng.normal(1000.0, 50.0, size=(40, 60)).astype(np.float32)
    data[0, 0] = 1e6  # an outlier must not flatten the contrast
    image = emrestore.EMImage(data, pixel_size=0.05, unit="nm", modality="stem")
    out = emrestore.write(image, tmp_path / "view.png")
    with Image.open(out) as pil:
        assert pil.mode == "L" and pil.size == (60, 40)
        pixels = np.asarray(pil)
    assert pixels.std() > 30  # percentile stretch uses the range
    back = emrestore.read(out)
    assert (back.pixel_size, back.unit, back.modality) == (0.05, "nm", "stem")


def test_png_of_series_is_a_montage(tmp_path):
    image = emrestore.EMImage(np.random.default_rng(0).random((3, 10, 10)))
    back = emrestore.read(emrestore.write(image, tmp_path / "series.png"))
    assert back.shape == (22, 22)  # 2 × 2 grid with 2-px gaps


def test_npy_round_trip(tmp_path):
    data = np.random.default_rng(2).random((5, 7)).astype(np.float32)
    back = emrestore.read(emrestore.write(emrestore.EMImage(data), tmp_path / "a.npy"))
    np.testing.assert_array_equal(back.data, data)


def test_zspy_is_read(tmp_path):
    zspy = pytest.importorskip("rsciio.zspy", reason="zarr 2 not installed (pip install emrestore[zspy])")
    from emrestore.io.signal import image_to_signal

    image = emrestore.EMImage(np.arange(12.0).reshape(3, 4), pixel_size=0.3, unit="nm", modality="tem")
    path = tmp_path / "a.zspy"
    try:
        zspy.file_writer(str(path), image_to_signal(image), show_progressbar=False)
    except Exception as error:  # zarr 3 is not supported by RosettaSciIO's zspy plugin
        pytest.skip(f"RosettaSciIO cannot write zspy with this zarr: {error}")
    back = emrestore.read(path)
    np.testing.assert_array_equal(back.data, image.data)
    assert (back.pixel_size, back.unit, back.modality) == (0.3, "nm", "tem")


def test_write_never_replaces_the_input(shared, tmp_path):
    source = tmp_path / "input.tif"
    emrestore.write(emrestore.EMImage(np.ones((4, 4)), pixel_size=1.0, unit="nm"), source)
    image = emrestore.read(source)
    before = source.read_bytes()
    with pytest.raises(OutputExistsError, match="input file"):
        emrestore.write(image, source, overwrite=True)
    assert source.read_bytes() == before


def test_write_refuses_existing_file_unless_overwrite(tmp_path):
    image = emrestore.EMImage(np.ones((4, 4)))
    target = tmp_path / "out.tif"
    emrestore.write(image, target)
    with pytest.raises(OutputExistsError, match="already exists"):
        emrestore.write(image, target)
    emrestore.write(image.with_data(np.zeros((4, 4))), target, overwrite=True)
    assert emrestore.read(target).data.max() == 0


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import emrestore.io.tiff as tiff_module

    def broken(image, path):
        path.write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tiff_module, "write_tiff", broken)
    with pytest.raises(RuntimeError):
        emrestore.write(emrestore.EMImage(np.ones((4, 4))), tmp_path / "x.tif")
    assert list(tmp_path.iterdir()) == []


def test_write_unsupported_extension(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.tif"):
        emrestore.write(emrestore.EMImage(np.ones((4, 4))), tmp_path / "x.bmp")


@pytest.mark.parametrize("suffix", [".tif", ".png", ".npy", ".hspy"])
def test_written_files_get_ordinary_permissions(tmp_path, suffix):
    """Atomic writes go through a private temporary file; the output must not stay private (0600)."""
    import os
    import stat

    from emrestore.io.atomic import default_file_mode

    path = tmp_path / f"out{suffix}"
    emrestore.write(emrestore.EMImage(np.ones((8, 8), np.float32), pixel_size=0.1, unit="nm"), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == default_file_mode()

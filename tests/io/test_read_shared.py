"""Every file listed in ../shared/data/README.md reads with the shape and calibration given there."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore

# file, shape, dtype, pixel size, unit, modality (None = not in the file's metadata)
CASES = [
    ("formats/test_STEM_image.dm3", (68, 68), "uint32", 0.2485, "nm", "stem"),
    ("formats/test-1.dm4", (2, 2), "int16", None, None, None),
    ("formats/test-1.dm3", (2, 2, 2), "int16", None, None, None),
    ("formats/fei_example_tem_stack.emd", (2, 3, 3), "int16", 8.17, "pm", "tem"),
    ("formats/example_image.emd", (3, 3), "int32", None, None, None),
    ("formats/HAADFscan.mrc", (16, 16), "uint16", 5.68, "nm", None),
    ("formats/test_loading_image_saved_with_imageJ.tif", (68, 68), "float32", 0.1687, "µm", None),
    ("formats/test_loading_image_saved_with_DM.tif", (68, 68), "int32", 0.1687, "µm", None),
    ("formats/128x128-TEM_search.emi", (128, 128), "int32", 5.26, "nm", "tem"),
    ("formats/128x128-TEM_search_1.ser", (128, 128), "int32", 5.26, "nm", None),
    ("formats/example2_v3.1.hspy", (16, 16), "int32", 0.1744, "1/nm", "tem"),
    ("formats/jpg_no_exif_tags.jpg", (182, 255), "uint8", None, None, None),
    ("real/hrstem_example.ser", (1024, 1024), "uint16", 0.0524, "nm", None),
]


@pytest.mark.parametrize("relative, shape, dtype, pixel_size, unit, modality", CASES)
def test_reads_with_shape_and_calibration(shared, relative, shape, dtype, pixel_size, unit, modality):
    image = emrestore.read(shared(relative))
    assert image.shape == shape
    assert image.data.dtype == np.float32
    assert image.summary()["dtype"] == dtype
    assert image.frames == (shape[0] if len(shape) == 3 else 1)
    if pixel_size is None:
        assert image.pixel_size is None and image.unit is None
    else:
        assert image.unit == unit
        assert image.pixel_size == pytest.approx(pixel_size, rel=2e-3)
    assert image.modality == modality
    assert np.isfinite(image.data).all()


def test_dm3_values_and_metadata(shared):
    path = shared("formats/test_STEM_image.dm3")
    image = emrestore.read(path)
    from rsciio.digitalmicrograph import file_reader

    raw = file_reader(str(path))[0]["data"]
    np.testing.assert_array_equal(image.data, raw.astype(np.float32))
    assert image.metadata["voltage_kV"] == pytest.approx(200.0)
    assert image.metadata["magnification"] == pytest.approx(225000.0)
    assert image.metadata["acquisition_mode"] == "STEM"
    assert image.source == str(path)


def test_velox_stack_keeps_frames_and_metadata(shared):
    image = emrestore.read(shared("formats/fei_example_tem_stack.emd"))
    assert image.is_series and image.frames == 2
    assert image.metadata["voltage_kV"] == pytest.approx(300.0)
    assert image.metadata["detector"] == "BM-Ceta"


@pytest.mark.parametrize(
    "relative, full_rows, image_rows, how",
    [
        ("formats/FEI-Helios-Ebeam-16bits.tif", 471, 442, "metadata"),
        ("formats/test_tiff_Zeiss_SEM_512pix.tif", 384, 350, "image"),
        ("real/zeiss_sem_1k.tif", 768, 691, "image"),
    ],
)
def test_sem_tiff_databar_removed(shared, relative, full_rows, image_rows, how):
    image = emrestore.read(shared(relative))
    assert image.modality == "sem"
    assert image.shape == (image_rows, 1024 if "1k" in relative else 512)
    assert image.metadata["databar_height_px"] == full_rows - image_rows
    assert image.metadata["databar_found_from"] == how


def test_sem_tiff_calibration_and_metadata(shared):
    fei = emrestore.read(shared("formats/FEI-Helios-Ebeam-16bits.tif"))
    assert (fei.pixel_size, fei.unit) == (pytest.approx(3.3724), "µm")
    assert fei.metadata["voltage_kV"] == pytest.approx(5.0)
    assert fei.metadata["dwell_time_us"] == pytest.approx(10.0)
    assert fei.metadata["detector"] == "ETD"
    zeiss = emrestore.read(shared("formats/test_tiff_Zeiss_SEM_512pix.tif"))
    assert (zeiss.pixel_size, zeiss.unit) == (pytest.approx(11.65, rel=1e-4), "nm")
    assert zeiss.metadata["magnification"] == pytest.approx(50000.0)
    # the bar is white with black text; the kept image must not contain its border row
    assert zeiss.data[-1].mean() < 250


def test_velox_index_out_of_range(shared):
    with pytest.raises(emrestore.errors.NotAnImageError, match="index 3"):
        emrestore.read(shared("formats/fei_example_tem_stack.emd"), index=3)


def test_installed_rosettasciio_meets_the_bound_the_readers_need():
    """RosettaSciIO < 0.15 reads Velox EMD pixels as float64 (the file's int16 is lost).

    pyproject.toml bounds it; an environment resolved below the bound (e.g. by an extra
    that pins zarr) must fail here rather than silently change what ``read`` reports.
    """
    import importlib.metadata
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    bounds = set(re.findall(r'"rosettasciio\[[a-z0-9]+\]>=([0-9.]+)"', text))
    assert bounds == {"0.15"}, bounds
    installed = importlib.metadata.version("rosettasciio")
    assert tuple(int(n) for n in installed.split(".")[:2]) >= (0, 15), installed

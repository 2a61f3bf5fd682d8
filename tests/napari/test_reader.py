"""The napari reader: which paths it takes, calibrated layers, clear errors (no Qt needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import emrestore
from emrestore.errors import CorruptFileError, EMRestoreError
from emrestore.napari import _reader
from emrestore.napari._reader import SUFFIXES, get_reader, read_layers

MANIFEST = Path(_reader.__file__).with_name("napari.yaml")


def _calibrated(tmp_path: Path, name: str, shape: tuple[int, ...], size: float = 0.05,
                unit: str = "nm", modality: str = "stem") -> Path:
    rng = np.random.default_rng(0)
    image = emrestore.EMImage(rng.normal(100, 10, shape).astype(np.float32), pixel_size=size,
                              unit=unit, modality=modality, metadata={"voltage_kV": 300.0})
    return emrestore.write(image, tmp_path / name)


def test_manifest_patterns_are_the_read_formats():
    manifest = yaml.safe_load(MANIFEST.read_text())
    patterns = manifest["contributions"]["readers"][0]["filename_patterns"]
    assert sorted(p.removeprefix("*") for p in patterns) == sorted(SUFFIXES)
    for needed in (".dm3", ".dm4", ".ser", ".emi", ".emd", ".hspy", ".tif", ".tiff", ".png", ".npy", ".mrc"):
        assert needed in SUFFIXES


def test_get_reader_declines_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("no image")
    (tmp_path / "folder.tif").mkdir()
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(tmp_path / "folder.tif")) is None  # a folder is no TIFF
    assert get_reader([str(tmp_path / "a.dm3"), str(tmp_path / "notes.txt")]) is None
    assert get_reader(str(tmp_path / "frame.DM4")) is read_layers
    assert get_reader([str(tmp_path / "a.dm3"), str(tmp_path / "b.tif")]) is read_layers


def test_generated_tiff_becomes_a_calibrated_layer(tmp_path):
    path = _calibrated(tmp_path, "frame.tif", (48, 64), size=0.05, unit="nm")
    [(data, kwargs, kind)] = get_reader(str(path))(str(path))
    assert kind == "image" and data.shape == (48, 64) and data.dtype == np.float32
    assert kwargs["name"] == "frame"
    assert kwargs["scale"] == pytest.approx((0.05, 0.05))
    assert kwargs["units"] == ("nm", "nm")
    meta = kwargs["metadata"]
    assert meta["modality"] == "stem" and meta["unit"] == "nm"
    assert meta["pixel_size"] == pytest.approx(0.05)
    assert meta["source"] == str(path)
    assert meta["metadata"]["voltage_kV"] == pytest.approx(300.0)
    low, high = kwargs["contrast_limits"]
    assert data.min() <= low < high <= data.max()


def test_series_is_a_stack_with_unit_frame_scale(tmp_path):
    path = _calibrated(tmp_path, "series.tif", (3, 32, 40), size=2.5, unit="Å")
    [(data, kwargs, _)] = read_layers(str(path))
    assert data.shape == (3, 32, 40)
    assert kwargs["scale"] == pytest.approx((1.0, 2.5, 2.5))
    assert kwargs["units"] == ("pixel", "Å", "Å")
    assert kwargs["axis_labels"] == ("frame", "y", "x")


def test_uncalibrated_npy_has_pixel_scale(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    [(data, kwargs, _)] = read_layers(str(path))
    assert kwargs["scale"] == (1.0, 1.0) and "units" not in kwargs
    assert kwargs["metadata"]["pixel_size"] is None and kwargs["metadata"]["modality"] is None
    np.testing.assert_array_equal(data, np.arange(64 * 64).reshape(64, 64))


def test_damaged_file_raises_a_clear_error(tmp_path):
    bad = tmp_path / "broken.dm3"
    bad.write_bytes(b"this is not a DigitalMicrograph file" * 10)
    with pytest.raises(EMRestoreError) as caught:
        read_layers(str(bad))
    assert isinstance(caught.value, CorruptFileError)
    message = str(caught.value)
    assert "broken.dm3" in message and "Fix:" in message


def test_real_dm3_is_calibrated(shared):
    path = shared("formats/test_STEM_image.dm3")
    expected = emrestore.read(path)
    [(data, kwargs, _)] = read_layers(str(path))
    assert data.shape == expected.shape
    assert kwargs["scale"] == pytest.approx((expected.pixel_size,) * 2)
    assert kwargs["units"] == (expected.unit,) * 2
    assert kwargs["metadata"]["modality"] == expected.modality == "stem"


def test_real_series_is_a_calibrated_stack(shared):
    path = shared("real-series/64x64x5_TEM_preview_1.ser")
    [(data, kwargs, _)] = read_layers(str(path))
    assert data.ndim == 3 and data.shape[0] == 5
    size = kwargs["scale"][-1]
    assert kwargs["scale"] == pytest.approx((1.0, size, size)) and size != 1.0
    assert kwargs["units"][0] == "pixel" and kwargs["units"][1] == kwargs["units"][2]

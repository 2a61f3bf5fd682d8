"""EMImage: validation, units, copies."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore import EMImage
from emrestore.errors import NotAnImageError, ParameterError
from emrestore.image import convenient_length, normalize_unit


def test_integer_data_becomes_float32_without_rescaling():
    image = EMImage(np.array([[0, 65535]], dtype=np.uint16))
    assert image.data.dtype == np.float32
    assert image.data.max() == 65535
    assert image.metadata["original_dtype"] == "uint16"


@pytest.mark.parametrize("shape", [(5,), (1, 2, 3, 4), (0, 5)])
def test_rejects_non_images(shape):
    with pytest.raises(NotAnImageError):
        EMImage(np.ones(shape))


def test_rejects_complex_data():
    with pytest.raises(NotAnImageError, match="complex"):
        EMImage(np.ones((4, 4), dtype=complex))


@pytest.mark.parametrize("size", [0.0, -1.0, float("nan")])
def test_rejects_bad_pixel_size(size):
    with pytest.raises(ParameterError):
        EMImage(np.ones((4, 4)), pixel_size=size, unit="nm")


def test_rejects_unknown_modality():
    with pytest.raises(ParameterError, match="tem, stem, sem"):
        EMImage(np.ones((4, 4)), modality="xray")


@pytest.mark.parametrize("raw, canonical", [("um", "µm"), ("micron", "µm"), ("μm", "µm"),
                                            ("A", "Å"), ("angstrom", "Å"), ("nm", "nm"),
                                            ("", None), ("<undefined>", None), ("1/nm", "1/nm")])
def test_unit_spellings(raw, canonical):
    assert normalize_unit(raw) == canonical


@pytest.mark.parametrize("value, unit, expected", [(1.165e-08, "m", (11.65, "nm")),
                                                   (3.3724e-06, "m", (3.3724, "µm")),
                                                   (8.2e-12, "m", (8.2, "pm")),
                                                   (0.25, "nm", (0.25, "nm"))])
def test_convenient_length(value, unit, expected):
    assert convenient_length(value, unit) == expected


def test_pixel_size_nm_and_summary():
    image = EMImage(np.ones((3, 4, 5), dtype=np.int16), pixel_size=2.0, unit="Å", modality="STEM")
    assert image.pixel_size_nm == pytest.approx(0.2)
    assert image.summary() == {"shape": [3, 4, 5], "dtype": "int16", "pixel_size": 2.0,
                               "unit": "Å", "modality": "stem", "frames": 3}


def test_with_data_keeps_calibration_and_copies_metadata():
    image = EMImage(np.ones((4, 4)), pixel_size=0.1, unit="nm", metadata={"voltage_kV": 300.0})
    other = image.with_data(np.zeros((4, 4)), model="hrstem")
    other.metadata["voltage_kV"] = 1.0
    assert image.metadata["voltage_kV"] == 300.0
    assert (other.pixel_size, other.unit, other.metadata["model"]) == (0.1, "nm", "hrstem")

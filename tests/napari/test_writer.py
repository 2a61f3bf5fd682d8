"""The napari writer: layer -> calibrated TIFF / HSPY -> emrestore.read, inputs never overwritten."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore
from emrestore.errors import OutputExistsError, ParameterError, UnsupportedFormatError
from emrestore.napari._layers import layer_to_image
from emrestore.napari._reader import read_layers
from emrestore.napari._writer import write_image


def _layer(tmp_path, unit: str = "nm", size: float = 0.08, shape=(40, 56)):
    rng = np.random.default_rng(1)
    image = emrestore.EMImage(rng.normal(50, 5, shape).astype(np.float32), pixel_size=size, unit=unit,
                              modality="tem", metadata={"voltage_kV": 200.0})
    path = emrestore.write(image, tmp_path / "source.tif")
    [(data, kwargs, _)] = read_layers(str(path))
    return data, kwargs, path


@pytest.mark.parametrize("suffix", [".tif", ".hspy"])
def test_round_trip_keeps_calibration_and_metadata(tmp_path, suffix):
    data, kwargs, _ = _layer(tmp_path)
    written = write_image(str(tmp_path / f"copy{suffix}"), data, kwargs)
    back = emrestore.read(written[0])
    np.testing.assert_array_equal(back.data, data)
    assert back.pixel_size == pytest.approx(0.08)
    assert back.unit == "nm"
    assert back.modality == "tem"
    assert back.metadata["voltage_kV"] == pytest.approx(200.0)


def test_series_round_trip(tmp_path):
    data, kwargs, _ = _layer(tmp_path, unit="Å", size=1.5, shape=(2, 24, 32))
    back = emrestore.read(write_image(str(tmp_path / "series.hspy"), data, kwargs)[0])
    assert back.shape == (2, 24, 32) and back.unit == "Å" and back.pixel_size == pytest.approx(1.5)


def test_scale_changed_in_napari_wins(tmp_path):
    data, kwargs, _ = _layer(tmp_path)
    state = {**kwargs, "scale": (0.2, 0.2), "units": ("µm", "µm")}
    back = emrestore.read(write_image(str(tmp_path / "rescaled.tif"), data, state)[0])
    assert back.pixel_size == pytest.approx(0.2) and back.unit == "µm"


def test_pint_units_as_napari_holds_them(tmp_path):
    import pint

    ureg = pint.get_application_registry()
    data, kwargs, _ = _layer(tmp_path)
    state = {**kwargs, "units": (ureg.Unit("nanometer"), ureg.Unit("nanometer"))}
    assert layer_to_image(data, state).unit == "nm"
    state["units"] = (ureg.Unit("pixel"), ureg.Unit("pixel"))
    state["scale"] = (1.0, 1.0)
    assert layer_to_image(data, state).pixel_size is None


def test_never_overwrites_the_source_file(tmp_path):
    data, kwargs, source = _layer(tmp_path)
    before = source.read_bytes()
    with pytest.raises(OutputExistsError):
        write_image(str(source), data * 2, kwargs)
    assert source.read_bytes() == before


def test_refuses_other_formats_and_non_square_pixels(tmp_path):
    data, kwargs, _ = _layer(tmp_path)
    with pytest.raises(UnsupportedFormatError):
        write_image(str(tmp_path / "copy.png"), data, kwargs)
    with pytest.raises(ParameterError, match="not square"):
        write_image(str(tmp_path / "skew.tif"), data, {**kwargs, "scale": (0.1, 0.2)})
    assert not (tmp_path / "skew.tif").exists()


@pytest.mark.parametrize("suffix", [".tif", ".hspy"])
def test_origin_reaches_translate_and_back(tmp_path, suffix):
    image = emrestore.EMImage(np.ones((24, 32), np.float32), pixel_size=0.5, unit="nm",
                              origin=(3.0, -2.5))
    path = emrestore.write(image, tmp_path / f"offset{suffix}")
    [(data, kwargs, _)] = read_layers(str(path))
    assert kwargs["translate"] == pytest.approx((3.0, -2.5))
    moved = {**kwargs, "translate": (10.0, 4.0)}  # the layer moved in napari: its new place is saved
    back = emrestore.read(write_image(str(tmp_path / f"moved{suffix}"), data, moved)[0])
    assert back.origin == pytest.approx((10.0, 4.0))

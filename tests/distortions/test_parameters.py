"""Parameter specs, validation and clear errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emrestore.distortions import (
    ADC,
    DetectorBlur,
    Dose,
    ReadoutNoise,
    distort,
    parameter_names,
)
from emrestore.distortions.parameters import Param
from emrestore.errors import NonFiniteDataError, NotAnImageError, ParameterError


def test_negative_dose_is_rejected():
    with pytest.raises(ParameterError, match="dose_e_per_px"):
        Dose(dose_e_per_px=-1.0)
    with pytest.raises(ParameterError, match="dose_e_per_px"):
        distort(np.ones((16, 16)), "tem", seed=0, dose_e_per_px=-5)


@pytest.mark.parametrize("name", ["psf_sigma_px", "read_sigma_adu"])
def test_negative_sigma_is_rejected(name):
    with pytest.raises(ParameterError, match=name):
        distort(np.ones((16, 16)), "tem", seed=0, **{name: -0.1})
    with pytest.raises(ParameterError):
        (DetectorBlur if name.startswith("psf") else ReadoutNoise)(**{name: -0.1})


@pytest.mark.parametrize("modality", ["stem", "sem"])
def test_negative_scan_sigma_is_rejected(modality):
    with pytest.raises(ParameterError, match="jitter_sigma_x_px"):
        distort(np.ones((16, 16)), modality, seed=0, jitter_sigma_x_px=-1)


@pytest.mark.parametrize("bits", [0, 10, 13, 32, 8.5, "twelve"])
def test_bad_bit_depth_is_rejected(bits):
    with pytest.raises(ParameterError, match="adc_bits"):
        ADC(adc_bits=bits)
    with pytest.raises(ParameterError, match="adc_bits"):
        distort(np.ones((16, 16)), "stem", seed=0, adc_bits=bits)


@pytest.mark.parametrize("bits", [8, 12, 14, 16, 12.0])
def test_valid_bit_depths(bits):
    assert ADC(adc_bits=bits).adc_bits == int(bits)


@pytest.mark.parametrize("shape", [(16,), (2, 16, 16), (3,)])
def test_non_2d_input_is_rejected(shape):
    with pytest.raises(NotAnImageError):
        distort(np.ones(shape), "tem", seed=0)


def test_bad_images_are_rejected():
    with pytest.raises(NotAnImageError):
        distort(np.ones((2, 2)), "tem", seed=0)
    nan = np.ones((16, 16))
    nan[3, 3] = np.nan
    with pytest.raises(NonFiniteDataError):
        distort(nan, "tem", seed=0)
    with pytest.raises(ParameterError, match="negative"):
        distort(np.ones((16, 16)) - 2.0, "tem", seed=0)
    with pytest.raises(ParameterError, match="zero"):
        distort(np.zeros((16, 16)), "tem", seed=0)
    with pytest.raises(NotAnImageError):
        distort(np.full((16, 16), "a"), "tem", seed=0)


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ParameterError) as info:
        distort(np.ones((16, 16)), "tem", seed=0, dose=5)
    message = str(info.value)
    assert "dose" in message and "dose_e_per_px" in message and "read_sigma_adu" in message


def test_parameter_of_another_modality_is_unknown():
    with pytest.raises(ParameterError, match="jitter_sigma_x_px"):
        distort(np.ones((16, 16)), "tem", seed=0, jitter_sigma_x_px=1.0)


def test_unknown_modality_and_bad_seed():
    with pytest.raises(ParameterError, match="modality"):
        distort(np.ones((16, 16)), "xrd", seed=0)
    for seed in (-1, 1.5, "a", True):
        with pytest.raises(ParameterError, match="seed"):
            distort(np.ones((16, 16)), "tem", seed=seed)


def test_counting_camera_conflict():
    with pytest.raises(ParameterError, match="counting_camera"):
        distort(np.ones((16, 16)), "tem", seed=0, counting_camera=True, gain_adu_per_e=5.0)


def test_fixed_gain_or_bias_implies_an_integrating_camera():
    for seed in range(40):  # counting_camera is drawn True for some of these seeds
        _, _, params = distort(np.ones((16, 16)), "tem", seed=seed, gain_adu_per_e=5.0)
        assert params["gain_adu_per_e"] == 5.0 and params["counting_camera"] is False
        _, _, params = distort(np.ones((16, 16)), "tem", seed=seed, bias_adu=50.0)
        assert params["bias_adu"] == 50.0 and params["counting_camera"] is False
    counting = [distort(np.ones((16, 16)), "tem", seed=s)[2]["counting_camera"] for s in range(40)]
    assert any(counting) and not all(counting)


def test_parameter_names_unique_and_with_units():
    for modality in ("tem", "stem", "sem"):
        names = parameter_names(modality)
        assert len(names) == len(set(names))
        assert {"display_applied", "adc_bits"} <= set(names) and "clean_pair" not in names
    assert "dose_e_per_px" in parameter_names("tem") and "dwell_time_us" in parameter_names("stem")
    assert "dose_pe_per_px" in parameter_names("sem")


def test_draw_stays_in_range_and_consumes_fixed_randomness():
    spec = Param("x_px", "float", "x", neutral=0.0, low=2.0, high=3.0, log=True, minimum=0.0)
    rng = np.random.default_rng(0)
    draws = [spec.draw(rng) for _ in range(500)]
    assert min(draws) >= 2.0 and max(draws) <= 3.0
    ints = Param("n", "int", "n", neutral=0, low=1, high=3)
    values = {ints.draw(rng) for _ in range(300)}
    assert values == {1, 2, 3}
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    Param("b", "bool", "b", neutral=False, p_active=0.5).draw(a)
    spec.draw(b)
    assert a.random() == b.random()


def test_bool_and_number_coercion():
    spec = Param("flag", "bool", "flag", neutral=False)
    assert spec.check("true") is True and spec.check(0) is False
    with pytest.raises(ParameterError):
        spec.check("maybe")
    number = Param("v", "float", "v", neutral=0.0, minimum=0.0)
    assert number.check("2.5") == 2.5
    for bad in (float("nan"), float("inf"), "x", None):
        with pytest.raises(ParameterError):
            number.check(bad)


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_params_are_json_and_complete(modality):
    _, _, params = distort(np.ones((24, 24)), modality, seed=3)
    assert params["modality"] == modality
    assert set(params) == {"modality", *parameter_names(modality)}
    assert json.loads(json.dumps(params)) == params


def test_inconsistent_combination_is_rejected_by_distort():
    with pytest.raises(ParameterError, match="display_low_percentile"):
        distort(np.ones((16, 16)), "tem", seed=0, display_low_percentile=99.5,
                display_high_percentile=99.0)

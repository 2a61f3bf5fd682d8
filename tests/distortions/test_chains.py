"""Chain declarations: every declared stage is applied, distort() always degrades."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore.distortions as d
from emrestore.distortions import CHAINS, distort
from emrestore.distortions.chains import Chain
from emrestore.distortions.parameters import Param
from emrestore.errors import ParameterError

#: Every (modality, stage) pair the chains declare: a new stage is tested automatically.
DECLARED = [(modality, stage) for modality, chain in sorted(CHAINS.items()) for stage in chain.stages]


def non_neutral(spec: Param):
    """A valid value of ``spec`` other than its neutral one (``None`` for a derived parameter)."""
    if spec.derived:
        return None
    if spec.kind == "bool":
        return not spec.neutral
    if spec.kind == "choice":
        assert spec.choices is not None
        return next(c for c in spec.choices if c != spec.neutral)
    return spec.high if spec.high != spec.neutral else spec.low


#: A working point where every stage has something to act on: a charge-integrating camera
#: (a counting camera has no bias) and a gain spread, so the signal is not integer counts
#: already (the ADC rounds).
WORKING_POINT = {
    "tem": {"counting_camera": False, "gain_adu_per_e": 2.7},
    "stem": {"scintillator_k": 5.0},
    "sem": {"scintillator_k": 5.0},
}


def working_point(chain: Chain) -> dict:
    """Every parameter of ``chain`` at its neutral value, but for :data:`WORKING_POINT`."""
    return {**{name: spec.neutral for name, spec in chain.specs().items()}, **WORKING_POINT[chain.modality]}


@pytest.fixture(scope="module")
def clean():
    y, x = np.mgrid[:96, :96]
    return (1.2 + np.sin(x / 3.1) * np.cos(y / 4.3)).astype(np.float32)


@pytest.mark.parametrize(("modality", "stage"), DECLARED, ids=[f"{m}-{s.__name__}" for m, s in DECLARED])
def test_every_declared_stage_changes_the_image_when_not_neutral(modality, stage, clean):
    chain = CHAINS[modality]
    if not stage.PARAMS:
        pytest.skip(f"{stage.__name__} has no parameter (it is never neutral)")
    fixed = working_point(chain)
    base, base_target, base_params = distort(clean, modality, seed=5, **fixed)
    specs = chain.specs()
    fixed.update({spec.name: non_neutral(specs[spec.name]) for spec in stage.PARAMS})
    degraded, target, params = distort(clean, modality, seed=5, **fixed)
    assert any(params[spec.name] != base_params[spec.name] for spec in stage.PARAMS)
    assert not (np.array_equal(degraded, base) and np.array_equal(target, base_target)), (
        f"{stage.__name__} is declared in the {modality} chain but does not change its output")


def test_the_stage_test_sees_every_stage_of_every_chain():
    declared = {s for chain in CHAINS.values() for s in chain.stages}
    assert declared == {d.Dose, d.ShotNoise, d.ConversionGain, d.DetectorBlur, d.DarkCurrent, d.FixedPattern,
                        d.ReadoutNoise, d.Bias, d.XRayHits, d.DeadHotPixels, d.ADC, d.Drift, d.LineJitter,
                        d.Interference, d.FastJitter, d.FlybackSettling, d.ScanSpeedWarp, d.DwellBlur,
                        d.SecondaryEmission, d.Integration, d.ScintillatorGain, d.Afterglow,
                        d.ElectronicNoise, d.BrightnessContrast, d.LineIntensityNoise, d.Display}
    for chain in CHAINS.values():
        assert chain.parameter_names() == tuple(spec.name for s in chain.stages for spec in s.PARAMS)


@pytest.mark.parametrize("modality", sorted(CHAINS))
def test_distort_never_returns_its_target_as_input(modality):
    clean = np.random.default_rng(1).random((24, 24)) + 0.5
    for seed in range(150):  # the old 5 % clean-pair draw would give ~7 here
        degraded, target, params = distort(clean, modality, seed=seed)
        assert not np.array_equal(degraded, target), (seed, params)


def test_clean_pair_parameter_is_refused_with_its_fix():
    with pytest.raises(ParameterError) as err:
        distort(np.ones((8, 8)), "tem", seed=0, clean_pair=False)
    assert "clean_pair" in str(err.value) and "training" in str(err.value)


def test_displacement_stage_without_renderer_is_refused_at_declaration():
    with pytest.raises(ValueError, match="Drift"):
        Chain("stem", acquisition=(d.DwellBlur, d.Drift, d.Dose), image=(d.Display,))
    with pytest.raises(ValueError, match="LineJitter"):
        Chain("stem", acquisition=(d.Drift, d.DwellBlur), image=(d.LineJitter,))
    Chain("stem", acquisition=(d.Drift, d.DwellBlur), image=(d.Display,))  # rendered: fine


def test_a_response_stage_must_be_an_acquisition_stage_with_an_expected_image():
    with pytest.raises(ValueError, match="DetectorBlur"):  # not in the chain
        Chain("tem", acquisition=(d.Dose, d.ShotNoise), image=(d.Display,), response=(d.DetectorBlur,))
    with pytest.raises(ValueError, match="ShotNoise"):  # random: no expected image
        Chain("tem", acquisition=(d.Dose, d.ShotNoise), image=(d.Display,), response=(d.ShotNoise,))
    Chain("tem", acquisition=(d.Dose, d.ShotNoise, d.DetectorBlur), image=(d.Display,),
          response=(d.DetectorBlur,))


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_every_chain_keeps_its_instrument_response_in_the_target(modality):
    response = {"tem": {d.DetectorBlur}, "stem": {d.DwellBlur, d.Afterglow},
                "sem": {d.DwellBlur, d.Afterglow}}[modality]
    assert set(CHAINS[modality].response) == response

"""Chains and distort(): neutral stages, shape/dtype, reproducibility, targets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from distortion_stats import assert_mean, assert_variance

import emrestore.distortions as d
from emrestore.distortions import CHAINS, distort, parameter_names
from emrestore.image import EMImage

#: Stages with intrinsic noise and no neutral setting (see docs/distortions.md).
NOISE_ONLY = {d.ShotNoise, d.SecondaryEmission}

ALL_STAGES = sorted({s for chain in CHAINS.values() for s in chain.stages}, key=lambda s: s.__name__)


@pytest.mark.parametrize("stage", [s for s in ALL_STAGES if s not in NOISE_ONLY],
                         ids=lambda s: s.__name__)
def test_every_stage_is_a_no_op_at_its_neutral_setting(stage):
    rng = np.random.default_rng(40)
    image = (rng.random((24, 40)) * 50 + 1).astype(np.float32)
    out = stage()(image, rng)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.array_equal(out, image)
    assert out is not image


@pytest.mark.parametrize("stage", ALL_STAGES, ids=lambda s: s.__name__)
def test_every_stage_samples_valid_parameters(stage):
    rng = np.random.default_rng(41)
    for _ in range(5):
        instance = stage.sample(rng)
        assert set(instance.parameters()) == set(stage.param_names())
        json.dumps(instance.parameters())


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
@pytest.mark.parametrize("shape", [(48, 64), (33, 20)])
def test_chains_keep_shape_and_dtype(modality, shape, lattice):
    clean = lattice[: shape[0], : shape[1]]
    for seed in range(4):
        degraded, target, params = distort(clean, modality, seed=seed)
        assert degraded.shape == target.shape == shape
        assert degraded.dtype == target.dtype == np.float32
        assert np.isfinite(degraded).all() and np.isfinite(target).all()


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_same_seed_same_output_and_different_seeds_differ(modality, lattice):
    a = distort(lattice, modality, seed=7)
    b = distort(lattice, modality, seed=7)
    c = distort(lattice, modality, seed=8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert not np.array_equal(a[0], c[0])
    g1 = distort(lattice, modality, seed=np.random.default_rng(3))
    g2 = distort(lattice, modality, seed=np.random.default_rng(3))
    assert np.array_equal(g1[0], g2[0])


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_params_replay_exactly_after_json(modality, lattice):
    for seed in (11, 12, 13):
        degraded, target, params = distort(lattice, modality, seed=seed)
        replay = json.loads(json.dumps(params))
        assert replay.pop("modality") == modality
        again, target_again, params_again = distort(lattice, modality, seed=seed, **replay)
        assert np.array_equal(degraded, again) and np.array_equal(target, target_again)
        assert params_again == params


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_fixing_a_parameter_keeps_the_others(modality, lattice):
    _, _, free = distort(lattice, modality, seed=5)
    name = "display_gamma"
    _, _, fixed = distort(lattice, modality, seed=5, **{name: 1.1})
    assert fixed[name] == 1.1
    derived = {"gain_adu_per_e", "offset_adu", "contrast_adu_per_e"}
    assert {k: v for k, v in fixed.items() if k not in derived | {name}} == {
        k: v for k, v in free.items() if k not in derived | {name}}


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_target_is_noise_free(modality, lattice):
    """The target depends on the parameters only, not on the noise.

    (With the display stage the stretch limits come from the degraded image, as an
    operator's auto-contrast would, so there the mapping depends on the noise.)
    """
    _, target, params = distort(lattice, modality, seed=21, display_applied=False)
    replay = {k: v for k, v in params.items() if k != "modality"}
    degraded_b, target_b, _ = distort(lattice, modality, seed=22, **replay)
    assert np.array_equal(target, target_b)
    # and it is the clean image through the instrument's response, up to an affine map
    chain = CHAINS[modality]
    clean = chain.expected_response(lattice / lattice.mean(), chain.build(replay))
    slope, offset = np.polyfit(clean.ravel(), target.ravel().astype(np.float64), 1)
    assert slope > 0
    assert np.allclose(target, offset + slope * clean, rtol=1e-4, atol=1e-4 * abs(offset) + 1e-6)


@pytest.mark.parametrize("modality, response", [
    ("tem", {"psf_sigma_px": 1.2, "psf_tail_weight": 0.15, "psf_tail_sigma_px": 4.0}),
    ("stem", {"dwell_blur_px": 1.0, "afterglow_tau_dwells": 2.5}),
    ("sem", {"dwell_blur_px": 0.8, "afterglow_tau_dwells": 5.0}),
])
def test_the_target_is_the_mean_of_many_frames(modality, response, lattice):
    """The target is what averaging acquisitions of one field converges to: the detector PSF,
    dwell blur and afterglow (the same in every frame) are kept, the noise averages out.

    Scan displacements, events, line noise and clipping are switched off (they are what a
    restorer removes and an average of registered frames would blur instead)."""
    chain = CHAINS[modality]
    fixed = {name: spec.neutral for name, spec in chain.specs().items()}  # no artefact, no display
    fixed.update(response)
    fixed["dose_pe_per_px" if modality == "sem" else "dose_e_per_px"] = 400.0
    frames = []
    for seed in range(48):
        degraded, target, params = distort(lattice, modality, seed=seed, **fixed)
        frames.append(degraded)
    params.pop("modality")
    mean = np.mean(frames, axis=0)
    error = np.sqrt(np.mean((mean - target) ** 2))
    offset, contrast, scale = chain.target_terms(params, chain.build(params))
    unblurred = offset + contrast * (lattice / lattice.mean() * scale)
    assert error < 0.2 * np.sqrt(np.mean((mean - unblurred) ** 2))  # the response is kept
    sampling = np.sqrt(np.mean(np.var(frames, axis=0, ddof=1)) / len(frames))
    assert error < 1.2 * sampling  # and nothing else is left: the rest is noise that averages out


NEUTRAL_TEM = dict(
    counting_camera=True, psf_sigma_px=0.0, psf_tail_weight=0.0, dark_e_per_px=0.0,
    gain_nonuniformity_sigma=0.0, band_sigma_adu=0.0, read_sigma_adu=0.0, xray_rate_per_px=0.0,
    dead_fraction=0.0, hot_fraction=0.0, dead_segment=False, adc_bits=None,
    display_applied=False,
)


def test_tem_chain_with_neutral_stages_is_poisson():
    lam = 37.0
    degraded, target, params = distort(np.ones((256, 256)), "tem", seed=1, dose_e_per_px=lam,
                                       **NEUTRAL_TEM)
    assert params["gain_adu_per_e"] == 1.0 and params["bias_adu"] == 0.0
    assert np.all(target == lam)
    assert_mean(degraded, lam)
    assert_variance(degraded, lam)


def test_tem_chain_gain_and_bias_enter_the_target():
    settings = {**NEUTRAL_TEM, "counting_camera": False, "swank_k": 4.0}
    degraded, target, _ = distort(np.ones((256, 256)), "tem", seed=2, dose_e_per_px=30.0,
                                  gain_adu_per_e=5.0, bias_adu=120.0, dark_subtracted=False,
                                  **settings)
    assert np.allclose(target, 120.0 + 5.0 * 30.0)
    assert_mean(degraded, 270.0)
    assert_variance(degraded, 25.0 * 30.0 * 1.25)


def test_tem_exposure_control_keeps_the_target_in_range(lattice):
    for seed in range(30):
        _, target, params = distort(lattice, "tem", seed=seed, display_applied=False,
                                    counting_camera=False)
        assert target.max() <= 0.9 * (2 ** params["adc_bits"] - 1) + 1e-3


def test_tem_adc_output_is_integer_in_range(lattice):
    for seed in range(10):
        degraded, _, params = distort(lattice, "tem", seed=seed, display_applied=False)
        assert np.array_equal(degraded, np.round(degraded))
        assert degraded.min() >= 0 and degraded.max() <= 2 ** params["adc_bits"] - 1


def test_stem_chain_with_neutral_stages_is_poisson():
    neutral = {}
    for stage in CHAINS["stem"].stages:
        if stage in (d.Dose,):
            continue
        for spec in stage.PARAMS:
            neutral[spec.name] = spec.neutral
    neutral.update(offset_adu=0.0, contrast_adu_per_e=1.0, dwell_blur_px=0.0)
    lam = 12.0
    degraded, target, _ = distort(np.ones((256, 256)), "stem", seed=3, dose_e_per_px=lam, **neutral)
    assert np.all(target == lam)
    assert_mean(degraded, lam)
    assert_variance(degraded, lam)



def test_stem_adc_and_brightness(lattice):
    for seed in range(10):
        degraded, target, params = distort(lattice, "stem", seed=seed, display_applied=False)
        fs = 2 ** params["adc_bits"] - 1
        assert np.array_equal(degraded, np.round(degraded))
        assert degraded.min() >= 0 and degraded.max() <= fs
        outside = np.mean((target < 0) | (target > fs))
        assert outside <= 0.02


def test_sem_is_noisier_than_poisson_and_integration_reduces_noise():
    flat = np.ones((128, 128))
    common = dict(se_yield_delta0=0.5, collection_efficiency=0.5, dose_pe_per_px=200.0,
                  scintillator_k=None, afterglow_tau_dwells=0.0, electronic_sigma_e=0.0,
                  offset_adu=0.0, contrast_adu_per_e=1.0, line_noise_sigma=0.0, adc_bits=None,
                  display_applied=False, integration_mode="frame")
    single, target, _ = distort(flat, "sem", seed=4, integration_frames=1, **common)
    assert np.allclose(target, 50.0)
    assert_mean(single, 50.0)
    assert_variance(single, 50.0 * 1.25)
    averaged, _, _ = distort(flat, "sem", seed=4, integration_frames=4, **common)
    assert_variance(averaged, 50.0 * 1.25 / 4)


def test_display_in_chain(lattice):
    degraded, target, _ = distort(lattice, "tem", seed=5, display_applied=True,
                                  display_jpeg_quality=0)
    assert degraded.min() >= 0 and degraded.max() <= 255
    assert np.array_equal(degraded, np.round(degraded))
    assert target.min() >= 0 and target.max() <= 255


def test_emimage_in_emimage_out(lattice):
    image = EMImage(lattice.astype(np.float32), pixel_size=0.02, unit="nm", modality="stem")
    degraded, target, params = distort(image, "stem", seed=1)
    for out in (degraded, target):
        assert isinstance(out, EMImage)
        assert out.pixel_size == 0.02 and out.unit == "nm" and out.modality == "stem"
        assert out.data.dtype == np.float32 and out.shape == lattice.shape
    assert json.loads(degraded.metadata["distortion_params"]) == params
    series = EMImage(np.ones((2, 16, 16), np.float32))
    from emrestore.errors import NotAnImageError

    with pytest.raises(NotAnImageError):
        distort(series, "tem", seed=0)


def test_scale_of_the_clean_image_does_not_matter(lattice):
    a = distort(lattice, "tem", seed=9)
    b = distort(lattice * 1234.5, "tem", seed=9)
    assert np.allclose(a[1], b[1], rtol=1e-5) and a[2] == b[2]


def test_chain_objects_are_callable(lattice):
    for chain in (d.tem, d.stem, d.sem):
        degraded, target, params = chain(lattice, seed=2)
        again = distort(lattice, chain.modality, seed=2)
        assert np.array_equal(degraded, again[0]) and params == again[2]


def test_public_names():
    assert d.distort is distort
    assert "dose_e_per_px" in parameter_names("stem")
    import emrestore.distortions.chains as chains

    assert chains.tem.modality == "tem"

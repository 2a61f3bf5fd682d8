"""Batched STEM/SEM detector stages against the numpy stages: exact expected images, noise
statistics within sampling error, reproducibility from the generator seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from distortion_stats import Z99, assert_mean, assert_variance
from scipy.signal import lfilter

from emrestore.distortions import chains
from emrestore.distortions.batched import core
from emrestore.distortions.batched.core import (
    IMPLEMENTATIONS,
    BatchState,
    run_batch,
    sample_batch,
)
from emrestore.distortions.batched.detector import causal_scan, filter_rows
from emrestore.distortions.detector import (
    Afterglow,
    BrightnessContrast,
    ElectronicNoise,
    Integration,
    LineIntensityNoise,
    ScintillatorGain,
    SecondaryEmission,
)

DETECTOR_STAGES = (SecondaryEmission, Integration, ScintillatorGain, Afterglow, ElectronicNoise,
                   BrightnessContrast, LineIntensityNoise)


def run_stage(cls, stages, signal, seed=0, target=None):
    """Apply the batched implementation of ``cls`` to a (B, H, W) array; return the state."""
    x = torch.as_tensor(np.asarray(signal, dtype=np.float32))
    state = BatchState(x, x, {cls: list(stages)}, torch.Generator().manual_seed(seed), target=target)
    IMPLEMENTATIONS[cls](state, list(stages))
    return state


def numpy_stage(stage, images, seed=0):
    """The numpy stage on every image of a stack (one generator for the stack)."""
    rng = np.random.default_rng(seed)
    return np.stack([stage(image, rng) for image in images])


def assert_same_mean(a, b, z=Z99):
    """Two samples have the same mean within the 99 % interval."""
    a, b = (np.asarray(v, dtype=np.float64).ravel() for v in (a, b))
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) <= z * se + 1e-12, (a.mean(), b.mean(), se)


def assert_same_variance(a, b, z=Z99):
    """Two samples have the same variance within the 99 % interval (4th-moment errors)."""
    variances, errors = [], []
    for v in (a, b):
        d = np.asarray(v, dtype=np.float64).ravel()
        d = d - d.mean()
        var = d.var(ddof=1)
        variances.append(var)
        errors.append(max(np.mean(d**4) - var**2, 0.0) / d.size)
    assert abs(variances[0] - variances[1]) <= z * np.sqrt(sum(errors)) + 1e-12, (variances, errors)


def test_every_detector_stage_has_a_batched_version():
    assert all(cls in IMPLEMENTATIONS for cls in DETECTOR_STAGES)


def test_causal_scan_is_the_first_order_recursive_filter():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 37))
    gains = np.array([0.0, 0.5, 0.95, 0.9999])
    out = causal_scan(torch.tensor(x), torch.tensor(gains)[:, None]).numpy()
    expected = np.stack([lfilter([1.0], [1.0, -g], row) for g, row in zip(gains, x)])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("width, block", [(128, 64), (130, 64), (7, 3), (1, 64), (40, 40)])
def test_filter_rows_joins_its_blocks_exactly(width, block):
    rng = np.random.default_rng(19)
    x = rng.random((3, 5, width)).astype(np.float32)
    decay = np.array([0.0, 0.6, 0.999])
    out = filter_rows(torch.from_numpy(x), torch.tensor(decay), block).numpy()
    expected = np.stack([lfilter([1.0 - a], [1.0, -a], image, axis=1) for a, image in zip(decay, x)])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("shape", [(17, 33), (1, 8), (9, 1), (64, 150)])
def test_afterglow_matches_numpy(shape):
    stages = [Afterglow(afterglow_tau_dwells=tau, dwell_time_us=dwell, flyback_time_us=flyback)
              for tau, dwell, flyback in [(0.0, 10.0, 100.0), (0.5, 10.0, 100.0), (3.0, 2.0, 7.0),
                                          (6.0, 1.0, 3.0), (40.0, 1.0, 1.0), (0.0, 1.0, 1.0)]]
    rng = np.random.default_rng(2)
    images = (rng.gamma(2.0, 20.0, (len(stages), *shape))).astype(np.float32)
    out = run_stage(Afterglow, stages, images).signal.numpy()
    expected = np.stack([stage(image) for stage, image in zip(stages, images)])
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-5)
    np.testing.assert_array_equal(out[[0, 5]], images[[0, 5]])  # no afterglow: unchanged


def test_afterglow_impulse_crosses_the_flyback():
    stage = Afterglow(afterglow_tau_dwells=2.0, dwell_time_us=5.0, flyback_time_us=40.0)
    image = np.zeros((1, 3, 16), dtype=np.float32)
    image[0, 0, 12] = 1.0
    out = run_stage(Afterglow, [stage], image).signal.numpy()[0]
    a, b = stage.pixel_decay, stage.flyback_decay
    np.testing.assert_allclose(out[0, 12:], (1 - a) * a ** np.arange(4), rtol=1e-6)
    assert np.all(out[0, :12] == 0)  # causal
    np.testing.assert_allclose(out[1], out[0, -1] * b * a ** np.arange(1, 17), rtol=1e-5)


def test_brightness_contrast_matches_numpy_and_keeps_the_target():
    stages = [BrightnessContrast(),  # neutral: o = 0, c = 1
              BrightnessContrast(offset_adu=100.0, contrast_adu_per_e=3.5),
              BrightnessContrast(offset_adu=None, contrast_adu_per_e=None, black_level_fraction=0.2,
                                 signal_span_fraction=0.6, adc_bits=8),
              BrightnessContrast(offset_adu=-7.0, contrast_adu_per_e=None, adc_bits=12)]
    rng = np.random.default_rng(3)
    images = rng.gamma(3.0, 10.0, (len(stages), 24, 20)).astype(np.float32)
    target = torch.full(images.shape, 5.0)
    state = run_stage(BrightnessContrast, stages, images, target=target)
    expected = np.stack([stage(image) for stage, image in zip(stages, images)])
    np.testing.assert_allclose(state.signal.numpy(), expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(state.signal.numpy()[0], images[0])
    assert state.target is target and bool((target == 5.0).all())


def test_line_intensity_noise_statistics_match_numpy():
    n, height = 600, 64
    active = LineIntensityNoise(line_noise_sigma=0.04, line_noise_phi=0.7, offset_adu=100.0)
    white = LineIntensityNoise(line_noise_sigma=0.03, line_noise_phi=0.0, offset_adu=None)
    stages = [LineIntensityNoise(), *[active] * n, *[white] * 50]
    images = np.full((len(stages), height, 3), 1100.0, dtype=np.float32)
    out = run_stage(LineIntensityNoise, stages, images, seed=4).signal.numpy()
    np.testing.assert_array_equal(out[0], images[0])  # σ = 0: unchanged
    assert np.allclose(out, out[:, :, :1])  # one factor per row
    eps = (out[1:n + 1, :, 0] - 100.0) / 1000.0 - 1.0  # the offset is not scaled
    reference = (numpy_stage(active, images[1:n + 1], seed=5)[:, :, 0] - 100.0) / 1000.0 - 1.0
    # per-sample statistics are independent across samples
    for x in (eps, reference):
        assert_mean(x.mean(axis=1), 0.0)
        assert_mean((x**2).mean(axis=1), 0.04**2)  # stationary variance
        assert_mean(x[:, 0] ** 2, 0.04**2)  # also in the first row
        assert_mean((x[:, 1:] * x[:, :-1]).mean(axis=1), 0.7 * 0.04**2)  # lag-1 covariance φσ²
    assert_same_mean((eps**2).mean(axis=1), (reference**2).mean(axis=1))
    assert_same_mean((eps[:, 1:] * eps[:, :-1]).mean(axis=1),
                     (reference[:, 1:] * reference[:, :-1]).mean(axis=1))
    factors = out[n + 1:, :, 0] / 1100.0 - 1.0  # offset None: 0
    assert_variance(factors, 0.03**2)
    assert_mean((factors[:, 1:] * factors[:, :-1]).mean(axis=1), 0.0)  # φ = 0: uncorrelated rows


def test_electronic_noise_is_white_with_its_sigma():
    stages = [ElectronicNoise(0.0), *[ElectronicNoise(0.4)] * 8, ElectronicNoise(1.5)]
    images = np.full((len(stages), 96, 96), 5.0, dtype=np.float32)
    out = run_stage(ElectronicNoise, stages, images, seed=18).signal.numpy()
    np.testing.assert_array_equal(out[0], images[0])
    noise = out[1:-1] - 5.0
    assert_mean(noise, 0.0)
    assert_variance(noise, 0.16)
    assert_variance(out[-1] - 5.0, 1.5**2)
    assert_same_variance(noise, numpy_stage(ElectronicNoise(0.4), images[1:-1], seed=7) - 5.0)
    bound = Z99 / np.sqrt(noise[:, :, 1:].size)
    for lagged in ((noise[:, :, 1:], noise[:, :, :-1]), (noise[:, 1:], noise[:, :-1])):
        assert abs(np.corrcoef(lagged[0].ravel(), lagged[1].ravel())[0, 1]) < bound  # white


def test_scintillator_gain_spread_matches_numpy():
    stages = [ScintillatorGain(None), *[ScintillatorGain(3.0)] * 6, *[ScintillatorGain(12.0)] * 6]
    images = np.full((len(stages), 64, 64), 6.0, dtype=np.float32)
    images[:, :8] = 0.0  # no electron: no signal
    images[:, 8:10] = -1.0  # negative input counts as 0
    out = run_stage(ScintillatorGain, stages, images, seed=8).signal.numpy()
    np.testing.assert_array_equal(out[0], images[0])
    assert np.all(out[1:, :10] == 0)
    for k, group in ((3.0, slice(1, 7)), (12.0, slice(7, 13))):
        pulses = out[group, 10:]
        assert_mean(pulses, 6.0)
        assert_variance(pulses, 6.0 / k)
        reference = numpy_stage(ScintillatorGain(k), images[group], seed=9)[:, 10:]
        assert_same_variance(pulses, reference)
    assert out.dtype == np.float32


@pytest.mark.parametrize("dose, delta0, eta", [(40.0, 0.5, 0.6), (3000.0, 1.0, 0.8), (5.0, 0.1, 0.2)])
def test_secondary_emission_compound_statistics_match_numpy(dose, delta0, eta):
    stage = SecondaryEmission(dose_pe_per_px=dose, se_yield_delta0=delta0, collection_efficiency=eta)
    other = SecondaryEmission(dose_pe_per_px=200.0, se_yield_delta0=0.3, collection_efficiency=0.5)
    images = np.ones((9, 64, 64), dtype=np.float32)
    images[:, :, 32:] = 2.5
    images[:, :4] = -0.5  # negative signal counts as 0
    stages = [*[stage] * 8, other]
    out = run_stage(SecondaryEmission, stages, images, seed=10).signal.numpy()
    reference = numpy_stage(stage, images[:8], seed=11)
    assert np.all(out[:, :4] == 0) and np.all(out == np.round(out))
    for c, cols in ((1.0, slice(0, 32)), (2.5, slice(32, 64))):
        m = stage.mean_se_per_pe * c
        counts = out[:8, 4:, cols]
        assert_mean(counts, dose * m)
        assert_variance(counts, dose * m * (1.0 + m))  # compound Poisson: over-dispersed
        assert_same_variance(counts, reference[:, 4:, cols])
    assert_mean(out[8, 4:, :32], 200.0 * other.mean_se_per_pe)


def test_integration_changes_nothing_within_an_acquisition():
    stages = [Integration(4, "line"), Integration(1, "frame")]
    images = np.random.default_rng(12).random((2, 8, 8)).astype(np.float32)
    state = run_stage(Integration, stages, images)
    np.testing.assert_array_equal(state.signal.numpy(), images)


STOCHASTIC = [
    (SecondaryEmission, [SecondaryEmission(50.0, 0.5, 0.5), SecondaryEmission(500.0, 0.9, 0.3)]),
    (ScintillatorGain, [ScintillatorGain(4.0), ScintillatorGain(None)]),
    (ElectronicNoise, [ElectronicNoise(0.3), ElectronicNoise(0.0)]),
    (LineIntensityNoise, [LineIntensityNoise(0.05, 0.5, 10.0), LineIntensityNoise(0.0, 0.0, 0.0)]),
]


@pytest.mark.parametrize("cls, stages", STOCHASTIC, ids=[c.__name__ for c, _ in STOCHASTIC])
def test_batch_is_reproducible_from_the_seed(cls, stages):
    images = np.full((2, 16, 16), 20.0, dtype=np.float32)
    first = run_stage(cls, stages, images, seed=13).signal
    again = run_stage(cls, stages, images, seed=13).signal
    other = run_stage(cls, stages, images, seed=14).signal
    assert torch.equal(first, again)
    assert not torch.equal(first[0], other[0])


#: The detector part of the SEM chain alone (no scan stages): runs with this module only.
DETECTOR_SEM = chains.SEMChain(
    "sem",
    acquisition=(SecondaryEmission, Integration, ScintillatorGain, Afterglow, ElectronicNoise),
    image=(BrightnessContrast, LineIntensityNoise),
)


def detector_values(frames: int, mode: str) -> dict:
    return {"dose_pe_per_px": 60.0, "se_yield_delta0": 0.5, "collection_efficiency": 0.6,
            "integration_frames": frames, "integration_mode": mode, "scintillator_k": 5.0,
            "afterglow_tau_dwells": 0.0, "electronic_sigma_e": 0.5, "black_level_fraction": 0.5,
            "signal_span_fraction": 0.5, "offset_adu": 100.0, "contrast_adu_per_e": 2.0,
            "adc_bits": 12, "line_noise_sigma": 0.0, "line_noise_phi": 0.0}


def test_detector_chain_averages_acquisitions_like_numpy(monkeypatch):
    monkeypatch.setattr(core, "STAGE_MODULES", ("detector",))
    n = 48
    rng = np.random.default_rng(15)
    clean = np.tile(rng.gamma(4.0, 1.0, (1, 16, 16)).astype(np.float32), (2 * n, 1, 1))
    values = [detector_values(1, "frame")] * n + [detector_values(4, "line")] * n
    degraded, target = run_batch(DETECTOR_SEM, torch.from_numpy(clean), values,
                                 torch.Generator().manual_seed(16))
    noise_rng = np.random.default_rng(17)
    pairs = [DETECTOR_SEM.run(chains.normalise_clean(image), v, noise_rng) for image, v in zip(clean, values)]
    reference = np.stack([p[0] for p in pairs])
    np.testing.assert_allclose(target.numpy(), np.stack([p[1] for p in pairs]), rtol=1e-6)
    residual = degraded.numpy() - target.numpy()
    reference_residual = reference - target.numpy()
    for group in (slice(0, n), slice(n, 2 * n)):
        assert_same_mean(residual[group], reference_residual[group])
        assert_same_variance(residual[group], reference_residual[group])
    # four acquisitions averaged: a quarter of the variance of one
    ratio = residual[n:].var() / residual[:n].var()
    assert abs(ratio - 0.25) < 0.03
    again, _ = run_batch(DETECTOR_SEM, torch.from_numpy(clean), values, torch.Generator().manual_seed(16))
    assert torch.equal(degraded, again)  # reproducible from the seed


def sampled_stages(modality: str, count: int, seed: int) -> list[dict]:
    """Every sample's stages as the chain builds them from parameters drawn by its sampler."""
    chain = chains.get_chain(modality)
    clean = np.random.default_rng(seed).gamma(4.0, 1.0, (count, 16, 16)).astype(np.float32)
    values = sample_batch(chain, clean, [np.random.default_rng([seed, i]) for i in range(count)])
    return [chain.build(v) for v in values]


def assert_per_sample(samples: np.ndarray, means: np.ndarray, variances: np.ndarray) -> None:
    """Every sample (row of ``samples``) has its own mean and variance within sampling error.

    Each sample's standardised deviations must be small (|z| < 5) and their average over
    the batch within its 99 % interval, so a systematic error of a few % fails.
    """
    x = samples.reshape(len(samples), -1).astype(np.float64)
    d = x - x.mean(axis=1, keepdims=True)
    var = d.var(axis=1, ddof=1)
    z_mean = (x.mean(axis=1) - means) / np.sqrt(var / x.shape[1])
    z_var = (var - variances) / np.sqrt(np.maximum(np.mean(d**4, axis=1) - var**2, 1e-30) / x.shape[1])
    for z in (z_mean, z_var):
        assert np.all(np.abs(z) < 5.0), z
        assert abs(z.mean()) < Z99 / np.sqrt(len(z)), z


@pytest.mark.parametrize("modality", ["stem", "sem"])
def test_afterglow_and_brightness_with_sampled_parameters_match_numpy(modality):
    builds = sampled_stages(modality, 24, seed=22)
    signal = np.random.default_rng(23).gamma(3.0, 15.0, (24, 20, 28)).astype(np.float32)
    for cls in (Afterglow, BrightnessContrast):
        stages = [b[cls] for b in builds]
        out = run_stage(cls, stages, signal).signal.numpy()
        expected = np.stack([stage(image) for stage, image in zip(stages, signal)])
        scale = np.abs(expected).max(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(out / scale, expected / scale, rtol=0, atol=2e-6)


def test_noise_stages_with_sampled_parameters_have_each_samples_statistics():
    builds = sampled_stages("sem", 24, seed=24)
    counts = np.full((24, 64, 64), 8.0, dtype=np.float32)
    emission = [b[SecondaryEmission] for b in builds]
    out = run_stage(SecondaryEmission, emission, np.ones_like(counts), seed=25).signal.numpy()
    m = np.array([s.dose_pe_per_px * s.mean_se_per_pe for s in emission])
    per_pe = np.array([s.mean_se_per_pe for s in emission])
    assert_per_sample(out, m, m * (1.0 + per_pe))
    # interleave neutral (None) scintillators with the drawn ones
    gain = [ScintillatorGain(None) if i % 3 == 1 else b[ScintillatorGain] for i, b in enumerate(builds)]
    out = run_stage(ScintillatorGain, gain, counts, seed=26).signal.numpy()
    active = np.array([s.scintillator_k is not None for s in gain])
    np.testing.assert_array_equal(out[~active], counts[~active])
    k = np.array([s.scintillator_k for s in gain if s.scintillator_k is not None])
    assert_per_sample(out[active], np.full(k.size, 8.0), 8.0 / k)
    electronics = [ElectronicNoise(0.0) if i % 4 == 2 else b[ElectronicNoise] for i, b in enumerate(builds)]
    out = run_stage(ElectronicNoise, electronics, counts, seed=27).signal.numpy()
    sigma = np.array([s.electronic_sigma_e for s in electronics])
    np.testing.assert_array_equal(out[sigma == 0], counts[sigma == 0])
    assert_per_sample(out[sigma > 0], np.full(int((sigma > 0).sum()), 8.0), sigma[sigma > 0] ** 2)

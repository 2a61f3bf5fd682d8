"""STEM/SEM detector stages: emission statistics, afterglow, electronics, brightness and contrast."""

from __future__ import annotations

import numpy as np
import pytest
from distortion_stats import assert_mean, assert_variance

from emrestore.distortions import (
    Afterglow,
    BrightnessContrast,
    ElectronicNoise,
    Integration,
    LineIntensityNoise,
    ScintillatorGain,
    SecondaryEmission,
)
from emrestore.distortions.detector import brightness_contrast_for


def test_afterglow_impulse_response_is_exponential():
    ratio = 2.0
    stage = Afterglow(afterglow_tau_dwells=ratio, dwell_time_us=5.0, flyback_time_us=40.0)
    a = np.exp(-1.0 / ratio)
    image = np.zeros((3, 32), dtype=np.float32)
    image[0, 4] = 1.0
    out = stage(image)
    n = np.arange(28)
    assert np.allclose(out[0, 4:], (1 - a) * a**n, rtol=1e-5, atol=1e-9)
    assert np.all(out[0, :4] == 0)  # causal
    # across the fly-back the state decays by exp(−τ_fb/τ_det) before the next line
    b = np.exp(-40.0 / (5.0 * ratio))
    carried = out[0, -1] * b
    assert np.allclose(out[1], carried * a ** np.arange(1, 33), rtol=1e-5, atol=1e-12)
    assert np.allclose(out[2], out[1, -1] * b * a ** np.arange(1, 33), rtol=1e-5, atol=1e-15)


def test_afterglow_matches_a_sequential_filter():
    rng = np.random.default_rng(30)
    image = rng.random((20, 24)).astype(np.float32)
    stage = Afterglow(afterglow_tau_dwells=3.0, dwell_time_us=2.0, flyback_time_us=7.0)
    a, b = stage.pixel_decay, stage.flyback_decay
    expected = np.zeros_like(image, dtype=np.float64)
    state = 0.0
    for i in range(20):  # reference: the recursion written out along the raster
        state *= b
        for j in range(24):
            state = a * state + (1 - a) * image[i, j]
            expected[i, j] = state
    assert np.allclose(stage(image), expected, rtol=1e-5, atol=1e-6)


def test_secondary_emission_compound_statistics():
    rng = np.random.default_rng(31)
    stage = SecondaryEmission(dose_pe_per_px=40.0, se_yield_delta0=0.5, collection_efficiency=0.6)
    out = stage(np.ones((256, 256)), rng)
    p = 0.3
    assert_mean(out, 40.0 * p)
    assert_variance(out, 40.0 * p * (1 + p))  # noisier than Poisson at the same mean
    assert np.allclose(stage.expected(np.full((2, 2), 2.0)), 24.0)


def test_scintillator_gain_spread():
    rng = np.random.default_rng(32)
    counts = np.full((256, 256), 6.0)
    out = ScintillatorGain(scintillator_k=3.0)(counts, rng)
    assert_mean(out, 6.0)
    assert_variance(out, 6.0 / 3.0)


def test_electronic_noise():
    rng = np.random.default_rng(33)
    out = ElectronicNoise(electronic_sigma_e=0.4)(np.zeros((256, 256)), rng)
    assert_mean(out, 0.0)
    assert_variance(out, 0.16)


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_brightness_contrast_window(bits):
    rng = np.random.default_rng(34)
    expected = rng.gamma(2.0, 50.0, (256, 256)).astype(np.float32)
    for black, span in [(0.0, 0.1), (1.0, 0.9), (0.5, 0.5)]:
        offset, contrast = brightness_contrast_for(expected, black, span, bits)
        mapped = offset + contrast * expected
        fs = 2.0**bits - 1
        lo, hi = np.percentile(mapped, [1, 99])
        # percentiles are estimated on a subsample: allow 3 % of the span
        assert lo >= 0.02 * fs - 0.03 * span * fs and hi <= 0.98 * fs + 0.03 * span * fs
        assert abs((hi - lo) / fs - span) < 0.03 * span
        clipped = np.mean((mapped < 0) | (mapped > fs))
        assert clipped <= 0.02


def test_brightness_contrast_flat_image():
    offset, contrast = brightness_contrast_for(np.full((8, 8), 5.0, np.float32), 0.5, 0.4, 8)
    assert 0 < offset + contrast * 5.0 < 255


def test_line_intensity_noise_scales_rows_not_offset():
    rng = np.random.default_rng(35)
    image = np.full((4000, 8), 1100.0, dtype=np.float32)
    out = LineIntensityNoise(line_noise_sigma=0.03, line_noise_phi=0.0, offset_adu=100.0)(image, rng)
    factors = (out[:, 0] - 100.0) / 1000.0
    assert np.allclose(out, out[:, :1])
    assert_variance(factors, 0.03**2)


def test_integration_row_times():
    stage = Integration(integration_frames=4, integration_mode="line")
    assert np.allclose(stage.row_starts_us(3, 10.0, 1), [10.0, 50.0, 90.0])
    frame = Integration(integration_frames=2, integration_mode="frame")
    assert np.allclose(frame.row_starts_us(3, 10.0, 1), [30.0, 40.0, 50.0])
    stack = np.stack([np.zeros((2, 2)), np.ones((2, 2))])
    assert np.allclose(frame(stack), 0.5)


def test_brightness_contrast_derives_from_the_image_when_alone():
    image = np.linspace(0, 100, 400, dtype=np.float32).reshape(20, 20)
    out = BrightnessContrast(offset_adu=None, contrast_adu_per_e=None, signal_span_fraction=0.5,
                             black_level_fraction=0.0, adc_bits=8)(image)
    assert 0 <= out.min() and out.max() <= 255 and out.max() - out.min() > 100

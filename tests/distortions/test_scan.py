"""Scan model: displacement effects, AR(1) jitter, dwell blur."""

from __future__ import annotations

import numpy as np
import pytest
from distortion_stats import Z99, assert_variance

from emrestore.distortions import (
    Drift,
    DwellBlur,
    FastJitter,
    FlybackSettling,
    Interference,
    LineJitter,
    ScanSpeedWarp,
)


def ramp_x(height: int = 48, width: int = 160) -> np.ndarray:
    """Image whose value is the column coordinate: sampling it reads back x positions."""
    return np.tile(np.arange(width, dtype=np.float32), (height, 1))


def ramp_y(height: int = 160, width: int = 48) -> np.ndarray:
    return np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.85])
def test_ar1_jitter_lag1_autocorrelation_is_phi(phi):
    rng = np.random.default_rng(20)
    n = 20000
    dx, dy = LineJitter(jitter_sigma_x_px=1.2, jitter_sigma_y_px=0.4, jitter_phi=phi).row_shifts(n, rng)
    for shifts, sigma in ((dx, 1.2), (dy, 0.4)):
        d = shifts - shifts.mean()
        r1 = np.sum(d[1:] * d[:-1]) / np.sum(d * d)
        # Bartlett: var(r1) ≈ (1 − φ²)/n
        assert abs(r1 - phi) <= Z99 * np.sqrt((1 - phi**2) / n) + 2.0 / n
        # stationary σ; effective sample size n(1 − φ)/(1 + φ) for the variance
        n_eff = n * (1 - phi) / (1 + phi)
        assert abs(shifts.var() / sigma**2 - 1) <= Z99 * np.sqrt(2 / n_eff)


def test_fly_back_settling_displacement():
    rng = np.random.default_rng(22)
    amp, decay = 3.0, 10.0
    stage = FlybackSettling(flyback_amplitude_px=amp, flyback_decay_px=decay)
    image = ramp_x()
    out = stage(image, rng)
    j = np.arange(8, 120)
    expected = j - amp * 0.5 * (np.exp(-j / decay) + np.exp(-(j + 1) / decay))
    assert np.allclose(out[10, j], expected, atol=2e-3)
    assert np.allclose(out, out[0][None, :])  # same for every row


def test_drift_displacement_grows_with_time():
    rng = np.random.default_rng(23)
    stage = Drift(drift_px=2.5, drift_angle_deg=90.0, dwell_time_us=4.0, flyback_time_us=50.0)
    image = ramp_y()
    dy = stage(image, rng) - image
    rows = np.arange(10, 150)
    # mid-line time of row i, as a fraction of the frame
    line = 48 * 4.0 + 50.0
    u = (rows * line + 24 * 4.0) / (160 * line)
    assert np.allclose(dy[rows, 24], 2.5 * u, atol=2e-3)
    assert np.abs(dy[rows, 24] - dy[rows, 25]).max() < 0.01


def test_line_jitter_shifts_whole_rows():
    rng = np.random.default_rng(24)
    out = LineJitter(jitter_sigma_x_px=1.0, jitter_phi=0.3)(ramp_x(64, 64), rng)
    shift = out[:, 10:54] - np.arange(10, 54)
    assert np.allclose(shift, shift[:, :1], atol=1e-4)
    assert shift.std() > 0.3


def test_interference_amplitude():
    rng = np.random.default_rng(25)
    stage = Interference(interference_terms=1, interference_freq_hz_1=50.0,
                         interference_amp_x_px_1=0.6, dwell_time_us=20.0, flyback_time_us=100.0)
    out = stage(ramp_x(256, 256), rng)
    dx = out[:, 8:-8] - np.arange(8, 248)
    # a sinusoid sampled over many periods: mean 0, rms A/√2, |dx| ≤ A
    assert abs(np.sqrt(np.mean(dx**2)) - 0.6 / np.sqrt(2)) < 0.03
    assert np.abs(dx).max() <= 0.6 + 1e-3


def test_interference_mains_frequencies_are_drawn():
    rng = np.random.default_rng(26)
    freqs = [Interference.draw_parameters(rng)["interference_freq_hz_1"] for _ in range(400)]
    mains = np.isin(freqs, [50, 60, 100, 120, 150, 180])
    assert 0.4 < mains.mean() < 0.6
    others = np.array(freqs)[~mains]
    assert others.min() >= 10 and others.max() <= 500


def test_fast_jitter_is_white_with_sigma():
    rng = np.random.default_rng(27)
    stage = FastJitter(fast_jitter_sigma_px=0.2)
    out = stage(ramp_x(256, 256), rng)
    dx = (out - ramp_x(256, 256))[:, 4:-4]
    assert_variance(dx, 0.04)
    d = dx - dx.mean()
    r1 = np.sum(d[:, 1:] * d[:, :-1]) / np.sum(d * d)
    assert abs(r1) < Z99 / np.sqrt(d.size)


def test_scan_speed_warp_is_monotone_with_fixed_ends():
    rng = np.random.default_rng(28)
    for _ in range(20):
        out = ScanSpeedWarp(scan_warp_px=2.0)(ramp_x(4, 64), rng)
        x = out[0]
        assert np.all(np.diff(x) > 0)
        deviation = x - np.arange(64)
        assert np.abs(deviation).max() <= 2.0 + 1e-3


def test_dwell_blur_keeps_linear_images_and_averages_along_x():
    rng = np.random.default_rng(29)
    image = ramp_x()
    out = DwellBlur(dwell_blur_px=1.0)(image, rng)
    assert np.allclose(out[:, 4:-4], image[:, 4:-4], atol=1e-4)
    spike = np.zeros((8, 32), dtype=np.float32)
    spike[:, 16] = 1.0
    blurred = DwellBlur(dwell_blur_px=1.0)(spike, rng)
    assert abs(blurred[0].sum() - 1.0) < 1e-4
    assert blurred[0, 16] < 0.9 and blurred[0, 15] > 0.05 and blurred[0, 17] > 0.05


def test_dwell_time_sets_the_time_axis():
    raster = DwellBlur(dwell_time_us=2.0, flyback_time_us=30.0).raster((3, 5))
    t = raster.boundary_times()
    assert t.shape == (3, 6)
    assert t[1, 0] == 5 * 2.0 + 30.0 and t[2, 3] == 2 * 40.0 + 3 * 2.0
    assert raster.frame_time_us == 3 * 40.0


def test_static_effects_are_shared_between_acquisitions():
    rng = np.random.default_rng(30)
    warp = ScanSpeedWarp(scan_warp_px=2.0)
    jitter = LineJitter(jitter_sigma_x_px=1.0)
    blur = DwellBlur()
    static: dict = {}
    first = blur.render(ramp_x(8, 64), rng, (warp,), None, static)
    second = blur.render(ramp_x(8, 64), rng, (warp,), None, static)
    assert np.array_equal(first, second)
    third = blur.render(ramp_x(8, 64), rng, (warp,))
    assert not np.array_equal(first, third)  # a new warp shape without the cache
    a = blur.render(ramp_x(8, 64), rng, (jitter,), None, static)
    b = blur.render(ramp_x(8, 64), rng, (jitter,), None, static)
    assert not np.array_equal(a, b)  # jitter is drawn anew for every acquisition

"""Measurements that compare simulated and real frames (emrestore.evaluation.realism)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from emrestore.errors import ParameterError
from emrestore.evaluation.realism import (
    fit_poisson_gaussian,
    lag1_correlation,
    noise_curve,
    power_share_below_period,
    radial_power_spectrum,
    row_displacements,
    scan_noise,
    simulated_series,
    white_noise_fraction,
)


def _sinusoid(period_px: float, n: int = 128, angle_deg: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[:n, :n].astype(float)
    a = np.deg2rad(angle_deg)
    return 5.0 + np.sin(2 * np.pi * (x * np.cos(a) + y * np.sin(a)) / period_px)


@pytest.mark.parametrize("period, expected", [(4.0, 1.0), (5.0, 1.0), (16.0, 0.0), (32.0, 0.0)])
def test_power_share_of_a_sinusoid(period, expected):
    assert power_share_below_period(_sinusoid(period, angle_deg=30.0), 8.0) == pytest.approx(expected, abs=0.01)


def test_power_share_of_white_noise_is_the_area_beyond_the_cutoff():
    noise = np.random.default_rng(0).standard_normal((256, 256))
    # white noise fills the square [-0.5, 0.5)²; the disc |k| ≤ 1/8 holds π/64 of it
    assert power_share_below_period(noise, 8.0) == pytest.approx(1 - np.pi / 64, abs=0.01)
    assert power_share_below_period(np.ones((64, 64))) == 0.0


def test_white_noise_fraction_of_a_band_limited_signal_plus_noise():
    rng = np.random.default_rng(4)
    for noise_sigma in (0.2, 1.0):
        measured = []
        for _ in range(4):  # the windowed signal variance fluctuates by ~10 % from frame to frame
            signal = ndimage.gaussian_filter(rng.standard_normal((256, 256)), 1.5, mode="wrap")
            frame = signal / signal.std() + noise_sigma * rng.standard_normal(signal.shape)
            measured.append(white_noise_fraction(frame))
        expected = noise_sigma ** 2 / (1 + noise_sigma ** 2)
        assert np.mean(measured) == pytest.approx(expected, rel=0.1)
    assert white_noise_fraction(rng.standard_normal((128, 128))) == pytest.approx(1.0, abs=0.05)


def test_radial_spectrum_peaks_at_the_sinusoid_frequency():
    freq, power = radial_power_spectrum(_sinusoid(10.0, angle_deg=20.0))
    assert freq[np.argmax(power)] == pytest.approx(0.1, abs=0.5 / 64)
    assert power.sum() == pytest.approx(1.0) and len(freq) == 64


def test_spectrum_rejects_bad_input():
    with pytest.raises(ParameterError):
        power_share_below_period(np.ones((4, 4)))
    with pytest.raises(ParameterError):
        power_share_below_period(np.ones((3, 32, 32)))
    with pytest.raises(ParameterError):
        power_share_below_period(np.ones((32, 32)), period_px=1.5)


def _poisson_gaussian_series(gain: float, read_sigma: float, n_frames: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:160, :160]
    signal = 30.0 + 170.0 * (x / 159.0) + 20 * np.sin(y / 7.0)
    return np.stack([gain * rng.poisson(signal) + rng.normal(0, read_sigma, signal.shape) for _ in range(n_frames)])


@pytest.mark.parametrize("gain, read_sigma", [(3.0, 2.0), (0.5, 6.0), (12.0, 0.0), (1.0, 10.0)])
def test_poisson_gaussian_gain_and_offset_are_recovered(gain, read_sigma):
    curve = noise_curve(_poisson_gaussian_series(gain, read_sigma), register=False)
    assert curve.gain == pytest.approx(gain, rel=0.06)
    # offset = read variance, known to a few % of the variance at the darkest signal (10–30 e⁻)
    darkest = gain * gain * 30 + read_sigma ** 2
    assert curve.offset == pytest.approx(read_sigma ** 2, abs=0.08 * darkest)
    assert abs(curve.corr_x) < 0.03 and abs(curve.corr_y) < 0.03
    assert np.all(np.diff(curve.mean) > 0) and len(curve.mean) >= 8


def test_noise_curve_registers_drifting_frames():
    rng = np.random.default_rng(3)
    base = 100 + 80 * ndimage.gaussian_filter(rng.standard_normal((180, 180)), 3) / 0.1
    base = np.clip(base, 5, None)
    frames = np.stack([rng.poisson(np.roll(base, (k, -2 * k), axis=(0, 1)))[10:170, 10:170] for k in range(3)])
    curve = noise_curve(frames.astype(float))  # registered first (integer drift of 1–4 px)
    assert curve.gain == pytest.approx(1.0, rel=0.1)


def test_blurred_noise_has_the_gaussian_lag1_correlation():
    rng = np.random.default_rng(1)
    white = rng.standard_normal((256, 256))
    assert np.allclose(lag1_correlation(white), 0.0, atol=0.02)
    sigma = 1.0
    cx, cy = lag1_correlation(ndimage.gaussian_filter(white, sigma, mode="wrap"))
    assert cx == pytest.approx(np.exp(-1 / (4 * sigma ** 2)), abs=0.03)
    assert cy == pytest.approx(cx, abs=0.03)
    only_x = ndimage.gaussian_filter1d(white, sigma, axis=1, mode="wrap")
    cx, cy = lag1_correlation(only_x)
    assert cx > 0.7 and abs(cy) < 0.03


def test_fit_needs_two_bins():
    with pytest.raises(ParameterError):
        fit_poisson_gaussian(np.array([1.0]), np.array([1.0]), np.array([10]))
    with pytest.raises(ParameterError):
        noise_curve(np.ones((1, 32, 32)))


def _row_shifted(image: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each row moved by ``shifts[r]`` px to the right (Fourier shift, periodic)."""
    k = np.fft.fftfreq(image.shape[1])
    f = np.fft.fft(image, axis=1) * np.exp(-2j * np.pi * k[None, :] * shifts[:, None])
    return np.real(np.fft.ifft(f, axis=1))


def test_known_row_shift_pattern_is_recovered():
    rng = np.random.default_rng(2)
    frame0 = ndimage.gaussian_filter(rng.standard_normal((128, 256)), 1.5, mode="wrap")
    rows = np.arange(128)
    true = 0.5 * np.sin(2 * np.pi * rows / 32) + 0.2 * rng.standard_normal(128)
    frame1 = _row_shifted(frame0, true)
    measured = row_displacements(frame0, frame1)
    assert np.sqrt(np.mean((measured + true) ** 2)) < 0.06  # the shift that moves frame 1 back
    scan = scan_noise(frame0, _row_shifted(frame0, 0.5 * np.sin(2 * np.pi * rows / 32)))
    assert scan.rms_px == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert scan.frequency[np.argmax(scan.spectrum)] == pytest.approx(1 / 32)
    assert scan.spectrum.sum() == pytest.approx(scan.rms_px ** 2, rel=0.05)
    assert scan.lag1 > 0.9 and scan.low_frequency_share(0.05) > 0.9


def test_identical_frames_have_no_row_displacement_and_bands_average_rows():
    frame = ndimage.gaussian_filter(np.random.default_rng(5).standard_normal((64, 128)), 1.0)
    assert np.allclose(row_displacements(frame, frame), 0.0)
    assert row_displacements(frame, frame, rows_per_band=4).shape == (16,)
    with pytest.raises(ParameterError):
        row_displacements(frame, frame[:, :100])


def test_simulated_counting_camera_series_is_poisson():
    fixed = {"counting_camera": True, "dose_e_per_px": 80.0, "psf_sigma_px": 0.0, "psf_tail_weight": 0.0,
             "dark_e_per_px": 0.0, "gain_nonuniformity_sigma": 0.0, "band_sigma_adu": 0.0, "read_sigma_adu": 0.0,
             "xray_rate_per_px": 0.0, "dead_fraction": 0.0, "hot_fraction": 0.0, "dead_segment": False,
             "display_applied": False, "adc_bits": 16}
    sim = simulated_series("lrtem", 6.28, 96, seed=4, n_frames=4, distort_params=fixed)
    assert sim.frames.shape == (4, 96, 96) and sim.pixel_size_nm == pytest.approx(6.28)
    assert not np.array_equal(sim.frames[0], sim.frames[1])
    assert sim.params["distortion"]["dose_e_per_px"] == 80.0
    curve = noise_curve(sim.frames, register=False, n_bins=8)
    assert curve.gain == pytest.approx(1.0, rel=0.15)
    assert abs(curve.corr_x) < 0.05


@pytest.mark.slow
def test_simulated_scan_pairs_show_their_line_jitter():
    fixed = {"jitter_sigma_x_px": 1.0, "jitter_sigma_y_px": 0.0, "jitter_phi": 0.0, "drift_px": 0.0,
             "interference_terms": 0, "fast_jitter_sigma_px": 0.0, "flyback_amplitude_px": 0.0, "scan_warp_px": 0.0,
             "dose_e_per_px": 2e4, "display_applied": False}
    sim = simulated_series("lrstem", 2.0, 128, seed=1, n_frames=2, distort_params=fixed,
                           clean_overrides={"kind": "particles", "contrast": "haadf"})
    scan = scan_noise(sim.frames[0], sim.frames[1], rows_per_band=1)
    # two independent jitters of σ = 1 px: the difference has σ = √2 px
    assert 0.9 < scan.rms_px < 1.9


# ------------------------------------------------------------------- real files
def test_real_tem_series_noise_curve(shared):
    import emrestore

    series = emrestore.read(str(shared("real-series/64x64x5_TEM_preview_1.ser"))).data
    curve = noise_curve(np.asarray(series, float), n_bins=6, min_count=20)
    assert curve.gain > 0 and np.isfinite(curve.offset)
    assert 0 <= curve.corr_x < 1 and 0 <= curve.corr_y < 1


def test_real_sem_pages_row_displacements(shared):
    import emrestore

    pages = np.asarray(emrestore.read(str(shared("real-series/ZEISS_SEM_multipage.tif"))).data, float)
    crop = pages[:, 200:456, 300:812]
    scan = scan_noise(crop[0], crop[1])
    assert np.isfinite(scan.rms_px) and scan.rms_px < 3.0

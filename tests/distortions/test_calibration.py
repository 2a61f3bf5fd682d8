"""Calibration against real micrographs (docs/realism.md): dose tails, counting cameras at
high dose, scan-noise amplitudes that shrink at coarse pixel sizes."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.distortions import CHAINS, Param, distort
from emrestore.distortions.chains import SCAN_NOISE_REF_NM
from emrestore.errors import ParameterError
from emrestore.image import EMImage


@pytest.mark.parametrize("modality, name, top", [("tem", "dose_e_per_px", 2e5), ("stem", "dose_e_per_px", 2e5),
                                                  ("sem", "dose_pe_per_px", 1e5)])
def test_dose_ranges_reach_near_clean_doses(modality, name, top):
    spec = CHAINS[modality].specs()[name]
    rng = np.random.default_rng(0)
    doses = np.array([spec.draw(rng) for _ in range(20000)])
    tail = doses > spec.high
    assert tail.mean() == pytest.approx(0.05, abs=0.006)
    assert doses.max() <= top and (doses >= 0.5 * top).mean() > 0.002
    assert doses.min() >= spec.low
    if modality != "sem":
        assert (doses >= 1e5).mean() > 0.005  # ≥ 1e5 e⁻/px with some probability
    # the main range is still log-uniform: its median is the geometric mean of the range
    main = doses[~tail]
    assert np.median(main) == pytest.approx(np.sqrt(spec.low * spec.high), rel=0.08)


def test_param_tail_draw():
    spec = Param("x", "float", "test [-]", neutral=1.0, low=1.0, high=10.0, log=True, tail_high=1000.0, tail_p=0.5)
    rng = np.random.default_rng(1)
    v = np.array([spec.draw(rng) for _ in range(4000)])
    assert ((v > 10) & (v <= 1000)).mean() == pytest.approx(0.5, abs=0.03)
    assert np.median(np.log10(v[v > 10])) == pytest.approx(2.0, abs=0.1)


def test_near_clean_tem_frame_is_near_its_target():
    y, x = np.mgrid[:128, :128]
    clean = 1 + 0.5 * np.sin(x / 5.0) * np.cos(y / 7.0)
    noisy, target, params = distort(clean, "tem", seed=3, dose_e_per_px=1.5e5, display_applied=False,
                                    xray_rate_per_px=0.0, dead_fraction=0.0, hot_fraction=0.0, dead_segment=False,
                                    gain_nonuniformity_sigma=0.0, band_sigma_adu=0.0, psf_sigma_px=0.0,
                                    psf_tail_weight=0.0)
    # shot noise (with the gain spread) at 1.5e5 e⁻/px is ~0.3 % of the mean: the input is the target
    rel = np.std(noisy - target) / np.std(target)
    assert rel < 0.02, params


def test_counting_camera_is_not_saturated_at_high_dose():
    clean = np.ones((64, 64))
    noisy, target, params = distort(clean, "tem", seed=0, dose_e_per_px=1e5, counting_camera=True,
                                    display_applied=False)
    assert params["adc_bits"] is None
    assert noisy.mean() == pytest.approx(1e5, rel=0.01)
    # a fixed ADC is kept (and clips, as asked)
    noisy, _, params = distort(clean, "tem", seed=0, dose_e_per_px=1e5, counting_camera=True, adc_bits=12,
                               display_applied=False)
    assert params["adc_bits"] == 12 and noisy.max() <= 4095


SCAN = ("jitter_sigma_x_px", "jitter_sigma_y_px", "fast_jitter_sigma_px", "interference_amp_x_px_1")


@pytest.mark.parametrize("modality", ["stem", "sem"])
def test_scan_noise_amplitudes_shrink_at_coarse_pixels(modality):
    clean = np.ones((32, 32))
    _, _, unknown = distort(clean, modality, seed=5)
    _, _, fine = distort(clean, modality, seed=5, pixel_size_nm=0.05)
    _, _, coarse = distort(clean, modality, seed=5, pixel_size_nm=12.5)
    factor = SCAN_NOISE_REF_NM / 12.5
    for name in SCAN:
        assert fine[name] == unknown[name]
        assert coarse[name] == pytest.approx(unknown[name] * factor)
    assert coarse["drift_px"] == unknown["drift_px"] and coarse["flyback_amplitude_px"] == unknown["flyback_amplitude_px"]
    # fixed amplitudes are kept; the returned params reproduce the frame without the pixel size
    _, _, fixed = distort(clean, modality, seed=5, pixel_size_nm=12.5, jitter_sigma_x_px=1.0)
    assert fixed["jitter_sigma_x_px"] == 1.0
    a, _, params = distort(np.random.default_rng(0).random((32, 32)) + 0.5, modality, seed=7, pixel_size_nm=20.0)
    replay = {k: v for k, v in params.items() if k != "modality"}
    b, _, _ = distort(np.random.default_rng(0).random((32, 32)) + 0.5, modality, seed=7, **replay)
    assert np.array_equal(a, b)


def test_emimage_pixel_size_is_used_and_bad_pixel_size_rejected():
    image = EMImage(np.ones((32, 32), np.float32), pixel_size=25.0, unit="nm", modality="stem")
    _, _, from_image = distort(image, "stem", seed=2)
    _, _, given = distort(np.ones((32, 32)), "stem", seed=2, pixel_size_nm=25.0)
    assert from_image["jitter_sigma_x_px"] == given["jitter_sigma_x_px"]
    with pytest.raises(ParameterError):
        distort(np.ones((32, 32)), "stem", seed=2, pixel_size_nm=-1.0)

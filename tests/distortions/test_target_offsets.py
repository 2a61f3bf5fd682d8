"""The TEM target keeps the camera's constant offsets (bias, unsubtracted dark mean)."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.distortions import distort


@pytest.mark.parametrize("subtracted", [False, True])
def test_target_mean_matches_degraded_mean(subtracted):
    clean = np.ones((256, 256), dtype=np.float32)
    degraded, target, params = distort(
        clean, "tem", seed=5, dose_e_per_px=200.0, dark_e_per_px=15.0, dark_subtracted=subtracted,
        counting_camera=False, gain_adu_per_e=2.0, bias_adu=100.0, xray_rate_per_px=1e-9,
        dead_fraction=1e-9, hot_fraction=1e-9, display_applied=False, adc_bits=16,
    )
    kept = 0.0 if subtracted else 100.0 + 2.0 * 15.0
    assert target.mean() == pytest.approx(kept + 2.0 * 200.0, rel=1e-5)
    # the target is the expected value of the degraded image (flat field, 99 % interval)
    assert abs(degraded.mean() - target.mean()) < 0.02 * target.mean()


def test_display_does_not_blacken_a_low_contrast_target():
    y = np.linspace(0.9, 1.05, 256, dtype=np.float32)
    clean = np.tile(y, (256, 1))
    _, target, _ = distort(clean, "tem", seed=14, dose_e_per_px=50.0, dark_e_per_px=20.0,
                           dark_subtracted=False, display_applied=True)
    assert target.std() > 1.0  # in display units 0…255: not mapped to one value

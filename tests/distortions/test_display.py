"""The display stage: 8-bit mapping of the recording, the same mapping of the target."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.distortions import Display
from emrestore.errors import ParameterError


def test_display_maps_to_8_bits_and_target_identically():
    rng = np.random.default_rng(36)
    degraded = rng.normal(1000, 100, (64, 64)).astype(np.float32)
    target = np.full((64, 64), 1000.0, dtype=np.float32)
    stage = Display(display_applied=True, display_low_percentile=1.0,
                    display_high_percentile=99.0, display_gamma=0.8)
    shown = stage(degraded)
    assert shown.min() == 0 and shown.max() == 255 and np.array_equal(shown, np.round(shown))
    mapped = stage.map_target(target, degraded)
    lo, hi = stage.limits(degraded)
    assert np.allclose(mapped, 255 * ((1000 - lo) / (hi - lo)) ** 0.8, rtol=1e-5)
    assert not np.array_equal(mapped, np.round(mapped))  # no rounding of the target
    jpeg = Display(display_applied=True, display_jpeg_quality=60)(degraded)
    assert jpeg.shape == degraded.shape and not np.array_equal(jpeg, stage(degraded))


def test_display_percentile_order_is_checked():
    with pytest.raises(ParameterError, match="display_low_percentile"):
        Display(display_low_percentile=50.0, display_high_percentile=40.0)

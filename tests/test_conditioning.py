"""Percentile clipping of inputs (X-ray hits, hot pixels) shared by training and restoration."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.conditioning import MAX_CLIP_PERCENT, clip_percentiles


def test_impulses_no_longer_dominate_the_std():
    rng = np.random.default_rng(0)
    frame = rng.poisson(2.0, (128, 128)).astype(np.float32)
    hits = rng.integers(0, 128, (5, 2))
    frame[hits[:, 0], hits[:, 1]] = 60000.0  # saturated X-ray hits
    clipped = clip_percentiles(frame, 0.1)
    assert clipped.dtype == np.float32 and clipped.shape == frame.shape
    assert frame.std() > 100 and clipped.std() < 2.5  # Poisson(2) has std 1.41
    assert clipped.max() < 20
    untouched = (frame > np.percentile(frame, 0.1)) & (frame < np.percentile(frame, 99.9))
    assert np.array_equal(clipped[untouched], frame[untouched])  # only the tails move


def test_zero_percent_is_the_identity_and_bad_values_are_refused():
    frame = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert clip_percentiles(frame, 0.0) is frame
    for bad in (-0.1, MAX_CLIP_PERCENT + 1):
        with pytest.raises(ValueError, match="percent"):
            clip_percentiles(frame, bad)


def test_input_is_not_modified():
    frame = np.array([[0.0, 1.0], [2.0, 1e6]], np.float32)
    before = frame.copy()
    clip_percentiles(frame, 5.0)
    assert np.array_equal(frame, before)

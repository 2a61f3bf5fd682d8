"""Input conditioning shared by training and restoration: the percentile clip, the frame's (mean, std)
and its noise level."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.model.conditioning import (
    MAX_CLIP_PERCENT,
    STD_EPS,
    batch_noise_levels,
    batch_stats,
    clip_percentiles,
    condition,
    frame_stats,
    noise_level,
)


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


def test_frame_stats_are_float64_population_statistics_with_a_floor():
    frame = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    assert frame_stats(frame) == (2.5, pytest.approx(np.sqrt(1.25), rel=1e-15))
    assert frame_stats(np.full((8, 8), 7.0, np.float32)) == (7.0, STD_EPS)  # flat frame


def test_condition_clips_first_then_takes_the_clipped_frames_statistics():
    rng = np.random.default_rng(1)
    frame = rng.poisson(5.0, (64, 64)).astype(np.float64)
    frame[3, 4] = 6e4
    data, mean, std = condition(frame, 0.5)
    assert data.dtype == np.float32 and data.max() < 100
    assert (mean, std) == frame_stats(clip_percentiles(frame.astype(np.float32), 0.5))
    raw, raw_mean, raw_std = condition(frame, 0.0)
    assert raw.max() == 6e4 and raw_std > 100 * std and raw_mean > mean


def test_batch_stats_are_each_images_own():
    rng = np.random.default_rng(2)
    batch = rng.gamma(2.0, 10.0, (3, 1, 20, 30)).astype(np.float32)
    stats = batch_stats(batch)
    assert stats.shape == (3, 2) and stats.dtype == np.float32
    for image, (mean, std) in zip(batch, stats):
        assert (mean, std) == tuple(np.float32(v) for v in frame_stats(image))


# ---------------------------------------------------------------------------- noise level
def _lattice(size: int = 256, period: float = 3.1) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return 100.0 + 50.0 * np.cos(2 * np.pi * xx / period) * np.cos(2 * np.pi * yy / (period + 0.2))


@pytest.mark.parametrize("sigma", [0.5, 5.0, 25.0])
def test_the_noise_level_is_the_noise_std_in_units_of_the_frame_std(sigma):
    rng = np.random.default_rng(1)
    clean = _lattice()  # a fine lattice: sparse spots in the spectrum, not noise
    frame = clean + rng.normal(0.0, sigma, clean.shape)
    assert noise_level(frame) == pytest.approx(sigma / frame.std(), rel=0.12)


def test_a_noise_free_frame_has_level_zero_and_pure_noise_level_one():
    rng = np.random.default_rng(2)
    assert noise_level(_lattice()) < 1e-3
    assert noise_level(rng.normal(50.0, 3.0, (200, 300))) == pytest.approx(1.0, abs=0.05)
    assert noise_level(np.full((64, 64), 7.0)) == 0.0  # flat: nothing to normalise by
    assert noise_level(np.ones((4, 100))) == 0.0  # too small to read a spectrum


def test_the_level_is_read_on_the_central_region_of_a_large_frame():
    rng = np.random.default_rng(3)
    frame = rng.normal(0.0, 1.0, (1200, 900))
    frame[:, :100] = 0.0  # outside the central 512² region
    assert noise_level(frame) == pytest.approx(1.0, abs=0.05)


def test_batch_stats_with_the_level_column():
    rng = np.random.default_rng(4)
    batch = rng.normal(10.0, 2.0, (3, 1, 64, 64)).astype(np.float32)
    two, three = batch_stats(batch), batch_stats(batch, 3)
    assert two.shape == (3, 2) and three.shape == (3, 3)
    np.testing.assert_array_equal(three[:, :2], two)
    np.testing.assert_allclose(three[:, 2], batch_noise_levels(batch), rtol=1e-6)


def test_the_level_uses_the_variance_estimator_it_is_given():
    rng = np.random.default_rng(2)
    frame = rng.normal(50.0, 4.0, (128, 128))
    seen = []

    def quarter(crop):
        seen.append(crop.shape)
        return 0.25 * float(crop.var())

    assert noise_level(frame, variance=quarter) == pytest.approx(0.5, rel=1e-6)
    assert seen == [(128, 128)]
    assert noise_level(frame, variance=lambda crop: 0.0) == 0.0

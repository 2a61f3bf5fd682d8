"""The Bragg spots the input clearly shows are not removed by a restoration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sfft
from scipy import ndimage

from emrestore.errors import ParameterError
from emrestore.restoration.spectral_guard import (
    MIN_SIDE_PX,
    input_spots,
    keep_input_spots,
    periodic_component,
)


def _fine_lattice(shape=(192, 160), seed=0, dose=80.0):
    """A coarse lattice plus a weak fine one (3.1 px period: what a network at ¼ resolution
    tends to drop), on a slope, and a Poisson frame of it."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    coarse = 0.5 * np.cos(2 * np.pi * xx / 9.3) * np.cos(2 * np.pi * yy / 11.7)
    fine = 0.12 * np.cos(2 * np.pi * (xx / 3.1 + yy / 7.9))
    clean = dose * (1 + coarse + fine) + 0.2 * xx
    return clean, dose * fine, np.random.default_rng(seed).poisson(clean).astype(np.float64)


def _amplitude_at(frame, pattern):
    """Projection of ``frame``'s periodic component on ``pattern`` (its Fourier amplitude there)."""
    p = periodic_component(frame)[0]
    return float(np.sum((p - p.mean()) * pattern) / np.sum(pattern * pattern))


def test_a_removed_fine_lattice_is_put_back_and_nothing_else_changes():
    clean, fine, noisy = _fine_lattice()
    removed = clean - fine                      # a restoration that kept all but the fine lattice
    kept = keep_input_spots(noisy, removed)
    assert kept.shape == removed.shape and kept.dtype == removed.dtype
    # the fine lattice is back at (close to) its true amplitude: the Wiener weight is near 1 there
    assert _amplitude_at(removed, fine) < 0.05
    assert 0.7 < _amplitude_at(kept, fine) < 1.2
    assert np.sqrt(np.mean((kept - clean) ** 2)) < 0.5 * np.sqrt(np.mean(fine**2))
    # only the spot's frequencies changed: the coarse lattice and the slope are untouched
    change = sfft.fft2(kept - removed)
    power = np.abs(change) ** 2
    strongest = np.sort(power.ravel())[::-1]
    assert strongest[:16].sum() > 0.95 * power.sum()


def test_noise_alone_shows_no_spots_and_a_denoised_frame_is_left_alone():
    for seed in range(4):
        noisy = np.random.default_rng(seed).poisson(50.0, (128, 144)).astype(np.float64)
        spots, _, _ = input_spots(noisy)
        assert not spots.any()
        flat = np.full_like(noisy, 50.0)
        assert keep_input_spots(noisy, flat) is flat


def test_row_noise_is_not_taken_for_spots():
    """Row-to-row offsets of a scanned frame pile power along one axis of the spectrum: a streak,
    which the restorer should remove, not a Bragg spot."""
    rng = np.random.default_rng(5)
    clean = np.full((160, 160), 100.0)
    offsets = rng.normal(0, 8, (160, 1)) * np.ones((1, 160))
    noisy = rng.poisson(clean).astype(np.float64) + offsets
    kept = keep_input_spots(noisy, clean)
    assert np.abs(kept - clean).max() < 0.5


def test_a_restoration_that_kept_the_lattice_is_returned_as_is():
    clean, _, noisy = _fine_lattice(seed=1)
    smooth = ndimage.gaussian_filter(clean, 0.3)
    assert keep_input_spots(noisy, clean) is clean
    assert np.allclose(keep_input_spots(noisy, smooth), smooth)


def test_small_frames_and_bad_input():
    small = np.ones((MIN_SIDE_PX - 1, 64))
    assert keep_input_spots(small, small * 2) is not None and input_spots(small) is None
    frame = np.ones((64, 64))
    with pytest.raises(ParameterError, match="shape"):
        keep_input_spots(frame, frame[:, :-1])
    with pytest.raises(ParameterError, match="shape"):
        keep_input_spots(frame[None], frame[None])


def _wave(n, fy, fx):
    yy, xx = np.mgrid[:n, :n]
    return np.cos(2 * np.pi * (fy * yy + fx * xx) / n)


def _scanned_lattice(n=192, dose=80.0, seed=2):
    """An oblique lattice (g₁ = (3, 17), g₂ = (−16, 4) bins) with a weak high order 2g₁, and an
    input that also shows a scan-jitter satellite g₁ + (9, 0) the expected frame lacks."""
    waves = {(3, 17): 0.3, (-16, 4): 0.3, (-13, 21): 0.15, (19, 13): 0.15}
    clean = dose * (1 + sum(a * _wave(n, *g) for g, a in waves.items()))
    high_order = dose * 0.08 * _wave(n, 6, 34)
    satellite = dose * 0.08 * _wave(n, 12, 17)
    noisy = np.random.default_rng(seed).poisson(clean + high_order + satellite).astype(np.float64)
    return clean, high_order, satellite, noisy


def test_a_scanned_frame_gets_back_its_lattice_spots_not_the_satellites():
    clean, high_order, satellite, noisy = _scanned_lattice()
    n = clean.shape[0]
    # the network removed both the high order and the satellite (right for the satellite)
    for scanned in (False, True):
        kept = keep_input_spots(noisy, clean, scanned=scanned)
        assert _amplitude_at(kept, high_order) > 0.7           # a lattice node: put back
        assert (_amplitude_at(kept, satellite) > 0.7) is (not scanned)  # off the lattice: only unscanned
    # a network that moved the high order by two bins (undoing drift) did not remove it
    moved = clean + high_order.max() * _wave(n, 6, 36)
    assert _amplitude_at(keep_input_spots(noisy, moved, scanned=True), high_order) < 0.05
    assert _amplitude_at(keep_input_spots(noisy, moved), high_order) > 0.7

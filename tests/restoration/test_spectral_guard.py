"""No frequency of a restoration keeps more power than the input gives evidence for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sfft
from scipy import ndimage

from emrestore.errors import ParameterError
from emrestore.restoration.engine import SPOTS_KEPT, SPOTS_KEPT_SCANNED
from emrestore.restoration import load_model
from emrestore.restoration.grid_pattern import remove_grid_pattern
from emrestore.restoration.spectral_guard import (
    MAX_GAIN,
    MIN_SIDE_PX,
    averaged_power,
    cap_spectral_gain,
    capped_share,
    keep_input_spots,
    periodic_component,
)


def _lattice(shape, seed=0, dose=60.0):
    """A clean lattice on a slope (not periodic in the frame) and a Poisson frame of it."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    clean = dose * (1 + 0.5 * np.cos(2 * np.pi * xx / 9.3) * np.cos(2 * np.pi * yy / 11.7)) + 0.2 * xx
    return clean, np.random.default_rng(seed).poisson(clean).astype(np.float64)


def _amplitude(frame, k):
    """Fourier amplitude of ``frame``'s periodic component at the frequency bin ``k``."""
    return np.abs(sfft.fft2(periodic_component(frame)[0])[k])


def test_the_averaged_power_of_the_half_spectrum_is_the_full_spectrums():
    rng = np.random.default_rng(2)
    for shape in ((40, 64), (37, 51), (64, 33)):
        frame = rng.normal(size=shape)
        full = ndimage.uniform_filter(np.abs(np.fft.fft2(frame)) ** 2, 3, mode="wrap")
        half = averaged_power(sfft.rfft2(frame), shape[1])
        assert np.allclose(half, full[:, : shape[1] // 2 + 1], rtol=1e-10)


def test_the_periodic_component_leaves_no_edge_cross():
    clean, _ = _lattice((96, 128))
    periodic, smooth = periodic_component(clean)
    assert np.allclose(periodic + smooth, clean)
    # the slope's jump between the left and right edges (25 units) is in the smooth component
    spectrum = np.abs(np.fft.fft2(clean - clean.mean()))
    spectrum_p = np.abs(np.fft.fft2(periodic - periodic.mean()))
    axis = (0, slice(20, 40))  # the x axis far from the lattice's frequencies: the leakage cross
    assert spectrum_p[axis].mean() < 0.1 * spectrum[axis].mean()


def test_invented_periodicity_is_removed_and_the_lattice_and_slope_are_kept():
    shape = (128, 160)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    # a lattice of whole cycles in the frame (its spots on single bins) on a slope that is not
    lattice = np.cos(2 * np.pi * xx * 16 / shape[1]) * np.cos(2 * np.pi * yy * 12 / shape[0])
    clean = 200 * (1 + 0.5 * lattice) + 0.5 * xx
    noisy = np.random.default_rng(0).poisson(clean).astype(np.float64)
    # what the networks did on real lattices: their 4-px grid pattern modulated by the content
    invented = 0.1 * (clean - clean.mean()) * np.cos(2 * np.pi * xx / 4)
    restored = clean + invented
    capped = cap_spectral_gain(noisy, restored)
    assert capped.dtype == restored.dtype and capped.shape == restored.shape
    sideband = (12, shape[1] // 4 + 16)            # 1/4 cycles/px plus the lattice's frequency
    # down to the bound, √(2 × the input's averaged power there) (the noise's): less than half
    assert _amplitude(capped, sideband) < 0.5 * _amplitude(restored, sideband)
    assert np.sqrt(np.mean((capped - clean) ** 2)) < 0.5 * np.sqrt(np.mean(invented**2))
    # the lattice and the slope: the frequencies the input holds are untouched, and what changed is
    # no larger than what was invented, at the frame's edges too
    change = capped - restored
    assert np.abs(np.fft.fft2(change)[12, 16]) < 1e-3 * np.abs(np.fft.fft2(restored)[12, 16])
    assert np.sqrt(np.mean(change[:, [0, 1, -2, -1]] ** 2)) < 1.5 * np.sqrt(np.mean(invented[:, [0, 1, -2, -1]] ** 2))
    assert capped_share(noisy, restored) > 0 and capped_share(noisy, capped) < capped_share(noisy, restored)


def test_a_filter_with_gain_at_most_one_is_left_alone():
    clean, noisy = _lattice((128, 128), seed=1)
    for smooth in (ndimage.gaussian_filter(noisy, 1.2), ndimage.uniform_filter(noisy, 3), clean):
        assert cap_spectral_gain(noisy, smooth) is smooth or np.allclose(cap_spectral_gain(noisy, smooth), smooth,
                                                                         rtol=0, atol=1e-3 * noisy.std())
    smooth = ndimage.gaussian_filter(noisy, 1.2)
    assert capped_share(noisy, smooth) == 0.0 and cap_spectral_gain(noisy, smooth) is smooth


def test_the_bound_is_max_gain_times_the_inputs_power():
    rng = np.random.default_rng(4)
    noisy = rng.normal(0, 1, (64, 64))
    twice = 1.9 * noisy          # 3.6× the power everywhere: over 2×, scaled down to 2×
    capped = cap_spectral_gain(noisy, twice)
    assert np.std(capped) == pytest.approx(np.sqrt(MAX_GAIN) * np.std(noisy), rel=0.05)
    assert cap_spectral_gain(noisy, 1.3 * noisy, max_gain=MAX_GAIN) is not None
    assert capped_share(noisy, 1.3 * noisy) == 0.0     # 1.7× the power: within the bound


def test_small_frames_and_bad_input():
    small = np.ones((MIN_SIDE_PX - 1, 64))
    assert cap_spectral_gain(small, small * 2) is not None
    assert capped_share(small, small * 2) == 0.0
    frame = np.ones((64, 64))
    with pytest.raises(ParameterError, match="shape"):
        cap_spectral_gain(frame, frame[:, :-1])
    with pytest.raises(ParameterError, match="shape"):
        cap_spectral_gain(frame[None], frame[None])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ParameterError, match="max_gain"):
            cap_spectral_gain(frame, frame, max_gain=bad)


def test_every_in_memory_restoration_is_capped_and_says_so():
    restorer = load_model("hrstem", progress=False)
    _, frame = _lattice((128, 128), seed=3)
    data, network = restorer.network_output(frame.astype(np.float32))
    restored = restorer.restore_array(frame.astype(np.float32))
    assert np.array_equal(restored, restorer.whole_frame_steps(data, network))
    # capped once is capped: a second pass moves almost nothing
    assert np.abs(cap_spectral_gain(data, restored) - restored).max() < 0.01 * data.std()
    assert restorer.provenance()["spectral_gain_capped_at"] == MAX_GAIN
    assert "spectral_gain_capped_at" not in restorer.provenance(blockwise=True)
    # a STEM model keeps only the input's spots on its lattice that the network did not move
    assert restorer.scanned and restorer.provenance()["input_spots_kept"] == SPOTS_KEPT_SCANNED
    assert np.array_equal(restored, keep_input_spots(data, cap_spectral_gain(
        data, remove_grid_pattern(data, network, restorer.info.size_multiple)), scanned=True))


def test_a_tem_restoration_keeps_the_input_spots_and_says_so():
    restorer = load_model("hrtem", progress=False)
    assert not restorer.scanned
    _, frame = _lattice((128, 128), seed=3)
    data, network = restorer.network_output(frame.astype(np.float32))
    capped = cap_spectral_gain(data, remove_grid_pattern(data, network, restorer.info.size_multiple))
    restored = restorer.restore_array(frame.astype(np.float32))
    assert np.array_equal(restored, keep_input_spots(data, capped))
    assert restorer.provenance()["input_spots_kept"] == SPOTS_KEPT
    assert "input_spots_kept" not in restorer.provenance(blockwise=True)

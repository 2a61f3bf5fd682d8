"""The spectral check flags added structure and passes plain denoising."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from emrestore.errors import ParameterError
from emrestore.evaluation.spectrum import power_spectrum, spectral_gain


def lattice(n: int = 128, period: float = 8.0) -> np.ndarray:
    y, x = np.mgrid[:n, :n]
    return 100 + 50 * np.cos(2 * np.pi * x / period) * np.cos(2 * np.pi * y / period)


def test_a_denoised_frame_adds_no_power():
    rng = np.random.default_rng(0)
    noisy = rng.poisson(lattice()).astype(float)
    gain = spectral_gain(noisy, gaussian_filter(noisy, 1.0))
    assert gain.max_gain <= 1.05 and gain.share_doubled == 0
    assert gain.power_ratio < 0.8  # noise power removed


def test_an_invented_lattice_is_flagged():
    rng = np.random.default_rng(1)
    flat = rng.poisson(100, (128, 128)).astype(float)  # a flat, noisy region (vacuum, support film)
    painted = gaussian_filter(flat, 1.0) + 20 * np.cos(2 * np.pi * np.arange(128) / 6.0)[None, :]
    gain = spectral_gain(flat, painted)
    assert gain.max_gain > 10 and gain.share_doubled > 0


def test_the_spectrum_uses_the_central_square_and_checks_shapes():
    image = np.zeros((40, 64))
    assert power_spectrum(image).shape == (40, 40)
    with pytest.raises(ParameterError, match="shape"):
        spectral_gain(np.zeros((8, 8)), np.zeros((8, 9)))

"""Spread of a restoration under fresh noise: restore the restoration re-noised by the noise model.

A parametric bootstrap: ``k`` copies ``restored + ε_j``, ``ε_j ~ N(0, V(restored))`` with the
frame's noise model ``V`` (:mod:`.noise_model`), are restored; the map is the windowed RMS
of ``restore(copy_j) − restored`` over the copies [input units]. It measures how much the
output moves when the noise does — the variance part of the error, largest where the
restorer has to guess (low dose, fine detail). Gaussian noise stands in for the
Poisson–Gaussian noise of the detector (same variance). Cost: ``k`` extra restorations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ...errors import ParameterError
from .noise_model import NoiseVariance

#: Most re-noised copies accepted (each is one restoration).
MAX_COPIES = 16


def renoise_spread(restored: np.ndarray, restore: Callable[[np.ndarray], np.ndarray], noise: NoiseVariance,
                   copies: int, window: float, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Windowed RMS change of the restoration under ``copies`` fresh noise draws.

    Parameters
    ----------
    restored : numpy.ndarray
        (H, W) restoration [ADU].
    restore : callable
        The restorer, (H, W) → (H, W).
    noise : NoiseVariance
        Noise model of the input frame.
    copies : int
        Re-noised copies (1 … :data:`MAX_COPIES`).
    window : float
        Gaussian window σ [px].
    seed : int or numpy.random.Generator
        Seed of the noise draws.

    Returns
    -------
    numpy.ndarray
        (H, W) float32 [ADU].
    """
    if not 1 <= int(copies) <= MAX_COPIES:
        raise ParameterError(f"renoise={copies} copies is outside 1…{MAX_COPIES}.",
                             "Pass e.g. renoise=2 (2 extra restorations), or 0 for none.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    base = np.asarray(restored, np.float64)
    sd = np.sqrt(noise(base))
    total = np.zeros_like(base)
    for _ in range(int(copies)):
        copy = (base + sd * rng.standard_normal(base.shape)).astype(np.float32)
        total += (np.asarray(restore(copy), np.float64) - base) ** 2
    return np.sqrt(ndimage.gaussian_filter(total / int(copies), window, mode="reflect")).astype(np.float32)

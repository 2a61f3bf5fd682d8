"""The physics check: is ``input − restored`` the noise the detector makes, window by window?

With the noise model ``V(I)`` (:mod:`.noise_model`) and a Gaussian window of σ ``window``
px, for the residual ``r = input − restored`` [ADU]:

* ``excess = sqrt(max(⟨r²⟩ − ⟨V(restored)⟩, 0))`` — residual RMS beyond the noise: signal
  the restorer removed there, or structure it invented (which enters ``r`` with a minus
  sign) [ADU];
* ``followed_noise = sqrt(⟨V⟩)·max(1 − sqrt(⟨r²⟩/⟨V⟩), 0)`` — for a residual weaker than the
  noise, the part of the noise left in the restoration if the restorer kept a fraction of
  it (``restored = truth + α·noise`` gives ``⟨r²⟩ = (1 − α)²V`` and this is ``α·sqrt(V)``) [ADU];
* ``neighbour_structure = sqrt(max_k |⟨r·r_k⟩ − ρ_k⟨V⟩|)`` over the lags k = 1, 2 px along y
  and x (ρ_k: the noise's own correlation, 0 at lag 2) — residual that is correlated with its
  neighbours, i.e. structure, not noise; needs no noise level, so it survives a wrong one [ADU];
* ``along_restored = ⟨r·h⟩ / sqrt(⟨h²⟩)``, ``h`` the restoration minus its window mean —
  the residual's amplitude along the restored structure: > 0 the restorer weakened the
  structure there, < 0 it strengthened (or invented) it [ADU, signed];
* ``removed`` — the non-noise residual *where it is significant*: the larger of
  ``max(⟨r²⟩ − ⟨V⟩ − k·SE₂, 0)`` and ``max(max_k |⟨r·r_k⟩ − ρ_k⟨V⟩| − k·1.5·SE₁, 0)``, square
  rooted, with ``k`` = :data:`SIGNIFICANCE`. For noise alone ``⟨r²⟩`` scatters by
  ``SE₂ = ⟨V⟩·sqrt(2/N)`` and each lag product by ``SE₁ = ⟨V⟩/sqrt(N)`` (``N = 4π·window²``,
  the window's effective number of pixels; the largest of the four lags' scatter is about
  1.5 SE₁ on average). Below that, ``excess`` and ``neighbour_structure`` are the window
  estimate's own noise (and the noise model's error), not evidence [ADU].

``⟨·⟩`` is the Gaussian window mean. The window holds about ``4π·window²`` px, so the
relative noise of ``⟨r²⟩`` is about ``sqrt(2 / (4π·window²))`` (5 % at 8 px).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .noise_model import NoiseVariance

#: Components this module makes, in the order of :func:`residual_components`.
COMPONENTS = ("excess", "followed_noise", "neighbour_structure", "along_restored", "removed")

#: Standard errors of the window estimates a residual must exceed to count as ``removed``:
#: chosen on the design frames (docs/uncertainty.md, uncertainty-3), where 3–6 rank alike
#: and 0 (every excess counts) ranks the true error of ``lrtem`` at 0.31 instead of 0.54.
SIGNIFICANCE = 5.0
#: Mean of the largest of four |N(0, 1)| draws: the scatter of the largest lag product.
_MAX_OF_FOUR = 1.5


def _lagged(r: np.ndarray, k: int, axis: int) -> np.ndarray:
    """``r[p]·r[p + k]`` along ``axis`` (edge rows reflected)."""
    shifted = np.take(np.pad(r, [(0, k) if a == axis else (0, 0) for a in range(2)], mode="reflect"),
                      np.arange(k, r.shape[axis] + k), axis=axis)
    return r * shifted


def residual_components(frame: np.ndarray, restored: np.ndarray, noise: NoiseVariance,
                        window: float) -> dict[str, np.ndarray]:
    """The physics-check maps of one frame.

    Parameters
    ----------
    frame, restored : numpy.ndarray
        (H, W) input and its restoration [ADU].
    noise : NoiseVariance
        The frame's noise model.
    window : float
        Gaussian window σ [px].

    Returns
    -------
    dict of str to numpy.ndarray
        :data:`COMPONENTS`, each (H, W) float32 [ADU].
    """
    x = np.asarray(frame, np.float64)
    y = np.asarray(restored, np.float64)

    def smooth(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, window, mode="reflect")

    r = x - y
    energy = smooth(r * r)
    variance = np.maximum(smooth(noise(y)), noise.floor)
    excess = np.sqrt(np.maximum(energy - variance, 0.0))
    followed = np.sqrt(variance) * np.maximum(1.0 - np.sqrt(energy / variance), 0.0)
    expected = {(1, 0): noise.correlation[0], (1, 1): noise.correlation[1]}
    lag = np.zeros_like(r)
    for k in (1, 2):
        for axis in (0, 1):
            c = np.abs(smooth(_lagged(r, k, axis)) - expected.get((k, axis), 0.0) * variance)
            lag = np.maximum(lag, c)
    h = y - smooth(y)
    along = smooth(r * h) / np.sqrt(np.maximum(smooth(h * h), 1e-12 * variance))
    n_eff = 4.0 * np.pi * window * window
    significant = np.maximum(np.maximum(energy - variance - SIGNIFICANCE * variance * np.sqrt(2.0 / n_eff), 0.0),
                             np.maximum(lag - SIGNIFICANCE * _MAX_OF_FOUR * variance / np.sqrt(n_eff), 0.0))
    maps = {"excess": excess, "followed_noise": followed, "neighbour_structure": np.sqrt(lag),
            "along_restored": along, "removed": np.sqrt(significant)}
    return {name: maps[name].astype(np.float32) for name in COMPONENTS}

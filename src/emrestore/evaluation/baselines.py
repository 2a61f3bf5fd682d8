"""Classical denoisers, with their parameter tuned per image on the target (oracles).

Every baseline maps a degraded image and its target to ``(restored, parameters)``; tuned
ones put the time of one run at the chosen value in ``parameters["ms"]`` (tuning excluded). The
tuned filters try a small grid of their strength parameter and keep the value with the
highest PSNR against the target: an upper bound of what the filter can do, which no
user without the ground truth can reach. Our models get no such help.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .metrics import psnr

Restored = tuple[np.ndarray, dict[str, float]]

#: Gaussian-filter widths tried [px].
GAUSSIAN_SIGMAS_PX = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
#: Non-local-means strengths tried, in units of the estimated noise σ.
NLM_H_FACTORS = (0.4, 0.6, 0.8, 1.0, 1.3)
#: BM3D σ search, in units of the RMS error of the median-filtered input: start, step factor, bounds.
BM3D_SIGMA_START, BM3D_SIGMA_STEP, BM3D_SIGMA_BOUNDS = 1.0, 2.0, (1 / 8, 16.0)


def _best(candidates: dict[float, Callable[[], np.ndarray]], target: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Best candidate by PSNR: (value, image, ms of one run at that value)."""
    scored = [(psnr(make(), target), value, make) for value, make in candidates.items()]
    _, value, make = max(scored, key=lambda s: s[0])
    start = time.perf_counter()
    out = make()
    return value, out, 1e3 * (time.perf_counter() - start)


def raw(image: np.ndarray, target: np.ndarray) -> Restored:
    """The degraded input itself."""
    return np.asarray(image, np.float32), {}


def median3(image: np.ndarray, target: np.ndarray | None = None) -> Restored:
    """3×3 median filter (reflecting borders)."""
    return ndimage.median_filter(np.asarray(image, np.float32), size=3, mode="reflect"), {}


def oracle_gaussian(image: np.ndarray, target: np.ndarray) -> Restored:
    """Gaussian filter, σ from :data:`GAUSSIAN_SIGMAS_PX` tuned on the target."""
    data = np.asarray(image, np.float32)
    sigma, out, ms = _best({s: (lambda s=s: ndimage.gaussian_filter(data, s, mode="reflect"))
                        for s in GAUSSIAN_SIGMAS_PX}, target)
    return out, {"sigma_px": sigma, "ms": ms}


def oracle_nlm(image: np.ndarray, target: np.ndarray) -> Restored:
    """Non-local means (scikit-image, 5×5 patches, 13×13 search), h tuned on the target."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    data = np.asarray(image, np.float64)
    noise = float(estimate_sigma(data)) or float(data.std()) or 1.0

    def nlm(factor: float) -> np.ndarray:
        return denoise_nl_means(data, h=factor * noise, sigma=noise, patch_size=5, patch_distance=6,
                                fast_mode=True).astype(np.float32)

    factor, out, ms = _best({f: (lambda f=f: nlm(f)) for f in NLM_H_FACTORS}, target)
    return out, {"h": factor * noise, "h_over_sigma": factor, "ms": ms}


def oracle_bm3d(image: np.ndarray, target: np.ndarray) -> Restored:
    """BM3D (the ``bm3d`` package) on the 3×3-median-filtered input, σ tuned on the target.

    The median filter first removes impulses (X-ray hits, hot pixels) that BM3D's Gaussian
    noise model does not cover. σ starts at the RMS error of the median-filtered input
    against the target (the oracle noise level) and moves by factors of 2 in the direction
    that raises PSNR until it stops rising (3–5 BM3D runs per image): scan distortions and
    blur in that error often call for a σ far from the white-noise level.
    """
    import bm3d

    start = time.perf_counter()
    filtered, _ = median3(image)
    median_s = time.perf_counter() - start
    level = float(np.sqrt(np.mean((filtered.astype(np.float64) - target) ** 2))) or 1.0
    cache: dict[float, tuple[float, np.ndarray, float]] = {}  # factor -> (PSNR, image, ms)

    def score(factor: float) -> float:
        if factor not in cache:
            start = time.perf_counter()
            out = np.asarray(bm3d.bm3d(filtered, sigma_psd=factor * level), np.float32)
            cache[factor] = (psnr(out, target), out, 1e3 * (time.perf_counter() - start))
        return cache[factor][0]

    low, high = BM3D_SIGMA_BOUNDS
    best = BM3D_SIGMA_START
    step = BM3D_SIGMA_STEP if score(best * BM3D_SIGMA_STEP) > score(best) else 1 / BM3D_SIGMA_STEP
    while low <= best * step <= high and score(best * step) > score(best):
        best *= step
    _, out, ms = cache[best]
    return out, {"sigma": best * level, "sigma_factor": best, "ms": ms + 1e3 * median_s}


@dataclass(frozen=True)
class Baseline:
    """A classical method of the evaluation tables.

    Attributes
    ----------
    name : str
        Row label.
    run : callable
        ``(image, target) -> (restored, parameters)``.
    tuned : bool
        Its parameter is tuned per image on the target (an oracle).
    slow : bool
        Seconds per image: evaluated on a subset of the set by default.
    version : int
        Version of the method; names its cached scores.
    requires : str, optional
        Module of an optional package the method needs.
    """

    name: str
    run: Callable[[np.ndarray, np.ndarray], Restored]
    tuned: bool = False
    slow: bool = False
    version: int = 1  # bumped when the method changes: cached scores of older versions are not reused
    requires: str | None = None  # optional package the method needs

    @property
    def available(self) -> bool:
        """False when its optional package is not installed (BM3D)."""
        return self.requires is None or importlib.util.find_spec(self.requires) is not None


#: The baselines of every table, in row order.
BASELINES = (
    Baseline("raw input", raw),
    Baseline("median 3×3", median3),
    Baseline("Gaussian (oracle σ)", oracle_gaussian, tuned=True),
    Baseline("non-local means (oracle h)", oracle_nlm, tuned=True),
    Baseline("BM3D (oracle σ)", oracle_bm3d, tuned=True, slow=True, version=2, requires="bm3d"),
)

"""Random variates used by several stages: Poisson counts, AR(1) sequences, Gaussian noise."""

from __future__ import annotations

import math

import numpy as np

from .parameters import as_float_image

__all__ = ["add_gaussian_noise", "ar1", "poisson_constant", "poisson_table"]

#: Above this mean numpy's sampler (PTRS) is as fast as the table; it is used there.
_TABLE_MAX_MEAN = 300.0


def poisson_constant(mean: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Poisson variates with one common mean, by inversion of a tabulated CDF.

    Up to twice as fast as :meth:`numpy.random.Generator.poisson` on 256² values for
    λ ≤ 300 (numpy is used above):
    one uniform draw per value; a guide table (Chen & Asau) gives the start of the CDF
    search, and the few values that need more steps are walked up as a shrinking
    subset. The table covers ``mean ± (12·√mean + 12)``, outside of which the
    probability is below 1e-30.

    Parameters
    ----------
    mean : float
        The Poisson mean λ ≥ 0.
    shape : tuple of int
        Output shape.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        int64 array of ``shape``.
    """
    if mean <= 0:
        return np.zeros(shape, dtype=np.int64)
    if mean > _TABLE_MAX_MEAN:
        return rng.poisson(mean, size=shape)
    low, cdf = poisson_table(mean)
    buckets = max(1024, 16 * cdf.size)
    # guide[j] = smallest table index whose CDF exceeds j/buckets: a lower bound
    guide = np.searchsorted(cdf, np.arange(buckets) / buckets, side="right")
    u = rng.random(shape).reshape(-1)
    index = guide[(u * buckets).astype(np.intp)]
    todo = np.flatnonzero(u >= cdf[index])
    while todo.size:  # walk up to the smallest index with cdf > u, on the few left
        index[todo] += 1
        todo = todo[u[todo] >= cdf[index[todo]]]
    return (index + low).astype(np.int64, copy=False).reshape(shape)


def poisson_table(mean: float) -> tuple[int, np.ndarray]:
    """The tabulated Poisson CDF :func:`poisson_constant` inverts.

    Parameters
    ----------
    mean : float
        The Poisson mean 0 < λ ≤ 300.

    Returns
    -------
    low : int
        The count of the first table entry.
    cdf : numpy.ndarray
        float64 CDF at ``low, low + 1, …`` over ``mean ± (12·√mean + 12)``; the last
        entry is ``inf`` (it takes the negligible tail).
    """
    reach = 12.0 * math.sqrt(mean) + 12.0
    low = max(0, int(mean - reach))
    top = int(math.ceil(mean + reach))
    k = np.arange(low, top + 1, dtype=np.float64)
    # log k! = lgamma(low + 1) + Σ log(low+1 … k)
    log_factorial = math.lgamma(low + 1.0) + np.concatenate(([0.0], np.cumsum(np.log(k[1:]))))
    cdf = np.cumsum(np.exp(k * math.log(mean) - mean - log_factorial))
    cdf[-1] = np.inf  # the last bin takes the (negligible) tail
    return low, cdf


def ar1(n: int, sigma: float, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) sequence ``δ_i = φ·δ_{i−1} + σ·√(1 − φ²)·n_i``.

    Parameters
    ----------
    n : int
        Length of the sequence.
    sigma : float
        Stationary standard deviation σ.
    phi : float
        Lag-1 correlation φ in [0, 1).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        float64 array of shape (n,) (zeros if ``sigma == 0``).
    """
    noise = rng.standard_normal(n)
    if sigma == 0:
        return np.zeros(n)
    # imported on first use: scipy.signal is slow to import
    from scipy.signal import lfilter

    drive = sigma * math.sqrt(1.0 - phi * phi) * noise
    drive[0] = sigma * noise[0]  # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], drive)


def add_gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image + σ·n`` with white ``n ~ N(0, 1)`` per pixel (float32; a copy when ``σ = 0``).

    Parameters
    ----------
    image : numpy.ndarray
        Image (H, W), in the unit of ``sigma`` (ADU or detected electrons).
    sigma : float
        Standard deviation σ of the added noise, in the unit of the image.
    rng : numpy.random.Generator
        Source of randomness (not used when ``σ = 0``).
    """
    image = as_float_image(image)
    if sigma == 0:
        return image.copy()
    return image + np.float32(sigma) * rng.standard_normal(image.shape, dtype=np.float32)

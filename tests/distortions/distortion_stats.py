"""Statistical checks at 99 % confidence for the distortion tests."""

from __future__ import annotations

import numpy as np

#: Two-sided 99 % normal quantile.
Z99 = 2.5758


def assert_mean(samples: np.ndarray, expected: float, z: float = Z99) -> None:
    """Sample mean within the 99 % interval of ``expected`` (standard error from the data)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    sem = x.std(ddof=1) / np.sqrt(x.size)
    assert abs(x.mean() - expected) <= z * sem + 1e-12, (x.mean(), expected, sem)


def assert_variance(samples: np.ndarray, expected: float, z: float = Z99) -> None:
    """Sample variance within the 99 % interval of ``expected`` (from the 4th moment)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    d = x - x.mean()
    var = d.var(ddof=1)
    se = np.sqrt(max(np.mean(d**4) - var**2, 0.0) / x.size)
    assert abs(var - expected) <= z * se + 1e-12, (var, expected, se)

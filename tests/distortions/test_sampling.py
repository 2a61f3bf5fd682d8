"""Random draws of the stages: the constant-mean Poisson sampler and AR(1) sequences."""

from __future__ import annotations

import numpy as np
import pytest
from distortion_stats import Z99, assert_mean, assert_variance

from emrestore.distortions.sampling import ar1, poisson_constant


@pytest.mark.parametrize("lam", [0.05, 1.0, 7.5, 20.0, 60.0, 800.0, 5000.0])
def test_constant_mean_poisson_sampler(lam):
    rng = np.random.default_rng(12)
    values = poisson_constant(lam, (200_000,), rng)
    assert values.dtype == np.int64 and values.min() >= 0
    assert_mean(values, lam)
    assert_variance(values, lam)
    # the distribution, not only two moments: P(N ≤ mode) from the exact CDF
    from math import exp, floor, lgamma, log

    mode = floor(lam)
    p = sum(exp(n * log(lam) - lam - lgamma(n + 1)) for n in range(mode + 1))
    assert abs(np.mean(values <= mode) - p) <= Z99 * np.sqrt(p * (1 - p) / values.size) + 1e-12


def test_ar1_zero_sigma_is_zero():
    assert np.all(ar1(10, 0.0, 0.5, np.random.default_rng(0)) == 0)

"""Fixtures for the distortion tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def lattice() -> np.ndarray:
    """A synthetic atomic-resolution lattice (mean ~1), 96 × 128 px."""
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float64)
    image = np.exp(-((np.mod(xx, 8) - 4) ** 2 + (np.mod(yy, 8) - 4) ** 2) / 3.0)
    return 0.1 + image

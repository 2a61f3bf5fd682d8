"""Image-quality metrics against a known target."""

from __future__ import annotations

import numpy as np

from ..fidelity import data_range, psnr  # noqa: F401 - part of this module's API


def ssim(image: np.ndarray, target: np.ndarray) -> float:
    """Structural similarity (scikit-image, 7×7 window) with the target's data range."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(target, np.float64), np.asarray(image, np.float64),
                                       data_range=data_range(target)))

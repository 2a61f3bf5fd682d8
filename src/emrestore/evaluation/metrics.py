"""Image-quality metrics against a known target."""

from __future__ import annotations

import numpy as np


def data_range(target: np.ndarray) -> float:
    """Peak-to-peak range of ``target`` (1 for a constant image)."""
    span = float(np.max(target) - np.min(target))
    return span if span > 0 else 1.0


def psnr(image: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio [dB], with the target's data range as the peak.

    Examples
    --------
    >>> t = np.zeros((4, 4)); t[0, 0] = 1.0
    >>> round(psnr(t + 0.1, t), 2)
    20.0
    """
    mse = float(np.mean((np.asarray(image, np.float64) - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range(target) ** 2 / mse)


def ssim(image: np.ndarray, target: np.ndarray) -> float:
    """Structural similarity (scikit-image, 7×7 window) with the target's data range."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(target, np.float64), np.asarray(image, np.float64),
                                       data_range=data_range(target)))

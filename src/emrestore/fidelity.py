"""The two fidelity numbers every layer may need: an image's data range and PSNR.

The evaluation (:mod:`emrestore.evaluation.metrics`) scores restorations with them, and the
restore engine checks a faster backend's output against onnxruntime float32 with them
(:func:`emrestore.restoration.backends.check_backend`), so they live below both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["data_range", "psnr"]


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
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range(target) ** 2 / mse))

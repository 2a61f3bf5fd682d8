"""The clean sample every ground-truth renderer returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CleanSample:
    """One clean (ground-truth) image and how it was made.

    Parameters
    ----------
    image : numpy.ndarray
        float32 (H, W), non-negative, finite; normalised so its mean is 1 (the
        distortion chains scale it by the dose).
    pixel_size_nm : float
        Pixel size [nm].
    modality : {"tem", "stem", "sem"}
        The modality whose distortion chain applies to this image.
    params : dict
        JSON-serialisable description (specimen, optics, seed, ...) so that the image
        can be regenerated.
    columns : numpy.ndarray or None
        For atomic-resolution images: (K, 2) true atomic-column positions (x, y) [px]
        in image coordinates; ``None`` otherwise.
    column_info : list of dict or None
        One entry per column (e.g. which atoms, projected count).
    """

    image: np.ndarray
    pixel_size_nm: float
    modality: str
    params: dict[str, Any] = field(default_factory=dict)
    columns: np.ndarray | None = None
    column_info: list[dict[str, Any]] | None = None

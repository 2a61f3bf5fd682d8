"""Analog-to-digital conversion: finite range and bit depth (last detector stage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .parameters import Param, Stage, as_float_image

__all__ = ["ADC", "VALID_BITS", "full_scale"]

#: Bit depths the ADC stage accepts.
VALID_BITS = (8, 12, 14, 16)


def full_scale(bits: int | None) -> float:
    """Largest ADC value ``2^bits − 1`` [ADU]; 65535 when there is no ADC (``None``)."""
    return float(2 ** (16 if bits is None else bits) - 1)


@dataclass(frozen=True)
class ADC(Stage):
    """Clip to ``[0, 2^bits − 1]`` and round to integers.

    Parameters
    ----------
    adc_bits : {8, 12, 14, 16} or None
        Bit depth; default {12, 14, 16} for TEM, {8, 12, 16} for STEM/SEM.
        Neutral: ``None`` (no clipping, no rounding).
    """

    NAME: ClassVar[str] = "ADC"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("adc_bits", "choice", "ADC bit depth [bits]", neutral=None,
              choices=VALID_BITS, allow_none=True),
    )

    adc_bits: int | None = None

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        image = as_float_image(image)
        if self.adc_bits is None:
            return image.copy()
        out = np.clip(image, 0.0, full_scale(self.adc_bits))
        return np.rint(out, out=out)

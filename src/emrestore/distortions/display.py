"""The stage common to every modality (spec §4): display/transmission of the image."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .parameters import ChainState, Param, Stage, as_float_image

__all__ = ["Display"]


@dataclass(frozen=True)
class Display(Stage):
    """The image was saved for viewing: contrast stretch, gamma, 8-bit, optional JPEG.

    ``y = 255·clip((x − lo)/(hi − lo), 0, 1)^γ``, rounded to 8 bits, optionally
    JPEG-compressed; ``lo``/``hi`` are percentiles of the degraded image. The target
    gets the same intensity mapping (:meth:`map_target`) but no rounding or compression.

    Parameters
    ----------
    display_applied : bool
        Whether the image went through a display pipeline (default p = 0.3). Neutral: False.
    display_low_percentile, display_high_percentile : float
        Stretch limits [%]; default U[0, 1] and U[99, 100].
    display_gamma : float
        Gamma [-]; default U[0.7, 1.4] with p = 0.5, else 1.
    display_jpeg_quality : int
        JPEG quality (0 = no JPEG); default U{60 … 95} with p = 0.5, else 0.
    """

    NAME: ClassVar[str] = "display / transmission"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("display_applied", "bool", "image saved through a display pipeline", neutral=False,
              p_active=0.3),
        Param("display_low_percentile", "float", "lower stretch limit [%]", neutral=0.0,
              low=0.0, high=1.0, minimum=0.0, maximum=100.0),
        Param("display_high_percentile", "float", "upper stretch limit [%]", neutral=100.0,
              low=99.0, high=100.0, minimum=0.0, maximum=100.0),
        Param("display_gamma", "float", "display gamma [-]", neutral=1.0, low=0.7, high=1.4,
              p_active=0.5, minimum=0.05, maximum=20.0),
        Param("display_jpeg_quality", "int", "JPEG quality (0 = none) [-]", neutral=0,
              low=60, high=95, p_active=0.5, minimum=0, maximum=100),
    )

    display_applied: bool = False
    display_low_percentile: float = 0.0
    display_high_percentile: float = 100.0
    display_gamma: float = 1.0
    display_jpeg_quality: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.display_low_percentile >= self.display_high_percentile:
            from ..errors import ParameterError

            raise ParameterError(
                "display_low_percentile must be below display_high_percentile.",
                "Give e.g. display_low_percentile=0.5 and display_high_percentile=99.5.",
            )

    def limits(self, image: np.ndarray) -> tuple[float, float]:
        """Stretch limits ``(lo, hi)`` from the percentiles of ``image``."""
        sub = image[:: max(1, image.shape[0] // 128), :: max(1, image.shape[1] // 128)]
        lo, hi = (float(v) for v in np.percentile(
            sub, [self.display_low_percentile, self.display_high_percentile]))
        if hi <= lo:
            hi = lo + 1.0
        return lo, hi

    def map_intensity(self, image: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
        """The intensity mapping (stretch + gamma, to 0…255) without rounding."""
        lo, hi = limits
        scaled = np.clip((as_float_image(image) - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0)
        if self.display_gamma != 1.0:
            scaled = scaled ** np.float32(self.display_gamma)
        return (scaled * np.float32(255.0)).astype(np.float32)

    def map_target(self, target: np.ndarray, degraded: np.ndarray) -> np.ndarray:
        """Map the target as :meth:`__call__` maps ``degraded``, without rounding or JPEG."""
        if not self.display_applied:
            return as_float_image(target).copy()
        return self.map_intensity(target, self.limits(degraded))

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        image = as_float_image(image)
        if not self.display_applied:
            return image.copy()
        shown = np.rint(self.map_intensity(image, self.limits(image)))
        if self.display_jpeg_quality > 0:
            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(shown.astype(np.uint8)).save(
                buffer, format="JPEG", quality=int(self.display_jpeg_quality))
            buffer.seek(0)
            shown = np.asarray(Image.open(buffer), dtype=np.float32)
        return shown.astype(np.float32, copy=False)

    def apply(self, state: ChainState, rng: np.random.Generator) -> None:
        """In a chain: map the pair, the target as :meth:`map_target`, the image as ``self(image)``."""
        if self.display_applied:
            assert state.target is not None
            state.target = self.map_target(state.target, state.signal)
            state.signal = self(state.signal)

"""The user's frames that a fine-tuning run adapts on: read, checked, fingerprinted.

Each input (a file path, an :class:`~emrestore.image.EMImage` or an array) becomes an
:class:`AdaptInput`: its frames (N, H, W) float32 in the detector's units, whether they form a
series of one field (N ≥ 2: Noise2Noise pairs) or single frames (blind-spot and synthetic
pairs only), and a SHA-256 fingerprint that the model card records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NotAnImageError, ParameterError
from ..image import EMImage
from ..io.fingerprint import file_sha256

__all__ = ["MIN_SIDE_PX", "AdaptInput", "read_inputs"]

#: Smallest frame side accepted [px]: below it a crop holds too little context to adapt on.
MIN_SIDE_PX = 32


@dataclass
class AdaptInput:
    """Frames of one input.

    Attributes
    ----------
    name : str
        File name, or ``"array-<k>"`` for in-memory data.
    sha256 : str
        Of the file's bytes, or of the float32 frames for in-memory data.
    frames : numpy.ndarray
        (N, H, W) float32 [detector units].
    series : bool
        True when the frames are a series of one field (Noise2Noise pairs are made from them).
    modality : str or None
    pixel_size_nm : float or None
    frame_indices : list of int
        Which frames of the source these are (all of them for a file).
    """

    name: str
    sha256: str
    frames: np.ndarray
    series: bool
    modality: str | None
    pixel_size_nm: float | None
    frame_indices: list[int]

    def describe(self) -> dict[str, Any]:
        """JSON-ready record for the model card."""
        return {"name": self.name, "sha256": self.sha256, "frames_used": self.frame_indices,
                "shape": list(self.frames.shape[1:]), "series": self.series, "modality": self.modality,
                "pixel_size_nm": self.pixel_size_nm}


def _from_image(image: EMImage, name: str, sha: str, frames: list[int] | None) -> AdaptInput:
    data = np.asarray(image.data, np.float32)
    stack = data[None] if data.ndim == 2 else data
    indices = list(range(len(stack))) if frames is None else [int(i) for i in frames]
    if any(i < 0 or i >= len(stack) for i in indices) or not indices:
        raise ParameterError(f"{name}: frames {indices} are not in 0…{len(stack) - 1}.",
                             "Give frame indices of the series.")
    stack = np.ascontiguousarray(stack[indices])
    if min(stack.shape[1:]) < MIN_SIDE_PX:
        raise NotAnImageError(f"{name} is {stack.shape[1]} × {stack.shape[2]} px; fine-tuning needs at least "
                              f"{MIN_SIDE_PX} px a side.", "Adapt on larger frames.")
    if not np.all(np.isfinite(stack)):
        raise NotAnImageError(f"{name} holds NaN or infinite pixels.", "Adapt on finite frames only.")
    return AdaptInput(name, sha, stack, len(stack) >= 2, image.modality, image.pixel_size_nm, indices)


def read_inputs(inputs: list[Any], frames: dict[int, list[int]] | None = None) -> list[AdaptInput]:
    """Read the inputs of a fine-tuning run.

    Parameters
    ----------
    inputs : list of path, EMImage or numpy.ndarray
        Files (read with :func:`emrestore.read`), images or arrays (H, W) / (N, H, W).
    frames : dict, optional
        Input position → frame indices to use (default every frame): e.g. ``{0: [1, 2, 3, 4]}``
        leaves frame 0 of the first input out (frame-split evaluation).

    Returns
    -------
    list of AdaptInput

    Raises
    ------
    ParameterError
        No inputs.
    InputNotFoundError, FileFormatError, NotAnImageError
        A file that cannot be read, or frames too small or not finite.
    """
    from ..io import read

    if not inputs:
        raise ParameterError("No frames to adapt on.", "Give one or more image files (a series of one field is best).")
    frames = frames or {}
    result = []
    for k, item in enumerate(inputs):
        if isinstance(item, EMImage):
            image, name = item, Path(item.source).name if item.source else f"array-{k}"
            sha = hashlib.sha256(np.ascontiguousarray(item.data, np.float32).tobytes()).hexdigest()
        elif isinstance(item, np.ndarray):
            image, name = EMImage(item), f"array-{k}"
            sha = hashlib.sha256(np.ascontiguousarray(item, np.float32).tobytes()).hexdigest()
        else:
            path = Path(item)
            image, name, sha = read(path), path.name, None
            sha = file_sha256(path)
        result.append(_from_image(image, name, sha, frames.get(k)))
    return result

"""Input conditioning: what a frame goes through before the network, in training and restoration.

A TEM camera frame can carry a handful of impulses (X-ray hits, hot pixels) tens of thousands
of counts above a signal of a few counts per pixel. They dominate the frame's standard
deviation, which the network normalises by, and squash the real signal to almost nothing.
Models trained with ``[data] input_clip_percent = p`` see every input clipped to its
``[p, 100 − p]`` percentiles; the restore engine applies the same clip, with the whole
frame's percentiles, before tiling. The value is in the model card (``input_clip_percent``).

The network then normalises its input by a (mean, std): each image's own in training
(:func:`emrestore.nn.cgrdn.normalise_images`), the whole frame's for every tile of it in
restoration (:func:`condition`), so that the tiles share one normalisation.
"""

from __future__ import annotations

import numpy as np

from ..nn.configs import STD_EPS

__all__ = ["MAX_CLIP_PERCENT", "STD_EPS", "clip_percentiles", "frame_stats", "batch_stats", "condition"]

#: Largest accepted clip, in percent at each end.
MAX_CLIP_PERCENT = 5.0


def clip_percentiles(image: np.ndarray, percent: float) -> np.ndarray:
    """Clip ``image`` to its ``[percent, 100 − percent]`` percentiles.

    Parameters
    ----------
    image : numpy.ndarray
        Image in any units (float); not modified.
    percent : float
        Percent of pixels clipped at each end, 0 ≤ percent ≤ :data:`MAX_CLIP_PERCENT`;
        0 returns ``image`` unchanged (the same object).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.

    Examples
    --------
    >>> frame = np.ones((100, 100), np.float32); frame[0, 0] = 6e4   # one X-ray hit
    >>> float(clip_percentiles(frame, 0.1).max())
    1.0
    """
    if not 0.0 <= percent <= MAX_CLIP_PERCENT:
        raise ValueError(f"percent must be in [0, {MAX_CLIP_PERCENT}], got {percent}")
    if percent == 0.0:
        return image
    data = np.asarray(image, np.float32)
    low, high = np.percentile(data, [percent, 100.0 - percent])
    return np.clip(data, np.float32(low), np.float32(high))


def frame_stats(data: np.ndarray) -> tuple[float, float]:
    """The (mean, std) the network normalises ``data`` with [input units].

    Computed in float64 over all pixels; the std is at least :data:`STD_EPS`.
    """
    mean = float(data.mean(dtype=np.float64))
    std = max(float(data.std(dtype=np.float64)), STD_EPS)
    return mean, std


def batch_stats(batch: np.ndarray) -> np.ndarray:
    """Each image's own :func:`frame_stats`: (N, 2) float32 (mean, std) for a (N, ...) batch."""
    return np.array([frame_stats(image) for image in batch], dtype=np.float32).reshape(len(batch), 2)


def condition(image: np.ndarray, clip_percent: float) -> tuple[np.ndarray, float, float]:
    """A frame as the network gets it, and the (mean, std) all its tiles are normalised with.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) frame in any units.
    clip_percent : float
        The model card's ``input_clip_percent`` (0: no clip).

    Returns
    -------
    (data, mean, std)
        ``data``: float32, clipped with :func:`clip_percentiles`; ``mean`` and ``std``: its
        :func:`frame_stats` [input units].
    """
    data = clip_percentiles(np.asarray(image, dtype=np.float32), clip_percent)
    return (data, *frame_stats(data))

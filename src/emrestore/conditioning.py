"""Input conditioning shared by training and restoration.

A TEM camera frame can carry a handful of impulses (X-ray hits, hot pixels) tens of thousands
of counts above a signal of a few counts per pixel. They dominate the frame's standard
deviation, which the network normalises by, and squash the real signal to almost nothing.
Models trained with ``[data] input_clip_percent = p`` see every input clipped to its
``[p, 100 − p]`` percentiles; the restore engine applies the same clip, with the whole
frame's percentiles, before tiling. The value is in the model card (``input_clip_percent``).
"""

from __future__ import annotations

import numpy as np

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

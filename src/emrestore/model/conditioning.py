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

A *noise-conditioned* model (``[model] noise_conditioned = true``) is also told the frame's
**noise level** (:func:`noise_level`): the noise standard deviation in units of the frame's
std, read from the floor of its power spectrum. A network that sees only the image cannot
tell fine real texture from noise, so it smooths both, also in a frame that has no noise; told
the level, it can leave a clean frame alone. The level is measured the same way in training
(on each degraded crop the network sees) and in restoration (on the whole frame, shared by
its tiles), never taken from the simulator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..nn.configs import STD_EPS
from ..noise_estimate import spectral_noise_variance

__all__ = ["MAX_CLIP_PERCENT", "NOISE_LEVEL_CROP_PX", "STD_EPS", "clip_percentiles", "frame_stats",
           "batch_stats", "condition", "noise_level", "batch_noise_levels"]

#: The noise level is read on the central region of at most this size [px] (a frame property;
#: bounded cost for frames of any size).
NOISE_LEVEL_CROP_PX = 512

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


def noise_level(data: np.ndarray, variance: Callable[[np.ndarray], float] = spectral_noise_variance) -> float:
    """Noise standard deviation of a frame in units of its std [-] (0: noise-free).

    ``sqrt(spectral_noise_variance(c)) / std(c)`` on the central ≤ :data:`NOISE_LEVEL_CROP_PX`²
    region ``c`` (:func:`emrestore.noise_estimate.spectral_noise_variance`: the median of the
    power spectrum's rings above 0.12 cycles/px, so sparse lattice spots barely move it).
    Values near 1 mean the frame is mostly noise; near 0, near-clean. Correlated (blurred)
    noise is integrated over all frequencies.

    Parameters
    ----------
    data : numpy.ndarray or array-like
        (H, W) frame in any units (a lazy array is sliced before it is read).
    variance : callable, optional
        Per-pixel noise variance [units²] of the float64 central region; the default is what
        every shipped model is told. Another estimator (e.g. a variance–mean fit,
        ``tools/level_ablation.py``) makes another level, which a model must be trained with.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(noise_level(rng.normal(100.0, 5.0, (256, 256))), 1)
    1.0
    """
    h, w = data.shape[-2:]
    ch, cw = min(h, NOISE_LEVEL_CROP_PX), min(w, NOISE_LEVEL_CROP_PX)
    crop = np.asarray(data[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw], np.float64)
    std = float(crop.std())
    if min(ch, cw) < 8 or std <= STD_EPS:
        return 0.0
    return float(np.sqrt(max(variance(crop), 0.0)) / std)


def batch_noise_levels(batch: np.ndarray) -> np.ndarray:
    """:func:`noise_level` of each image of a (N, ...) batch: (N,) float32."""
    return np.array([noise_level(np.asarray(image).reshape(image.shape[-2:])) for image in batch], np.float32)


def batch_stats(batch: np.ndarray, width: int = 2) -> np.ndarray:
    """Each image's own :func:`frame_stats`: (N, 2) float32 (mean, std) for a (N, ...) batch;
    with ``width=3`` also its :func:`noise_level` (the stats of a noise-conditioned model)."""
    stats = np.array([frame_stats(image) for image in batch], dtype=np.float32).reshape(len(batch), 2)
    if width == 3:
        stats = np.concatenate([stats, batch_noise_levels(batch)[:, None]], axis=1)
    return stats


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

"""Measuring a restoration network's effective receptive field.

The effective radius (:func:`truncation_profile`, :func:`measure_receptive_field`) is the
context beyond which cutting the frame changes the output by less than a tolerance; the far end
of the theoretical field (:func:`emrestore.model.receptive.theoretical_radius`) carries a
vanishing weight, so it is much smaller. What a model card records of it is in
:mod:`emrestore.model.receptive`.

The effective radius is measured with the very perturbation that tiling makes: a crop of a
frame is restored (with the whole frame's normalisation, as the engine does) and compared with
the whole-frame result, pixel by pixel, against the pixel's distance to the nearest interior
crop edge. That is a half-plane of context replaced by padding, not one pixel changed (see
:func:`impulse_profile`), so it is the quantity that bounds the tiled-vs-whole difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model.receptive import DEFAULT_TOLERANCE, SAFETY_PX, ReceptiveField, card_entry

if TYPE_CHECKING:
    from ..model.card import ModelCard
    from .engine import Restorer

__all__ = ["truncation_profile", "impulse_profile", "measure_receptive_field", "radius_at", "probe_frames",
           "card_fields", "MAX_PROBE_PX"]

#: Largest distance probed by default [px]: the shipped models fall to float32 rounding
#: (≈ 1e-6 of the std) by 72 px; a model still above the tolerance here gets its
#: theoretical radius.
MAX_PROBE_PX = 160


def _round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple


def _starts(length: int, size: int, reach: int, multiple: int, count: int) -> list[int]:
    """Crop starts along one axis: both frame borders plus ``count`` interior positions whose
    interior edges have at least ``reach`` px of frame beyond them."""
    starts = {0, (length - size) // multiple * multiple}
    low, high = _round_up(reach, multiple), (length - size - reach) // multiple * multiple
    if high >= low:
        for value in np.linspace(low, high, count):
            starts.add(round(value / multiple) * multiple)
    return sorted(s for s in starts if 0 <= s <= length - size)


def truncation_profile(restorer: Restorer, frame: np.ndarray, *, crop: int | None = None,
                       max_distance: int | None = None, positions: int = 2,
                       batch_size: int = 2) -> np.ndarray:
    """Largest |crop − whole| / std against the distance to the nearest interior crop edge.

    ``frame`` is restored whole and as square crops (each with the whole frame's
    normalisation, clipped as the engine clips); crops lie on the model's grid, at the frame
    borders and inside it.

    Parameters
    ----------
    restorer : Restorer
        The model (tiling settings are not used).
    frame : numpy.ndarray
        (H, W) probe frame; cut to multiples of the model's grid.
    crop : int, optional
        Crop edge [px]; default ``2 · max_distance + 4 · grid``.
    max_distance : int, optional
        Largest distance resolved [px]; default the theoretical radius, at most
        :data:`MAX_PROBE_PX`.
    positions : int
        Interior crop positions per axis (plus the two border positions).
    batch_size : int
        Crops per network call.

    Returns
    -------
    numpy.ndarray
        ``(max_distance + 1,)``: entry ``d`` is the largest difference at distance exactly
        ``d`` px (the last entry: ``max_distance`` or more), as a fraction of the std.
    """
    multiple = restorer.info.size_multiple
    if max_distance is None:
        max_distance = min(restorer.info.theoretical_receptive_px or MAX_PROBE_PX, MAX_PROBE_PX)
    size = _round_up(crop or 2 * max_distance + 4 * multiple, multiple)
    data = np.asarray(frame, np.float32)
    height, width = (data.shape[0] // multiple) * multiple, (data.shape[1] // multiple) * multiple
    data = data[:height, :width]
    if min(height, width) < size + multiple:
        raise ValueError(f"probe frame {data.shape} is too small for {size}-px crops")
    clipped, mean, std = restorer.normalisation(data)
    predict = restorer.predictor(mean, std, restorer.frame_level(clipped))
    whole = predict(clipped[None, None])[0, 0]
    reach = max_distance
    boxes = [(r, c) for r in _starts(height, size, reach, multiple, positions)
             for c in _starts(width, size, reach, multiple, positions)]
    index = np.arange(size)
    profile = np.zeros(max_distance + 1)
    for start in range(0, len(boxes), batch_size):
        chunk = boxes[start:start + batch_size]
        batch = np.stack([clipped[r:r + size, c:c + size] for r, c in chunk])[:, None]
        outputs = predict(np.ascontiguousarray(batch))[:, 0]
        for (r, c), out in zip(chunk, outputs):
            inf = np.full(size, np.inf)
            top = index if r > 0 else inf
            bottom = size - 1 - index if r + size < height else inf
            left = index if c > 0 else inf
            right = size - 1 - index if c + size < width else inf
            dist = np.minimum(np.minimum(top, bottom)[:, None], np.minimum(left, right)[None, :])
            seen = np.isfinite(dist)
            if not seen.any():
                continue
            diff = np.abs(out - whole[r:r + size, c:c + size]) / std
            bins = np.minimum(dist[seen], max_distance).astype(int)
            np.maximum.at(profile, bins, diff[seen])
    return profile


def impulse_profile(restorer: Restorer, frame: np.ndarray, *, amplitude: float = 10.0,
                    max_distance: int | None = None) -> np.ndarray:
    """Largest output change against the distance from a single changed input pixel.

    The centre pixel of ``frame`` is raised by ``amplitude`` × std; the result is
    ``|Δ output| / (amplitude · std)`` against the Chebyshev distance from it. A one-pixel
    change probes the network's sensitivity; tiling removes a half-plane of context, whose
    effects add up, so this profile falls off faster than :func:`truncation_profile` and
    only serves as a cross-check.

    Returns
    -------
    numpy.ndarray
        ``(max_distance + 1,)`` largest relative change at each distance.
    """
    multiple = restorer.info.size_multiple
    if max_distance is None:
        max_distance = min(restorer.info.theoretical_receptive_px or MAX_PROBE_PX, MAX_PROBE_PX)
    data = np.asarray(frame, np.float32)
    height, width = (data.shape[0] // multiple) * multiple, (data.shape[1] // multiple) * multiple
    data = data[:height, :width]
    clipped, mean, std = restorer.normalisation(data)
    predict = restorer.predictor(mean, std, restorer.frame_level(clipped))
    cy, cx = height // 2, width // 2
    changed = clipped.copy()
    changed[cy, cx] += amplitude * std
    outputs = predict(np.stack([clipped, changed])[:, None])[:, 0]
    delta = np.abs(outputs[1] - outputs[0]) / (amplitude * std)
    yy, xx = np.mgrid[:height, :width]
    dist = np.minimum(np.maximum(np.abs(yy - cy), np.abs(xx - cx)), max_distance)
    profile = np.zeros(max_distance + 1)
    np.maximum.at(profile, dist.ravel(), delta.ravel())
    return profile


def radius_at(profile: np.ndarray, tolerance: float) -> int:
    """Smallest distance from which on every entry of ``profile`` is below ``tolerance``.

    Returns ``len(profile) - 1`` (the largest distance resolved) when even that is not.
    """
    tail = np.maximum.accumulate(np.asarray(profile)[::-1])[::-1]
    below = np.nonzero(tail < tolerance)[0]
    return int(below[0]) if below.size else len(profile) - 1


def probe_frames(tag: str | None, size: int, *, seed: int = 20261201) -> list[tuple[str, np.ndarray]]:
    """Realistic probe frames of ``size`` × ``size`` px: Poisson noise at three doses, and, for
    a known tag, two degraded frames rendered like its training data.

    Parameters
    ----------
    tag : str or None
        A model tag (``"hrstem"``...) to render frames of its kind; None (or another name):
        Poisson frames only.
    size : int
        Frame edge [px].
    seed : int
        Seed of the noise and of the rendered samples.
    """
    rng = np.random.default_rng(seed)
    frames = [(f"poisson mean {dose:g}", rng.poisson(dose, (size, size)).astype(np.float32))
              for dose in (2.0, 20.0, 500.0)]
    from ..tags import TAG_NAMES

    if tag in TAG_NAMES:
        from ..datasets.bank import render_sample

        for index in range(2):
            arrays = render_sample(tag, size, seed, index, pairs=True)
            frames.append((f"{tag} rendered sample {index} (seed {seed})",
                           np.asarray(arrays["input"], np.float32)))
    return frames


def measure_receptive_field(model: str | Path | Restorer,
                            frames: Iterable[tuple[str, np.ndarray]] | None = None, *,
                            tolerance: float = DEFAULT_TOLERANCE, max_distance: int | None = None,
                            positions: int = 2, safety_px: int = SAFETY_PX,
                            on_frame: Callable[[str, np.ndarray], None] | None = None) -> ReceptiveField:
    """Measure a model's effective receptive field with :func:`truncation_profile`.

    Parameters
    ----------
    model : str, Path or Restorer
        A shipped tag, an ``.onnx`` path, or a loaded restorer.
    frames : iterable of (str, numpy.ndarray), optional
        Named probe frames; default :func:`probe_frames` for the model's tag, each
        ``4 · max_distance + 8 · grid`` px wide.
    tolerance : float
        Largest accepted difference [fraction of the frame's std].
    max_distance : int, optional
        Largest distance resolved [px]; default the theoretical radius, at most
        :data:`MAX_PROBE_PX`.
    positions : int
        Interior crop positions per axis (see :func:`truncation_profile`).
    safety_px : int
        Added to the measured radius before rounding up to the model's grid.
    on_frame : callable, optional
        Called with each frame's name and profile (progress, reports).

    Returns
    -------
    ReceptiveField
    """
    from .engine import Restorer

    restorer = model if isinstance(model, Restorer) else Restorer(model, tile=0, progress=False)
    multiple = restorer.info.size_multiple
    theoretical = restorer.info.theoretical_receptive_px
    if max_distance is None:
        max_distance = min(theoretical or MAX_PROBE_PX, MAX_PROBE_PX)
    if frames is None:
        side = _round_up(4 * max_distance + 8 * multiple, multiple)
        frames = probe_frames(restorer.info.tag, side)
    profile = np.zeros(max_distance + 1)
    names = []
    for name, frame in frames:
        one = truncation_profile(restorer, frame, max_distance=max_distance, positions=positions)
        if on_frame is not None:
            on_frame(name, one)
        profile = np.maximum(profile, one)
        names.append(name)
    tail = np.maximum.accumulate(profile[::-1])[::-1]
    converged = bool(tail[-1] < tolerance)
    radius = radius_at(profile, tolerance)
    effective = _round_up(radius + safety_px, multiple)
    if theoretical is not None:  # exact: no context beyond it changes anything
        effective = min(effective, theoretical) if converged else theoretical
    return ReceptiveField(theoretical_px=theoretical, effective_px=effective, radius_px=radius,
                          tolerance=tolerance, profile=tail, frames=names, safety_px=safety_px,
                          converged=converged)


def card_fields(onnx_path: str | Path, card: ModelCard, **options: Any) -> dict[str, Any]:
    """``receptive_field_px`` and ``receptive_field`` for the card of a freshly exported model.

    Parameters
    ----------
    onnx_path : str or Path
        The exported model.
    card : ModelCard
        Its card so far (its ``tag``, ``size_multiple``, ``input_clip_percent`` and
        ``generator`` config for the theoretical radius), which is not yet on disk.
    **options
        Passed to :func:`measure_receptive_field`.
    """
    from ..model.registry import ModelInfo
    from .engine import Restorer

    info = ModelInfo(name=card.tag or Path(onnx_path).stem, onnx_path=Path(onnx_path), card=card)
    field_ = measure_receptive_field(Restorer(info, tile=0, progress=False), **options)
    return {"receptive_field_px": field_.effective_px, "receptive_field": card_entry(field_)}

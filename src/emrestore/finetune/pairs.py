"""Where fine-tuning's training crops come from: series pairs, single frames, synthetic pairs.

* :class:`SeriesPairs` — (frame *i*, frame *j* of the same series moved onto frame *i*'s grid):
  the Noise2Noise pairs. Shifts from :func:`~emrestore.evaluation.registration.register_series`;
  the target window is resampled by a cubic spline (only the target: the input stays a raw
  frame, as the network sees at restore time).
* :class:`FrameCrops` — crops of every frame of every input, for the blind-spot objective.
* :class:`SyntheticPairs` — a fixed pool of (degraded, clean) crops: the starting model's
  restoration of the user's frames, degraded by :func:`emrestore.distort` with the dose (and,
  for scanned images, the row jitter) that :func:`emrestore.estimate_noise` measured.

Every crop is flipped at random (up/down, left/right: flips keep scan lines horizontal, so
scanned artefacts keep their direction). Every sampler takes a :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dihedral import random_flip
from ..errors import ParameterError
from .inputs import AdaptInput

__all__ = ["FrameCrops", "SeriesPairs", "SyntheticPairs", "crop_size"]


def crop_size(requested: int, h: int, w: int, multiple: int = 4) -> int:
    """The largest crop ≤ ``requested`` that fits (h, w), a multiple of ``multiple`` [px]."""
    size = min(requested, h, w)
    return max(multiple, size - size % multiple)


class SeriesPairs:
    """Noise2Noise pairs from the series among the inputs.

    Parameters
    ----------
    inputs : list of AdaptInput
        Those with ``series`` True are used (frames conditioned already, e.g. clipped).
    crop : int
        Requested crop side [px]; smaller where a registered series is smaller.
    """

    def __init__(self, inputs: list[AdaptInput], crop: int) -> None:
        from ..evaluation.registration import register_series

        self.series: list[tuple[np.ndarray, np.ndarray, int, int]] = []
        self.records: list[dict[str, Any]] = []
        for item in inputs:
            if not item.series:
                continue
            frames = np.asarray(item.frames, np.float64)
            shifts = register_series(frames).shifts_px
            spread = np.abs(shifts[:, None, :] - shifts[None, :, :]).max()
            margin = math.ceil(spread) + 3
            h, w = frames.shape[1:]
            size = crop_size(crop, h - 2 * margin, w - 2 * margin)
            if size < 16:
                raise ParameterError(f"{item.name}: the frames drift by {spread:.1f} px, too much for "
                                     f"{h} × {w} px frames to give Noise2Noise pairs.",
                                     "Crop the series to the common field, or adapt on single frames.")
            self.series.append((frames, shifts, margin, size))
            self.records.append({"name": item.name, "frames": len(frames), "crop_px": size,
                                 "max_shift_px": float(np.abs(shifts).max())})

    def __bool__(self) -> bool:
        return bool(self.series)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One pair (input, target), float32 (c, c), on the input frame's pixel grid."""
        from scipy.ndimage import shift as spline_shift

        frames, shifts, margin, size = self.series[int(rng.integers(len(self.series)))]
        n, h, w = frames.shape
        i, j = rng.choice(n, size=2, replace=False)
        y = int(rng.integers(margin, h - margin - size + 1))
        x = int(rng.integers(margin, w - margin - size + 1))
        window = frames[j, y - margin:y + size + margin, x - margin:x + size + margin]
        moved = spline_shift(window, shifts[j] - shifts[i], order=3, mode="nearest")
        target = moved[margin:margin + size, margin:margin + size]
        source = frames[i, y:y + size, x:x + size]
        a, b = random_flip((source, target), rng)
        return a.astype(np.float32), b.astype(np.float32)


class FrameCrops:
    """Crops of every frame of every input (for the blind-spot objective)."""

    def __init__(self, inputs: list[AdaptInput], crop: int) -> None:
        self.frames = [f for item in inputs for f in np.asarray(item.frames, np.float32)]
        self.crops = [crop_size(crop, *f.shape) for f in self.frames]

    def __bool__(self) -> bool:
        return bool(self.frames)

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """One crop (c, c) float32; ``size`` forces the side (clipped to the frame)."""
        k = int(rng.integers(len(self.frames)))
        frame = self.frames[k]
        c = crop_size(size or self.crops[k], *frame.shape)
        y = int(rng.integers(0, frame.shape[0] - c + 1))
        x = int(rng.integers(0, frame.shape[1] - c + 1))
        return random_flip((frame[y:y + c, x:x + c],), rng)[0]


@dataclass
class NoiseLevel:
    """What the forward model is told about one input's noise (from :func:`emrestore.estimate_noise`)."""

    floor: float
    dose_per_px: float | None
    row_jitter_px: float | None
    estimate: dict[str, Any]


def noise_level(frame: np.ndarray, restored: np.ndarray, modality: str, seed: int) -> NoiseLevel:
    """Read the noise of ``frame`` and turn it into forward-model parameters.

    The signal floor is the estimated offset (zero events) where the frame tells it, else the
    0.1-th percentile of the restoration; the dose is the estimated noise-equivalent dose,
    else (restored mean − floor) / gain.
    """
    from ..noise_estimate import estimate_noise

    try:
        est = estimate_noise(frame, modality=modality, seed=seed, bootstrap=20)
    except Exception as error:  # noqa: BLE001 - a frame the estimator refuses still adapts (no synthetic dose)
        return NoiseLevel(float(np.percentile(restored, 0.1)), None, None, {"error": str(error)})
    floor = est.offset if est.offset is not None else float(np.percentile(restored, 0.1))
    dose = est.dose_per_px
    if dose is None and est.gain and est.gain > 0:
        dose = float(np.mean(np.maximum(restored - floor, 0.0)) / est.gain)
    jitter = getattr(est, "row_jitter_px", None)
    summary = {k: v for k, v in est.to_dict().items() if not isinstance(v, (list, dict))}
    return NoiseLevel(float(floor), None if dose is None or not np.isfinite(dose) or dose <= 0 else float(dose),
                      None if jitter is None or not np.isfinite(jitter) else float(jitter), summary)


def _clip_to(spec: Any, value: float) -> float:
    high = spec.tail_high if spec.tail_high is not None else spec.high
    return float(np.clip(value, spec.low, high))


class SyntheticPairs:
    """A fixed pool of forward-model pairs made from the starting model's restorations.

    Parameters
    ----------
    inputs : list of AdaptInput
    restored : list of numpy.ndarray
        The starting model's restoration of each input's first frame (H, W) [input units].
    modality : {"tem", "stem", "sem"}
        Whose chain degrades them (the model's modality).
    crop : int
        Crop side [px].
    pool : int
        Pairs in the pool (made once: the scanned chains take ≈ 0.2 s per 64² crop).
    rng : numpy.random.Generator
        Crop positions and the forward model's randomness.
    """

    def __init__(self, inputs: list[AdaptInput], restored: list[np.ndarray], modality: str, crop: int,
                 pool: int, rng: np.random.Generator, seed: int = 0, progress: bool = False) -> None:
        from tqdm.auto import tqdm

        from ..distortions import distort
        from ..distortions.chains import get_chain

        specs = get_chain(modality).specs()
        dose_name = "dose_pe_per_px" if modality == "sem" else "dose_e_per_px"
        self.levels = [noise_level(item.frames[0], r, modality, seed) for item, r in zip(inputs, restored)]
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        cleans = [np.maximum(r - level.floor, 0.0) for r, level in zip(restored, self.levels)]
        for _ in tqdm(range(pool), desc="synthetic pairs", unit="pair", leave=False, disable=not progress):
            k = int(rng.integers(len(inputs)))
            clean, level = cleans[k], self.levels[k]
            c = crop_size(crop, *clean.shape)
            y = int(rng.integers(0, clean.shape[0] - c + 1))
            x = int(rng.integers(0, clean.shape[1] - c + 1))
            window = clean[y:y + c, x:x + c]
            if window.mean() <= 0:
                continue
            fixed: dict[str, Any] = {"display_applied": False}
            if level.dose_per_px is not None:
                # the chain normalises the crop to mean 1: its dose per px is the frame's at the crop's mean
                crop_dose = level.dose_per_px * float(window.mean() / max(clean.mean(), 1e-12))
                fixed[dose_name] = _clip_to(specs[dose_name], crop_dose)
            if level.row_jitter_px is not None and "jitter_sigma_x_px" in specs:
                fixed["jitter_sigma_x_px"] = _clip_to(specs["jitter_sigma_x_px"], level.row_jitter_px)
            degraded, target, _ = distort(window, modality, seed=rng, pixel_size_nm=inputs[k].pixel_size_nm,
                                          **fixed)
            self.pairs.append((np.asarray(degraded, np.float32), np.asarray(target, np.float32)))

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (degraded, clean) pair from the pool, flipped at random."""
        degraded, target = self.pairs[int(rng.integers(len(self.pairs)))]
        return random_flip((degraded, target), rng)

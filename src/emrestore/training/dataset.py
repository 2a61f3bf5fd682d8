"""Training pairs on the fly, and the fixed validation set.

Pair ``i`` of a run is a pure function of ``(seed, i)``: its generator is
``numpy.random.default_rng([seed, i])``, whichever DataLoader worker or DDP process makes it.
Step ``s`` of a run with ``P`` processes and ``b`` pairs per process uses the global indices
``s·P·b … (s+1)·P·b − 1`` (process ``r`` takes ``s·P·b + r·b …``), so resuming at step ``s``,
changing the number of workers, or splitting a batch over processes gives the same pairs.
Workers also seed numpy's and Python's global generators from their torch seed
(:func:`worker_init`) for any third-party code that uses them. Pairs of the physical chain
are clean pairs (input = target) with probability :data:`CLEAN_PAIR_FRACTION`, so a network
learns to leave clean images alone; :func:`emrestore.distortions.distort` itself always degrades.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..datasets.registry import TAGS
from ..model.conditioning import clip_percentiles
from ..errors import ParameterError
from ..io.atomic import save_npz_atomic
from .config import TrainConfig
from ..datasets.sources import BankSource, RendererSource, SyntheticSource, get_augment, get_degradation

__all__ = [
    "CLEAN_PAIR_FRACTION",
    "PairDataset",
    "clean_pair_fraction",
    "StepSampler",
    "make_source",
    "make_dataset",
    "make_loader",
    "worker_init",
    "validation_set",
]

#: Share of the training and validation pairs of the physical chain whose input is their
#: target (a clean pair), so a network learns to leave clean images alone [-].
CLEAN_PAIR_FRACTION = 0.05


def clean_pair_fraction(degradation: str) -> float:
    """Share of clean pairs for a ``[data] degradation``: :data:`CLEAN_PAIR_FRACTION` for
    ``"chain"``, 0 for ``"poisson"`` (a shot-noise-only degradation has no clean pairs)."""
    return CLEAN_PAIR_FRACTION if degradation == "chain" else 0.0


def make_source(config: TrainConfig, held_out: bool = False):
    """The clean-image source of ``[data] source``.

    With ``held_out=True`` a bank run draws from the tag's renderer instead, so its
    validation images are new specimens rather than new crops of training images.
    """
    data = config.data
    if data.source == "renderer" or (held_out and data.source == "bank" and config.tag in TAGS):
        return RendererSource(config.tag)
    if data.source == "bank":
        return BankSource(data.bank, config.modality)
    return SyntheticSource(config.modality)


class PairDataset(Dataset):
    """(degraded, target) pairs, each (1, crop, crop) float32, made on the fly.

    Parameters
    ----------
    source : CleanSource
        Clean-image source (renderer, bank or synthetic).
    degrade : callable
        ``degrade(clean, modality, rng[, pixel_size_nm=...]) -> (degraded, target, params)``; the
        pixel size [nm] is passed when the source returns one.
    crop : int
        Side of the pairs [px].
    seed : int
        Seed of the pair sequence.
    augment : callable, optional
        ``augment(image, rng) -> image`` applied to the clean image before degradation.
    clip_percent : float
        Clip each degraded input to its ``[p, 100 − p]`` percentiles (``[data]
        input_clip_percent``; 0 = off).
    clean_fraction : float
        Probability that a pair is a clean pair: its input is replaced by its target
        (drawn after the degradation, from the pair's generator) [-]; see
        :func:`clean_pair_fraction`.
    """

    def __init__(self, source, degrade, crop: int, seed: int, augment=None, clip_percent: float = 0.0,
                 clean_fraction: float = 0.0) -> None:
        self.source = source
        self.degrade = degrade
        self.crop = crop
        self.seed = seed
        self.augment = augment
        self.clip_percent = float(clip_percent)
        self.clean_fraction = float(clean_fraction)

    def __len__(self) -> int:  # effectively infinite; indices come from StepSampler
        return 2**62

    def clean_crop(self, index: int) -> tuple[np.random.Generator, np.ndarray, str, float | None]:
        """The clean, augmented crop of pair ``index``: ``(rng, clean, modality, pixel_size_nm)``.

        ``rng`` is the pair's generator after the crop and augmentation drew from it; the
        pair's degradation draws from it next.
        """
        rng = np.random.default_rng([self.seed, int(index)])
        clean, modality, *pixel = self.source.sample(self.crop, rng)
        pixel_size_nm = pixel[0] if pixel else None
        if self.augment is not None:
            augmented = self.augment(clean, rng)
            # a warp can move all the signal of a sparse crop (a particle on vacuum) out of view;
            # such a pair could not be normalised, so the crop is used as drawn
            if float(np.mean(augmented)) > 0:
                clean = augmented
        return rng, np.asarray(clean, np.float32), modality, pixel_size_nm

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Make pair ``index`` as numpy arrays (H, W) and its parameters."""
        rng, clean, modality, pixel_size_nm = self.clean_crop(index)
        if pixel_size_nm is None:
            degraded, target, params = self.degrade(np.asarray(clean, np.float32), modality, rng)
        else:
            degraded, target, params = self.degrade(np.asarray(clean, np.float32), modality, rng,
                                                    pixel_size_nm=pixel_size_nm)
        if degraded.shape != (self.crop, self.crop) or target.shape != degraded.shape:
            raise ParameterError(
                f"Pair source returned shapes {degraded.shape}/{target.shape}, not ({self.crop}, {self.crop}).",
                "Check the renderer/bank/distortion settings.",
            )
        if self.clean_fraction > 0:
            params["clean_pair"] = bool(rng.random() < self.clean_fraction)
            if params["clean_pair"]:
                degraded = target.copy()
        return clip_percentiles(degraded, self.clip_percent), target, params

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        degraded, target, _ = self.pair(index)
        return torch.from_numpy(np.ascontiguousarray(degraded)[None]), torch.from_numpy(np.ascontiguousarray(target)[None])


class StepSampler(Sampler[int]):
    """Infinite sequence of global pair indices for one process, starting at ``start_step``.

    Parameters
    ----------
    batch_size : int
        Pairs per step for this process.
    start_step : int
        First optimiser step to serve.
    rank, world_size : int
        This process and the number of processes (DDP).
    """

    def __init__(self, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.batch_size = batch_size
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[int]:
        step = self.start_step
        b, p = self.batch_size, self.world_size
        while True:
            first = step * p * b + self.rank * b
            yield from range(first, first + b)
            step += 1


def worker_init(worker_id: int) -> None:
    """Seed numpy's and Python's global generators of a DataLoader worker from its torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_dataset(config: TrainConfig, seed: int | None = None) -> PairDataset:
    """The training :class:`PairDataset` of a configuration."""
    data = config.data
    return PairDataset(
        make_source(config),
        get_degradation(data.degradation, tuple(data.dose_range)),
        data.crop,
        config.seed if seed is None else seed,
        get_augment(data.augment),
        data.input_clip_percent,
        clean_pair_fraction(data.degradation),
    )


def make_loader(
    config: TrainConfig, start_step: int = 0, rank: int = 0, world_size: int = 1, pin_memory: bool = False
) -> DataLoader:
    """DataLoader serving the batches of steps ``start_step, start_step + 1, ...`` for process
    ``rank`` of ``world_size`` (``pin_memory`` for CUDA training)."""
    dataset = make_dataset(config)
    sampler = StepSampler(config.data.batch_size, start_step, rank, world_size)
    workers = config.data.workers
    return DataLoader(
        dataset,
        batch_size=config.data.batch_size,
        sampler=sampler,
        num_workers=workers,
        worker_init_fn=worker_init if workers > 0 else None,
        persistent_workers=workers > 0,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers > 0 else None,
        # worker seeds differ between DDP processes (the pairs themselves do not depend on them)
        generator=torch.Generator().manual_seed(config.seed + 7919 * rank),
    )


def _validation_key(config: TrainConfig) -> str:
    data = config.data
    held_out = data.source == "bank" and config.tag in TAGS  # validated on the renderer
    spec = {
        "tag": config.tag,
        "modality": config.modality,
        "source": "renderer" if held_out else data.source,
        "bank": str(Path(data.bank).resolve()) if data.bank and not held_out else "",
        "crop": data.crop,
        "augment": data.augment,
        "degradation": data.degradation,
        "dose_range": list(data.dose_range),
        "clean_pair_fraction": clean_pair_fraction(data.degradation),
        "n": data.validation_size,
        "seed": data.validation_seed,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def validation_set(config: TrainConfig, cache_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fixed, seeded validation pairs of a configuration, (N, 1, crop, crop) float32 each.

    Pair ``i`` is made with seed ``[validation_seed, i]`` (no augmentation), independently of
    the training seed. Runs on a bank validate on the tag's renderer (held-out specimens). When ``cache_dir`` is given, the set is stored there as
    ``validation_TAG_HASH.npz`` (the hash covers every data setting) and read back by later
    runs, so all runs with the same data settings are compared on the same pairs. The
    stored inputs are unclipped; ``[data] input_clip_percent`` is applied on return.
    """
    path = None
    data = config.data
    if cache_dir is not None:
        path = Path(cache_dir) / f"validation_{config.tag}_{_validation_key(config)}.npz"
        if path.is_file():
            with np.load(path) as stored:
                return _clip_inputs(stored["degraded"], data.input_clip_percent), stored["target"]
    dataset = PairDataset(
        make_source(config, held_out=True),
        get_degradation(data.degradation, tuple(data.dose_range)),
        data.crop,
        data.validation_seed,
        None,
        clean_fraction=clean_pair_fraction(data.degradation),
    )
    pairs = [dataset.pair(i)[:2] for i in range(data.validation_size)]
    degraded = np.stack([p[0] for p in pairs])[:, None].astype(np.float32)
    target = np.stack([p[1] for p in pairs])[:, None].astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz_atomic(path, degraded=degraded, target=target)
    return _clip_inputs(degraded, data.input_clip_percent), target


def _clip_inputs(degraded: np.ndarray, percent: float) -> np.ndarray:
    """Each (1, H, W) input of a validation set clipped to its own percentiles."""
    if not percent:
        return degraded
    return np.stack([clip_percentiles(x, percent) for x in degraded]).astype(np.float32)

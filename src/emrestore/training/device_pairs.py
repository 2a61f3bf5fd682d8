"""Training pairs degraded on the training device (``[data] pairs_on = "device"``).

The DataLoader workers do what is cheap on a CPU core: the clean crop, its augmentation
and the draw of the chain's parameters (the numpy chain's own sampler,
:func:`emrestore.distortions.batched.sample_batch`). The training device applies the
chain to the whole batch (:func:`emrestore.distortions.batched.run_batch`), which on a
GPU is where the numpy chain limited the step rate (docs/models.md: ≈ 170 STEM pairs/s
with the chain on the CPU cores). Pair ``i`` takes its crop, augmentation and
parameters from ``numpy.random.default_rng([seed, i])`` as in
:class:`~emrestore.training.dataset.PairDataset`; the noise of the batch of step ``s``
comes from a :class:`torch.Generator` seeded with ``(seed, s, rank)``, so a run is
reproducible on one device type (not pixel-identical to the numpy pairs).

With ``[data] supply = "device"`` the bank itself lives on the device and the crops and
their augmentation are made there too (:mod:`emrestore.training.device_supply`, from a
generator of its own per step); pair ``i``'s parameters still come from
``default_rng([seed, i])``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..distortions import batched
from ..distortions.chains import get_chain, normalise_clean, split_generator
from .config import DataConfig, TrainConfig
from .dataset import StepSampler, clean_pair_fraction, make_dataset, make_loader, worker_init
from .device_supply import DeviceBank, clean_batch

__all__ = ["CleanCropDataset", "DevicePairLoader", "batch_noise_seed", "clip_batch", "make_device_loader",
           "make_pair_loader", "pairs_place"]


class CleanCropDataset(Dataset):
    """Clean crops and their chain parameters, made in the DataLoader workers.

    Item ``i`` is ``(clean (crop, crop) float32, params dict, clean_pair bool)``.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (source, crop, augmentation, modality).
    seed : int, optional
        Seed of the pair sequence (default the run's seed).
    """

    def __init__(self, config: TrainConfig, seed: int | None = None) -> None:
        self.pairs = make_dataset(config, seed)  # the same crops and augmentation as the numpy pairs
        self.chain = get_chain(config.modality)
        self.clean_fraction = clean_pair_fraction(config.data.degradation)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any], bool]:
        rng, clean, modality, pixel_size_nm = self.pairs.clean_crop(index)
        param_rng, _ = split_generator(rng)  # as distort(seed=rng) draws its parameters
        values = self.chain.sample_parameters(param_rng, normalise_clean(clean), validate=False,
                                              pixel_size_nm=pixel_size_nm)
        clean_pair = bool(rng.random() < self.clean_fraction) if self.clean_fraction > 0 else False
        return torch.from_numpy(np.ascontiguousarray(clean)), values, clean_pair


def _collate(items: list[tuple[torch.Tensor, dict[str, Any], bool]]
             ) -> tuple[torch.Tensor, list[dict[str, Any]], torch.Tensor]:
    cleans, values, clean_pairs = zip(*items)
    return torch.stack(cleans), list(values), torch.tensor(clean_pairs, dtype=torch.bool)


def batch_noise_seed(seed: int, step: int, rank: int = 0, stream: str = "pairs") -> int:
    """Seed of a generator of step ``step`` on process ``rank`` (a 63-bit integer).

    ``stream`` separates the generators of one step: ``"pairs"`` (the chain's noise),
    ``"crops"`` (crops and augmentation made on the device).
    """
    digest = hashlib.sha256(f"emrestore-{stream}/{seed}/{step}/{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


#: Largest input :func:`torch.quantile` accepts [elements].
QUANTILE_MAX_ELEMENTS = 2**24


def clip_batch(images: torch.Tensor, percent: float) -> torch.Tensor:
    """Clip each image (B, H, W) to its own ``[p, 100 − p]`` percentiles (0: unchanged).

    The batched form of :func:`emrestore.model.conditioning.clip_percentiles` (linear
    interpolation between order statistics, as :func:`numpy.percentile`).
    """
    if not percent:
        return images
    flat = images.reshape(images.shape[0], -1)
    q = torch.tensor([percent / 100.0, 1.0 - percent / 100.0], dtype=torch.float64, device=images.device)
    if flat.numel() <= QUANTILE_MAX_ELEMENTS:
        low, high = torch.quantile(flat.double(), q, dim=1).to(images.dtype)
    else:  # torch.quantile refuses larger inputs: one image at a time
        low, high = torch.stack([torch.quantile(row.double(), q) for row in flat], dim=1).to(images.dtype)
    return torch.maximum(torch.minimum(images, high[:, None, None]), low[:, None, None])


class DevicePairLoader:
    """Batches of ``(degraded, target)``, each (B, 1, crop, crop) float32 on ``device``.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration.
    device : torch.device or str
        Where the chain runs (and the batches stay).
    start_step : int
        First optimiser step to serve.
    rank, world_size : int
        This process and the number of processes (DDP).
    """

    def __init__(self, config: TrainConfig, device: torch.device | str, start_step: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.config = config
        self.device = torch.device(device)
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size
        self.chain = get_chain(config.modality)
        self.bank: DeviceBank | None = None
        if config.data.supply == "device":
            self.bank = DeviceBank.load(config.data.bank, config.modality, device=self.device)
            self.loader: DataLoader | None = None
            return
        workers = config.data.workers
        self.loader = DataLoader(
            CleanCropDataset(config),
            batch_size=config.data.batch_size,
            sampler=StepSampler(config.data.batch_size, start_step, rank, world_size),
            num_workers=workers,
            collate_fn=_collate,
            worker_init_fn=worker_init if workers > 0 else None,
            persistent_workers=workers > 0,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers > 0 else None,
            generator=torch.Generator().manual_seed(config.seed + 7919 * rank),
        )

    def _device_crops(self) -> Iterator[tuple[torch.Tensor, list[dict[str, Any]], torch.Tensor]]:
        """Batches of clean crops made on the device, with their parameters (``supply = "device"``)."""
        assert self.bank is not None
        data, seed = self.config.data, self.config.seed
        fraction = clean_pair_fraction(data.degradation)
        step = self.start_step
        while True:
            generator = torch.Generator(self.device).manual_seed(
                batch_noise_seed(seed, step, self.rank, stream="crops"))
            clean, pixel_size_nm = clean_batch(self.bank, data.batch_size, data.crop, generator, data.augment)
            first = (step * self.world_size + self.rank) * data.batch_size  # as StepSampler numbers pairs
            rngs = [np.random.default_rng([seed, first + k]) for k in range(data.batch_size)]
            values = batched.sample_batch(self.chain, clean, rngs, pixel_size_nm=pixel_size_nm)
            clean_pairs = torch.tensor([bool(r.random() < fraction) if fraction > 0 else False for r in rngs])
            yield clean, values, clean_pairs
            step += 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        clip = self.config.data.input_clip_percent
        batches = self._device_crops() if self.loader is None else iter(self.loader)
        for step, (clean, values, clean_pairs) in enumerate(batches, self.start_step):
            generator = torch.Generator(self.device).manual_seed(
                batch_noise_seed(self.config.seed, step, self.rank))
            clean = clean.to(self.device, non_blocking=True)
            degraded, target = batched.run_batch(self.chain, clean, values, generator)
            degraded = torch.where(clean_pairs.to(self.device)[:, None, None], target, degraded)
            yield clip_batch(degraded, clip)[:, None], target[:, None]


def make_device_loader(config: TrainConfig, device: torch.device | str, start_step: int = 0,
                       rank: int = 0, world_size: int = 1) -> DevicePairLoader:
    """The :class:`DevicePairLoader` of a configuration (``[data] pairs_on = "device"``)."""
    return DevicePairLoader(config, device, start_step, rank, world_size)


def pairs_place(data: DataConfig, device: torch.device | str) -> str:
    """Where a run's pairs are degraded: ``"device"`` or ``"workers"`` (``[data] pairs_on``).

    ``auto`` is the device when the crops are made there (``supply = "device"``) or the run
    trains on a GPU with the physical chain, else the workers.
    """
    if data.pairs_on != "auto":
        return data.pairs_on
    if data.supply == "device":
        return "device"
    return "device" if torch.device(device).type == "cuda" and data.degradation == "chain" else "workers"


def make_pair_loader(config: TrainConfig, device: torch.device | str, start_step: int = 0, rank: int = 0,
                     world_size: int = 1) -> DevicePairLoader | DataLoader:
    """The training batches of a run: on the device or from the workers (:func:`pairs_place`)."""
    if pairs_place(config.data, device) == "device":
        return make_device_loader(config, device, start_step, rank, world_size)
    return make_loader(config, start_step, rank, world_size, pin_memory=torch.device(device).type == "cuda")

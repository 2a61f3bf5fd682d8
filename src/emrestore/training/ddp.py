"""Distributed data parallel (DDP) set-up from the environment ``torchrun`` provides.

Launch any number of processes with PyTorch's own launcher, e.g. on one machine::

    torchrun --nproc_per_node=4 -m emrestore.cli train --tag hrstem --out runs/hrstem

and on several nodes add ``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint``. Each process
trains on its share of every batch (see :mod:`emrestore.training.dataset`); gradients are
averaged by :class:`torch.nn.parallel.DistributedDataParallel`. The backend is NCCL on CUDA
and gloo on CPU. Without ``torchrun`` (``WORLD_SIZE`` unset or 1) nothing is initialised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ParameterError

__all__ = ["DistInfo", "init_distributed", "cleanup_distributed", "all_reduce_max"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, and its torch device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Initialise the process group if launched by ``torchrun``; pick the device.

    Parameters
    ----------
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:K"``; default: CUDA when available (the process's
        ``LOCAL_RANK`` GPU under DDP), else CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ParameterError(f"Unknown device {device!r}.", "Use 'cpu', 'cuda' or 'cuda:K'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("Device 'cuda' was asked for, but PyTorch sees no CUDA GPU.",
                             "Use --device cpu (or install a CUDA build of PyTorch).")
    if dev.type not in ("cpu", "cuda"):
        raise ParameterError(f"Device {device!r} is not supported for training.", "Use 'cpu' or 'cuda'.")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank if world_size > 1 else 0)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, dev)


def cleanup_distributed() -> None:
    """Destroy the process group if one was initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_max(value: float, info: DistInfo) -> float:
    """Maximum of ``value`` over all processes (the value itself without DDP)."""
    if not info.distributed:
        return value
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())

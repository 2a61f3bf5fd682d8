"""Checkpoints: weights, optimiser states, RNG states and progress, written atomically."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ParameterError

__all__ = ["save_checkpoint", "load_checkpoint", "capture_rng", "restore_rng", "find_checkpoint"]

CHECKPOINT_VERSION = 1


def capture_rng() -> dict[str, Any]:
    """States of torch (CPU and CUDA), numpy's global and Python's global generators."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """:func:`torch.save` ``obj`` to a temporary file next to ``path``, then rename it."""
    from ..io.atomic import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        torch.save(obj, temp)
    return path


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the checkpoint format version) atomically."""
    return atomic_torch_save({"version": CHECKPOINT_VERSION, **payload}, path)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or ``DIR/checkpoints/last.pt`` for a run directory ``DIR``."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "checkpoints" / "last.pt", path / "last.pt"):
            if candidate.is_file():
                return candidate
        raise ParameterError(f"No checkpoint found in {path}.",
                             "Give a run directory written by `emrestore train` or a .pt file.")
    if not path.is_file():
        raise ParameterError(f"Checkpoint {path} does not exist.", "Give an existing .pt file or run directory.")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (file or run directory)."""
    path = find_checkpoint(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unpickling problem is a bad file
        raise ParameterError(f"Checkpoint {path} cannot be read ({type(error).__name__}: {error}).",
                             "Use a checkpoint written by `emrestore train`.") from None
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise ParameterError(f"{path} is not an emrestore checkpoint (version {CHECKPOINT_VERSION}).",
                             "Use a checkpoint written by `emrestore train`.")
    payload["path"] = str(path)
    return payload

"""Training of emrestore's networks (PyTorch): data, trainer, checkpoints, DDP, ONNX export.

Configurations (:mod:`emrestore.training.config`) load without torch; everything else imports
torch on first use. The restore path never needs torch.

Public names
------------
TrainConfig, load_config, default_config, config_from_dict
    Configurations (TOML per tag in ``emrestore/configs``).
PairDataset, make_dataset, make_loader, validation_set, StepSampler, worker_init
    Pairs made on the fly (bank/renderer/synthetic source → augmentation → distortion).
Trainer, train, evaluate, lr_factor
    The two-phase trainer with checkpoints, exact resume and wall-time budget.
export_onnx
    ONNX export with parity check.
save_checkpoint, load_checkpoint
    Checkpoint files.
write_model_card, build_model_card
    The JSON model card written next to each exported model.
"""

from __future__ import annotations

import importlib
from typing import Any

# Configurations need no torch; the rest imports torch on first use.
from .config import TrainConfig, config_from_dict, default_config, load_config

_LAZY = {
    "load_checkpoint": ".checkpoint",
    "save_checkpoint": ".checkpoint",
    "PairDataset": ".dataset",
    "StepSampler": ".dataset",
    "make_dataset": ".dataset",
    "make_loader": ".dataset",
    "validation_set": ".dataset",
    "worker_init": ".dataset",
    "export_onnx": ".export",
    "save_torch_weights": ".export",
    "build_model_card": ".model_card",
    "write_model_card": ".model_card",
    "Trainer": ".trainer",
    "evaluate": ".trainer",
    "lr_factor": ".trainer",
    "train": ".trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(["TrainConfig", "config_from_dict", "default_config", "load_config", *_LAZY])

"""Training of emrestore's networks (PyTorch): data, trainer, checkpoints, DDP, ONNX export.

Importing this package imports torch; the restore path never does.

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

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, config_from_dict, default_config, load_config
from .dataset import PairDataset, StepSampler, make_dataset, make_loader, validation_set, worker_init
from .export import export_onnx, save_torch_weights
from .model_card import build_model_card, write_model_card
from .trainer import Trainer, evaluate, lr_factor, train

__all__ = [
    "PairDataset",
    "StepSampler",
    "TrainConfig",
    "Trainer",
    "build_model_card",
    "config_from_dict",
    "default_config",
    "evaluate",
    "export_onnx",
    "save_torch_weights",
    "load_checkpoint",
    "load_config",
    "lr_factor",
    "make_dataset",
    "make_loader",
    "save_checkpoint",
    "train",
    "validation_set",
    "worker_init",
    "write_model_card",
]

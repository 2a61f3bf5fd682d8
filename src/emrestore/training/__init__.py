"""Training of emrestore's networks (PyTorch): data, trainer, checkpoints, DDP, ONNX export.

Configurations (:mod:`emrestore.training.config`) load without torch; everything else imports
torch on first use. The restore path never needs torch.

Public names
------------
TrainConfig, load_config, default_config, config_from_dict
    Configurations (TOML per tag in ``emrestore/configs``).
PairDataset, make_dataset, make_loader, validation_set, StepSampler, worker_init
    Pairs made on the fly (bank/renderer/synthetic source → augmentation → distortion).
Trainer, train
    The two-phase trainer with checkpoints, exact resume and wall-time budget.
lr_factor
    The learning-rate schedule (:mod:`.schedule`, also the pixel phase fitted to a budget).
evaluate
    Validation metrics (:mod:`.validation`).
read_log
    Rows of a run's CSV logs (:mod:`.run_log`).
export_onnx
    ONNX export with parity check.
save_checkpoint, load_checkpoint
    Checkpoint files.
write_model_card, build_model_card
    The JSON model card written next to each exported model.
"""

from __future__ import annotations

# Configurations need no torch; the rest imports torch on first use.
from ..lazy import lazy_getattr
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
    "read_log": ".run_log",
    "lr_factor": ".schedule",
    "Trainer": ".trainer",
    "train": ".trainer",
    "evaluate": ".validation",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "PairDataset", "StepSampler", "TrainConfig", "Trainer", "build_model_card", "config_from_dict",
    "default_config", "evaluate", "export_onnx", "load_checkpoint", "load_config", "lr_factor",
    "make_dataset", "make_loader", "read_log", "save_checkpoint", "save_torch_weights", "train",
    "validation_set", "worker_init", "write_model_card",
]

"""Building the model card of a trained model (:class:`~emrestore.model.card.ModelCard`).

The card's fields and format are documented in :mod:`emrestore.model.card`; this module fills
them from a training run: its configuration, progress, validation, ONNX export, hardware and
git state.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..model.card import ModelCard

__all__ = ["cpu_model", "git_commit", "hardware_info", "build_model_card", "write_model_card"]

logger = logging.getLogger("emrestore")


def git_commit(start: str | Path | None = None) -> dict[str, Any]:
    """Commit hash and dirty flag of the git checkout holding ``start`` (this package by default)."""
    start = Path(start or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=start,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"git_commit": commit, "git_dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": None}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware_info(device: Any = None, world_size: int = 1) -> dict[str, Any]:
    """Machine, CPU, thread count and accelerators used for training."""
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device) if device is not None else "cpu",
        "world_size": world_size,
        "cpu_model": cpu_model(),
    }
    if torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def write_model_card(path: str | Path, card: ModelCard) -> Path:
    """Write a new model's ``card``, stamped with the current format and time, atomically."""
    from ..model.card import CARD_FORMAT_VERSION

    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return replace(card, format_version=CARD_FORMAT_VERSION, created_utc=created).save(path)


def build_model_card(
    config: dict[str, Any],
    progress: dict[str, Any],
    validation: dict[str, Any] | None,
    onnx: dict[str, Any] | None,
    hardware: dict[str, Any],
    git: dict[str, Any],
    *,
    receptive_field: bool = True,
) -> ModelCard:
    """Assemble a model card from a training config (dict), progress and results.

    Parameters
    ----------
    config : dict
        :meth:`TrainConfig.to_dict` of the run.
    progress : dict
        ``steps``, ``total_steps``, ``pairs_seen``, ``wall_time_s``, ``world_size``, ``finished``.
    validation : dict or None
        Metrics on the fixed validation set.
    onnx : dict or None
        What :func:`emrestore.training.export_onnx` returned (``path`` is stored relative).
    hardware, git : dict
        :func:`hardware_info` and :func:`git_commit`.
    receptive_field : bool
        Measure the exported model's effective receptive field
        (:func:`emrestore.restoration.receptive.card_fields`: seconds for the shipped sizes on
        a CPU, a few minutes for `paper`) and record it; without an ONNX file, or if the
        measurement fails, the theoretical radius is recorded instead (exact, larger).
    """
    import torch

    from .. import __version__
    from ..model.card import EXPORTED_SIGNATURE
    from ..nn.configs import generator_config, generator_gflop, generator_parameter_count
    from ..tags import Tag

    gen = generator_config(config["model"])
    tag = config["tag"]
    clip = float(config["data"].get("input_clip_percent", 0.0))
    onnx_entry = None
    if onnx is not None:
        onnx_entry = dict(onnx)
        onnx_entry["file"] = Path(onnx_entry.pop("path")).name
    card = {
        "name": f"emrestore-{tag}-{gen.name}",
        "tag": tag,
        "modality": config["data"].get("modality") or Tag.get(tag).modality,
        # flat fields read by emrestore.restoration (model listing and tiling)
        "config_name": gen.name,
        "parameters": generator_parameter_count(gen),
        "size_multiple": gen.downsample,
        "pixel_size_nm": None,
        "input_clip_percent": clip,
        "emrestore_version": __version__,
        "torch_version": torch.__version__,
        "generator": {
            "architecture": "CGRDN",
            "config": gen.to_dict(),
            "parameters": generator_parameter_count(gen),
            "gflop_per_256x256": round(generator_gflop(gen, 256, 256), 3),
        },
        "io": {
            "input": "raw intensities, float32 (N, 1, H, W), any H and W",
            "output": "restored image in the input's intensity units, same shape",
            "normalisation": (
                (f"inside the model: (x - mean) / std with the '{EXPORTED_SIGNATURE.stats}' input (N, 3) = "
                 "(mean, std, noise level), undone at the output; pass the frame's statistics for tiles, "
                 "the level from emrestore.model.conditioning.noise_level of the whole frame"
                 if gen.noise_conditioned else
                 f"inside the model: (x - mean) / std with the '{EXPORTED_SIGNATURE.stats}' input (N, 2) = "
                 "(mean, std), undone at the output; pass the frame's statistics for tiles")
                if onnx is not None and onnx.get("stats_input")
                else "inside the model: each input by its own mean/std, undone at the output"
            ) + (f"; before the model, clip the frame to its [{clip:g}, {100 - clip:g}] percentiles "
                 "(emrestore.model.conditioning.clip_percentiles)" if clip else ""),
        },
        "training": {
            "config": config,
            "seed": config["seed"],
            **progress,
            **git,
            "hardware": hardware,
        },
        "data": training_data(config),
        "validation": validation,
        "onnx": onnx_entry,
    }
    return _with_receptive_field(ModelCard.from_dict(card),
                                 onnx.get("path") if onnx is not None and receptive_field else None)


def _with_receptive_field(card: ModelCard, onnx_path: str | None) -> ModelCard:
    """``card`` with ``receptive_field_px`` and ``receptive_field``: measured on ``onnx_path``,
    else (or if the measurement fails) the theoretical radius."""
    theoretical = card.theoretical_receptive_px
    fields: dict[str, Any] = {
        "receptive_field_px": theoretical,
        "receptive_field": {
            "description": ("receptive_field_px: context [px] a tile needs beyond each output pixel; "
                            "here the theoretical radius (not measured), which makes tiles exact"),
            "theoretical_px": theoretical,
        },
    }
    if onnx_path is not None:
        try:
            from ..restoration.receptive import card_fields

            fields = card_fields(onnx_path, card)
        except Exception as error:  # noqa: BLE001 - a failed measurement must not lose the export
            logger.warning("could not measure the receptive field of %s (%s); recording the theoretical "
                           "radius %d px", onnx_path, error, theoretical)
    return replace(card, **fields)


def training_data(config: dict[str, Any]) -> dict[str, Any]:
    """What the model was trained on: the source, the simulator version (its target definition), and
    for a bank its ``bank.json`` (tag, n, size, seed)."""
    data = config.get("data", {})
    from ..evaluation.validation import SIMULATOR_VERSION

    entry: dict[str, Any] = {"source": data.get("source"), "degradation": data.get("degradation"),
                             "crop_px": data.get("crop"), "augment": data.get("augment"),
                             "simulator": SIMULATOR_VERSION}
    if data.get("source") == "bank" and data.get("bank"):
        entry["bank_dir"] = str(data["bank"])
        from ..datasets.bank import read_bank_config

        bank = entry["bank"] = read_bank_config(data["bank"])
        if bank is not None:
            entry["regenerate"] = (f"emrestore simulate --tag {bank.get('tag')} --n {bank.get('n')} "
                                   f"--size {bank.get('size')} --seed {bank.get('seed')} --out BANK")
    return entry

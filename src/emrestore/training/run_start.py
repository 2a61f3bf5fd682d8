"""Where a training run starts: a resumed checkpoint, another run's weights, or a fresh configuration."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..errors import ParameterError
from .checkpoint import find_checkpoint, load_checkpoint
from .config import TrainConfig, config_from_dict


def resumed_state(source: Path) -> dict[str, Any]:
    """The checkpoint a resumed run continues from (``source``: a run directory or a file).

    RNG states must stay CPU tensors; weights and optimiser states are moved to the device
    when they are loaded into the networks and optimisers.
    """
    return load_checkpoint(find_checkpoint(source), map_location="cpu")


def run_config(config: TrainConfig | None, state: dict[str, Any] | None,
               schedule: dict[str, int] | None) -> TrainConfig:
    """The configuration of a run, from the caller, the resumed checkpoint and schedule overrides.

    Parameters
    ----------
    config : TrainConfig or None
        The caller's configuration; for a resumed run it may only change the wall-time
        budget (``schedule.minutes``).
    state : dict or None
        The resumed checkpoint (:func:`resumed_state`); its configuration wins.
    schedule : dict, optional
        New ``pixel_steps`` / ``gan_steps``.

    Raises
    ------
    ParameterError
        If there is no configuration, the caller's differs from the checkpoint's in tag,
        model or discriminator, or a schedule override is unknown.
    """
    if state is not None:
        stored = config_from_dict(state["config"])
        if config is not None:
            for key in ("tag", "model", "discriminator"):
                if getattr(config, key) != getattr(stored, key):
                    raise ParameterError(
                        f"The given config's {key} differs from the checkpoint's.",
                        "Resume without --config, or start a new run directory.",
                    )
            stored.schedule.minutes = config.schedule.minutes
        config = stored
    if config is None:
        raise ParameterError("No configuration given.", "Pass a TrainConfig or resume from a checkpoint.")
    for key, value in (schedule or {}).items():
        if key not in ("pixel_steps", "gan_steps"):
            raise ParameterError(f"Unknown schedule override {key!r}.", "Use pixel_steps or gan_steps.")
        setattr(config.schedule, key, int(value))
    return config


def parent_weights(source: str | Path, config: TrainConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The weights a new run starts from, and the record of where they came from.

    Parameters
    ----------
    source : str or path-like
        A checkpoint file or run directory, a shipped model tag or an exported ``.onnx``
        file (:func:`~emrestore.training.export.checkpoint_from_onnx`).
    config : TrainConfig
        The new run's configuration: its model (and, when the parent has one, its
        discriminator) must match the parent's.

    Returns
    -------
    parent : dict
        The parent checkpoint (``generator``, and ``discriminator`` unless it is
        generator-only, e.g. slimmed for transfer off a GPU machine, or an ONNX file: the new
        run then keeps its freshly initialised discriminator).
    initialised_from : dict
        For the checkpoints and the model card: the parent's path, tag, progress, and
        ``discriminator``: ``"copied"`` or ``"fresh"``.

    Raises
    ------
    ParameterError
        If the parent's model or discriminator configuration differs from ``config``'s
        (except that a run may add ``noise_conditioned`` to the parent's network: its
        noise-level vectors then start at zero, so the run starts from the parent's outputs;
        and it may add a ``refine`` head, whose last convolution starts at zero, with a fresh
        discriminator).
    """
    from ..model.registry import shipped_models

    if str(source).endswith(".onnx") or str(source) in {m.name for m in shipped_models()}:
        from .export import checkpoint_from_onnx

        parent = checkpoint_from_onnx(source)  # an exported model: weights from its graph
        path = Path(parent["path"])
    else:
        path = find_checkpoint(Path(source))
        parent = load_checkpoint(path, map_location="cpu")
    parent_config = config_from_dict(parent["config"])
    has_discriminator = "discriminator" in parent
    conditioning_added = (config.model.noise_conditioned and not parent_config.model.noise_conditioned
                          and replace(config.model, noise_conditioned=False) == parent_config.model)
    if conditioning_added:  # the same network told the noise level: its vectors start at zero
        parent = dict(parent)
        parent["generator"] = {**parent["generator"],
                               "noise_vectors": torch.zeros(config.model.groups + 2, config.model.channels),
                               "noise_gates": torch.zeros(2, config.model.channels)}
        parent_config = replace(parent_config, model=config.model)
    head_added = (config.model.refine and not parent_config.model.refine
                  and replace(config.model, refine=0, name=parent_config.model.name) == parent_config.model)
    if head_added:  # the same network with a refinement head: it starts as the parent (last conv zero)
        from ..nn import build_generator

        fresh = build_generator(config.model, seed=config.seed).state_dict()
        parent = dict(parent)
        parent["generator"] = {**parent["generator"],
                               **{k: v for k, v in fresh.items() if k.startswith("refine.")}}
        parent.pop("discriminator", None)  # a fresh discriminator for the new generator
        has_discriminator = False
        parent_config = replace(parent_config, model=config.model)
    for key in ("model", "discriminator") if has_discriminator else ("model",):
        if getattr(parent_config, key) != getattr(config, key):
            raise ParameterError(
                f"The checkpoint {path} has another {key} configuration than this run.",
                f"Use the checkpoint's {key} settings (e.g. --model {parent_config.model.name}).",
            )
    initialised_from = {
        "checkpoint": str(path.resolve()),
        "discriminator": "copied" if has_discriminator else "fresh",
        **({"noise_conditioning": "added, zero-initialised"} if conditioning_added else {}),
        **({"refinement_head": f"added ({config.model.refine} channels), output zero-initialised"}
           if head_added else {}),
        "tag": parent_config.tag,
        "steps": int(parent["step"]),
        "pairs_seen": int(parent["pairs_seen"]),
        "wall_time_s": float(parent["wall_time_s"]),
        "initialised_from": parent.get("initialised_from"),
    }
    return parent, initialised_from

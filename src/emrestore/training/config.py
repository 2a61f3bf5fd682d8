"""Training configuration: one TOML file per tag, validated into dataclasses.

A configuration has the sections ``[model]``, ``[discriminator]``, ``[data]``, ``[optim]``,
``[schedule]`` and ``[loss]`` plus top-level ``tag`` and ``seed``; every field has a default
(see the dataclasses below and ``src/emrestore/configs/*.toml``). Unknown keys and bad values
raise :class:`~emrestore.errors.ParameterError`. This module does not import torch.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..image import MODALITIES
from ..model.conditioning import MAX_CLIP_PERCENT
from ..nn.configs import DiscriminatorConfig, GeneratorConfig, generator_config
from ..tags import Tag

__all__ = [
    "TrainConfig",
    "DataConfig",
    "OptimConfig",
    "ScheduleConfig",
    "load_config",
    "default_config",
    "config_from_dict",
]

SOURCES = ("renderer", "bank", "synthetic")
DEGRADATIONS = ("chain", "poisson")
AUGMENTATIONS = ("auto", "dihedral", "none")
#: Where the training pairs are degraded (``[data] pairs_on``) and the clean crops made
#: (``[data] supply``).
PAIR_PLACES = ("workers", "device")
#: ``[data] pairs_on`` values: a place, or ``auto`` (the device when training on a GPU).
PAIRS_ON = ("auto", *PAIR_PLACES)
DECAYS = ("cosine", "exponential", "none")


def _bad(section: str, key: str, value: Any, rule: str, fix: str) -> ParameterError:
    return ParameterError(f"Training config [{section}] {key} = {value!r}: {rule}.", fix)


@dataclass
class DataConfig:
    """Where pairs come from and how they are made.

    Parameters
    ----------
    source : {"renderer", "bank", "synthetic"}
        ``renderer``: clean images from the tag's renderer in :mod:`emrestore.datasets`;
        ``bank``: a directory of ``.npz`` files with a ``target`` array (``emrestore simulate``);
        ``synthetic``: emrestore's built-in lattices/smooth fields (tests, smoke runs).
    bank : str
        Bank directory for ``source = "bank"``.
    modality : str
        "tem", "stem" or "sem"; empty = from the tag.
    crop : int
        Side of the square training crops [px].
    batch_size : int
        Pairs per optimiser step and per process (DDP: global batch = batch_size × processes).
    workers : int
        DataLoader worker processes (0 = in the main process).
    augment : {"auto", "dihedral", "none"}
        ``auto``: :func:`emrestore.datasets.augment.augment`; ``dihedral``: the 8
        flips/rotations only (:func:`emrestore.dihedral.random_dihedral`); ``none``.
    degradation : {"chain", "poisson"}
        ``chain``: the tag's physical distortion chain (:func:`emrestore.distortions.distort`);
        ``poisson``: shot noise only, at a dose drawn log-uniformly from ``dose_range``.
    dose_range : list of float
        [min, max] electrons per pixel at mean intensity 1 for ``poisson``.
    validation_size : int
        Pairs in the fixed validation set.
    validation_seed : int
        Seed of the validation set (independent of the training seed).
    validation_cache : str
        Directory where validation sets are stored once generated; empty = the run directory.
    input_clip_percent : float
        Clip every degraded input to its ``[p, 100 − p]`` percentiles before the network
        (:func:`emrestore.model.conditioning.clip_percentiles`), so that impulses
        (X-ray hits, hot pixels) do not dominate the std it is normalised by [%, 0 = off].
        Recorded in the model card; the restore engine applies the same clip.
    pairs_on : {"auto", "workers", "device"}
        ``auto`` (default): ``device`` when training on a GPU with the chain, else
        ``workers`` (:func:`emrestore.training.device_pairs.pairs_place`). ``workers``: every pair made whole in the DataLoader workers (numpy chain);
        ``device``: the workers make the clean crops and draw each pair's chain
        parameters (the same sampler), the batch is degraded on the training device by
        the batched chain (:mod:`emrestore.distortions.batched`) — for a GPU, where the
        numpy chain on the CPU cores would limit the step rate. Needs ``degradation =
        "chain"``.
    supply : {"workers", "device"}
        With ``pairs_on = "device"``: where the clean crops are cut and augmented.
        ``workers``: in the DataLoader workers (numpy, as for every pair); ``device``: the
        whole bank is loaded onto the training device once and the crops, the dihedral
        group, warps and the augmentation run there
        (:mod:`emrestore.training.device_supply`), the main process drawing only the chain
        parameters. Needs ``source = "bank"``.
    """

    source: str = "renderer"
    bank: str = ""
    modality: str = ""
    crop: int = 128
    batch_size: int = 8
    workers: int = 1
    augment: str = "auto"
    degradation: str = "chain"
    dose_range: list[float] = field(default_factory=lambda: [2.0, 2000.0])
    validation_size: int = 64
    validation_seed: int = 20240101
    validation_cache: str = ""
    input_clip_percent: float = 0.0
    pairs_on: str = "auto"
    supply: str = "workers"

    def validate(self) -> None:
        s = "data"
        if self.pairs_on not in PAIRS_ON:
            raise _bad(s, "pairs_on", self.pairs_on, "unknown place", f"Use one of {', '.join(PAIRS_ON)}.")
        if self.pairs_on == "device" and self.degradation != "chain":
            raise _bad(s, "pairs_on", self.pairs_on, "pairs are degraded on the device only by the chain",
                       "Use degradation = 'chain', or pairs_on = 'workers'.")
        if self.supply not in PAIR_PLACES:
            raise _bad(s, "supply", self.supply, "unknown place", f"Use one of {', '.join(PAIR_PLACES)}.")
        if self.supply == "device" and (self.pairs_on == "workers" or self.source != "bank"):
            raise _bad(s, "supply", self.supply, "crops are made on the device only from a bank, for pairs on "
                       "the device", "Set source = 'bank' and pairs_on = 'device', or supply = 'workers'.")
        clip = self.input_clip_percent
        if (not isinstance(clip, (int, float)) or isinstance(clip, bool)
                or not 0.0 <= clip <= MAX_CLIP_PERCENT):
            raise _bad(s, "input_clip_percent", clip, f"must be a number in [0, {MAX_CLIP_PERCENT}]",
                       "Use 0 (off) or a small value such as 0.1 for TEM cameras with X-ray hits.")
        if self.source not in SOURCES:
            raise _bad(s, "source", self.source, "unknown source", f"Use one of {', '.join(SOURCES)}.")
        if self.source == "bank" and not self.bank:
            raise _bad(s, "bank", self.bank, "a bank directory is required for source = 'bank'",
                       "Set bank to a directory written by `emrestore simulate`.")
        if self.modality and self.modality not in MODALITIES:
            raise _bad(s, "modality", self.modality, "unknown modality", "Use tem, stem, sem or leave empty.")
        if self.augment not in AUGMENTATIONS:
            raise _bad(s, "augment", self.augment, "unknown augmentation", f"Use one of {', '.join(AUGMENTATIONS)}.")
        if self.degradation not in DEGRADATIONS:
            raise _bad(s, "degradation", self.degradation, "unknown degradation",
                       f"Use one of {', '.join(DEGRADATIONS)}.")
        for key, low in (("crop", 8), ("batch_size", 1), ("validation_size", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise _bad(s, key, value, f"must be an integer ≥ {low}", f"Set {key} to an integer ≥ {low}.")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise _bad(s, "workers", self.workers, "must be an integer ≥ 0", "Use 0 to load in the main process.")
        d = self.dose_range
        if (not isinstance(d, (list, tuple)) or len(d) != 2 or not all(isinstance(v, (int, float)) for v in d)
                or not 0 < d[0] <= d[1] or not math.isfinite(d[1])):
            raise _bad(s, "dose_range", d, "must be [min, max] with 0 < min ≤ max",
                       "Give two positive doses in electrons per pixel, e.g. [2, 2000].")


@dataclass
class OptimConfig:
    """Adam and the learning-rate schedule.

    Parameters
    ----------
    lr_g, lr_d : float
        Peak learning rates of generator and discriminator.
    beta1_g, beta1_d, beta2 : float
        Adam betas (0.9 for G, 0.5 for D, 0.999).
    warmup_steps : int
        Linear warm-up from 0 (G from step 0; D from the start of the adversarial phase).
    decay : {"cosine", "exponential", "none"}
        Decay after warm-up down to ``min_lr_ratio`` × peak at the last step.
    min_lr_ratio : float
        Final learning rate / peak.
    grad_clip : float
        Maximum global gradient norm (0 = no clipping).
    """

    lr_g: float = 2e-4
    lr_d: float = 1e-4
    beta1_g: float = 0.9
    beta1_d: float = 0.5
    beta2: float = 0.999
    warmup_steps: int = 500
    decay: str = "cosine"
    min_lr_ratio: float = 0.02
    grad_clip: float = 1.0

    def validate(self) -> None:
        s = "optim"
        for key in ("lr_g", "lr_d"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not 0 < v < 1:
                raise _bad(s, key, v, "must be in (0, 1)", "Use e.g. 2e-4.")
        for key in ("beta1_g", "beta1_d", "beta2"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise _bad(s, key, v, "must be in [0, 1)", "Use 0.9, 0.5 and 0.999.")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise _bad(s, "warmup_steps", self.warmup_steps, "must be an integer ≥ 0", "Use e.g. 500.")
        if self.decay not in DECAYS:
            raise _bad(s, "decay", self.decay, "unknown decay", f"Use one of {', '.join(DECAYS)}.")
        if not isinstance(self.min_lr_ratio, (int, float)) or not 0 < self.min_lr_ratio <= 1:
            raise _bad(s, "min_lr_ratio", self.min_lr_ratio, "must be in (0, 1]", "Use e.g. 0.02.")
        if not isinstance(self.grad_clip, (int, float)) or self.grad_clip < 0:
            raise _bad(s, "grad_clip", self.grad_clip, "must be ≥ 0", "Use e.g. 1.0, or 0 to disable.")


@dataclass
class ScheduleConfig:
    """How long to train and how often to log, validate and checkpoint [optimiser steps].

    Parameters
    ----------
    pixel_steps : int
        Steps of phase 1 (pixel losses only).
    gan_steps : int
        Steps of phase 2 (pixel losses + adversarial term, discriminator trained).
    log_every, validate_every, checkpoint_every : int
        Intervals [steps]; 0 disables periodic validation / checkpoints (the end of a run
        always validates and checkpoints).
    keep_checkpoints : int
        Step checkpoints kept besides ``last.pt``.
    minutes : float
        Wall-time budget of one invocation [min]; 0 = none. When it runs out the trainer
        checkpoints, validates and exports, and a later ``--resume`` continues.
    """

    pixel_steps: int = 200_000
    gan_steps: int = 20_000
    log_every: int = 50
    validate_every: int = 2000
    checkpoint_every: int = 2000
    keep_checkpoints: int = 2
    minutes: float = 0.0

    def validate(self) -> None:
        s = "schedule"
        for key in ("pixel_steps", "gan_steps", "validate_every", "checkpoint_every", "keep_checkpoints"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise _bad(s, key, v, "must be an integer ≥ 0", f"Set {key} to an integer ≥ 0.")
        if not isinstance(self.log_every, int) or self.log_every < 1:
            raise _bad(s, "log_every", self.log_every, "must be an integer ≥ 1", "Use e.g. 50.")
        if self.pixel_steps + self.gan_steps < 1:
            raise _bad(s, "pixel_steps", self.pixel_steps, "pixel_steps + gan_steps must be ≥ 1",
                       "Give at least one training step.")
        if not isinstance(self.minutes, (int, float)) or self.minutes < 0:
            raise _bad(s, "minutes", self.minutes, "must be ≥ 0", "Use 0 for no limit.")


@dataclass
class TrainConfig:
    """A complete training configuration (see the module docstring)."""

    tag: str = "hrstem"
    seed: int = 0
    model: GeneratorConfig = field(default_factory=lambda: generator_config("fast"))
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: dict[str, float] = field(default_factory=dict)
    tensorboard: bool = False

    @property
    def modality(self) -> str:
        return self.data.modality or Tag.get(self.tag).modality

    @property
    def total_steps(self) -> int:
        return self.schedule.pixel_steps + self.schedule.gan_steps

    def loss_weights(self):
        from ..nn.losses import LossWeights  # torch only when asked

        return LossWeights.from_dict(self.loss)

    def validate(self) -> "TrainConfig":
        Tag.get(self.tag)  # an unknown tag raises
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ParameterError(f"Training config seed = {self.seed!r} must be an integer ≥ 0.", "Use e.g. seed = 0.")
        self.data.validate()
        self.optim.validate()
        self.schedule.validate()
        _check_loss_keys(self.loss)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable nested dictionary (the inverse of :func:`config_from_dict`)."""
        out = asdict(self)
        out["model"] = self.model.to_dict()
        out["discriminator"] = self.discriminator.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


_LOSS_KEYS = ("l1", "mlwt", "fourier", "mean", "std", "adversarial")


def _check_loss_keys(loss: dict[str, Any]) -> None:
    unknown = sorted(set(loss) - set(_LOSS_KEYS))
    if unknown:
        raise ParameterError(f"Unknown loss weight(s) in [loss]: {', '.join(unknown)}.",
                             f"Use only {', '.join(_LOSS_KEYS)}.")
    for key, value in loss.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise ParameterError(f"Loss weight {key} = {value!r} must be a number ≥ 0.", f"Fix [loss] {key}.")


def _section(cls, data: Any, name: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ParameterError(f"Training config section [{name}] is not a table.", f"Write it as [{name}] key = value.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ParameterError(f"Unknown key(s) in [{name}]: {', '.join(unknown)}.",
                             f"Use only {', '.join(sorted(known))}.")
    try:
        return cls(**data)
    except TypeError as error:  # pragma: no cover - guarded above
        raise ParameterError(f"Bad [{name}] section: {error}.", "Check the field names.") from None


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a nested dictionary (TOML/JSON)."""
    data = copy.deepcopy(data)
    top = {"tag", "seed", "model", "discriminator", "data", "optim", "schedule", "loss", "tensorboard"}
    unknown = sorted(set(data) - top)
    if unknown:
        raise ParameterError(f"Unknown top-level key(s) in the training config: {', '.join(unknown)}.",
                             f"Use only {', '.join(sorted(top))}.")
    model = data.get("model", {"preset": "fast"})
    if isinstance(model, str):
        model = {"preset": model}
    if not isinstance(model, dict):
        raise ParameterError("Training config [model] must be a table or a preset name.", 'Use [model] preset = "fast".')
    disc = data.get("discriminator") or {}
    if not isinstance(disc, dict):
        raise ParameterError("Training config [discriminator] must be a table.", "Use [discriminator] base_channels = 64.")
    unknown_d = sorted(set(disc) - {"base_channels", "in_channels"})
    if unknown_d:
        raise ParameterError(f"Unknown key(s) in [discriminator]: {', '.join(unknown_d)}.", "Use only base_channels.")
    loss = data.get("loss") or {}
    if not isinstance(loss, dict):
        raise ParameterError("Training config [loss] must be a table.", "Use [loss] l1 = 10.0 ...")
    config = TrainConfig(
        tag=data.get("tag", "hrstem"),
        seed=data.get("seed", 0),
        model=generator_config(model),
        discriminator=DiscriminatorConfig(**disc),
        data=_section(DataConfig, data.get("data"), "data"),
        optim=_section(OptimConfig, data.get("optim"), "optim"),
        schedule=_section(ScheduleConfig, data.get("schedule"), "schedule"),
        loss=dict(loss),
        tensorboard=bool(data.get("tensorboard", False)),
    )
    return config.validate()


def load_config(path: str | Path) -> TrainConfig:
    """Read a TOML (``.toml``) or JSON (``.json``) training configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"Training config {path} does not exist.", "Give the path of a .toml file.")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ParameterError(f"Training config {path} cannot be parsed: {error}.", "Fix the TOML syntax.") from None
    return config_from_dict(data)


def default_config(tag: str) -> TrainConfig:
    """The configuration shipped for ``tag`` (``src/emrestore/configs/TAG.toml``)."""
    Tag.get(tag)  # an unknown tag raises
    text = resources.files("emrestore").joinpath("configs", f"{tag}.toml").read_text(encoding="utf-8")
    return config_from_dict(tomllib.loads(text))

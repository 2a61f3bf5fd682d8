"""The fine-tuning loop: start from a shipped (or exported) model, adapt, checkpoint, export.

A run directory holds::

    checkpoints/last.pt   weights, Adam state, sampler RNG state, step, loss history (atomic)
    log.csv               one row per logged step: step, wall time, each objective's loss
    model.onnx            the adapted generator (same I/O contract as the shipped models)
    model.json            its model card: the base model's card plus a ``finetune`` section
                          recording what it was adapted on (files, hashes, frames, objectives,
                          steps, the noise estimates, the seed)

Each step draws ``batch`` crops per active objective and minimises
``w_n2n · L_N2N + w_bs · L_blind-spot + w_syn · L_synthetic`` (weights :class:`FinetuneSettings`;
an objective without data, e.g. Noise2Noise without a series, drops out).
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ParameterError
from ..model.conditioning import noise_level
from ..training.levels import noise_levels
from . import objectives as O
from .inputs import AdaptInput, read_inputs
from .pairs import FrameCrops, SeriesPairs, SyntheticPairs
from .settings import FinetuneSettings

__all__ = ["CHECKPOINT_NAME", "FINETUNE_FORMAT", "FinetuneResult", "FinetuneSettings", "finetune"]

CHECKPOINT_NAME = "checkpoints/last.pt"
FINETUNE_FORMAT = "emrestore-finetune/1"
LOG_FIELDS = ["step", "wall_time_s", "loss", *O.OBJECTIVES]


@dataclass
class FinetuneResult:
    """What a run produced: paths, steps and the loss history (mean loss per logged step)."""

    out_dir: Path
    onnx_path: Path
    card_path: Path
    steps: int
    wall_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def _base_restorations(model: str, inputs: list[AdaptInput]) -> list[np.ndarray]:
    from ..restoration import load_model

    restorer = load_model(model, progress=False)
    return [restorer.restore_array(item.frames[0]).astype(np.float64) for item in inputs]


def _conditioned(inputs: list[AdaptInput], clip_percent: float) -> list[AdaptInput]:
    """Inputs with each frame clipped like the restore engine does for this model."""
    from dataclasses import replace

    from ..model.conditioning import clip_percentiles

    if not clip_percent:
        return inputs
    return [replace(item, frames=np.stack([clip_percentiles(f, clip_percent) for f in item.frames]))
            for item in inputs]


def _fingerprint(inputs: list[AdaptInput]) -> list[list[Any]]:
    return [[item.name, item.sha256, item.frame_indices] for item in inputs]


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)[:, None].astype(np.float32))


def _normalised(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor,
                level: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The prediction and the target in the input's normalised units. A noise-conditioned model
    is told ``level`` (the user's frames' own, as restoration measures it on a whole frame) or,
    without it, each crop's measured level (synthetic pairs carry the chain's noise)."""
    levels = noise_levels(model, x)
    if levels is not None and level is not None:
        levels = torch.full_like(levels, float(level))
    pred_hat, mean, std = model(x, return_normalised=True, level=levels)
    return pred_hat, (target - mean) / std


class _Run:
    """One run's state: model, optimiser, samplers, RNG and progress."""

    def __init__(self, inputs: list[AdaptInput], settings: FinetuneSettings, out_dir: Path, progress: bool) -> None:
        from ..model.registry import find_model
        from ..nn import build_generator
        from ..training.export import checkpoint_from_onnx

        self.settings, self.out_dir, self.progress = settings, out_dir, progress
        self.base = find_model(settings.model)
        modality = self.base.card.modality
        if modality is None:
            raise ParameterError(f"The model card of {self.base.onnx_path} names no modality.",
                                 "Fine-tune a shipped model or one exported by emrestore.")
        self.modality = modality
        self.blind_spot = settings.blind_spot_kind(modality)
        start = checkpoint_from_onnx(settings.model)
        self.model_config = start["config"]["model"]
        self.model = build_generator(self.model_config)
        self.model.load_state_dict(start["generator"])
        self.model_config_conditioned = bool(self.model.config.noise_conditioned)
        # A noise-conditioned network keeps how it uses the noise level: one series has one
        # level, so adapting to it cannot teach that, and those weights enter ×30 (NOISE_SCALE).
        for name, parameter in self.model.named_parameters():
            if name.startswith("noise_"):
                parameter.requires_grad_(False)
        self.optimiser = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=settings.lr)
        self.inputs = inputs
        clip = self.base.input_clip_percent
        conditioned = _conditioned(inputs, clip)
        #: The frames' noise level, told to a noise-conditioned model for their crops (blind-spot
        #: masking and small crops would change a level measured per crop).
        self.level = (float(np.median([noise_level(f) for item in conditioned for f in item.frames]))
                      if self.model_config_conditioned else None)
        self.series = SeriesPairs(conditioned, settings.crop) if settings.w_n2n > 0 else None
        self.frames = FrameCrops(conditioned, settings.crop) if settings.w_blind_spot > 0 else None
        self.synthetic = None
        self.w_synthetic = settings.synthetic_weight(modality)
        if self.w_synthetic > 0:
            restored = _base_restorations(settings.model, inputs)
            pool_rng = np.random.default_rng([settings.seed, 1])
            self.synthetic = SyntheticPairs(conditioned, restored, modality, settings.crop, settings.synthetic_pool,
                                            pool_rng, seed=settings.seed, progress=progress)
        self.active = [name for name, source in (("n2n", self.series), ("blind_spot", self.frames),
                                                 ("synthetic", self.synthetic)) if source]
        if not self.active:
            raise ParameterError("No objective has data: every weight is 0, or there is nothing to adapt on.",
                                 "Keep --w-blind-spot > 0 (single frames) or give a series for Noise2Noise.")
        self.rng = np.random.default_rng([settings.seed, 0])
        self.step = 0
        self.wall_time_s = 0.0
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------ one step
    def losses(self) -> dict[str, torch.Tensor]:
        """Each active objective's loss on a fresh batch (advances the sampler RNG)."""
        s, rng = self.settings, self.rng
        out: dict[str, torch.Tensor] = {}
        if "n2n" in self.active:
            pairs = [self.series.sample(rng) for _ in range(s.batch)]
            pred, target = _normalised(self.model, _stack([p[0] for p in pairs]), _stack([p[1] for p in pairs]),
                                       self.level)
            out["n2n"] = O.n2n_loss(pred, target)
        if "blind_spot" in self.active:
            size = self.frames.sample(rng).shape[0]  # one side per batch (crops of one size stack)
            crops = np.stack([self.frames.sample(rng, size) for _ in range(s.batch)])
            hide = O.row_blind_spot_mask if self.blind_spot == "row" else O.blind_spot_mask
            masked, mask = hide(crops, rng, s.mask_fraction)
            pred, target = _normalised(self.model, _stack(list(masked)), _stack(list(crops)), self.level)
            out["blind_spot"] = O.blind_spot_loss(pred, target, torch.from_numpy(mask[:, None]))
        if "synthetic" in self.active:
            pairs = [self.synthetic.sample(rng) for _ in range(s.batch)]
            shapes = {p[0].shape for p in pairs}
            if len(shapes) > 1:  # crops of inputs of different sizes: keep those of the first size
                pairs = [p for p in pairs if p[0].shape == pairs[0][0].shape]
            pred, target = _normalised(self.model, _stack([p[0] for p in pairs]), _stack([p[1] for p in pairs]))
            out["synthetic"] = O.synthetic_loss(pred, target)
        return out

    def weight(self, name: str) -> float:
        return {"n2n": self.settings.w_n2n, "blind_spot": self.settings.w_blind_spot,
                "synthetic": self.w_synthetic}[name]

    def train_step(self) -> dict[str, float]:
        self.model.train()
        parts = self.losses()
        total = sum(self.weight(k) * v for k, v in parts.items())
        self.optimiser.zero_grad(set_to_none=True)
        total.backward()
        self.optimiser.step()
        self.step += 1
        return {"loss": float(total.detach()), **{k: float(v.detach()) for k, v in parts.items()}}

    # ------------------------------------------------------------------ state
    def payload(self) -> dict[str, Any]:
        return {"format": FINETUNE_FORMAT, "step": self.step, "wall_time_s": self.wall_time_s,
                "generator": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                "optimiser": self.optimiser.state_dict(), "rng": self.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "history": self.history,
                "recipe": self.settings.recipe(), "inputs": _fingerprint(self.inputs),
                "base_sha256": self.base.sha256(), "model_config": self.model_config}

    def save(self) -> Path:
        from ..training.checkpoint import atomic_torch_save

        return atomic_torch_save(self.payload(), self.out_dir / CHECKPOINT_NAME)

    def load(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # noqa: BLE001 - any unpickling problem is a bad file
            raise ParameterError(f"Checkpoint {path} cannot be read ({type(error).__name__}).",
                                 "Start afresh without --resume, in a new --out folder.") from None
        if not isinstance(state, dict) or state.get("format") != FINETUNE_FORMAT:
            raise ParameterError(f"{path} is not an emrestore fine-tuning checkpoint.",
                                 "Resume only a folder written by `emrestore finetune`.")
        if state["inputs"] != _fingerprint(self.inputs):
            raise ParameterError(f"The checkpoint in {self.out_dir} was adapted on other inputs.",
                                 "Resume with the same files and frames, or use a new --out folder.")
        if state["recipe"] != self.settings.recipe() or state["base_sha256"] != self.base.sha256():
            raise ParameterError(f"The checkpoint in {self.out_dir} was made with other settings or base model.",
                                 "Resume with the same --model and options, or use a new --out folder.")
        self.model.load_state_dict(state["generator"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.step, self.wall_time_s, self.history = state["step"], state["wall_time_s"], list(state["history"])


def _append_log(path: Path, row: dict[str, float]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def finetune(inputs: list[Any], out_dir: str | Path, settings: FinetuneSettings | None = None, *,
             frames: dict[int, list[int]] | None = None, resume: bool = False, progress: bool = True,
             overwrite: bool = False) -> FinetuneResult:
    """Adapt a model to the user's own frames, self-supervised; write ``OUT/model.onnx`` + card.

    Parameters
    ----------
    inputs : list of path, EMImage or numpy.ndarray
        The frames to adapt on (:func:`~emrestore.finetune.inputs.read_inputs`). A series of
        one field (N, H, W) gives Noise2Noise pairs; every frame gives blind-spot crops and
        forward-model pairs.
    out_dir : path-like
        Run directory (created). It must not hold a previous run unless ``resume`` (or ``overwrite``).
    settings : FinetuneSettings, optional
        Model, time budget, objectives' weights, seed (defaults: :class:`FinetuneSettings`).
    frames : dict, optional
        Input position → frame indices to use (leave scored frames out).
    resume : bool
        Continue from ``OUT/checkpoints/last.pt`` (same inputs and settings; bit-identical to an
        uninterrupted run of the same total steps).
    progress : bool
        A tqdm bar over the steps.
    overwrite : bool
        Start afresh even where ``OUT`` holds a run.

    Returns
    -------
    FinetuneResult

    Raises
    ------
    ParameterError
        Bad settings, an unknown model, no frames, a mismatched checkpoint.
    """
    from tqdm.auto import tqdm

    settings = settings or FinetuneSettings()
    settings.check()
    out_dir = Path(out_dir)
    checkpoint = out_dir / CHECKPOINT_NAME
    if checkpoint.is_file() and not resume and not overwrite:
        raise ParameterError(f"{out_dir} already holds a fine-tuning run.",
                             "Add --resume to continue it, or choose another --out folder.")
    if resume and not checkpoint.is_file():
        raise ParameterError(f"Nothing to resume: {checkpoint} does not exist.", "Drop --resume to start a run.")
    adapt = read_inputs(inputs, frames)
    torch.manual_seed(settings.seed)
    run = _Run(adapt, settings, out_dir, progress)
    if resume:
        run.load(checkpoint)
    elif overwrite and (out_dir / "log.csv").is_file():
        (out_dir / "log.csv").unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if settings.minutes is None else time.monotonic() + 60.0 * settings.minutes
    bar = tqdm(total=settings.steps, initial=run.step, desc=f"finetune {run.base.name}", unit="step",
               disable=not progress, dynamic_ncols=True)
    started = time.monotonic()
    offset = run.wall_time_s
    try:
        while (settings.steps is None or run.step < settings.steps) and (deadline is None or time.monotonic() < deadline):
            row = run.train_step()
            run.wall_time_s = offset + time.monotonic() - started
            row = {"step": run.step, "wall_time_s": round(run.wall_time_s, 3), **row}
            run.history.append(row)
            _append_log(out_dir / "log.csv", row)
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.4f}")
            if run.step % settings.checkpoint_every == 0:
                run.save()
    finally:
        bar.close()
        run.save()
    onnx_path, card_path = _export(run)
    return FinetuneResult(out_dir, onnx_path, card_path, run.step, run.wall_time_s, run.history)


def _mean_losses(history: list[dict[str, float]], first: bool, n: int = 20) -> dict[str, float]:
    rows = history[:n] if first else history[-n:]
    keys = [k for k in ("loss", *O.OBJECTIVES) if rows and k in rows[0]]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def _export(run: _Run) -> tuple[Path, Path]:
    """Write ``model.onnx`` and ``model.json`` (the base card + a ``finetune`` section)."""
    from .. import __version__
    from ..model.card import ModelCard
    from ..training.export import export_onnx
    from ..training.model_card import git_commit, hardware_info, write_model_card

    onnx_path = run.out_dir / "model.onnx"
    onnx = export_onnx(run.model, onnx_path, metadata={"finetuned_from": run.base.name})
    card = run.base.card.to_dict()
    card.pop("format", None)
    card.pop("created_utc", None)
    base_validation = card.get("validation")
    card["name"] = f"{card.get('name', run.base.name)}-finetuned"
    card["validation"] = None
    card["emrestore_version"] = __version__
    card["torch_version"] = torch.__version__
    if isinstance(card.get("receptive_field"), dict):
        card["receptive_field"]["note"] = ("measured on the base model; fine-tuning keeps the architecture "
                                           "and changes the weights a little")
    if isinstance(card.get("uncertainty"), dict):  # the map's calibration (restoration.uncertainty.calibration)
        card["uncertainty"]["note"] = "fitted on the base model's simulated frames, kept for the fine-tuned one"
    onnx_entry = dict(onnx)
    onnx_entry["file"] = Path(onnx_entry.pop("path")).name
    card["onnx"] = onnx_entry
    s = run.settings
    card["finetune"] = {
        "format": FINETUNE_FORMAT,
        "base_model": {"name": run.base.name, "file": str(run.base.onnx_path), "sha256": run.base.sha256(),
                       "validation": base_validation},
        "inputs": [item.describe() for item in run.inputs],
        "objectives": {
            "active": run.active,
            "weights": {"n2n": s.w_n2n, "blind_spot": s.w_blind_spot, "synthetic": run.w_synthetic},
            "n2n_series": run.series.records if run.series else [],
            "blind_spot": run.blind_spot,
            "blind_spot_mask_fraction": s.mask_fraction,
            "synthetic": ({"pool": len(run.synthetic.pairs), "modality": run.modality,
                           "noise_estimates": [lvl.estimate | {"floor": lvl.floor, "dose_used": lvl.dose_per_px,
                                                               "row_jitter_used_px": lvl.row_jitter_px}
                                               for lvl in run.synthetic.levels]}
                          if run.synthetic else None),
        },
        "settings": asdict(s),
        "steps": run.step,
        "wall_time_s": round(run.wall_time_s, 2),
        "loss_first_steps": _mean_losses(run.history, True),
        "loss_last_steps": _mean_losses(run.history, False),
        "hardware": hardware_info(),
        **git_commit(),
    }
    card_path = write_model_card(run.out_dir / "model.json", ModelCard.from_dict(card))
    return onnx_path, card_path



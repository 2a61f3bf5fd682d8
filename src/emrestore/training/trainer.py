"""The trainer: pixel-loss phase, then adversarial fine-tuning; checkpoints and exact resume.

One :class:`Trainer` serves a laptop CPU, a GPU and ``torchrun`` multi-process runs (DDP).
A run directory holds::

    config.json            the validated configuration
    log.csv                one row per ``log_every`` steps (losses, learning rates, pairs/s)
    validation.csv         one row per validation
    curves.png             losses, learning rate, validation PSNR against steps (redrawn at each validation)
    checkpoints/last.pt    weights, optimiser and RNG states, progress (plus step-N.pt copies)
    model.onnx, model.json exported generator and its model card (at the end of each invocation)
    model.pt               generator weights {"config", "state_dict"} for the PyTorch restore backend
    tb/                    TensorBoard events when ``tensorboard = true``
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from ..errors import ParameterError
from ..nn import build_discriminator, build_generator
from ..nn import losses as L
from .checkpoint import capture_rng, find_checkpoint, load_checkpoint, restore_rng, save_checkpoint
from .config import TrainConfig, config_from_dict
from .dataset import make_loader, validation_set
from .ddp import all_reduce_max, cleanup_distributed, init_distributed
from .export import export_onnx, save_torch_weights
from .model_card import build_model_card, git_commit, hardware_info, write_model_card

__all__ = ["Trainer", "lr_factor", "evaluate", "train", "read_log"]

LOG_FIELDS = [
    "step", "phase", "wall_time_s", "lr_g", "lr_d", "loss_g", "l1", "mlwt", "fourier", "mean", "std",
    "adv_g", "loss_d", "grad_norm_g", "pairs_per_s",
]
VAL_FIELDS = ["step", "l1", "mlwt", "fourier", "mean", "std", "mae", "psnr_db", "psnr_median_db",
              "input_l1", "input_mae", "input_psnr_db", "input_psnr_median_db"]


#: Training arithmetic: float32 everywhere, or bfloat16 autocast around the networks.
PRECISIONS = ("fp32", "bf16")

#: ``fit_schedule``: steps skipped before the step rate is measured (loader start-up, cuDNN
#: autotuning), and steps measured before the first fit.
FIT_SKIP_STEPS = 5
FIT_MIN_STEPS = 10
#: ``fit_schedule``: wall time kept for the final validation, checkpoint and export
#: [s, at least; 3 % of the budget when that is more].
FIT_RESERVE_S = 15.0


def fitted_pixel_steps(step: int, rate: float, remaining_s: float) -> int:
    """Length of the pixel phase that ends when the time left runs out.

    Parameters
    ----------
    step : int
        Steps done so far.
    rate : float
        Measured optimiser steps per second.
    remaining_s : float
        Wall time left for training steps [s] (budget minus elapsed minus a reserve for the
        final validation, checkpoint and export).

    Returns
    -------
    int
        ``step + rate × remaining_s``; ``step`` (end now) when no time is left.
    """
    return step + int(rate * max(remaining_s, 0.0))


def lr_factor(step: int, total: int, warmup: int, decay: str, min_ratio: float) -> float:
    """Learning-rate multiplier at ``step`` (0-based) of ``total``: linear warm-up, then decay.

    Cosine decay goes from 1 to ``min_ratio`` over the steps after warm-up; exponential
    decay multiplies by a constant per step to reach ``min_ratio`` at the last step.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if decay == "none" or total - warmup <= 1:
        return 1.0
    progress = min(max((step - warmup) / (total - warmup - 1), 0.0), 1.0)
    if decay == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio**progress


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    degraded: np.ndarray,
    target: np.ndarray,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> dict[str, float]:
    """Metrics of ``model`` on pairs (N, 1, H, W).

    Returns the loss terms (normalised units, image-weighted, as in training), the raw mean
    absolute error ``mae`` [input units], the mean PSNR ``psnr_db`` [dB] with the target's
    max − min as peak, its median ``psnr_median_db`` (robust to pairs whose input equals
    the target, where the input's PSNR is unbounded), and for the degraded input itself as
    a baseline: ``input_l1`` (the L1 term), ``input_mae``, ``input_psnr_db`` and
    ``input_psnr_median_db``.
    """
    module = getattr(model, "module", model)
    was_training = module.training
    module.eval()
    sums: dict[str, float] = {k: 0.0 for k in VAL_FIELDS if k != "step" and "median" not in k}
    psnrs: dict[str, list[float]] = {"": [], "input_": []}
    n = degraded.shape[0]
    try:
        for start in range(0, n, batch_size):
            x = torch.from_numpy(degraded[start:start + batch_size]).to(device)
            y = torch.from_numpy(target[start:start + batch_size]).to(device)
            k = x.shape[0]
            pred, m, s = module(x, return_normalised=True)
            t = (y - m) / s
            _, terms = L.pixel_losses(pred, t, L.LossWeights())
            for name, value in terms.items():
                sums[name] += float(value) * k
            sums["input_l1"] += float(L.l1_loss((x - m) / s, t)) * k
            raw = pred * s + m
            peak = (y.amax(dim=(1, 2, 3)) - y.amin(dim=(1, 2, 3))).clamp_min(1e-12)
            for prefix, est in (("", raw), ("input_", x)):
                err = est - y
                mse = err.square().mean(dim=(1, 2, 3)).clamp_min(1e-20)
                sums[prefix + "mae"] += float(err.abs().mean(dim=(1, 2, 3)).sum())
                psnr = 10 * torch.log10(peak.square() / mse)
                sums[prefix + "psnr_db"] += float(psnr.sum())
                psnrs[prefix].extend(psnr.tolist())
    finally:
        module.train(was_training)
    out = {k: v / n for k, v in sums.items()}
    for prefix, values in psnrs.items():
        out[prefix + "psnr_median_db"] = float(np.median(values))
    return out


class Trainer:
    """Train a CGRDN (and its discriminator) from a :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig or None
        The configuration; ``None`` when resuming (taken from the checkpoint).
    run_dir : path-like
        Output directory (created).
    resume : bool or path-like
        ``True``: continue from ``run_dir/checkpoints/last.pt``; a path: from that checkpoint
        file or run directory. Resuming restores weights, optimiser and RNG states and the
        step, so the next steps are those of an uninterrupted run.
    device : str, optional
        ``"cpu"``, ``"cuda"``...; default CUDA when available.
    progress : bool
        Show a tqdm progress bar (main process only).
    export : bool
        Export ONNX + model card at the end of :meth:`fit`.
    channels_last : bool or None
        Use channels-last memory format (default: on CPU).
    threads : int, optional
        ``torch.set_num_threads`` for this process.
    schedule : dict, optional
        New ``pixel_steps`` / ``gan_steps`` (e.g. for a resumed run: lengthen it across
        sessions, or end it earlier with the learning-rate decay brought forward).
    precision : {"fp32", "bf16"}
        Arithmetic of the training forward passes: ``fp32`` (on CUDA, convolutions use TF32,
        PyTorch's default) or ``bf16`` (``torch.autocast`` with bfloat16 around the generator
        and discriminator; losses, weights, optimiser states and validation stay float32;
        no loss scaling is needed for bfloat16). Per invocation, like ``device``; recorded in
        the checkpoint's and model card's hardware entry.
    init_from : path-like, optional
        Start a new run from the generator and discriminator weights of this checkpoint file
        or run directory (fine-tuning: new data settings, fresh optimisers, schedule and
        step count). The model configuration must match the checkpoint's. Recorded in the
        checkpoints and the model card (``training.initialised_from``).
    """

    def __init__(
        self,
        config: TrainConfig | None,
        run_dir: str | Path,
        *,
        resume: bool | str | Path = False,
        device: str | None = None,
        progress: bool = True,
        export: bool = True,
        channels_last: bool | None = None,
        threads: int | None = None,
        schedule: dict[str, int] | None = None,
        init_from: str | Path | None = None,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ParameterError(f"Unknown training precision {precision!r}.",
                                 f"Use one of {', '.join(PRECISIONS)}.")
        self.precision = precision
        if threads:
            torch.set_num_threads(int(threads))
        self.run_dir = Path(run_dir)
        self.dist = init_distributed(device)
        self.device = self.dist.device
        if self.device.type == "cuda":
            # fixed crop and batch shapes: let cuDNN pick the fastest convolution algorithms
            torch.backends.cudnn.benchmark = True
        state = None
        if resume:
            source = self.run_dir if resume is True else Path(resume)
            # RNG states must stay CPU tensors; weights and optimiser states are moved to the
            # device by load_state_dict
            state = load_checkpoint(find_checkpoint(source), map_location="cpu")
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
        self.config = config.validate()
        self.weights = config.loss_weights()
        self.progress = progress
        self.export = export
        self.channels_last = (self.device.type == "cpu") if channels_last is None else channels_last
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format

        self.generator = build_generator(config.model, seed=config.seed).to(self.device, memory_format=fmt)
        self.discriminator = build_discriminator(config.discriminator, seed=config.seed + 1).to(
            self.device, memory_format=fmt)
        o = config.optim
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=o.lr_g, betas=(o.beta1_g, o.beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=o.lr_d, betas=(o.beta1_d, o.beta2))
        self.noise_gen = torch.Generator(device=self.device).manual_seed(config.seed * 1000 + 17 + self.dist.rank)
        self.step = 0
        self.pairs_seen = 0
        self.wall_time_before = 0.0
        self.last_validation: dict[str, float] | None = None
        self.initialised_from: dict[str, Any] | None = None
        if init_from is not None:
            if state is not None:
                raise ParameterError("A run is either resumed or initialised from another, not both.",
                                     "Drop --init-from to continue the run, or --resume to start a new one.")
            self._load_initial_weights(init_from)
        if state is not None:
            self.initialised_from = state.get("initialised_from")
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.step = int(state["step"])
            self.pairs_seen = int(state["pairs_seen"])
            self.wall_time_before = float(state["wall_time_s"])
            self.last_validation = state.get("validation")
            rng = state["rng"]
            if int(state.get("world_size", 1)) == self.dist.world_size and "noise" in rng:
                self.noise_gen.set_state(rng["noise"][self.dist.rank].cpu())
            restore_rng(rng)
        if self.dist.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train: torch.nn.Module = DDP(self.generator, device_ids=ids)
            self.d_train: torch.nn.Module = DDP(self.discriminator, device_ids=ids)
        else:
            self.g_train, self.d_train = self.generator, self.discriminator
        self._tb = None
        self._hardware = {**hardware_info(self.device, self.dist.world_size), "precision": precision}
        self._git = git_commit()

    def _load_initial_weights(self, source: str | Path) -> None:
        """Copy generator and discriminator weights from another run's checkpoint.

        ``source`` may also be a shipped model tag or an exported ``.onnx`` file
        (:func:`~emrestore.training.export.checkpoint_from_onnx`). A generator-only checkpoint (no
        ``discriminator`` entry, e.g. one slimmed for transfer off a GPU machine, or an ONNX file) keeps this run's freshly initialised discriminator; the model card
        records which (``initialised_from.discriminator``: ``"copied"`` or ``"fresh"``).
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
        for key in ("model", "discriminator") if has_discriminator else ("model",):
            if getattr(parent_config, key) != getattr(self.config, key):
                raise ParameterError(
                    f"The checkpoint {path} has another {key} configuration than this run.",
                    f"Use the checkpoint's {key} settings (e.g. --model {parent_config.model.name}).",
                )
        self.generator.load_state_dict(parent["generator"])
        if has_discriminator:
            self.discriminator.load_state_dict(parent["discriminator"])
        self.initialised_from = {
            "checkpoint": str(path.resolve()),
            "discriminator": "copied" if has_discriminator else "fresh",
            "tag": parent_config.tag,
            "steps": int(parent["step"]),
            "pairs_seen": int(parent["pairs_seen"]),
            "wall_time_s": float(parent["wall_time_s"]),
            "initialised_from": parent.get("initialised_from"),
        }

    # ------------------------------------------------------------------ helpers
    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def _lrs(self, step: int) -> tuple[float, float]:
        c, o = self.config, self.config.optim
        lr_g = o.lr_g * lr_factor(step, c.total_steps, o.warmup_steps, o.decay, o.min_lr_ratio)
        gan_step = step - c.schedule.pixel_steps
        lr_d = 0.0
        if gan_step >= 0:
            lr_d = o.lr_d * lr_factor(gan_step, c.schedule.gan_steps, o.warmup_steps, o.decay, o.min_lr_ratio)
        return lr_g, lr_d

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _autocast(self) -> torch.autocast:
        """bfloat16 autocast for ``precision="bf16"``; a no-op context otherwise."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def train_step(self, degraded: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """One optimiser step of the generator (and, in phase 2, of the discriminator).

        Parameters
        ----------
        degraded, target : Tensor
            (N, 1, H, W) raw pairs of this process.

        Returns
        -------
        dict
            Loss values (floats) of this step, before the update.
        """
        cfg, w = self.config, self.weights
        gan = self.step >= cfg.schedule.pixel_steps
        lr_g, lr_d = self._lrs(self.step)
        for group in self.opt_g.param_groups:
            group["lr"] = lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = lr_d
        x, y = self._to_device(degraded), self._to_device(target)
        self.generator.train()
        with self._autocast():
            pred, mean, std = self.g_train(x, return_normalised=True)
        pred, mean, std = pred.float(), mean.float(), std.float()
        t = (y - mean) / std
        loss, terms = L.pixel_losses(pred, t, w)
        out: dict[str, float] = {"lr_g": lr_g, "lr_d": lr_d}
        if gan:
            self.discriminator.train()
            x_hat = (x - mean) / std
            real, fake = L.instance_noise(t, pred, t, generator=self.noise_gen)
            pair_in = torch.cat([x_hat, x_hat])
            with self._autocast():
                logits = self.d_train(pair_in, torch.cat([real, fake]))
            real_logits, fake_logits = logits.float().chunk(2)
            adv = L.relativistic_g_loss(real_logits, fake_logits)
            loss = loss + w.adversarial * adv
            out["adv_g"] = float(adv.detach())
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        clip = cfg.optim.grad_clip
        if clip > 0:
            out["grad_norm_g"] = float(torch.nn.utils.clip_grad_norm_(self.generator.parameters(), clip))
        self.opt_g.step()
        if gan:
            with self._autocast():
                logits = self.d_train(pair_in.detach(), torch.cat([real.detach(), fake.detach()]))
            real_logits, fake_logits = logits.float().chunk(2)
            loss_d = L.relativistic_d_loss(real_logits, fake_logits)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(self.discriminator.parameters(), clip)
            self.opt_d.step()
            out["loss_d"] = float(loss_d.detach())
        out["loss_g"] = float(loss.detach())
        out.update({k: float(v) for k, v in terms.items()})
        self.step += 1
        self.pairs_seen += x.shape[0] * self.dist.world_size
        return out

    def _mean_over_processes(self, values: dict[str, float]) -> dict[str, float]:
        if not self.dist.distributed:
            return values
        keys = sorted(k for k in values if not k.startswith("lr_"))
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        averaged = dict(values)
        averaged.update({k: float(v) / self.dist.world_size for k, v in zip(keys, tensor.tolist())})
        return averaged

    def checkpoint_payload(self, wall_time_s: float) -> dict[str, Any]:
        """Everything needed to resume exactly (noise generators of all processes included)."""
        noise = self.noise_gen.get_state()
        if self.dist.distributed:
            states = [None] * self.dist.world_size
            torch.distributed.all_gather_object(states, noise.cpu())
        else:
            states = [noise.cpu()]
        rng = capture_rng()
        rng["noise"] = states
        return {
            "step": self.step,
            "pairs_seen": self.pairs_seen,
            "wall_time_s": wall_time_s,
            "world_size": self.dist.world_size,
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": rng,
            "validation": self.last_validation,
            "initialised_from": self.initialised_from,
            "hardware": self._hardware,
            "git": self._git,
        }

    def save(self, wall_time_s: float, keep_step_copy: bool = True) -> Path | None:
        """Write ``checkpoints/last.pt`` (and ``step-N.pt``) from the main process."""
        payload = self.checkpoint_payload(wall_time_s)  # collective under DDP: every rank calls
        if not self.is_main:
            return None
        ckpt_dir = self.run_dir / "checkpoints"
        path = save_checkpoint(ckpt_dir / "last.pt", payload)
        keep = self.config.schedule.keep_checkpoints
        if keep_step_copy and keep > 0:
            save_checkpoint(ckpt_dir / f"step-{self.step:08d}.pt", payload)
            copies = sorted(ckpt_dir.glob("step-*.pt"))
            for old in copies[:-keep]:
                old.unlink()
        return path

    def _validation_data(self) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_val"):
            cache = self.config.data.validation_cache or self.run_dir
            self._val = validation_set(self.config, cache)
        return self._val

    def validate(self) -> dict[str, float] | None:
        """Metrics on the fixed validation set (main process; others return ``None``)."""
        metrics = None
        if self.is_main:
            degraded, target = self._validation_data()
            metrics = evaluate(self.generator, degraded, target, self.device)
            self.last_validation = metrics
        if self.dist.distributed:
            torch.distributed.barrier()
        return metrics

    # --------------------------------------------------------------- logging
    def _open_logs(self) -> None:
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.json").write_text(self.config.to_json() + "\n")
        for name, fields in (("log.csv", LOG_FIELDS), ("validation.csv", VAL_FIELDS)):
            path = self.run_dir / name
            rows: list[dict[str, str]] = []
            if path.is_file():  # keep only rows up to the resumed step
                with open(path, newline="") as handle:
                    rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= self.step]
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
        if self.config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ParameterError("tensorboard = true but the tensorboard package is not installed.",
                                     "pip install tensorboard, or set tensorboard = false.") from None
            self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step)

    def _append(self, name: str, fields: list[str], row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        with open(self.run_dir / name, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        if self._tb is not None:
            prefix = "val/" if name == "validation.csv" else "train/"
            for key, value in row.items():
                if isinstance(value, float):
                    self._tb.add_scalar(prefix + key, value, int(row["step"]))

    # ------------------------------------------------------------------ loop
    def fit(self, minutes: float | None = None, max_steps: int | None = None,
            fit_schedule: bool = False) -> dict[str, Any]:
        """Train until the last step, the wall-time budget or ``max_steps`` more steps.

        Parameters
        ----------
        minutes : float, optional
            Wall-time budget of this call [min] (default ``[schedule] minutes``; 0 = none).
        max_steps : int, optional
            Stop after this many steps of this call (tests, benchmarks).
        fit_schedule : bool
            Fit the pixel phase to the wall-time budget: measure the step rate (after
            :data:`FIT_SKIP_STEPS` steps) and, at every log row, set ``pixel_steps`` so that
            the learning-rate decay ends when the budget does (less a reserve of 3 %, at
            least 15 s, for the final validation, checkpoint and export). Needs a budget and
            a run without adversarial phase (``gan_steps = 0``). The fitted length is stored
            in the checkpoint and the model card.

        Returns
        -------
        dict
            ``step``, ``finished``, ``stopped_on_time``, ``wall_time_s``, ``validation``,
            ``pixel_steps`` and, on the main process when exporting, ``onnx`` and
            ``model_card`` paths.
        """
        cfg = self.config
        budget_s = 60.0 * (cfg.schedule.minutes if minutes is None else minutes)
        if fit_schedule:
            if budget_s <= 0:
                raise ParameterError("Fitting the schedule needs a wall-time budget, and none was given.",
                                     "Pass --minutes M (or set [schedule] minutes).")
            if cfg.schedule.gan_steps > 0:
                raise ParameterError(
                    f"Fitting the schedule covers the pixel phase only; this run has an adversarial "
                    f"phase (gan_steps = {cfg.schedule.gan_steps}).",
                    "Pass --gan-steps 0, or give pixel_steps yourself.")
        total = cfg.total_steps
        end = total if max_steps is None else min(total, self.step + max_steps)
        first_step = self.step
        rate_origin: tuple[int, float] | None = None
        self._open_logs()
        start_time = time.perf_counter()
        stopped_on_time = False
        loader = make_loader(cfg, self.step, self.dist.rank, self.dist.world_size,
                             pin_memory=self.device.type == "cuda")
        bar = None
        if self.progress and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=self.step, desc=f"train {cfg.tag}", unit="step", dynamic_ncols=True)
        window = {"start": time.perf_counter(), "pairs": 0}

        def log_row(values: dict[str, float]) -> None:
            values = self._mean_over_processes(values)  # collective under DDP
            now = time.perf_counter()
            values["pairs_per_s"] = window["pairs"] / max(now - window["start"], 1e-9)
            window["start"], window["pairs"] = now, 0
            phase = "gan" if self.step > cfg.schedule.pixel_steps else "pixel"
            elapsed = self.wall_time_before + now - start_time
            self._append("log.csv", LOG_FIELDS, {"step": self.step, "phase": phase, "wall_time_s": elapsed, **values})
            if bar is not None:
                bar.set_postfix(loss=f"{values['loss_g']:.4g}", pairs_s=f"{values['pairs_per_s']:.3g}")

        iterator = iter(loader)
        pending: dict[str, float] | None = None
        try:
            while self.step < end:
                if budget_s > 0:
                    over = time.perf_counter() - start_time > budget_s
                    if all_reduce_max(float(over), self.dist) > 0:
                        stopped_on_time = True
                        break
                degraded, target = next(iterator)
                pending = self.train_step(degraded, target)
                window["pairs"] += degraded.shape[0] * self.dist.world_size
                if bar is not None:
                    bar.update(1)
                if fit_schedule:
                    done = self.step - first_step
                    if done == FIT_SKIP_STEPS:
                        rate_origin = (self.step, time.perf_counter())
                    elif rate_origin is not None and done >= FIT_SKIP_STEPS + FIT_MIN_STEPS and (
                            done == FIT_SKIP_STEPS + FIT_MIN_STEPS or self.step % cfg.schedule.log_every == 0):
                        now = time.perf_counter()
                        rate = (self.step - rate_origin[0]) / max(now - rate_origin[1], 1e-9)
                        remaining = budget_s - (now - start_time) - max(FIT_RESERVE_S, 0.03 * budget_s)
                        steps = fitted_pixel_steps(self.step, rate, remaining)
                        cfg.schedule.pixel_steps = int(all_reduce_max(float(steps), self.dist))  # same on every rank
                        total = cfg.total_steps
                        end = total if max_steps is None else min(total, first_step + max_steps)
                        if bar is not None:
                            bar.total = total
                if self.step % cfg.schedule.log_every == 0 or self.step == end:
                    log_row(pending)
                    pending = None
                every = cfg.schedule.validate_every
                if every and self.step % every == 0 and self.step < end:
                    self._log_validation()
                every = cfg.schedule.checkpoint_every
                if every and self.step % every == 0 and self.step < end:
                    self.save(self.wall_time_before + time.perf_counter() - start_time)
            if pending is not None:  # stopped on time between two log rows
                log_row(pending)
        finally:
            if bar is not None:
                bar.close()
            del iterator, loader
        wall = self.wall_time_before + time.perf_counter() - start_time
        metrics = self._log_validation()
        self.save(wall)
        result: dict[str, Any] = {
            "step": self.step,
            "finished": self.step >= total,
            "stopped_on_time": stopped_on_time,
            "wall_time_s": wall,
            "validation": metrics,
            "pixel_steps": cfg.schedule.pixel_steps,
            "run_dir": str(self.run_dir),
        }
        if self.export and self.is_main:
            result.update(self.export_model(wall))
        if self._tb is not None:
            self._tb.close()
        return result

    def _log_validation(self) -> dict[str, float] | None:
        metrics = self.validate()
        if metrics is not None:
            self._append("validation.csv", VAL_FIELDS, {"step": self.step, **metrics})
            self._draw_curves()
        return metrics

    def _draw_curves(self) -> None:
        """Redraw ``curves.png`` from the logs (main process; skipped without matplotlib)."""
        if not self.is_main:
            return
        from .curves import plot_training_curves

        try:
            plot_training_curves(self.run_dir)
        except (ParameterError, OSError) as error:  # curves are a convenience: never stop training for them
            import warnings

            warnings.warn(f"Training curves not drawn: {error}", stacklevel=2)

    def export_model(self, wall_time_s: float, onnx_path: str | Path | None = None) -> dict[str, Any]:
        """Export the generator to ONNX, with ``.pt`` weights and the model card next to it."""
        onnx_path = Path(onnx_path or self.run_dir / "model.onnx")
        info = export_onnx(self.generator, onnx_path, metadata={"tag": self.config.tag})
        save_torch_weights(self.generator, onnx_path.with_suffix(".pt"))
        progress = {
            "steps": self.step,
            "total_steps": self.config.total_steps,
            "pairs_seen": self.pairs_seen,
            "wall_time_s": round(wall_time_s, 3),
            "world_size": self.dist.world_size,
            "finished": self.step >= self.config.total_steps,
            "initialised_from": self.initialised_from,
        }
        card = build_model_card(self.config.to_dict(), progress, self.last_validation, info,
                                self._hardware, self._git)
        card_path = write_model_card(onnx_path.with_suffix(".json"), card)
        return {"onnx": str(onnx_path), "model_card": str(card_path), "max_abs_diff": info["max_abs_diff"]}


def train(
    config: TrainConfig | None,
    run_dir: str | Path,
    *,
    resume: bool | str | Path = False,
    minutes: float | None = None,
    fit_schedule: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Build a :class:`Trainer`, run :meth:`Trainer.fit`, tear down DDP; return the result."""
    try:
        trainer = Trainer(config, run_dir, resume=resume, **kwargs)
        return trainer.fit(minutes=minutes, fit_schedule=fit_schedule)
    finally:
        cleanup_distributed()


def read_log(run_dir: str | Path, name: str = "log.csv") -> list[dict[str, str]]:
    """Rows of a run's CSV log."""
    with open(Path(run_dir) / name, newline="") as handle:
        return list(csv.DictReader(handle))


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

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from ..errors import ParameterError
from ..io.atomic import write_text_atomic
from ..nn import build_discriminator, build_generator
from ..nn import losses as L
from ..nn.configs import generator_gflop
from .checkpoint import capture_rng, restore_rng, save_checkpoint
from .config import TrainConfig
from .dataset import validation_set
from .ddp import all_reduce_max, cleanup_distributed, init_distributed
from .device_pairs import make_pair_loader, pairs_place
from .export import export_onnx, save_torch_weights
from .levels import noise_levels
from .model_card import build_model_card, git_commit, hardware_info, write_model_card
from .profile import (
    RATE_SKIP_STEPS,
    TimeProfile,
    WallBudget,
    checkpoint_seconds_estimate,
    summary_line,
    validation_seconds_estimate,
)
from .run_log import RunLog
from .run_start import parent_weights, resumed_state, run_config
from .schedule import ScheduleFit, check_fit_schedule, lr_factor
from .validation import evaluate

__all__ = ["ALL_CORES_GFLOP_PER_PAIR", "PRECISIONS", "Trainer", "available_cores", "default_cpu_threads", "train"]

logger = logging.getLogger(__name__)

#: Training arithmetic: float32 everywhere, or bfloat16 autocast around the networks.
PRECISIONS = ("fp32", "bf16")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Generator cost per training pair [GFLOP, forward] from which a CPU run gives the main
#: process all cores: its DataLoader workers then need only a small share of one (measured,
#: docs/network.md "CPU training loop": `compact`, 8.1 GFLOP per 128² pair, trains 35-45 %
#: faster with 2 threads + 1 worker than with 1 + 1 on 2 quiet cores; `fast`, 2.0, is even;
#: `tiny`, 0.39, is 36 % faster with 1 thread).
ALL_CORES_GFLOP_PER_PAIR = 4.0


def default_cpu_threads(workers: int, processes: int = 1, cores: int | None = None,
                        gflop_per_pair: float = 0.0) -> int:
    """Torch intra-op threads of a training process on a CPU.

    A process's share of the cores, less one per DataLoader worker (at least 1) — unless the
    generator costs at least :data:`ALL_CORES_GFLOP_PER_PAIR` per pair, when the whole share:
    two threads and a busy worker on two cores make every parallel region wait for a
    descheduled thread, which costs more than the worker's share of a core is worth unless
    the network step dwarfs the pair making.

    Parameters
    ----------
    workers : int
        DataLoader worker processes of this training process (``[data] workers``).
    processes : int
        Training processes on the machine (DDP on CPUs).
    cores : int, optional
        Cores available (default :func:`available_cores`).
    gflop_per_pair : float
        Generator forward cost of one training crop [GFLOP]
        (:func:`emrestore.nn.configs.generator_gflop`).
    """
    cores = available_cores() if cores is None else cores
    share = max(cores // max(processes, 1), 1)
    if gflop_per_pair >= ALL_CORES_GFLOP_PER_PAIR:
        return share
    return max(1, share - workers)


def _now() -> float:
    """The trainer's clock [s] (``time.perf_counter``; looked up at each call, so tests can replace it)."""
    return time.perf_counter()


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
        ``torch.set_num_threads`` for this process; default on a CPU
        :func:`default_cpu_threads` (the cores not taken by the DataLoader workers, or all
        of them for generators of ≥ 4 GFLOP per training crop).
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
        self.run_dir = Path(run_dir)
        self.dist = init_distributed(device)
        self.device = self.dist.device
        if self.device.type == "cuda":
            # fixed crop and batch shapes: let cuDNN pick the fastest convolution algorithms
            torch.backends.cudnn.benchmark = True
        state = None
        if resume:
            state = resumed_state(self.run_dir if resume is True else Path(resume))
        config = run_config(config, state, schedule)
        self.config = config.validate()
        if threads:
            torch.set_num_threads(int(threads))
        elif self.device.type == "cpu":
            crop = config.data.crop
            torch.set_num_threads(default_cpu_threads(config.data.workers, self.dist.world_size,
                                                      gflop_per_pair=generator_gflop(config.model, crop, crop)))
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
        # a checkpoint's tensors: weights of both networks and their two Adam moments [bytes]
        self._checkpoint_bytes = sum(3 * p.numel() * p.element_size()
                                     for net in (self.generator, self.discriminator) for p in net.parameters())
        self.noise_gen = torch.Generator(device=self.device).manual_seed(config.seed * 1000 + 17 + self.dist.rank)
        self.step = 0
        self.pairs_seen = 0
        self.wall_time_before = 0.0
        self.last_validation: dict[str, float] | None = None
        self._timed: dict[str, float] = {}  # last measured "validation" / "checkpoint" [s]
        self._validated_step: int | None = None
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
        self.log = RunLog(self.run_dir, self.is_main)
        self._hardware = {**hardware_info(self.device, self.dist.world_size), "precision": precision,
                          "pairs_on": pairs_place(config.data, self.device)}
        self._git = git_commit()

    def _load_initial_weights(self, source: str | Path) -> None:
        """Copy generator (and, when the parent has one, discriminator) weights from ``source``."""
        parent, self.initialised_from = parent_weights(source, self.config)
        self.generator.load_state_dict(parent["generator"])
        if "discriminator" in parent:
            self.discriminator.load_state_dict(parent["discriminator"])

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
            pred, mean, std = self.g_train(x, return_normalised=True, level=noise_levels(self.g_train, x))
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
        began = _now()
        try:
            return self._write_checkpoint(wall_time_s, keep_step_copy)
        finally:
            self._timed["checkpoint"] = _now() - began

    def _write_checkpoint(self, wall_time_s: float, keep_step_copy: bool) -> Path | None:
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

    # ------------------------------------------------------------------ loop
    def fit(self, minutes: float | None = None, max_steps: int | None = None,
            fit_schedule: bool = False, started_s: float | None = None) -> dict[str, Any]:
        """Train until the last step, the wall-time budget or ``max_steps`` more steps.

        Parameters
        ----------
        minutes : float, optional
            Wall-time budget of this call [min] (default ``[schedule] minutes``; 0 = none).
            It covers everything from ``started_s`` to the final checkpoint: set-up, the
            validation set, the workers' start, the steps, periodic and final validation.
            A step is started only if it and the final validation and checkpoint (their
            measured or estimated times, :mod:`.profile`) still fit. The export after it is
            not counted (≈ 1-2 s for the shipped sizes on a CPU; a run stopped on
            time records the theoretical receptive field instead of measuring it).
        max_steps : int, optional
            Stop after this many steps of this call (tests, benchmarks).
        fit_schedule : bool
            Fit the pixel phase to the wall-time budget: measure the step rate (after
            :data:`FIT_SKIP_STEPS` steps) and, at every log row, set ``pixel_steps`` so that
            the learning-rate decay ends when the budget does (less a reserve of 3 %, at
            least 15 s, for the final validation, checkpoint and export). Needs a budget and
            a run without adversarial phase (``gan_steps = 0``). The fitted length is stored
            in the checkpoint and the model card.
        started_s : float, optional
            ``time.perf_counter()`` reading at which the budget began (the CLI passes the
            start of the command); default: now.

        Returns
        -------
        dict
            ``step``, ``finished``, ``stopped_on_time``, ``wall_time_s``, ``validation``,
            ``pixel_steps``, ``time_profile`` (:meth:`TimeProfile.report`, also appended to
            ``profile.json`` in the run directory) and, on the main process when exporting,
            ``onnx`` and ``model_card`` paths.
        """
        cfg = self.config
        budget_s = 60.0 * (cfg.schedule.minutes if minutes is None else minutes)
        if fit_schedule:
            check_fit_schedule(budget_s, cfg.schedule.gan_steps)
        start_time = _now() if started_s is None else float(started_s)
        prof = TimeProfile(_now, start_time)
        budget = WallBudget(budget_s, start_time, _now)
        total = cfg.total_steps
        end = total if max_steps is None else min(total, self.step + max_steps)
        first_step = self.step
        prof.count_since_start("startup")  # the caller's set-up (imports, this trainer) since started_s
        with prof.phase("startup"):
            self.log.open(cfg, self.step)
            # pairs from the DataLoader workers, or degraded here on the device (docs/network.md)
            loader = make_pair_loader(cfg, self.device, self.step, self.dist.rank, self.dist.world_size)
            iterator = iter(loader)  # the workers start making pairs ...
            if self.is_main:
                self._validation_data()  # ... while the validation set is built or read
        if budget.active and budget.remaining() <= 0:
            logger.warning("the wall-time budget (%.3g s) was used up by the set-up (%.3g s: imports, networks, "
                           "validation set, workers); no step fits", budget_s, budget.elapsed())
        fit = ScheduleFit(first_step, budget_s, start_time) if fit_schedule else None
        stopped_on_time = False
        bar = None
        if self.progress and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=None if budget.active else end, initial=self.step, desc=f"train {cfg.tag}",
                       unit="step", dynamic_ncols=True)
        window = {"start": _now(), "pairs": 0}

        def log_row(values: dict[str, float]) -> None:
            values = self._mean_over_processes(values)  # collective under DDP
            now = _now()
            values["pairs_per_s"] = window["pairs"] / max(now - window["start"], 1e-9)
            window["start"], window["pairs"] = now, 0
            phase = "gan" if self.step > cfg.schedule.pixel_steps else "pixel"
            elapsed = self.wall_time_before + now - start_time
            self.log.training_row({"step": self.step, "phase": phase, "wall_time_s": elapsed, **values})
            if bar is not None:
                bar.set_postfix(loss=f"{values['loss_g']:.4g}", pairs_s=f"{values['pairs_per_s']:.3g}",
                                refresh=False)

        pending: dict[str, float] | None = None
        try:
            while self.step < end:
                if budget.active:
                    over = not budget.next_step_fits(self._end_reserve_s(budget, self.step + 1, end))
                    if all_reduce_max(float(over), self.dist) > 0:
                        stopped_on_time = True
                        break
                began = _now()
                with prof.phase("data"):
                    degraded, target = next(iterator)
                with prof.phase("step"):
                    pending = self.train_step(degraded, target)
                with prof.phase("log"):
                    window["pairs"] += degraded.shape[0] * self.dist.world_size
                    steps = None if fit is None else fit.pixel_steps(self.step, _now, cfg.schedule.log_every)
                    if steps is not None:
                        cfg.schedule.pixel_steps = int(all_reduce_max(float(steps), self.dist))  # same on every rank
                        total = cfg.total_steps
                        end = total if max_steps is None else min(total, first_step + max_steps)
                    logged = self.step % cfg.schedule.log_every == 0 or self.step == end
                    if logged:
                        log_row(pending)
                        pending = None
                budget.observe(_now() - began)
                if bar is not None:
                    if logged or steps is not None or self.step - first_step == RATE_SKIP_STEPS + 1:
                        bar.total = self._bar_total(budget, end)
                    bar.update(1)
                every = cfg.schedule.validate_every
                if every and self.step % every == 0 and self.step < end:
                    with prof.phase("validation"):
                        self._log_validation()
                every = cfg.schedule.checkpoint_every
                if every and self.step % every == 0 and self.step < end:
                    with prof.phase("checkpoint"):
                        self.save(self.wall_time_before + _now() - start_time)
                prof.count_step()
                if self.step - first_step == RATE_SKIP_STEPS:
                    prof.start_steady()
            if pending is not None:  # stopped on time between two log rows
                with prof.phase("log"):
                    log_row(pending)
        finally:
            if bar is not None:
                bar.close()
            with prof.phase("data"):  # the workers finish the batch they are making, then exit
                del iterator, loader
        with prof.phase("validation"):  # unless the last step was just validated
            metrics = self.last_validation if self._validated_step == self.step else self._log_validation()
        wall = self.wall_time_before + _now() - start_time
        with prof.phase("checkpoint"):
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
            with prof.phase("export"):
                result.update(self.export_model(wall, measure_receptive_field=not stopped_on_time))
        result["time_profile"] = self._record_profile(prof, budget_s)
        self.log.close()
        return result

    def _bar_total(self, budget: WallBudget, end: int) -> int | None:
        """The progress bar's length: the last step of this call, or under a budget the steps
        that fit (from the measured step rate; None before the first measurement)."""
        if not budget.active:
            return end
        more = budget.steps_that_fit(self._end_reserve_s(budget), self._periodic_s_per_step())
        return None if more is None else min(end, self.step + more)

    def _end_reserve_s(self, budget: WallBudget, next_step: int | None = None, end: int = 0) -> float:
        """Seconds kept after a step for the final validation and checkpoint: as last timed, else
        estimated. With ``next_step`` (< ``end``), a periodic checkpoint after it is added; a
        periodic validation after it stands for the final one (:meth:`fit` does not repeat it)."""
        data, s = self.config.data, self.config.schedule
        validation = self._timed.get("validation")
        if validation is None:
            validation = validation_seconds_estimate(data.validation_size, data.batch_size,
                                                     budget.seconds_per_step or 0.0)
        checkpoint = self._timed.get("checkpoint")
        if checkpoint is None:
            checkpoint = checkpoint_seconds_estimate(self._checkpoint_bytes)
        periodic = (next_step is not None and next_step < end and s.checkpoint_every > 0
                    and next_step % s.checkpoint_every == 0)
        return validation + checkpoint * (2 if periodic else 1)

    def _periodic_s_per_step(self) -> float:
        """Seconds per step of the periodic validations and checkpoints (once timed) [s]."""
        s = self.config.schedule
        return sum(self._timed.get(name, 0.0) / every for name, every in
                   (("validation", s.validate_every), ("checkpoint", s.checkpoint_every)) if every)

    def _record_profile(self, prof: TimeProfile, budget_s: float) -> dict[str, Any]:
        """The invocation's time profile, appended to ``profile.json`` (main process) and logged."""
        report = prof.report(self.config.data.batch_size * self.dist.world_size)
        report["budget_s"] = budget_s
        report["first_step"], report["last_step"] = self.step - prof.steps_counted, self.step
        report["summary"] = summary_line(report)
        if self.is_main:
            path = self.run_dir / "profile.json"
            runs = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
            runs.append(report)
            write_text_atomic(path, json.dumps(runs, indent=1) + "\n")
            logger.info("training time profile: %s", report["summary"])
        return report

    def _log_validation(self) -> dict[str, float] | None:
        began = _now()
        metrics = self.validate()
        self._timed["validation"] = _now() - began
        self._validated_step = self.step
        if metrics is not None:
            self.log.validation_row({"step": self.step, **metrics})
        return metrics

    def export_model(self, wall_time_s: float, onnx_path: str | Path | None = None,
                     measure_receptive_field: bool = True) -> dict[str, Any]:
        """Export the generator to ONNX, with ``.pt`` weights and the model card next to it.

        ``measure_receptive_field=False`` records the theoretical receptive field in the card
        (exact, larger tile overlaps) instead of measuring it (≈ 30 s for `fast` on 2 CPU
        cores); ``emrestore export`` of the checkpoint measures it later.
        """
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
                                self._hardware, self._git, receptive_field=measure_receptive_field)
        card_path = write_model_card(onnx_path.with_suffix(".json"), card)
        return {"onnx": str(onnx_path), "model_card": str(card_path), "max_abs_diff": info["max_abs_diff"]}


def train(
    config: TrainConfig | None,
    run_dir: str | Path,
    *,
    resume: bool | str | Path = False,
    minutes: float | None = None,
    fit_schedule: bool = False,
    started_s: float | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Build a :class:`Trainer`, run :meth:`Trainer.fit`, tear down DDP; return the result.

    The wall-time budget (``minutes``) counts from ``started_s`` (a ``time.perf_counter()``
    reading; default: this call), so the trainer's construction is part of it.
    """
    started_s = _now() if started_s is None else started_s
    try:
        trainer = Trainer(config, run_dir, resume=resume, **kwargs)
        return trainer.fit(minutes=minutes, fit_schedule=fit_schedule, started_s=started_s)
    finally:
        cleanup_distributed()


"""Train several tags in one short command on a lent GPU machine, and pack the results.

A GPU is lent now and then for about 15 minutes in all, one command at most 10 minutes,
and at most 8 files of 16 MiB come back (docs/models.md, "A GPU lease"). This module is
the one prepared command for it (``tools/gpu_train.sh`` wraps it)::

    python -m emrestore.training.lease --tags hrstem lrstem hrsem lrsem --minutes 9 --out "$OUT"

Within the deadline it (1) renders a bank of clean images per tag with all the machine's
cores (``emrestore simulate``, resumable; stopped at its time share, a run trains on the
images written so far), (2) trains every tag at once on the one device (``emrestore
train --fit-schedule``, pairs degraded on the device, so that the cosine decay ends at
the deadline), (3) exports each run to ONNX with float16 weights plus its model card and
PyTorch weights, and (4) packs them into at most :data:`MAX_FILES` files of at most
:data:`MAX_FILE_BYTES` under ``--out`` (``models-K.tar``, ``summary.json``,
``lease.log``), then prints a summary table. ``--device cpu`` runs the same path on a
CPU with a tiny budget (the test does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..io.atomic import write_text_atomic
from ..tags import TAG_NAMES

__all__ = ["LeasePlan", "MAX_FILES", "MAX_FILE_BYTES", "main", "pack", "plan_from_args", "run_lease"]

#: Files that come back from a lease, and the size of each [bytes] (a margin below 16 MiB).
MAX_FILES = 8
MAX_FILE_BYTES = 15 * 2**20

#: Seconds one core takes to render a 256² clean image per tag (benchmarks/bench_bank_supply.py,
#: docs/network.md); the lease shares the cores among the tags' banks in proportion.
RENDER_S_PER_IMAGE = {"hrstem": 0.83, "hrtem": 5.0, "hrsem": 0.16, "lrstem": 0.11, "lrtem": 0.15, "lrsem": 0.18}

#: Share of the budget for rendering banks [-], and the time kept for exports and packing:
#: this many seconds, at most this share of the budget.
BANK_SHARE = 0.2
EXPORT_RESERVE_S = 90.0
EXPORT_RESERVE_SHARE = 0.25


@dataclass
class LeasePlan:
    """What one lease command does (see :func:`plan_from_args`)."""

    tags: list[str]
    minutes: float
    out: Path
    work: Path
    device: str = "cuda"
    preset: str = "fast"
    crop: int = 192
    batch_size: int = 16
    bank_images: int = 1500
    bank_px: int = 256
    bank_workers: int = 0
    data_workers: int = 2
    precision: str = "bf16"
    seed: int = 4
    init_from_shipped: bool = False
    steps: int = 0
    banks: dict[str, str] = field(default_factory=dict)
    noise_conditioned: bool = False

    def preset_of(self, tag: str) -> str:
        """The generator preset of ``tag``'s run: the shipped model's when continuing it."""
        if self.init_from_shipped:
            from ..model.registry import shipped_models

            for model in shipped_models():
                if model.name == tag:
                    return str(model.card.config_name)
        return self.preset

    def conditioned_of(self, tag: str) -> bool:
        """Whether ``tag``'s network is told the noise level: asked for, or the shipped model is."""
        if self.noise_conditioned:
            return True
        if self.init_from_shipped:
            from ..model.registry import shipped_models

            for model in shipped_models():
                if model.name == tag:
                    config = (model.card.generator or {}).get("config") or {}
                    return bool(config.get("noise_conditioned", False))
        return False

    def model_lines(self, tag: str) -> list[str]:
        """The ``[model]`` section of ``tag``'s run: a preset, or, when continuing the shipped model,
        every field of its generator config (so that a shipped architecture that is no preset —
        e.g. ``lrtem``'s ``refine`` head — is rebuilt exactly)."""
        config: dict = {}
        if self.init_from_shipped:
            from ..model.registry import shipped_models

            for model in shipped_models():
                if model.name == tag:
                    config = dict((model.card.generator or {}).get("config") or {})
        if not config:
            return [f'preset = "{self.preset_of(tag)}"', *(["noise_conditioned = true"] if self.conditioned_of(tag) else [])]
        if self.noise_conditioned:
            config["noise_conditioned"] = True
        return [f"{key} = {json.dumps(value)}" for key, value in config.items()]  # JSON scalars are TOML

    def budget_s(self) -> float:
        return 60.0 * self.minutes


def _python() -> list[str]:
    return [sys.executable, "-m", "emrestore"]


def _log(handle, text: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {text}"
    print(line, flush=True)
    handle.write(line + "\n")
    handle.flush()


def render_workers(tags: list[str], cores: int) -> dict[str, int]:
    """Rendering processes per tag: ``cores`` shared in proportion to each tag's rendering cost
    (:data:`RENDER_S_PER_IMAGE`), at least one each."""
    if not tags:
        return {}
    costs = {tag: RENDER_S_PER_IMAGE.get(tag, 1.0) for tag in tags}
    total = sum(costs.values())
    return {tag: max(1, round(cores * cost / total)) for tag, cost in costs.items()}


def render_banks(plan: LeasePlan, deadline: float, log) -> dict[str, Path]:
    """Render (or reuse) a bank per tag until ``deadline`` (``time.monotonic()``), all at once."""
    cores = plan.bank_workers or max(1, (os.cpu_count() or 2))
    workers = render_workers([t for t in plan.tags if t not in plan.banks], cores)
    banks: dict[str, Path] = {}
    running: dict[str, subprocess.Popen] = {}
    for tag in plan.tags:
        if tag in plan.banks:
            banks[tag] = Path(plan.banks[tag])
            _log(log, f"{tag}: bank {banks[tag]} given")
            continue
        banks[tag] = plan.work / "banks" / tag
        command = [*_python(), "simulate", "--tag", tag, "--n", str(plan.bank_images), "--size",
                   str(plan.bank_px), "--seed", "0", "--out", str(banks[tag]), "--workers", str(workers[tag]), "-q"]
        running[tag] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    while running and time.monotonic() < deadline:
        for tag in [t for t, p in running.items() if p.poll() is not None]:
            running.pop(tag)
        time.sleep(0.5)
    for tag, process in running.items():  # out of time: train on what is written (simulate resumes)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for tag, path in banks.items():
        count = len(list(path.glob("*.npz"))) if path.is_dir() else 0
        _log(log, f"{tag}: bank of {count} images in {path}")
        if count == 0:
            raise ParameterError(f"No clean image of {tag} was rendered in the bank's time share.",
                                 "Give more --minutes, a smaller --bank-px, or a bank with --bank TAG=DIR.")
    return banks


def write_config(plan: LeasePlan, tag: str, bank: Path) -> Path:
    """The training config of one tag in the lease (TOML)."""
    text = "\n".join([
        f'tag = "{tag}"',
        f"seed = {plan.seed}",
        "[model]",
        *plan.model_lines(tag),
        "[data]",
        'source = "bank"',
        f'bank = "{bank.as_posix()}"',
        f"crop = {plan.crop}",
        f"batch_size = {plan.batch_size}",
        f"workers = {plan.data_workers}",
        'pairs_on = "device"',
        *(["[optim]", "lr_g = 1e-4", "warmup_steps = 100"] if plan.init_from_shipped else []),
        "[schedule]",
        "pixel_steps = 1000000",
        "gan_steps = 0",
        "",
    ])
    path = plan.work / "configs" / f"{tag}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path


def train_all(plan: LeasePlan, banks: dict[str, Path], minutes: float, log) -> dict[str, int]:
    """Train every tag at once for ``minutes``; return each run's exit status."""
    running = {}
    for tag in plan.tags:
        config = write_config(plan, tag, banks[tag])
        # --steps: a fixed amount of work (a dry run); else the cosine decay fitted to the deadline
        length = (["--pixel-steps", str(plan.steps), "--gan-steps", "0"] if plan.steps
                  else ["--minutes", f"{minutes:.3f}", "--fit-schedule"])
        command = [*_python(), "train", "--config", str(config), "--out", str(plan.work / "runs" / tag),
                   *length, "--device", plan.device,
                   "--precision", plan.precision, "--no-export", "--no-progress",
                   *(["--init-from", tag] if plan.init_from_shipped else [])]
        running[tag] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        start = "from the shipped model" if plan.init_from_shipped else "from scratch"
        length_text = f"{plan.steps} steps" if plan.steps else f"{minutes:.2f} min"
        _log(log, f"{tag}: training for {length_text} ({plan.preset_of(tag)} {start}, "
                  f"{plan.crop}² × {plan.batch_size})")
    return {tag: process.wait() for tag, process in running.items()}


def export_all(plan: LeasePlan, statuses: dict[str, int], log) -> dict[str, dict[str, Any]]:
    """Export the trained runs at once (ONNX with float16 weights, card, weights); a summary row each."""
    exports: dict[str, subprocess.Popen] = {}
    for tag in plan.tags:
        onnx = plan.work / "export" / f"{tag}.onnx"
        onnx.parent.mkdir(parents=True, exist_ok=True)
        if statuses.get(tag) == 0:
            exports[tag] = subprocess.Popen([*_python(), "export", str(plan.work / "runs" / tag), str(onnx),
                                             "--weights", "float16", "--force", "-q"],
                                            stdout=log, stderr=subprocess.STDOUT)
    rows: dict[str, dict[str, Any]] = {}
    for tag in plan.tags:
        row: dict[str, Any] = {"tag": tag, "train_status": statuses.get(tag)}
        onnx = plan.work / "export" / f"{tag}.onnx"
        if tag in exports:
            row["export_status"] = exports[tag].wait()
            if row["export_status"] == 0:
                halve_torch_weights(onnx.with_suffix(".pt"))
        if row.get("export_status") == 0 and onnx.is_file():
            card = json.loads(onnx.with_suffix(".json").read_text())
            training = card.get("training", {})
            validation = card.get("validation") or {}
            wall = training.get("wall_time_s")
            row.update(steps=training.get("steps"), pairs=training.get("pairs_seen"),
                       minutes=None if wall is None else round(wall / 60.0, 2),
                       validation_psnr_db=validation.get("psnr_db"),
                       input_psnr_median_db=validation.get("input_psnr_median_db"),
                       files=[str(p) for p in (onnx, onnx.with_suffix(".json"), onnx.with_suffix(".pt"))
                              if p.is_file()])
        _log(log, f"{tag}: {json.dumps({k: v for k, v in row.items() if k != 'files'})}")
        rows[tag] = row
    return rows


def halve_torch_weights(path: Path) -> None:
    """Store the float32 tensors of an exported ``.pt`` as float16 (half the transfer).

    ``load_state_dict`` casts them back into the float32 parameters, so the file still
    initialises a run (``emrestore train --init-from``) or the torch backend.
    """
    import torch

    from .checkpoint import atomic_torch_save

    if not path.is_file():
        return
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["state_dict"] = {k: v.half() if v.dtype == torch.float32 else v
                             for k, v in payload["state_dict"].items()}
    atomic_torch_save(payload, path)


def pack(files: list[Path], out: Path, max_parts: int, max_bytes: int = MAX_FILE_BYTES) -> list[Path]:
    """Pack ``files`` into at most ``max_parts`` tar files of at most ``max_bytes`` each.

    Files are kept whole and grouped by tag (a model's ONNX, card and weights in one
    part) as far as the size allows; files that do not fit anywhere are left out and
    named in the error.

    Raises
    ------
    ParameterError
        A file is larger than ``max_bytes`` or the files need more than ``max_parts`` parts.
    """
    parts: list[list[Path]] = []
    sizes: list[int] = []
    for path in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        size = path.stat().st_size + 1024  # the tar header and padding
        if size > max_bytes:
            raise ParameterError(f"{path.name} ({size / 2**20:.1f} MiB) is larger than one returned file "
                                 f"may be ({max_bytes / 2**20:.0f} MiB).",
                                 "Train a smaller preset, or export it with --weights float16.")
        for index, used in enumerate(sizes):
            if used + size <= max_bytes - 10240:
                parts[index].append(path)
                sizes[index] += size
                break
        else:
            parts.append([path])
            sizes.append(size)
    if len(parts) > max_parts:
        raise ParameterError(f"The models need {len(parts)} files of ≤ {max_bytes / 2**20:.0f} MiB; "
                             f"only {max_parts} come back.", "Train fewer tags, or a smaller preset.")
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for index, members in enumerate(parts, 1):
        target = out / f"models-{index}.tar"
        partial = target.with_name(target.name + ".part")
        with tarfile.open(partial, "w") as archive:
            for path in members:
                archive.add(path, arcname=path.name)
        os.replace(partial, target)
        written.append(target)
    return written


def run_lease(plan: LeasePlan) -> dict[str, Any]:
    """Banks, training, export and packing within ``plan.minutes``; the summary."""
    start = time.monotonic()
    deadline = start + plan.budget_s()
    plan.out.mkdir(parents=True, exist_ok=True)
    plan.work.mkdir(parents=True, exist_ok=True)
    with open(plan.out / "lease.log", "a", encoding="utf-8") as log:
        _log(log, f"lease: {plan.tags} for {plan.minutes} min on {plan.device}")
        banks = render_banks(plan, start + BANK_SHARE * plan.budget_s(), log)
        reserve = min(EXPORT_RESERVE_S, EXPORT_RESERVE_SHARE * plan.budget_s())
        train_minutes = (deadline - reserve - time.monotonic()) / 60.0
        if train_minutes <= 0:
            raise ParameterError(f"No time is left to train in {plan.minutes} min.", "Give more --minutes.")
        statuses = train_all(plan, banks, train_minutes, log)
        rows = export_all(plan, statuses, log)
        files = [Path(f) for row in rows.values() for f in row.get("files", [])]
        parts = pack(files, plan.out, MAX_FILES - 2) if files else []
        summary = {"plan": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(plan).items()},
                   "wall_time_s": round(time.monotonic() - start, 1), "runs": rows,
                   "parts": [p.name for p in parts]}
        write_text_atomic(plan.out / "summary.json", json.dumps(summary, indent=2, default=str))
        _log(log, f"{'tag':8} {'status':>6} {'steps':>7} {'pairs':>9} {'val PSNR':>9}")
        for row in rows.values():
            _log(log, f"{row['tag']:8} {str(row.get('train_status')):>6} {str(row.get('steps')):>7} "
                      f"{str(row.get('pairs')):>9} {str(row.get('validation_psnr_db')):>9}")
        _log(log, f"lease: done in {summary['wall_time_s']} s; {len(parts)} model file(s) in {plan.out}")
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emrestore.training.lease", description=__doc__.split("\n")[0])
    parser.add_argument("--tags", nargs="+", default=list(TAG_NAMES), choices=list(TAG_NAMES))
    parser.add_argument("--minutes", type=float, default=9.0, help="wall-time budget of the whole command [min]")
    parser.add_argument("--out", required=True, help="folder for the returned files ($OUT)")
    parser.add_argument("--work", default="", help="scratch folder (default: OUT/../lease-work)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bank-images", type=int, default=1500)
    parser.add_argument("--bank-px", type=int, default=256)
    parser.add_argument("--bank", action="append", default=[], metavar="TAG=DIR",
                        help="use this bank for TAG instead of rendering one")
    parser.add_argument("--bank-workers", type=int, default=0, help="rendering processes in all (0: every core)")
    parser.add_argument("--data-workers", type=int, default=2, help="DataLoader workers per run")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--steps", type=int, default=0,
                        help="train exactly N steps per tag instead of fitting the budget (a dry run)")
    parser.add_argument("--init-from-shipped", action="store_true",
                        help="continue each tag's shipped model (its preset; peak learning rate 1e-4)")
    parser.add_argument("--noise-conditioned", action="store_true",
                        help="tell each network the frame's noise level (added to a shipped blind model "
                             "with zero-initialised vectors)")
    return parser


def plan_from_args(argv: list[str] | None = None) -> LeasePlan:
    """A :class:`LeasePlan` from command-line arguments (validated)."""
    args = build_parser().parse_args(argv)
    if args.steps < 0:
        raise ParameterError(f"--steps must be ≥ 0, got {args.steps}.", "Give e.g. --steps 3, or 0 to fit --minutes.")
    if args.minutes <= 0:
        raise ParameterError(f"--minutes must be positive, got {args.minutes}.", "Give e.g. --minutes 9.")
    banks = {}
    for item in args.bank:
        tag, sep, directory = item.partition("=")
        if not sep or tag not in TAG_NAMES:
            raise ParameterError(f"--bank {item!r} is not TAG=DIR.", "Give e.g. --bank hrstem=banks/hrstem.")
        banks[tag] = directory
    out = Path(args.out)
    work = Path(args.work) if args.work else out.parent / "lease-work"
    return LeasePlan(tags=list(dict.fromkeys(args.tags)), minutes=args.minutes, out=out, work=work,
                     device=args.device, preset=args.preset, crop=args.crop, batch_size=args.batch_size,
                     bank_images=args.bank_images, bank_px=args.bank_px, bank_workers=args.bank_workers,
                     data_workers=args.data_workers, precision=args.precision, seed=args.seed,
                     init_from_shipped=args.init_from_shipped, steps=args.steps, banks=banks,
                     noise_conditioned=args.noise_conditioned)


def main(argv: list[str] | None = None) -> int:
    try:
        run_lease(plan_from_args(argv))
    except ParameterError as error:
        print(f"lease: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

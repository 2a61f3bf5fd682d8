"""``emrestore train --tag TAG [--config FILE] [--minutes M] [--resume DIR]``, ``emrestore train --plot RUN_DIR``.

Trains a restoration network (PyTorch needed: ``pip install emrestore[train]``). Under
``torchrun`` the same command trains with DDP on all launched processes. ``--minutes`` counts
from the start of the command (imports, set-up and the final validation and checkpoint
included; the export after it is not), and the printed summary ends with the invocation's
time profile (:mod:`emrestore.training.profile`; also in the run directory's ``profile.json``). The run directory's
``curves.png`` (:mod:`emrestore.training.curves`) is redrawn at each validation; ``--plot``
redraws it from the logs of any run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import time
from pathlib import Path

from ..errors import ParameterError
from .common_options import progress_enabled


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a restoration network (CGRDN + GAN) from a config",
        description=(
            "Train a CGRDN restorer for one model tag: pixel losses first, then adversarial "
            "fine-tuning. Writes logs, checkpoints, model.onnx and model.json into the run "
            "directory. Multi-process: torchrun --nproc_per_node=N -m emrestore.cli train ..."
        ),
    )
    parser.add_argument("--tag", help="model tag (hrstem, hrtem, hrsem, lrstem, lrtem, lrsem)")
    parser.add_argument("--config", metavar="FILE", help="TOML/JSON config (default: the tag's shipped config)")
    parser.add_argument("--minutes", type=float, help="wall-time budget of this invocation [min]")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR (or from a checkpoint file)")
    parser.add_argument("--init-from", metavar="CHECKPOINT",
                        help="start a new run from the weights of this checkpoint file, run directory, exported "
                             ".onnx file or shipped model tag (fine-tuning: new data settings, fresh optimiser "
                             "and schedule)")
    parser.add_argument("--out", metavar="DIR", help="run directory (default runs/TAG-YYYYmmdd-HHMMSS)")
    parser.add_argument("--model", metavar="PRESET", help="generator preset: paper, paper-x4, compact, fast, tiny")
    parser.add_argument("--device", help="cpu, cuda or cuda:K (default: CUDA when available)")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="training arithmetic: fp32 (default) or bf16 autocast (GPUs with bfloat16)")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--pixel-steps", type=int, metavar="N",
                        help="steps of the pixel-loss phase (also when resuming: lengthen or shorten the run; "
                             "the learning-rate decay follows)")
    parser.add_argument("--fit-schedule", action="store_true",
                        help="fit the pixel phase to --minutes: measure the step rate and end the "
                             "learning-rate decay with the budget (needs --minutes; gan_steps = 0)")
    parser.add_argument("--gan-steps", type=int, metavar="N", help="steps of the adversarial phase (as --pixel-steps)")
    parser.add_argument("--bank", metavar="DIR",
                        help="train on crops of this bank of clean images (written by `emrestore simulate`)")
    parser.add_argument("--no-export", action="store_true", help="do not export ONNX + model card at the end")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (also implied by -q/--quiet)")
    parser.add_argument("--plot", metavar="RUN_DIR",
                        help="only (re)draw RUN_DIR/curves.png (losses, learning rate, validation PSNR against "
                             "steps) from the run's logs, and exit; needs matplotlib, not PyTorch")
    parser.set_defaults(func=run)
    return parser


def _torch_or_error() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ParameterError("Training needs PyTorch, which is not installed.",
                             "pip install 'emrestore[train]'.") from None


def plot(run_dir: str) -> int:
    """``emrestore train --plot RUN_DIR``: redraw the run's training curves; prints the PNG's path."""
    from ..training.curves import plot_training_curves

    print(plot_training_curves(run_dir).path)
    return 0


def run(args: argparse.Namespace) -> int:
    started_s = time.perf_counter()  # --minutes counts from here: importing torch and set-up included
    if args.plot:
        return plot(args.plot)
    _torch_or_error()
    from ..training import config_from_dict, default_config, load_config, train

    config = None
    if args.resume:
        run_dir = Path(args.out or args.resume)
        if Path(args.resume).is_file() and not args.out:
            run_dir = Path(args.resume).resolve().parent.parent
        if args.init_from:
            raise ParameterError("--resume continues a run; --init-from starts a new one from another's weights.",
                                 "Use one of the two.")
        if args.config or args.tag or args.model or args.seed is not None or args.bank:
            raise ParameterError("--resume continues a run with its own config.",
                                 "Drop --config/--tag/--model/--seed/--bank, or start a new run with --out.")
    else:
        if args.config:
            config = load_config(args.config)
            if args.tag and args.tag != config.tag:
                raise ParameterError(f"--tag {args.tag} differs from the config's tag {config.tag!r}.",
                                     "Drop --tag or fix the config.")
        elif args.tag:
            config = default_config(args.tag)
        else:
            raise ParameterError("No model tag given.", "Use --tag TAG or --config FILE.")
        if args.model or args.seed is not None or args.bank:
            data = config.to_dict()
            if args.model:
                data["model"] = {"preset": args.model}
            if args.seed is not None:
                data["seed"] = args.seed
            if args.bank:
                if not Path(args.bank).is_dir():
                    raise ParameterError(f"Bank {args.bank} is not a folder.",
                                         f"Render one: emrestore simulate --tag {config.tag} --n 2000 --out {args.bank}")
                data["data"].update(source="bank", bank=str(Path(args.bank).resolve()))
            config = config_from_dict(data)
        if not args.out and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ParameterError("Under torchrun every process needs the same run directory.",
                                 "Give --out DIR.")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.out or Path("runs") / f"{config.tag}-{stamp}")
        if (run_dir / "checkpoints" / "last.pt").is_file():
            raise ParameterError(f"{run_dir} already holds a training run.",
                                 f"Continue it with --resume {run_dir}, or choose another --out.")
    result = train(
        config,
        run_dir,
        resume=args.resume or False,
        minutes=args.minutes,
        fit_schedule=args.fit_schedule,
        started_s=started_s,
        device=args.device,
        threads=args.threads,
        precision=args.precision,
        progress=not args.no_progress and progress_enabled(args),
        export=not args.no_export,
        schedule={k: v for k, v in (("pixel_steps", args.pixel_steps), ("gan_steps", args.gan_steps))
                  if v is not None},
        init_from=args.init_from,
    )
    if result.get("validation") is not None:  # the main process reports
        summary = {k: result.get(k) for k in ("run_dir", "step", "pixel_steps", "finished", "stopped_on_time",
                                                  "wall_time_s", "onnx", "model_card", "validation")}
        profile = result.get("time_profile") or {}
        summary["time_profile"] = {k: profile.get(k) for k in ("summary", "wall_s", "seconds", "steady")}
        print(json.dumps(summary, indent=2))
    return 0

"""``emrestore finetune FILES... [--model TAG|ONNX] [--minutes M] [--out DIR] [--resume]``.

Adapts a restoration model to your own frames, self-supervised (PyTorch needed:
``pip install emrestore[train]``): Noise2Noise on the frames of a series of one field, a
blind-spot (Noise2Void) objective on single frames, and forward-model pairs at the noise level
read from the frames, starting from the shipped model's weights. Writes ``OUT/model.onnx`` and
its card ``OUT/model.json``; restore with ``emrestore restore FILE --model OUT/model.onnx``.
See docs/finetune.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

from ..errors import ParameterError
from .common_options import progress_enabled


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..finetune.settings import BLIND_SPOT_KINDS, FinetuneSettings

    d = FinetuneSettings()
    parser = subparsers.add_parser(
        "finetune",
        help="adapt a model to your own frames (self-supervised; writes a new .onnx + card)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="frames to adapt on: a series of one field (best) and/or single frames")
    parser.add_argument("--model", metavar="TAG|ONNX",
                        help="starting model: a shipped tag or an .onnx file (default: the one chosen for the first file)")
    parser.add_argument("--minutes", type=float,
                        help=f"wall-clock budget of this invocation [min] (default {d.minutes:g}; none with --steps)")
    parser.add_argument("--steps", type=int, help="stop after this many steps in all (with --resume: counting the earlier ones)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run directory (default runs/finetune-TAG-YYYYmmdd-HHMMSS)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out DIR (same files and options)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh where --out holds a run")
    parser.add_argument("--frames", metavar="LIST",
                        help="use only these frames of every series, e.g. 1,2,3 (0-based; default all)")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of sampling and noise (default {d.seed})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"crops per objective per step (default {d.batch})")
    parser.add_argument("--crop", type=int, default=d.crop, help=f"crop side [px] (default {d.crop})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr:g})")
    parser.add_argument("--w-n2n", type=float, default=d.w_n2n, help=f"weight of Noise2Noise (default {d.w_n2n:g})")
    parser.add_argument("--w-blind-spot", type=float, default=d.w_blind_spot,
                        help=f"weight of the blind-spot objective (default {d.w_blind_spot:g})")
    parser.add_argument("--blind-spot", choices=BLIND_SPOT_KINDS, default=d.blind_spot,
                        help="what the blind spot hides: single pixels (TEM cameras), whole scan lines (row: "
                             "scanned frames, whose noise is shared along a line), auto: row for STEM/SEM "
                             f"models, pixel for TEM (default {d.blind_spot})")
    parser.add_argument("--w-synthetic", type=float, default=d.w_synthetic,
                        help="weight of the forward-model pairs (default: 0.5 for TEM and STEM models, 0 for SEM, "
                             "whose noise is read only approximately; 0 skips them)")
    parser.set_defaults(func=run)
    return parser


def _frames(text: str | None, count: int) -> dict[int, list[int]] | None:
    if text is None:
        return None
    try:
        indices = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ParameterError(f"--frames {text!r} is not a comma-separated list of frame numbers.",
                             "Write e.g. --frames 1,2,3.") from None
    if not indices:
        raise ParameterError("--frames is empty.", "Write e.g. --frames 1,2,3.")
    return {k: indices for k in range(count)}


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ParameterError("Fine-tuning needs PyTorch, which is not installed.",
                             "pip install 'emrestore[train]'.") from None
    if not args.files:
        raise ParameterError("No frames to adapt on.", "Give one or more image files: emrestore finetune FILE... ")
    from ..errors import InputNotFoundError
    from ..finetune import FinetuneSettings, finetune

    for name in args.files:
        if not Path(name).is_file():
            raise InputNotFoundError(f"{name} does not exist or is not a file.", "Check the path.")
    model = args.model
    if model is None:
        from ..io import read
        from ..restoration import choose_model_tag

        model = choose_model_tag(read(args.files[0])).tag
    else:
        from ..model.registry import find_model

        find_model(model)  # unknown tag / missing file: a one-line error before any work
    if args.resume and args.out is None:
        raise ParameterError("--resume needs --out DIR (the run to continue).", "Add --out DIR.")
    out = args.out
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"finetune-{Path(str(model)).stem}-{stamp}"
    settings = FinetuneSettings(model=str(model), minutes=args.minutes if args.minutes is not None
                                else (None if args.steps is not None else FinetuneSettings().minutes),
                                steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, w_n2n=args.w_n2n,
                                w_blind_spot=args.w_blind_spot, w_synthetic=args.w_synthetic,
                                blind_spot=args.blind_spot, seed=args.seed)
    result = finetune(list(args.files), out, settings, frames=_frames(args.frames, len(args.files)),
                      resume=args.resume, progress=progress_enabled(args), overwrite=args.overwrite)
    print(f"{result.onnx_path}  ({result.steps} steps, {result.wall_time_s:.0f} s; card {result.card_path.name}); "
          f"restore with: emrestore restore FILE --model {result.onnx_path}")
    return 0

"""``emrestore simulate --tag TAG --n N --size S --seed K --out DIR [--pairs] [--workers W]``:
render a bank of clean images (and degraded pairs) for one model tag."""

from __future__ import annotations

import argparse

from ..datasets import TAGS
from ..datasets.bank import render_bank
from .common_options import progress_enabled


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate",
        help="render a bank of clean images (and degraded pairs) for a model tag",
        description=(
            "Render N clean ground-truth images of a model tag into DIR (one .npz per sample with "
            "'target', 'columns' where known and the JSON 'params'; with --pairs also 'input', the "
            "degraded image). Resumable: run again to finish an interrupted bank."
        ),
    )
    parser.add_argument("--tag", required=True, choices=TAGS, help="model tag")
    parser.add_argument("--n", type=int, required=True, help="number of samples")
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="bank seed (default 0)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--pairs", action="store_true", help="also write degraded inputs (distortion chain)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    # -q/--quiet (no progress bar) and -v/--verbose: common_options, added by emrestore.cli
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    result = render_bank(args.tag, args.n, args.size, args.seed, args.out, workers=args.workers,
                         pairs=args.pairs, progress=progress_enabled(args))
    print(f"{args.out}: {result['rendered']} rendered, {result['skipped']} already present "
          f"({args.tag}, {args.size}×{args.size}, seed {args.seed})")
    return 0

"""``emrestore info FILE... [--json]``: shape, dtype, calibration, modality, frames."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import EMRestoreError
from ..io import read
from .read_options import add_read_limit_arguments, read_limits


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="print shape, dtype, pixel size, modality and frames of microscope files",
        description="Print shape, dtype, pixel size + unit, modality and number of frames.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to describe")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")
    add_read_limit_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    failures = 0
    records = []
    limits = read_limits(args)
    for path in args.files:
        try:
            image = read(path, allow_nonfinite=True, limits=limits)
        except EMRestoreError as error:
            failures += 1
            print(f"emrestore info: error: {path}: {error}", file=sys.stderr)
            continue
        summary = {"file": path, **image.summary()}
        if args.json:
            records.append(summary)
        else:
            calibration = (
                "uncalibrated"
                if image.pixel_size is None
                else f"{image.pixel_size:.6g} {image.unit}/px"
            )
            shape = "×".join(str(n) for n in image.shape)
            print(
                f"{path}: {shape} {summary['dtype']}, {calibration}, "
                f"modality {image.modality or 'unknown'}, {image.frames} frame(s)"
            )
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 and len(args.files) == 1 else records, indent=2))
    return 2 if failures else 0

"""``emrestore info FILE... [--json] [--noise]``: shape, dtype, calibration, modality, frames,
and with ``--noise`` the noise model read from the (first) frame (:func:`emrestore.estimate_noise`)."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import EMRestoreError
from ..io import read
from ..noise_estimate import estimate_noise
from .read_options import add_read_limit_arguments, read_limits


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="print shape, dtype, pixel size, modality and frames of microscope files",
        description="Print shape, dtype, pixel size + unit, modality and number of frames.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to describe")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")
    parser.add_argument("--noise", action="store_true",
                        help="also estimate the noise model of the first frame: gain, offset, read noise, "
                             "outlier density, row jitter for STEM/SEM (JSON key 'noise')")
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
        noise_line = None
        if args.noise:
            try:
                estimate = estimate_noise(image)
            except EMRestoreError as error:
                summary["noise"] = {"error": str(error)}
                noise_line = f"  noise: not estimated: {error}"
            else:
                summary["noise"] = estimate.to_dict()
                noise_line = "  " + estimate.summary()
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
            if noise_line is not None:
                print(noise_line)
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 and len(args.files) == 1 else records, indent=2))
    return 2 if failures else 0

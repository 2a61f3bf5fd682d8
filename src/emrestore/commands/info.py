"""``emrestore info FILE... [--json] [--noise]``: shape, dtype, calibration, modality, frames,
and with ``--noise`` the noise model read from the (first) frame (:func:`emrestore.estimate_noise`).

FILE may be a folder or a quoted glob pattern, expanded as ``emrestore restore`` does
(:func:`emrestore.restoration.inputs.expand_inputs`); a pattern or folder that gives no file is
reported on one line and makes the exit status 2, like a file that cannot be read."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import EMRestoreError, ParameterError
from ..io import read
from ..noise_estimate import estimate_noise
from ..restoration.inputs import expand_inputs, nothing_found
from .read_options import add_read_limit_arguments, read_limits


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="print shape, dtype, pixel size, modality and frames of microscope files",
        description="Print shape, dtype, pixel size + unit, modality and number of frames.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="files, folders or quoted glob patterns ('data/*.dm4') to describe")
    parser.add_argument("--json", action="store_true",
                        help="print JSON: one object for one file, else a list of objects")
    parser.add_argument("--noise", action="store_true",
                        help="also estimate the noise model of the first frame: gain, offset, read noise, "
                             "outlier density, row jitter for STEM/SEM (JSON key 'noise')")
    add_read_limit_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _unmatched(pattern: str) -> str:
    """One line saying why a folder or glob pattern gave no file to describe."""
    if Path(pattern).expanduser().is_dir():
        return (f"{pattern}: no file to describe: the folder holds no file emrestore reads (earlier "
                f"outputs *_restored.* and subfolders are skipped). Fix: Name the files themselves.")
    return nothing_found(pattern)


def _single_file(patterns: list[str]) -> bool:
    """One argument naming one file (not a folder or pattern): ``--json`` prints an object, not a list."""
    if len(patterns) != 1:
        return False
    path = Path(patterns[0]).expanduser()
    return not path.is_dir() and (path.exists() or not any(ch in patterns[0] for ch in "*?["))


def run(args: argparse.Namespace) -> int:
    for pattern in args.files:
        if not pattern.strip():
            raise ParameterError(f"A file name is empty ({pattern!r}); it would mean the current folder.",
                                 "Give a file, folder or glob pattern; for the current folder, give '.'.")
    records = []
    limits = read_limits(args)
    files, unmatched = expand_inputs(list(args.files))
    failures = len(unmatched)
    for pattern in unmatched:
        print(f"emrestore info: error: {_unmatched(pattern)}", file=sys.stderr)
    # a name as given stays as given (``./a.tif`` is reported as ``./a.tif``)
    given = {Path(name).expanduser(): name for name in args.files}
    for found in files:
        path = given.get(found, str(found))
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
        single = len(records) == 1 and not failures and _single_file(list(args.files))
        print(json.dumps(records[0] if single else records, indent=2))
    return 2 if failures else 0

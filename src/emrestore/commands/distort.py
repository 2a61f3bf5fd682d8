"""``emrestore distort IN OUT --modality {tem,stem,sem} [--seed N] [--set name=value ...]``.

Degrades a clean image with the physical distortion chain of a modality, writes the
degraded image to ``OUT`` and the noise-free target to ``OUT`` with suffix ``_target``
(both with the input's calibration), and prints the parameters used as JSON. Running
again with ``--seed`` and ``--set`` for every printed parameter reproduces the output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import OutputExistsError, ParameterError
from ..image import MODALITIES


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "distort",
        help="simulate a realistic degraded image (noise, detector, scan distortions)",
        description=(
            "Apply the physical distortion chain of a modality to a clean image. Writes "
            "OUT (degraded) and OUT with suffix _target (noise-free expected signal, same "
            "units) and prints the parameters as JSON."
        ),
    )
    parser.add_argument("input", metavar="IN", help="clean input image")
    parser.add_argument("output", metavar="OUT", help="degraded output (.tif, .hspy, .png, .npy)")
    parser.add_argument(
        "--modality", choices=MODALITIES, default=None,
        help="distortion chain (default: the modality recorded in the input file)",
    )
    parser.add_argument(
        "--seed", type=int, default=None,
        help="random seed, non-negative (default: a random one, printed with the parameters)",
    )
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
        help="fix a parameter, e.g. --set dose_e_per_px=50 (repeatable)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(func=run)
    return parser


def parse_setting(text: str) -> tuple[str, Any]:
    """Parse ``name=value``; the value is read as JSON (number, true/false, null) or text.

    Parameters
    ----------
    text : str
        One ``--set`` argument.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ParameterError(
            f"--set {text!r} is not of the form name=value.",
            "Write e.g. --set dose_e_per_px=50.",
        )
    raw = raw.strip()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        lowered = raw.lower()
        value = {"true": True, "false": False, "none": None}.get(lowered, raw)
    return name, value


def target_path(output: Path) -> Path:
    """The target's path: ``OUT`` with ``_target`` before the suffix."""
    return output.with_name(f"{output.stem}_target{output.suffix}")


def run(args: argparse.Namespace) -> int:
    from ..distortions import distort
    from ..io import read, write

    fixed = dict(parse_setting(text) for text in args.settings)
    image = read(args.input)
    modality = args.modality or image.modality
    if modality is None:
        raise ParameterError(
            f"The modality of {args.input} is not recorded in the file.",
            "Give it with --modality tem, stem or sem.",
        )
    seed = args.seed
    if seed is None:  # draw one and print it, so the run can be repeated
        import secrets

        seed = secrets.randbits(63)
    degraded, target, params = distort(image, modality, seed=seed, **fixed)
    output = Path(args.output)
    for path in (output, target_path(output)):  # check both before writing either
        if path.exists() and not args.overwrite:
            raise OutputExistsError(
                f"{path} exists.", "Choose another OUT, or pass --overwrite to replace it.")
    write(degraded, output, overwrite=args.overwrite)
    write(target, target_path(output), overwrite=args.overwrite)
    print(json.dumps({"seed": seed, **params}, indent=2))
    return 0

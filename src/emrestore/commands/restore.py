"""``emrestore restore INPUT... [-o OUTDIR] [--model TAG] ...``: restore files, folders, globs."""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import EMRestoreError, ParameterError

OUTPUT_FORMATS = ("tif", "hspy", "png")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "restore",
        help="restore microscope images (files, folders, globs)",
        description=(
            "Restore images with a trained network. Outputs are named <stem>_restored.<ext>, "
            "keep the calibration and metadata, and record the model and settings used. "
            "A file that fails is reported and skipped; the exit status is non-zero if any failed."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or glob patterns")
    parser.add_argument("-o", "--outdir", type=Path, metavar="OUT",
                        help="output folder (default: next to each input); with one input, also a file "
                             "name ending in .tif/.tiff/.hspy/.png/.npy")
    parser.add_argument("--model", help="model tag (hrstem, hrtem, hrsem, lrstem, lrtem, lrsem) or .onnx "
                        "path (default: chosen from each file's modality and pixel size)")
    parser.add_argument("--tile", type=int, help="tile size in px (default 1024; 0 = whole image)")
    parser.add_argument("--overlap", type=int, help="tile overlap in px (default 64)")
    parser.add_argument("--batch-size", type=int, help="tiles per network call (default 2)")
    parser.add_argument("--backend", choices=("onnx", "torch"), help="inference backend (default onnx)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="device (default cpu)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="tif",
                        help="output format (default tif: float32, calibrated)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    parser.set_defaults(func=run)
    return parser


def expand_inputs(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """Files to restore from file names, folders and glob patterns.

    Folders contribute the files directly inside them that emrestore can read, except
    earlier outputs (``*_restored.*``) and TIA ``.ser`` files whose ``.emi`` is present
    (the ``.emi`` is read instead). Returns (files, patterns that matched nothing).
    """
    from ..io.api import READ_FORMATS

    readable = {ext for fmt in READ_FORMATS for ext in fmt.extensions}
    files: list[Path] = []
    unmatched: list[str] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in readable)
            emi_stems = {p.stem for p in found if p.suffix.lower() == ".emi"}
            found = [p for p in found
                     if "_restored" not in p.stem
                     and not (p.suffix.lower() == ".ser" and p.stem.rsplit("_", 1)[0] in emi_stems)]
            files.extend(found)
        elif path.exists():
            files.append(path)
        elif any(ch in pattern for ch in "*?["):
            matched = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
            if matched:
                files.extend(matched)
            else:
                unmatched.append(pattern)
        else:
            files.append(path)  # reported as missing by read()
    unique = list(dict.fromkeys(files))
    return unique, unmatched


def output_path(source: Path, outdir: Path | None, fmt: str) -> Path:
    """``<outdir or source folder>/<stem>_restored.<fmt>``."""
    folder = outdir if outdir is not None else source.parent
    return folder / f"{source.stem}_restored.{fmt}"


def output_file(outdir: Path | None, files: list[Path]) -> Path | None:
    """``-o NAME.tif``: the output file itself when ``-o`` names an image file, else None (a folder)."""
    from ..io.api import WRITE_FORMATS

    if outdir is None or outdir.is_dir():
        return None
    if outdir.suffix.lower() not in {ext for fmt in WRITE_FORMATS for ext in fmt.extensions}:
        return None
    if len(files) != 1:
        raise ParameterError(f"-o {outdir} names one file, but {len(files)} inputs were given.",
                             "Give an output folder for several inputs.")
    return outdir


def run(args: argparse.Namespace) -> int:
    from .. import io, restoration

    files, unmatched = expand_inputs(args.inputs)
    for pattern in unmatched:
        print(f"emrestore restore: error: {pattern}: no file matches.", file=sys.stderr)
    if not files:
        return 2
    single = output_file(args.outdir, files)
    if args.outdir is not None and single is None:
        args.outdir.mkdir(parents=True, exist_ok=True)
    failures = len(unmatched)
    bar = tqdm(files, desc="files", unit="file", disable=len(files) < 2, file=sys.stderr)
    for source in bar:
        try:
            target = single or output_path(source, args.outdir, args.format)
            # check before the (slow) restoration that the result can be written
            from ..io.atomic import check_output_path

            check_output_path(target, inputs=(source,), overwrite=args.overwrite)
            image = io.read(source)
            restored = restoration.restore(
                image, model=args.model, tile=args.tile, overlap=args.overlap,
                batch_size=args.batch_size, backend=args.backend, device=args.device,
                progress=len(files) < 2,
            )
            written = io.write(restored, target, overwrite=args.overwrite)
            info = restored.metadata["restoration"]
            choice = info.get("model_choice", "")
            tqdm.write(f"{source} -> {written}  [model {info['model']}: {choice}]", file=sys.stdout)
        except EMRestoreError as error:
            failures += 1
            where = "" if str(source) in str(error) or source.name in str(error) else f"{source}: "
            tqdm.write(f"emrestore restore: error: {where}{error}", file=sys.stderr)
    return 2 if failures else 0

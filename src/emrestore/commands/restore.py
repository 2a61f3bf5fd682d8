"""``emrestore restore INPUT... [-o OUTDIR] [--model TAG] ...``: restore files, folders, globs.

This module reads the command line and reports. The work on each file is
:func:`emrestore.restoration.files.restore_file` (checks of the output before the slow
restoration, reading, restoring, writing); the output names come from
:func:`emrestore.restoration.outputs.plan_outputs` (``a.dm3`` gets ``a_restored.tif``, a later
``a.dm4`` of the same run ``a.dm4_restored.tif``; an input whose both names are taken is
refused). A file that fails (bad input, an OS error, out of memory) is reported on one line
and the others go on.

With ``--json`` stdout carries one JSON object per input (JSON Lines,
:func:`~emrestore.restoration.files.json_record`) instead of the ``SOURCE -> OUTPUT`` lines;
errors are *also* still printed on one line on stderr, so a script reads stdout and a person
watching sees the failures. ``-q`` drops the progress bars.

``--workers N`` restores the files on a local Dask cluster of N worker processes,
``--scheduler ADDRESS`` on a running one
(:func:`emrestore.restoration.distributed.restore_files_on_cluster`); each task is one file,
with the same checks, names, messages and records as the in-process loop. Frames too large
for memory (``--blockwise``, ``--chunk PX``, or a file above
:data:`~emrestore.restoration.files.AUTO_BLOCKWISE_BYTES` on disk in a lazily readable
format) are restored block by block (:mod:`emrestore.restoration.blockwise`) into a tiled TIFF.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import OutputExistsError, OutputWriteError, ParameterError
from ..restoration.files import (
    AUTO_BLOCKWISE_BYTES,
    DEFAULT_CHUNK,
    FileOutcome,
    FileSettings,
    json_record,
    restore_files,
)
from ..restoration.inputs import expand_inputs, nothing_found
from ..restoration.backends import BACKEND_CHOICES
from ..restoration.outputs import FileJob, plan_outputs
from .common_options import progress_enabled
from .read_options import add_read_limit_arguments, read_limits

OUTPUT_FORMATS = ("tif", "hspy", "png")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "restore",
        help="restore microscope images (files, folders, globs)",
        description=(
            "Restore images with a trained network. Outputs are named <stem>_restored.<ext>, "
            "keep the calibration and metadata, and record the model and settings used. "
            "Two inputs of one run never share an output: a later a.dm4 next to a.dm3 gets "
            "a.dm4_restored.<ext>. A file that fails is reported on one line and skipped; the exit "
            "status is 2 if any failed (130 on Ctrl-C, 143 on SIGTERM)."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or glob patterns")
    parser.add_argument("-o", "--outdir", metavar="OUT",
                        help="output folder (default: next to each input); with one input, also a file "
                             "name ending in .tif/.tiff/.hspy/.png/.npy")
    parser.add_argument("--model", help="model tag (hrstem, hrtem, hrsem, lrstem, lrtem, lrsem) or .onnx "
                        "path (default: chosen from each file's modality and pixel size)")
    parser.add_argument("--tile", type=int, help="tile size in px (default 1024; 0 = whole image; tiles smaller than two "
                        "overlaps are enlarged, e.g. to 292 px for hrstem)")
    parser.add_argument("--overlap", type=int, help="tile overlap in px (default: from the model's receptive field, 104-144 px for "
                        "the shipped models; smaller values are warned about)")
    parser.add_argument("--batch-size", type=int, help="tiles per network call (default 2)")
    parser.add_argument("--backend", choices=BACKEND_CHOICES,
                        help="inference backend (default auto: the fastest checked for this CPU, "
                             "docs/restore.md; or $EMRESTORE_BACKEND)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="device (default auto: CUDA when onnxruntime can use it, else the CPU)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="tif",
                        help="output format (default tif: float32, calibrated)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    parser.add_argument("--uncertainty", action="store_true",
                        help="also write <stem>_uncertainty.<ext> next to each output: the estimated local "
                             "RMS error of the restoration in the input's units (residual against the "
                             "frame's noise model; docs/uncertainty.md)")
    parser.add_argument("--dihedral", type=int, choices=(0, 4, 8), default=0,
                        help="with --uncertainty: add the spread over 4 (flips, 180°) or 8 (all "
                             "rotations/flips) transformed copies; 4x or 8x the restoration time")
    parser.add_argument("--renoise", type=int, default=0, metavar="K",
                        help="with --uncertainty: add the spread over K copies re-noised by the frame's "
                             "noise model (K extra restorations; e.g. 2)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per input on stdout (JSON Lines): source, output, status "
                             "(restored/failed), error, model, model_choice, tile_px, overlap_px, uncertainty; errors also "
                             "go to stderr as usual")
    dask = parser.add_argument_group("Dask: many files, and frames larger than memory")
    dask.add_argument("--workers", type=int, metavar="N",
                      help="restore the files on a local Dask cluster of N worker processes (the cores "
                           "shared out as onnxruntime threads); default: one file after another in "
                           "this process")
    dask.add_argument("--scheduler", metavar="ADDRESS",
                      help="restore the files on a running Dask cluster (e.g. tcp://host:8786); the "
                           "files and output folder must be reachable from its workers")
    dask.add_argument("--blockwise", action="store_true",
                      help="restore each frame block by block with the whole frame's statistics, "
                           "holding one block at a time (.npy, .hspy, .zspy, .emd, .mrc, .dm3/.dm4, "
                           ".tif inputs; writes a tiled TIFF). Default: for files above "
                           f"{AUTO_BLOCKWISE_BYTES >> 20} MiB in those formats")
    dask.add_argument("--chunk", type=int, metavar="PX",
                      help=f"block edge for --blockwise in px (implies it; default {DEFAULT_CHUNK}, "
                           "a multiple of 16)")
    add_read_limit_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _write_suffixes() -> set[str]:
    from ..io.api import WRITE_FORMATS

    return {ext for fmt in WRITE_FORMATS for ext in fmt.extensions}


def output_file(outdir: Path | None, files: list[Path]) -> Path | None:
    """``-o NAME.tif``: the output file itself when ``-o`` names an image file, else None (a folder).

    Raises
    ------
    ParameterError
        If ``-o`` names one file but several inputs were given.
    OutputExistsError
        If ``-o`` names an input, or an existing file that is not an image emrestore writes.
    OutputWriteError
        If ``-o`` is a broken or looping symbolic link, or cannot be examined.
    """
    from ..io.atomic import output_write_error

    if outdir is None:
        return None
    try:
        info = os.lstat(outdir)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise output_write_error(error, outdir) from error
    if info is not None and stat.S_ISLNK(info.st_mode):
        try:
            info = os.stat(outdir)
        except FileNotFoundError:
            raise OutputWriteError(f"-o {outdir} is a symbolic link to {os.readlink(outdir)}, which does not exist.",
                                   "Remove the link, or give another output folder or file.") from None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise OutputWriteError(f"-o {outdir} is a symbolic link that points back to itself (a loop).",
                                       "Remove or fix the link, or give another output folder or file.") from error
            raise output_write_error(error, outdir) from error
    if info is not None and stat.S_ISDIR(info.st_mode):
        return None
    if info is not None:
        for source in files:
            if _same(source, outdir):
                raise OutputExistsError(f"-o {outdir} is an input file; it would be replaced.",
                                        "Give an output folder, or another output file name.")
    if outdir.suffix.lower() not in _write_suffixes():
        if info is not None:
            raise OutputExistsError(
                f"-o {outdir} is an existing file, not a folder, and not an image format emrestore "
                f"writes.",
                f"Give an output folder, or a file name ending in {', '.join(sorted(_write_suffixes()))}.")
        return None
    if len(files) != 1:
        raise ParameterError(f"-o {outdir} names one file, but {len(files)} inputs were given.",
                             "Give an output folder for several inputs.")
    return outdir


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


class _Report:
    """Prints each file's outcome (a line on stdout, errors on stderr) and counts the failures."""

    def __init__(self, as_json: bool, bar: tqdm) -> None:
        self.as_json = as_json
        self.bar = bar
        self.failures = 0

    def outcome(self, outcome: FileOutcome) -> None:
        """Report one file's outcome."""
        source = outcome.source
        if outcome.error is not None:
            line = json_record(source, None, outcome.error) if self.as_json else ""
            self._print(f"emrestore restore: error: {outcome.error}", line)
            return
        info = outcome.record
        if self.as_json:
            line = json_record(source, outcome.output, None, info)
        else:
            extra = f" (+ {Path(info['uncertainty_file']).name})" if info.get("uncertainty_file") else ""
            line = f"{source} -> {outcome.output}{extra}  [model {info['model']}: {info.get('model_choice', '')}]"
        self._print(None, line)

    def task_failure(self, job: FileJob, error: BaseException) -> None:
        """Report a cluster task that raised, or whose worker process died."""
        reason = str(error) or type(error).__name__
        if type(error).__name__ == "KilledWorker":
            reason = ("its worker process died (killed for memory, or crashed); "
                      "restore it with fewer --workers or smaller --tile")
        self._print(f"emrestore restore: error: {job.source}: {reason}",
                    json_record(job.source, None, reason) if self.as_json else "")

    def _print(self, error: str | None, line: str) -> None:
        self.failures += error is not None
        self.bar.update(1)
        if error:
            tqdm.write(error, file=sys.stderr)
        if line:  # written outside any try: a closed pipe is no file error
            tqdm.write(line, file=sys.stdout)
            sys.stdout.flush()  # one complete record at a time for a reading script


def run(args: argparse.Namespace) -> int:
    for pattern in args.inputs:
        if not pattern.strip():
            raise ParameterError(
                f"An input is an empty name ({pattern!r}); it would mean every file in the current folder.",
                "Give a file, folder or glob pattern; to restore the current folder, give '.'.")
    outdir: Path | None = None
    if args.outdir is not None:
        if not str(args.outdir).strip():
            raise ParameterError(f"-o is an empty name ({args.outdir!r}).",
                                 "Give an output folder or file name; for the current folder, give '.'.")
        outdir = Path(args.outdir).expanduser()
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    chunk = getattr(args, "chunk", None)
    blockwise = bool(getattr(args, "blockwise", False)) or chunk is not None
    if workers is not None or scheduler:
        from ..restoration.distributed import check_workers

        check_workers(workers, scheduler)
    if chunk is not None and (chunk < 16 or chunk % 16):
        raise ParameterError(f"--chunk must be a multiple of 16 px, at least 16 (got {chunk}).",
                             "Use e.g. --chunk 1024 (TIFF tiles are multiples of 16 px).")
    if blockwise and args.format != "tif":
        raise ParameterError(f"--blockwise writes tiled TIFFs, not --format {args.format}.",
                             "Use --format tif (the default), or restore without --blockwise/--chunk.")
    uncertainty = bool(getattr(args, "uncertainty", False))
    dihedral = int(getattr(args, "dihedral", 0) or 0)
    renoise = int(getattr(args, "renoise", 0) or 0)
    if (dihedral or renoise) and not uncertainty:
        raise ParameterError("--dihedral and --renoise only change the uncertainty map.",
                             "Add --uncertainty, or leave them out.")
    if not 0 <= renoise <= 16:
        raise ParameterError(f"--renoise {renoise} is outside 0…16 copies.", "Use e.g. --renoise 2.")
    if uncertainty and blockwise:
        raise ParameterError("--uncertainty needs whole frames; --blockwise/--chunk restore block by block.",
                             "Leave out --blockwise/--chunk, or --uncertainty.")
    as_json = bool(getattr(args, "json", False))
    files, unmatched = expand_inputs(args.inputs)
    for pattern in unmatched:
        reason = nothing_found(pattern)
        print(f"emrestore restore: error: {reason}", file=sys.stderr)
        if as_json:
            print(json_record(pattern, None, reason), flush=True)
    if not files:
        return 2
    single = output_file(outdir, files)
    if outdir is not None and single is None:
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputWriteError(*_folder_error(error, outdir)) from error
    jobs = plan_outputs(files, None if single else outdir, single, args.format)
    show_progress = progress_enabled(args)
    settings = FileSettings(model=args.model, tile=args.tile, overlap=args.overlap, batch_size=args.batch_size,
                            backend=args.backend, device=args.device, fmt=args.format, overwrite=args.overwrite,
                            limits=read_limits(args), batch_inputs=tuple(files),
                            blockwise=blockwise, chunk=chunk or DEFAULT_CHUNK,
                            uncertainty=uncertainty, dihedral=dihedral, renoise=renoise,
                            progress=len(jobs) < 2 and show_progress and workers is None and not scheduler)
    bar = tqdm(total=len(jobs), desc="files", unit="file", disable=len(jobs) < 2 or not show_progress,
               file=sys.stderr)
    report = _Report(as_json, bar)
    try:
        if workers is not None or scheduler:
            from ..restoration.distributed import restore_files_on_cluster

            restore_files_on_cluster(jobs, settings, workers=workers, scheduler=scheduler,
                                     report=report.outcome, report_failure=report.task_failure)
        else:
            restore_files(jobs, settings, report.outcome)
    finally:
        bar.close()
    return 2 if report.failures or unmatched else 0


def _folder_error(error: OSError, outdir: Path) -> tuple[str, str]:
    """Cause and fix for an output folder that cannot be created."""
    from ..io.atomic import output_write_error

    if error.errno == errno.EEXIST:
        return (f"-o {outdir} exists and is not a folder.",
                "Give an output folder, or a file name ending in .tif, .hspy, .png or .npy.")
    described = output_write_error(error, outdir)
    return (f"Cannot create the output folder {outdir}: {described.cause.split(': ', 1)[-1]}",
            described.fix)

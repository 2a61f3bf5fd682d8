"""``emrestore restore INPUT... [-o OUTDIR] [--model TAG] ...``: restore files, folders, globs.

Before the (slow) restoration of each file the output is checked: its folder exists and a
file can be created there, the name fits the file system, the disk has room for the estimated
output. Within one run two inputs never share an output: ``a.dm3`` gets ``a_restored.tif``,
a later ``a.dm4`` or ``a.tif`` in the same run gets ``a.dm4_restored.tif`` / ``a.tif_restored.tif``
(the input's full name), and an input whose both names are taken is refused. A file that fails
(bad input, an OS error, out of memory) is reported on one line and the others go on.

With ``--json`` stdout carries one JSON object per input (JSON Lines, :func:`json_record`) instead
of the ``SOURCE -> OUTPUT`` lines; errors are *also* still printed on one line on stderr, so a
script reads stdout and a person watching sees the failures. ``-q`` drops the progress bars.

``--workers N`` restores the files on a local Dask cluster of N worker processes,
``--scheduler ADDRESS`` on a running one (:mod:`emrestore.restoration.distributed`); each task
is one file, with the same checks, names, messages and records as the in-process loop.
Frames too large for memory (``--blockwise``, ``--chunk PX``, or a file above
:data:`AUTO_BLOCKWISE_BYTES` on disk in a lazily readable format) are restored block by block
(:mod:`emrestore.restoration.blockwise`) into a tiled TIFF.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import EMRestoreError, OutputExistsError, OutputWriteError, ParameterError
from ..restoration.inputs import expand_inputs, nothing_found
from .common_options import progress_enabled
from .read_options import add_read_limit_arguments, read_limits

OUTPUT_FORMATS = ("tif", "hspy", "png")
#: Files larger than this on disk [bytes], in a format read lazily, are restored block by
#: block without being asked (the in-memory path holds about six copies of the frame).
AUTO_BLOCKWISE_BYTES = 512 << 20
#: Block edge [px] of the block-wise path when ``--chunk`` is not given.
DEFAULT_CHUNK = 1024


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
    parser.add_argument("--backend", choices=("onnx", "torch"), help="inference backend (default onnx)")
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


def output_path(source: Path, outdir: Path | None, fmt: str) -> Path:
    """``<outdir or source folder>/<stem>_restored.<fmt>``."""
    folder = outdir if outdir is not None else source.parent
    return folder / f"{source.stem}_restored.{fmt}"


def alternative_output_path(source: Path, outdir: Path | None, fmt: str) -> Path:
    """``<outdir or source folder>/<name>_restored.<fmt>``: the input's full name, extension included.

    Used for a later input of the same run whose :func:`output_path` is already taken
    (``a.dm4`` after ``a.dm3`` → ``a.dm4_restored.tif``).
    """
    folder = outdir if outdir is not None else source.parent
    return folder / f"{source.name}_restored.{fmt}"


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


def _key(path: Path) -> str:
    """A name that two spellings of the same output share (``out/x``, ``./out//x``, links to out)."""
    return os.path.join(os.path.realpath(path.parent), path.name)


@dataclass
class Job:
    """One input of a run, where its result goes, or why it is refused before any work."""

    source: Path
    target: Path | None
    refusal: EMRestoreError | None = None


def plan_outputs(files: list[Path], outdir: Path | None, single: Path | None, fmt: str) -> list[Job]:
    """Give each input its own output: the first keeps ``<stem>_restored``, later ones ``<name>_restored``.

    Parameters
    ----------
    files : list of Path
        Inputs, in the order they are restored.
    outdir : Path or None
        Output folder (None: next to each input).
    single : Path or None
        ``-o`` naming the output file (one input).
    fmt : str
        Output extension without the dot.

    Returns
    -------
    list of Job
        One per input; ``refusal`` is set where both names are taken by earlier inputs. An
        input that does not exist takes no name (it fails when read).
    """
    if single is not None:
        return [Job(source, single) for source in files]
    taken: dict[str, Path] = {}
    jobs = []
    for source in files:
        plain = output_path(source, outdir, fmt)
        if not os.path.lexists(source):  # fails on reading; takes no name from the others
            jobs.append(Job(source, plain))
            continue
        target = plain
        if _key(plain) in taken:
            target = alternative_output_path(source, outdir, fmt)
        if _key(target) in taken:
            first, second = taken[_key(plain)], taken[_key(target)]
            by = first if first == second else f"{first} and {second}"
            jobs.append(Job(source, None, OutputExistsError(
                f"{source}: its outputs {plain.name} and {target.name} are already written by {by} "
                f"in this run; refusing to replace them.",
                "Restore it in a separate run with -o OTHER_FOLDER, or rename it.")))
            continue
        taken[_key(target)] = source
        jobs.append(Job(source, target))
    return jobs


def json_record(source: Path | str, output: Path | None, error: BaseException | str | None = None,
                info: dict | None = None) -> str:
    """One ``--json`` line: what happened to one input.

    Parameters
    ----------
    source : Path or str
        The input (or the pattern that matched nothing).
    output : Path or None
        The file written (None when it failed).
    error : exception or str, optional
        Why it failed; None when restored.
    info : dict, optional
        The result's ``metadata["restoration"]``.

    Returns
    -------
    str
        A JSON object on one line with the keys ``source``, ``output``, ``status``
        (``"restored"`` or ``"failed"``), ``error``, ``model``, ``model_choice``, ``tile_px``
        ``overlap_px`` and ``uncertainty`` (the map's file with ``--uncertainty``; None where unknown).
    """
    info = info or {}
    return json.dumps({
        "source": str(source),
        "output": None if output is None else str(output),
        "status": "failed" if error is not None else "restored",
        "error": None if error is None else str(error),
        "model": info.get("model"),
        "model_choice": info.get("model_choice"),
        "tile_px": info.get("tile_px"),
        "overlap_px": info.get("overlap_px"),
        "uncertainty": info.get("uncertainty_file"),
    })


def _memory_error(source: Path, stage: str, image: object | None) -> EMRestoreError:
    shape = getattr(image, "shape", None)
    size = ""
    if shape:
        size = f" ({' × '.join(str(n) for n in shape)} px)"
    return EMRestoreError(
        f"{source}: not enough memory while {stage} it{size}.",
        "Restore with smaller tiles (--tile 512 or --tile 256, --batch-size 1), close other "
        "programs, or use a machine with more memory.")


def _os_error(source: Path, stage: str, error: OSError) -> EMRestoreError:
    reason = error.strerror or str(error) or type(error).__name__
    name = f" ({error.filename})" if getattr(error, "filename", None) else ""
    return EMRestoreError(f"{source}: {stage} failed: {reason}{name}.",
                          "Check the file, the disk and the connection to it, then try again.")


@dataclass
class Settings:
    """What every file of a run is restored with (sent to cluster workers, so plain data)."""

    model: str | None
    tile: int | None
    overlap: int | None
    batch_size: int | None
    backend: str | None
    device: str | None
    fmt: str
    overwrite: bool
    as_json: bool
    limits: Any
    batch_inputs: tuple[Path, ...]
    blockwise: bool = False
    chunk: int = DEFAULT_CHUNK
    progress: bool = False  # tile/block bars (one file in this process)
    uncertainty: bool = False  # also write <stem>_uncertainty.<ext>
    dihedral: int = 0
    renoise: int = 0


def uncertainty_path(target: Path) -> Path:
    """The map's file next to the restoration ``target``: ``_restored`` → ``_uncertainty``.

    ``a_restored.tif`` → ``a_uncertainty.tif``, ``a.dm4_restored.tif`` → ``a.dm4_uncertainty.tif``,
    ``-o out.tif`` → ``out_uncertainty.tif``.
    """
    stem = target.stem
    stem = stem.removesuffix("_restored")
    return target.with_name(f"{stem}_uncertainty{target.suffix}")


@dataclass
class Outcome:
    """What happened to one input: the stdout line, the stderr error line, the file written."""

    line: str = ""
    error: str | None = None
    written: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)


def use_blockwise(source: Path, settings: Settings) -> bool:
    """Whether ``source`` goes the block-wise way: asked for, or a large file read lazily."""
    from ..restoration.lazy_files import LAZY_SUFFIXES

    if settings.blockwise:
        return True
    if settings.fmt != "tif" or settings.uncertainty or source.suffix.lower() not in LAZY_SUFFIXES:
        return False
    try:
        return source.stat().st_size > AUTO_BLOCKWISE_BYTES
    except OSError:
        return False


def restore_blockwise(source: Path, target: Path, settings: Settings) -> tuple[Path, dict]:
    """Restore one file block by block into a tiled TIFF; returns (written file, provenance)."""
    from ..io.atomic import check_free_space
    from ..restoration import load_model
    from ..restoration.blockwise import block_depth, restore_dask_array
    from ..restoration.engine import resolve_choice
    from ..restoration.lazy_files import open_lazy, write_tiled_tiff

    data, header = open_lazy(source, limits=settings.limits, chunk=settings.chunk)
    check_free_space(target, int(np.prod(data.shape)) * 4 + (1 << 20))
    chosen, choice = resolve_choice(header, settings.model)
    _share_cores(header, settings)
    restorer = load_model(chosen, tile=settings.tile, overlap=settings.overlap, batch_size=settings.batch_size,
                          backend=settings.backend, device=settings.device, progress=False)
    # blocks (and TIFF tiles) of --chunk px, whatever the file's own chunks
    data = data.rechunk((1,) * (data.ndim - 2) + (settings.chunk, settings.chunk))
    restored = restore_dask_array(restorer, data, chunk=settings.chunk)
    info = {**restorer.provenance(choice),
            "blockwise": {"chunk_px": settings.chunk, "halo_px": block_depth(restorer)}}
    tiles = -(-data.shape[-2] // settings.chunk) * -(-data.shape[-1] // settings.chunk) * (
        data.shape[0] if data.ndim == 3 else 1)
    bar = tqdm(total=tiles, desc="blocks", unit="block", leave=False, file=sys.stderr,
               disable=not settings.progress or tiles < 2)
    try:
        written = write_tiled_tiff(restored, header.with_data(header.data, restoration=info), target,
                                   overwrite=settings.overwrite, on_tile=bar.update)
    finally:
        bar.close()
    return written, info


def restore_one(job: Job, settings: Settings, written: set[tuple[int, int]] | None = None) -> Outcome:
    """Read, restore and write one input; every failure becomes an :class:`Outcome` error line.

    Parameters
    ----------
    job : Job
        The input and its planned output (:func:`plan_outputs`).
    settings : Settings
        The run's options.
    written : set, optional
        (device, inode) of the outputs written earlier in this run, to refuse a second
        spelling of one of them (the in-process loop; cluster tasks pass None).
    """
    from .. import io, restoration
    from ..io.atomic import (
        check_free_space,
        check_output_path,
        estimate_output_bytes,
        output_write_error,
    )

    outcome = Outcome()
    source, target = job.source, job.target
    stage, image = "preparing", None
    try:
        if job.refusal is not None:
            raise job.refusal
        assert target is not None
        if not os.path.lexists(source):
            stage = "reading"
            io.read(source)  # says the input does not exist (before any remark on its folder)
        # before the (slow) restoration: the result can be written there
        check_output_path(target, inputs=settings.batch_inputs, overwrite=settings.overwrite, probe=True)
        map_target = uncertainty_path(target) if settings.uncertainty else None
        if map_target is not None:
            check_output_path(map_target, inputs=settings.batch_inputs, overwrite=settings.overwrite)
        if written is not None and _identity(target) in written:
            raise OutputExistsError(
                f"{source}: its output {target} is a result written earlier in this run "
                f"(another spelling of the same file); refusing to replace it.",
                "Restore it in a separate run with -o OTHER_FOLDER, or rename it.")
        if use_blockwise(source, settings):
            stage = "restoring"
            written_path, info = restore_blockwise(source, target, settings)
        else:
            stage = "reading"
            image = io.read(source, limits=settings.limits)
            check_free_space(target, estimate_output_bytes(image, target.suffix))
            stage = "restoring"
            _share_cores(image, settings)
            restored = restoration.restore(
                image, model=settings.model, tile=settings.tile, overlap=settings.overlap,
                batch_size=settings.batch_size, backend=settings.backend, device=settings.device,
                progress=settings.progress, uncertainty=settings.uncertainty, dihedral=settings.dihedral,
                renoise=settings.renoise,
            )
            umap = None
            if settings.uncertainty:
                restored, umap = restored
            stage = "writing"
            written_path = io.write(restored, target, overwrite=settings.overwrite)
            info = restored.metadata["restoration"]
            if umap is not None and map_target is not None:
                map_image = umap.as_image(restored)
                map_image.metadata["uncertainty_of"] = written_path.name
                map_path = io.write(map_image, map_target, overwrite=settings.overwrite)
                info = {**info, "uncertainty_file": str(map_path)}
        outcome.written = _identity(written_path)
        choice = info.get("model_choice", "")
        extra = f" (+ {Path(info['uncertainty_file']).name})" if info.get("uncertainty_file") else ""
        outcome.line = (json_record(source, written_path, None, info) if settings.as_json
                        else f"{source} -> {written_path}{extra}  [model {info['model']}: {choice}]")
    except (EMRestoreError, MemoryError, OSError) as caught:
        error: BaseException = caught
        if isinstance(caught, MemoryError):
            error = _memory_error(source, stage, image)
        elif isinstance(caught, OSError) and not isinstance(caught, EMRestoreError):
            error = (output_write_error(caught, target) if stage in ("writing", "preparing")
                     and target is not None else _os_error(source, stage, caught))
        text = str(error)
        where = "" if str(source) in text or source.name in text else f"{source}: "
        outcome.error = f"emrestore restore: error: {where}{text}"
        if settings.as_json:
            outcome.line = json_record(source, None, f"{where}{text}")
    return outcome


def _report(outcome: Outcome) -> None:
    if outcome.error:
        tqdm.write(outcome.error, file=sys.stderr)
    if outcome.line:  # written outside any try: a closed pipe is no file error
        tqdm.write(outcome.line, file=sys.stdout)
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
    settings = Settings(model=args.model, tile=args.tile, overlap=args.overlap, batch_size=args.batch_size,
                        backend=args.backend, device=args.device, fmt=args.format, overwrite=args.overwrite,
                        as_json=as_json, limits=read_limits(args), batch_inputs=tuple(files),
                        blockwise=blockwise, chunk=chunk or DEFAULT_CHUNK,
                        uncertainty=uncertainty, dihedral=dihedral, renoise=renoise,
                        progress=len(jobs) < 2 and show_progress and workers is None and not scheduler)
    failures = len(unmatched)
    bar = tqdm(total=len(jobs), desc="files", unit="file", disable=len(jobs) < 2 or not show_progress,
               file=sys.stderr)
    try:
        if workers is not None or scheduler:
            failures += _run_on_cluster(jobs, settings, workers, scheduler, bar)
        else:
            written: set[tuple[int, int]] = set()
            for job in jobs:
                outcome = restore_one(job, settings, written)
                if outcome.written is not None:
                    written.add(outcome.written)
                failures += outcome.error is not None
                bar.update(1)
                _report(outcome)
    finally:
        bar.close()
    return 2 if failures else 0


def _run_on_cluster(jobs: list[Job], settings: Settings, workers: int | None, scheduler: str | None,
                    bar: Any) -> int:
    """Restore ``jobs`` on a Dask cluster (one task per file); returns the number that failed.

    On Ctrl-C/SIGTERM the unfinished tasks are cancelled, a local cluster is shut down and
    the temporary files its killed workers left are removed before the interrupt propagates.
    """
    from ..restoration.distributed import (
        batch_client,
        remove_partial_outputs,
        run_tasks,
    )

    failures = 0
    done: set[int] = set()

    def on_result(item: tuple[int, tuple[Job, Settings]], outcome: Outcome) -> None:
        nonlocal failures
        done.add(item[0])
        failures += outcome.error is not None
        bar.update(1)
        _report(outcome)

    def on_error(item: tuple[int, tuple[Job, Settings]], error: BaseException) -> None:
        reason = str(error) or type(error).__name__
        if type(error).__name__ == "KilledWorker":
            reason = ("its worker process died (killed for memory, or crashed); "
                      "restore it with fewer --workers or smaller --tile")
        on_result(item, Outcome(error=f"emrestore restore: error: {item[1][0].source}: {reason}",
                                line=json_record(item[1][0].source, None, reason) if settings.as_json else ""))

    items = list(enumerate((job, settings) for job in jobs))
    try:
        with batch_client(workers, scheduler) as client:
            run_tasks(client, _indexed_task, items, on_result, on_error)
    except BaseException:
        if not scheduler:  # a local cluster is gone now: nothing writes any more
            remove_partial_outputs(job.target for i, job in enumerate(jobs)
                                   if i not in done and job.target is not None)
        raise
    return failures


def _indexed_task(item: tuple[int, tuple[Job, Settings]]) -> Outcome:
    """One file on a cluster worker."""
    job, settings = item[1]
    return restore_one(job, settings)


def _share_cores(image: Any, settings: Settings) -> None:
    """On a cluster worker, open the chosen model's session with the worker's share of the cores.

    A no-op in this process (and for the torch backend, or a model that does not resolve:
    the restoration then reports it with its own message).
    """
    from ..restoration import distributed

    if distributed.WORKER_THREADS is None or settings.backend not in (None, "onnx"):
        return
    from ..model.registry import find_model
    from ..restoration.engine import resolve_choice

    try:
        chosen, _ = resolve_choice(image, settings.model)
        distributed.prepare_session(find_model(chosen).onnx_path, settings.device)
    except EMRestoreError:
        return


def _folder_error(error: OSError, outdir: Path) -> tuple[str, str]:
    """Cause and fix for an output folder that cannot be created."""
    from ..io.atomic import output_write_error

    if error.errno == errno.EEXIST:
        return (f"-o {outdir} exists and is not a folder.",
                "Give an output folder, or a file name ending in .tif, .hspy, .png or .npy.")
    described = output_write_error(error, outdir)
    return (f"Cannot create the output folder {outdir}: {described.cause.split(': ', 1)[-1]}",
            described.fix)


def _identity(path: Path) -> tuple[int, int]:
    """(device, inode) of an existing file, or (-1, -1)."""
    try:
        info = os.stat(path)
    except OSError:
        return (-1, -1)
    return (info.st_dev, info.st_ino)

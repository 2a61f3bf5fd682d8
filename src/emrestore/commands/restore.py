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
"""

from __future__ import annotations

import argparse
import errno
import glob
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import EMRestoreError, OutputExistsError, OutputWriteError, ParameterError
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
    parser.add_argument("--backend", choices=("onnx", "torch"), help="inference backend (default onnx)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="device (default cpu)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="tif",
                        help="output format (default tif: float32, calibrated)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per input on stdout (JSON Lines): source, output, status "
                             "(restored/failed), error, model, model_choice, tile_px, overlap_px; errors also "
                             "go to stderr as usual")
    add_read_limit_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def expand_inputs(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """Files to restore from file names, folders and glob patterns.

    Folders contribute the files directly inside them that emrestore can read, except
    earlier outputs (``*_restored.*``) and TIA ``.ser`` files whose ``.emi`` is present
    (the ``.emi`` is read instead). Returns (files, patterns that gave nothing: a glob
    matching no file, or a folder without a file to restore; :func:`nothing_found` says why).
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
            if not found:
                unmatched.append(pattern)
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


def nothing_found(pattern: str) -> str:
    """One line saying why ``pattern`` (a folder or glob) gave no file to restore."""
    from ..io.api import READ_FORMATS

    path = Path(pattern).expanduser()
    if not path.is_dir():
        return f"{pattern}: no file matches."
    readable = {ext for fmt in READ_FORMATS for ext in fmt.extensions}
    entries = list(path.iterdir())
    if not entries:
        return f"{pattern}: nothing to restore: the folder is empty. Fix: Give the folder that holds the images."
    outputs = [p for p in entries if p.is_file() and p.suffix.lower() in readable and "_restored" in p.stem]
    folders = [p for p in entries if p.is_dir()]
    others = [p for p in entries if p.is_file() and p.suffix.lower() not in readable]
    reasons = []
    if outputs:
        reasons.append(f"{len(outputs)} earlier output{'s' if len(outputs) > 1 else ''} (*_restored.*), "
                       f"which {'are' if len(outputs) > 1 else 'is'} not restored again")
    if others:
        reasons.append(f"{len(others)} file{'s' if len(others) > 1 else ''} of a kind emrestore does not "
                       f"read (e.g. {others[0].name})")
    if folders:
        reasons.append(f"{len(folders)} subfolder{'s' if len(folders) > 1 else ''}, which are not searched")
    return (f"{pattern}: nothing to restore: the folder holds only {'; '.join(reasons) or 'unreadable entries'}. "
            f"Fix: Give the folder with the original images, or name a file to restore it again.")


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
        and ``overlap_px`` (None where unknown).
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


def run(args: argparse.Namespace) -> int:
    from .. import io, restoration
    from ..io.atomic import (
        check_free_space,
        check_output_path,
        estimate_output_bytes,
        output_write_error,
    )

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
    batch_inputs = tuple(files)
    limits = read_limits(args)
    written: set[tuple[int, int]] = set()
    failures = len(unmatched)
    jobs = plan_outputs(files, None if single else outdir, single, args.format)
    show_progress = progress_enabled(args)
    bar = tqdm(jobs, desc="files", unit="file", disable=len(jobs) < 2 or not show_progress, file=sys.stderr)
    for job in bar:
        line = ""  # what stdout gets for this input (written outside the try: a closed pipe is no file error)
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
            check_output_path(target, inputs=batch_inputs, overwrite=args.overwrite, probe=True)
            if _identity(target) in written:
                raise OutputExistsError(
                    f"{source}: its output {target} is a result written earlier in this run "
                    f"(another spelling of the same file); refusing to replace it.",
                    "Restore it in a separate run with -o OTHER_FOLDER, or rename it.")
            stage = "reading"
            image = io.read(source, limits=limits)
            check_free_space(target, estimate_output_bytes(image, target.suffix))
            stage = "restoring"
            restored = restoration.restore(
                image, model=args.model, tile=args.tile, overlap=args.overlap,
                batch_size=args.batch_size, backend=args.backend, device=args.device,
                progress=len(jobs) < 2 and show_progress,
            )
            stage = "writing"
            written_path = io.write(restored, target, overwrite=args.overwrite)
            written.add(_identity(written_path))
            info = restored.metadata["restoration"]
            choice = info.get("model_choice", "")
            line = (json_record(source, written_path, None, info) if as_json
                    else f"{source} -> {written_path}  [model {info['model']}: {choice}]")
        except (EMRestoreError, MemoryError, OSError) as caught:
            failures += 1
            error: BaseException = caught
            if isinstance(caught, MemoryError):
                error = _memory_error(source, stage, image)
            elif isinstance(caught, OSError) and not isinstance(caught, EMRestoreError):
                error = (output_write_error(caught, target) if stage in ("writing", "preparing")
                         and target is not None else _os_error(source, stage, caught))
            text = str(error)
            where = "" if str(source) in text or source.name in text else f"{source}: "
            tqdm.write(f"emrestore restore: error: {where}{text}", file=sys.stderr)
            if as_json:
                line = json_record(source, None, f"{where}{text}")
        if line:
            tqdm.write(line, file=sys.stdout)
            sys.stdout.flush()  # one complete record at a time for a reading script
    return 2 if failures else 0


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

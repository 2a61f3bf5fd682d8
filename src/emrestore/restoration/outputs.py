"""Where each input of a batch restoration writes: output names, and one output per input.

``a.dm3`` gets ``a_restored.<ext>`` (next to it, or in the output folder), and its
uncertainty map ``a_uncertainty.<ext>``. Within one run two inputs never share an output:
a later ``a.dm4`` or ``a.tif`` gets ``a.dm4_restored.<ext>`` / ``a.tif_restored.<ext>``
(the input's full name), and an input whose both names are taken is refused
(:func:`plan_outputs`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import EMRestoreError, OutputExistsError


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


def uncertainty_path(target: Path) -> Path:
    """The map's file next to the restoration ``target``: ``_restored`` → ``_uncertainty``.

    ``a_restored.tif`` → ``a_uncertainty.tif``, ``a.dm4_restored.tif`` → ``a.dm4_uncertainty.tif``,
    ``-o out.tif`` → ``out_uncertainty.tif``.
    """
    stem = target.stem
    stem = stem.removesuffix("_restored")
    return target.with_name(f"{stem}_uncertainty{target.suffix}")


@dataclass
class FileJob:
    """One input of a run, where its result goes, or why it is refused before any work."""

    source: Path
    target: Path | None
    refusal: EMRestoreError | None = None


def plan_outputs(files: list[Path], outdir: Path | None, single: Path | None, fmt: str) -> list[FileJob]:
    """Give each input its own output: the first keeps ``<stem>_restored``, later ones ``<name>_restored``.

    Parameters
    ----------
    files : list of Path
        Inputs, in the order they are restored.
    outdir : Path or None
        Output folder (None: next to each input).
    single : Path or None
        The output file of the one input (``-o NAME.tif``).
    fmt : str
        Output extension without the dot.

    Returns
    -------
    list of FileJob
        One per input; ``refusal`` is set where both names are taken by earlier inputs. An
        input that does not exist takes no name (it fails when read).
    """
    if single is not None:
        return [FileJob(source, single) for source in files]
    taken: dict[str, Path] = {}
    jobs = []
    for source in files:
        plain = output_path(source, outdir, fmt)
        if not os.path.lexists(source):  # fails on reading; takes no name from the others
            jobs.append(FileJob(source, plain))
            continue
        target = plain
        if _key(plain) in taken:
            target = alternative_output_path(source, outdir, fmt)
        if _key(target) in taken:
            first, second = taken[_key(plain)], taken[_key(target)]
            by = first if first == second else f"{first} and {second}"
            jobs.append(FileJob(source, None, OutputExistsError(
                f"{source}: its outputs {plain.name} and {target.name} are already written by {by} "
                f"in this run; refusing to replace them.",
                "Restore it in a separate run with -o OTHER_FOLDER, or rename it.")))
            continue
        taken[_key(target)] = source
        jobs.append(FileJob(source, target))
    return jobs


def _key(path: Path) -> str:
    """A name that two spellings of the same output share (``out/x``, ``./out//x``, links to out)."""
    return os.path.join(os.path.realpath(path.parent), path.name)

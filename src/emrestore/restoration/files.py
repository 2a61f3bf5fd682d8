"""Restore one file into its output file: the per-file work of a batch restoration.

``emrestore restore`` runs :func:`restore_file` for every input, one after another in its
own process (:func:`restore_files`) or as one Dask task per file
(:func:`emrestore.restoration.distributed.restore_files_on_cluster`); both give the same
checks, names, messages and records. Before the (slow) restoration of a file its output
is checked: its folder exists and a file can be created there, the name fits the file
system, the disk has room for the estimated output. A file that fails (bad input, an OS
error, out of memory) becomes a :class:`FileOutcome` with the error in one line, and the
others go on. Frames too large for memory (``blockwise``, or a file above
:data:`AUTO_BLOCKWISE_BYTES` on disk in a lazily readable format) are restored block by
block (:mod:`emrestore.restoration.blockwise`) into a tiled TIFF.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import EMRestoreError, OutputExistsError
from .outputs import FileJob, uncertainty_path

#: Files larger than this on disk [bytes], in a format read lazily, are restored block by
#: block without being asked (the in-memory path holds about six copies of the frame).
AUTO_BLOCKWISE_BYTES = 512 << 20
#: Block edge [px] of the block-wise path when none is given.
DEFAULT_CHUNK = 1024


@dataclass
class FileSettings:
    """What every file of a run is restored with (sent to cluster workers, so plain data)."""

    model: str | None
    tile: int | None
    overlap: int | None
    batch_size: int | None
    backend: str | None
    device: str | None
    fmt: str
    overwrite: bool
    limits: Any  # emrestore.io.limits.ReadLimits
    batch_inputs: tuple[Path, ...]  # never overwritten
    blockwise: bool = False
    chunk: int = DEFAULT_CHUNK  # block edge [px]
    progress: bool = False  # tile/block bars (one file in this process)
    uncertainty: bool = False  # also write <stem>_uncertainty.<ext>
    dihedral: int = 0
    renoise: int = 0


@dataclass
class FileOutcome:
    """What happened to one input: the file written and its record, or why it failed."""

    source: Path
    output: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)  # the result's metadata["restoration"]
    error: str | None = None  # one line that names the input
    written: tuple[int, int] | None = None  # (device, inode) of the output


def json_record(source: Path | str, output: Path | None, error: BaseException | str | None = None,
                info: dict | None = None) -> str:
    """One JSON line (``emrestore restore --json``): what happened to one input.

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


def restore_files(jobs: list[FileJob], settings: FileSettings, report: Callable[[FileOutcome], None]) -> None:
    """Restore ``jobs`` one after another in this process, calling ``report`` after each.

    A second spelling of an output written earlier in the run is refused.
    """
    written: set[tuple[int, int]] = set()
    for job in jobs:
        outcome = restore_file(job, settings, written)
        if outcome.written is not None:
            written.add(outcome.written)
        report(outcome)


def restore_file(job: FileJob, settings: FileSettings, written: set[tuple[int, int]] | None = None) -> FileOutcome:
    """Read, restore and write one input; every failure becomes the outcome's error line.

    Parameters
    ----------
    job : FileJob
        The input and its planned output (:func:`~emrestore.restoration.outputs.plan_outputs`).
    settings : FileSettings
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

    source, target = job.source, job.target
    outcome = FileOutcome(source)
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
        outcome.output, outcome.record, outcome.written = written_path, info, _identity(written_path)
    except (EMRestoreError, MemoryError, OSError) as caught:
        error: BaseException = caught
        if isinstance(caught, MemoryError):
            error = _memory_error(source, stage, image)
        elif isinstance(caught, OSError) and not isinstance(caught, EMRestoreError):
            error = (output_write_error(caught, target) if stage in ("writing", "preparing")
                     and target is not None else _os_error(source, stage, caught))
        text = str(error)
        where = "" if str(source) in text or source.name in text else f"{source}: "
        outcome.error = f"{where}{text}"
    return outcome


def use_blockwise(source: Path, settings: FileSettings) -> bool:
    """Whether ``source`` goes the block-wise way: asked for, or a large file read lazily."""
    from .lazy_files import LAZY_SUFFIXES

    if settings.blockwise:
        return True
    if settings.fmt != "tif" or settings.uncertainty or source.suffix.lower() not in LAZY_SUFFIXES:
        return False
    try:
        return source.stat().st_size > AUTO_BLOCKWISE_BYTES
    except OSError:
        return False


def restore_blockwise(source: Path, target: Path, settings: FileSettings) -> tuple[Path, dict]:
    """Restore one file block by block into a tiled TIFF; returns (written file, provenance)."""
    from ..io.atomic import check_free_space
    from . import load_model
    from .blockwise import block_depth, restore_dask_array
    from .engine import resolve_choice
    from .lazy_files import open_lazy, write_tiled_tiff

    data, header = open_lazy(source, limits=settings.limits, chunk=settings.chunk)
    check_free_space(target, int(np.prod(data.shape)) * 4 + (1 << 20))
    chosen, choice = resolve_choice(header, settings.model)
    _share_cores(header, settings)
    restorer = load_model(chosen, tile=settings.tile, overlap=settings.overlap, batch_size=settings.batch_size,
                          backend=settings.backend, device=settings.device, progress=False)
    # blocks (and TIFF tiles) of `chunk` px, whatever the file's own chunks
    data = data.rechunk((1,) * (data.ndim - 2) + (settings.chunk, settings.chunk))
    restored = restore_dask_array(restorer, data, chunk=settings.chunk)
    info = {**restorer.provenance(choice, blockwise=True),
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


def _share_cores(image: Any, settings: FileSettings) -> None:
    """On a cluster worker, open the chosen model's session with the worker's share of the cores.

    A no-op in this process (and for the torch backend, or a model that does not resolve:
    the restoration then reports it with its own message).
    """
    from . import distributed

    if distributed.WORKER_THREADS is None or settings.backend not in (None, "onnx"):
        return
    from ..model.registry import find_model
    from .engine import resolve_choice

    try:
        chosen, _ = resolve_choice(image, settings.model)
        distributed.prepare_session(find_model(chosen).onnx_path, settings.device)
    except EMRestoreError:
        return


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


def _identity(path: Path) -> tuple[int, int]:
    """(device, inode) of an existing file, or (-1, -1)."""
    try:
        info = os.stat(path)
    except OSError:
        return (-1, -1)
    return (info.st_dev, info.st_ino)

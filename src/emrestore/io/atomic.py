"""Safe output: never replace an input file, write through a temporary file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import EMRestoreError, OutputExistsError


def check_output_path(path: str | Path, *, inputs: tuple[str | Path | None, ...] = (),
                      overwrite: bool = False) -> Path:
    """Validate an output path and return it as a :class:`Path`.

    Parameters
    ----------
    path : str or Path
        Where the output will be written.
    inputs : tuple of paths
        Files that must never be replaced (the inputs the data came from).
    overwrite : bool
        Allow replacing an existing file that is not an input.

    Raises
    ------
    OutputExistsError
        If ``path`` is one of ``inputs`` (always), or exists and ``overwrite`` is False.
    """
    out = Path(path).expanduser()
    resolved = out.resolve()
    for source in inputs:
        if source is not None and Path(source).expanduser().resolve() == resolved:
            raise OutputExistsError(
                f"Refusing to write {out}: it is the input file and would be replaced.",
                "Choose a different output name or folder.",
            )
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{out} already exists.",
            "Choose another name, or allow replacing it (overwrite=True / --overwrite).",
        )
    if not out.parent.exists():
        raise EMRestoreError(
            f"The output folder {out.parent} does not exist.",
            "Create it first or choose an existing folder.",
        )
    return out


def default_file_mode() -> int:
    """Permissions a newly created file gets under the current umask (``0o666 & ~umask``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_file(directory: str | Path, prefix: str = "", suffix: str = "") -> tuple[int, str]:
    """:func:`tempfile.mkstemp` with the permissions of an ordinary new file.

    mkstemp's files are private (0600); once renamed onto the output they would stay so,
    and colleagues sharing a data folder could not read the restored images.
    """
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.chmod(name, default_file_mode())
    return handle, name


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``.

    The temporary file keeps ``path``'s suffix (some writers choose their format by
    it). If the block raises, the temporary file is removed and ``path`` is untouched.
    """
    handle, temp_name = temp_file(path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()

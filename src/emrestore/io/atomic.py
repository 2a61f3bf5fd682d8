"""Safe output: check before writing, never replace an input, write through a temporary file.

- :func:`check_output_path` refuses an output that is an input, an existing file (without
  ``overwrite``), a folder, a broken or looping symbolic link, a name too long for its file
  system, and (with ``probe=True``) a folder where no file can be created;
- :func:`check_free_space` with :func:`estimate_output_bytes` refuses a write the disk has no
  room for, before the slow work that produces it;
- :func:`atomic_path` writes to a hidden ``.<stem>.XXXXXXXX.part<suffix>`` file and renames it
  onto the output; an error or an interrupt (SIGINT, and SIGTERM under the command line) at any
  point removes the temporary file;
- :func:`write_atomic` (a writer given the temporary path), :func:`write_text_atomic`,
  :func:`write_bytes_atomic` and :func:`save_npz_atomic` are :func:`atomic_path` for the
  common cases: every file emrestore writes goes through them;
- :func:`memory_file` lets a writer that must not meet a full disk itself (h5py crashes the
  interpreter when HDF5 runs out of space) write into memory; the bytes are then copied with
  ordinary Python I/O, which fails with a clean :class:`OSError`;
- :func:`output_write_error` turns any :class:`OSError` into an
  :class:`~emrestore.errors.OutputWriteError` naming the cause in plain words and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from ..errors import OutputExistsError, OutputWriteError

#: Characters of the output's stem kept in the temporary file's name (the rest is cut), so the
#: temporary name fits the file system whenever the output's own name does.
TEMP_STEM_CHARS = 40

#: Extra room asked of the disk beyond the pixel data: metadata, file structure, compression
#: that does not shrink noise (bytes).
SPACE_MARGIN_BYTES = 1 << 20

#: Free space below which a short write is put down to a full disk rather than a limit (bytes).
LOW_SPACE_BYTES = 64 << 20

_ELSEWHERE = "write elsewhere (-o FOLDER on the command line)"
_FIX_FOLDER = "Write elsewhere (-o FOLDER on the command line)"


def human_bytes(count: float) -> str:
    """``1536`` → ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


def name_max(folder: str | Path) -> int:
    """Longest file name (bytes) the file system holding ``folder`` allows (255 if unknown)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def output_write_error(error: OSError, path: str | Path) -> OutputWriteError:
    """An :class:`OutputWriteError` naming, in plain words, why ``path`` cannot be written.

    Parameters
    ----------
    error : OSError
        The operating system's error (its ``errno`` chooses the message).
    path : str or Path
        The output being written.

    Returns
    -------
    OutputWriteError
        With the cause (read-only, no permission, disk full, name too long, ...) and the fix;
        raise it ``from error``.
    """
    if isinstance(error, OutputWriteError):
        return error
    out = Path(path)
    folder = out.parent
    code = error.errno
    where = f"Cannot write {out}"
    if code == errno.EROFS:
        return OutputWriteError(f"{where}: the disk holding {folder} is read-only.",
                                f"{_FIX_FOLDER} on a writable disk, or remount it read-write.")
    if code in (errno.EACCES, errno.EPERM):
        return OutputWriteError(f"{where}: no permission to write in {folder}.",
                                f"{_FIX_FOLDER} into a folder you can write to, or get write "
                                f"permission for it (chmod u+w).")
    if code == errno.ENOSPC:
        return OutputWriteError(f"{where}: the disk is full ({_free_text(folder)}).",
                                f"Free space on that disk, or {_ELSEWHERE} on another disk.")
    if code == getattr(errno, "EDQUOT", -1):
        return OutputWriteError(f"{where}: your disk quota is used up.",
                                f"Delete files to get under the quota, or {_ELSEWHERE}.")
    if code == errno.EFBIG:
        return OutputWriteError(
            f"{where}: the file is larger than the file system or this process's file-size "
            f"limit allows (file too large).",
            f"{_FIX_FOLDER} on another file system, or raise the limit (ulimit -f unlimited).")
    if code == errno.ENAMETOOLONG:
        return OutputWriteError(
            f"{where}: the file name is too long ({len(os.fsencode(out.name))} bytes; "
            f"the file system allows {name_max(folder)}).",
            "Give a shorter output name with -o NAME.tif, or rename the input file.")
    if code == errno.ELOOP:
        return OutputWriteError(f"{where}: a symbolic link on that path points back to itself (a loop).",
                                "Remove or fix the link, or choose another output.")
    if code == errno.ENOENT:
        return OutputWriteError(f"{where}: the folder {folder} does not exist.",
                                "Create it first or choose an existing folder.")
    if code == errno.ENOTDIR:
        return OutputWriteError(f"{where}: a part of that path is a file, not a folder.",
                                "Choose an output inside an existing folder.")
    if code == errno.EISDIR:
        return OutputWriteError(f"{where}: it is a folder.",
                                "Give a file name, or remove or rename the folder.")
    if code == errno.EIO:
        return OutputWriteError(f"{where}: the disk reported an input/output error "
                                f"(failing drive, removed USB disk or lost network share).",
                                f"Check the disk or connection and try again, or {_ELSEWHERE}.")
    if code in (errno.EMFILE, errno.ENFILE):
        return OutputWriteError(f"{where}: too many files are open.",
                                "Close other programs or raise the limit (ulimit -n), then try again.")
    if code is None and "written" in str(error):
        # numpy's tofile (used by tifffile) reports a short write without an errno
        free = _free_bytes(folder)
        if free is not None and free < LOW_SPACE_BYTES:
            reason = f"the disk is full ({human_bytes(free)} free there)"
        else:
            reason = (f"the disk has {human_bytes(free) if free is not None else 'space'} free, so a quota "
                      f"or file-size limit (ulimit -f) was probably reached")
        return OutputWriteError(f"{where}: writing stopped part-way ({error}): {reason}.",
                                f"Free space or raise the limit, or {_ELSEWHERE} on another disk.")
    reason = error.strerror or str(error)
    return OutputWriteError(f"{where}: {reason[:1].lower()}{reason[1:]}.",
                            "Check that the folder exists and is writable and that the disk has space.")


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _free_text(folder: Path) -> str:
    free = _free_bytes(folder)
    return "free space unknown" if free is None else f"{human_bytes(free)} free there"


def _lstat(path: Path) -> os.stat_result | None:
    """``os.lstat``, None when nothing is there; other OS errors become OutputWriteError."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise output_write_error(error, path) from error


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file (same inode, or the same real path)."""
    with contextlib.suppress(OSError):
        if os.path.samefile(a, b):
            return True
    try:
        return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))
    except (OSError, ValueError):  # pragma: no cover - realpath does not raise on loops
        return False


def check_output_path(path: str | Path, *, inputs: tuple[str | Path | None, ...] = (),
                      overwrite: bool = False, probe: bool = False) -> Path:
    """Validate an output path and return it as a :class:`Path`.

    Parameters
    ----------
    path : str or Path
        Where the output will be written.
    inputs : tuple of paths
        Files that must never be replaced (the inputs the data came from).
    overwrite : bool
        Allow replacing an existing file that is not an input.
    probe : bool
        Also create and remove a temporary file in the output folder, which proves (better
        than permission bits: read-only disks, ACLs, root) that the output can be created.

    Raises
    ------
    OutputExistsError
        If ``path`` is one of ``inputs`` (always), or exists and ``overwrite`` is False.
    OutputWriteError
        If ``path`` is a folder, a broken or looping symbolic link, a name too long for the
        file system, in a folder that does not exist or (``probe``) cannot be written.
    """
    out = Path(path).expanduser()
    for source in inputs:
        if source is not None and _same_file(source, out):
            raise OutputExistsError(
                f"Refusing to write {out}: it is the input file and would be replaced.",
                "Choose a different output name or folder.",
            )
    folder = out.parent
    if len(os.fsencode(out.name)) > name_max(folder):
        raise output_write_error(OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)), out)
    info = _lstat(out)
    if info is not None and stat.S_ISLNK(info.st_mode):
        try:
            info = os.stat(out)
        except FileNotFoundError:
            raise OutputWriteError(f"Cannot write {out}: it is a symbolic link to {os.readlink(out)}, "
                                   f"which does not exist.",
                                   "Remove the link, or choose another output name.") from None
        except OSError as error:
            raise output_write_error(error, out) from error
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise output_write_error(OSError(errno.EISDIR, os.strerror(errno.EISDIR)), out)
        if not stat.S_ISREG(info.st_mode):
            raise OutputWriteError(f"Cannot write {out}: it exists and is not a regular file "
                                   f"(a device, FIFO or socket).", "Choose another output name.")
        if not overwrite:
            raise OutputExistsError(
                f"{out} already exists.",
                "Choose another name, or allow replacing it (overwrite=True / --overwrite).",
            )
    folder_info = _lstat(folder)
    if folder_info is not None and stat.S_ISLNK(folder_info.st_mode):
        try:
            folder_info = os.stat(folder)
        except FileNotFoundError:
            folder_info = None
        except OSError as error:
            raise output_write_error(error, out) from error
    if folder_info is None:
        raise OutputWriteError(f"The output folder {folder} does not exist.",
                               "Create it first or choose an existing folder.")
    if not stat.S_ISDIR(folder_info.st_mode):
        raise OutputWriteError(f"Cannot write {out}: {folder} is a file, not a folder.",
                               "Choose an output inside an existing folder.")
    if probe:
        try:
            with deferred_signals():
                temp = _new_temp(out)
                temp.unlink()
        except OSError as error:
            raise output_write_error(error, out) from error
    return out


def estimate_output_bytes(image: Any, suffix: str) -> int:
    """Bytes an output of ``image`` will take, with a margin.

    Parameters
    ----------
    image : EMImage or numpy.ndarray
        The image to be written (an :class:`EMImage` or anything with ``.data`` or ``.size``);
        the restored image has the input's shape.
    suffix : str
        The output's extension (``.png`` stores 1 byte per pixel, the others float32).

    Returns
    -------
    int
        ``pixels × frames × 4`` (1 for PNG) plus 5 % and :data:`SPACE_MARGIN_BYTES`.
    """
    data = getattr(image, "data", image)
    pixels = int(getattr(data, "size", 0))
    per_pixel = 1 if suffix.lower() == ".png" else 4
    payload = pixels * per_pixel
    return payload + payload // 20 + SPACE_MARGIN_BYTES


def check_free_space(path: str | Path, needed: int) -> None:
    """Refuse to start work whose output (``needed`` bytes) does not fit on the disk.

    Raises
    ------
    OutputWriteError
        If the disk holding ``path``'s folder has less than ``needed`` bytes free. Nothing is
        raised when the free space cannot be determined.
    """
    out = Path(path)
    try:
        free = shutil.disk_usage(out.parent).free
    except OSError:
        return
    if free < needed:
        raise OutputWriteError(
            f"Cannot write {out}: the disk is full: about {human_bytes(needed)} is needed "
            f"and {human_bytes(free)} is free there.",
            f"Free space on that disk, or {_ELSEWHERE} on another disk.",
        )


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
    try:
        os.fchmod(handle, default_file_mode())
    except BaseException:
        os.close(handle)
        os.unlink(name)
        raise
    return handle, name


def _new_temp(path: Path) -> Path:
    """Create (closed, empty) ``.<stem>.XXXXXXXX.part<suffix>`` next to ``path``."""
    handle, name = temp_file(path.parent, prefix=f".{path.stem[:TEMP_STEM_CHARS]}.",
                             suffix=f".part{path.suffix}")
    os.close(handle)
    return Path(name)


class _Deferral:
    """Signal handler that records SIGINT/SIGTERM while active and forwards them when not."""

    def __init__(self) -> None:
        self.active = True
        self.received: list[int] = []
        self.previous: dict[int, Any] = {}

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.active:
            self.received.append(signum)
        else:  # left installed by an interrupt while handlers were being restored
            _deliver(signum, self.previous.get(signum, signal.SIG_DFL), frame)


def _deliver(signum: int, handler: Any, frame: FrameType | None = None) -> None:
    """Act on ``signum`` as ``handler`` would have (a call, or the default action)."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration of a short critical step.

    A signal that arrives meanwhile is acted on (``KeyboardInterrupt``, the command line's
    SIGTERM handler, or the default action) as soon as the block ends, so the step (creating
    a file and remembering its name, renaming and noting it) is never cut in half. Outside the
    main thread (where Python cannot set handlers) the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    deferral = _Deferral()
    try:
        for name in ("SIGINT", "SIGTERM"):
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            current = signal.getsignal(signum)
            if current is None or current == signal.SIG_IGN:
                continue  # installed outside Python, or ignored: nothing to defer
            deferral.previous[signum] = current
            signal.signal(signum, deferral)
        yield
    finally:
        deferral.active = False
        for signum, handler in deferral.previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(deferral.received):
            _deliver(signum, deferral.previous[signum])


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``.

    The temporary file keeps ``path``'s suffix (some writers choose their format by it) and
    at most :data:`TEMP_STEM_CHARS` characters of its stem. If the block raises, or an
    interrupt arrives at any point (creating the file, writing, fsync, renaming), the
    temporary file is removed and ``path`` is untouched (or, if the rename already happened,
    complete).
    """
    path = Path(path)
    temp: Path | None = None
    moved = False
    try:
        with deferred_signals():
            temp = _new_temp(path)
        yield temp
        with open(temp, "rb+") as stream:
            os.fsync(stream.fileno())
        with deferred_signals():
            os.replace(temp, path)
            moved = True
    finally:
        if temp is not None and not moved:
            with deferred_signals(), contextlib.suppress(FileNotFoundError):
                temp.unlink()


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temp)`` on a temporary file next to ``path``, then move it onto ``path``.

    Parameters
    ----------
    path : str or Path
        The output (its folder must exist).
    write : callable
        Writes the whole file to the path it is given (which keeps ``path``'s suffix).

    Returns
    -------
    Path
        ``path``; on an error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    with atomic_path(path) as temp:
        write(temp)
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file (:func:`write_atomic`)."""
    return write_atomic(path, lambda temp: temp.write_bytes(data))


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` through a temporary file (:func:`write_atomic`)."""
    return write_bytes_atomic(path, text.encode(encoding))


def save_npz_atomic(path: str | Path, **arrays: Any) -> Path:
    """:func:`numpy.savez_compressed` ``arrays`` to ``path`` through a temporary file."""
    def write(temp: Path) -> None:
        with open(temp, "wb") as stream:
            np.savez_compressed(stream, **arrays)

    return write_atomic(path, write)


class MemoryFile(io.BytesIO):
    """An in-memory file that also carries a path (``os.fspath`` gives it).

    For writers that insist on a file name but accept file objects (RosettaSciIO's HSPY
    writer hands it to h5py, which writes into file-like objects). ``close()`` keeps the
    bytes; :func:`memory_file` copies them out.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._path = os.fspath(path)

    def __fspath__(self) -> str:
        return self._path

    def close(self) -> None:
        """Keep the bytes (writers close their file when done)."""


@contextlib.contextmanager
def memory_file(path: str | Path, chunk: int = 1 << 22) -> Iterator[MemoryFile]:
    """Yield a :class:`MemoryFile`; on success write its bytes to ``path`` with plain Python I/O.

    A full disk or a file-size limit then raises :class:`OSError` (ENOSPC, EFBIG) from
    ``write``, never inside a C library that may crash on it (h5py does).
    """
    buffer = MemoryFile(path)
    try:
        yield buffer
        view = buffer.getbuffer()
        try:
            with open(path, "wb") as stream:
                stream.writelines(view[start:start + chunk] for start in range(0, len(view), chunk))
        finally:
            view.release()
    finally:
        io.BytesIO.close(buffer)


__all__ = [
    "MemoryFile",
    "atomic_path",
    "check_free_space",
    "check_output_path",
    "default_file_mode",
    "deferred_signals",
    "estimate_output_bytes",
    "human_bytes",
    "memory_file",
    "name_max",
    "output_write_error",
    "save_npz_atomic",
    "temp_file",
    "write_atomic",
    "write_bytes_atomic",
    "write_text_atomic",
]

"""Parse a file in a killable child process with a memory ceiling and a deadline.

Some damaged files make their parser spin forever inside a C library while holding the
GIL (h5py on a corrupted HDF5 header), or allocate far more memory than the file holds.
In the caller's own process neither can be stopped: Ctrl-C is ignored and a web server
stops answering. Here the parse runs in a child process started by a fork server (a
clean, single-threaded process that has imported the readers once, so each read costs
a fork, not an interpreter start). The child lowers its address-space limit before
parsing; the parent waits at most :attr:`ReadLimits.timeout_s` and kills the child when
the deadline passes or the caller is interrupted. Pixels come back through a pipe
straight into the parent's array (no pickled copy); warnings are re-issued in the parent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptFileError, EMRestoreError, LimitExceededError
from ..image import EMImage
from . import limits as limits_module
from .limits import ReadLimits, memory_message, stored_bytes
from .signal import EMRestoreWarning

#: Modules the fork server imports once, so that each child starts ready to read.
PRELOAD = (
    "emrestore.io.api", "emrestore.io.isolation", "emrestore.io.tiff", "emrestore.io.raster",
    "emrestore.io.signal", "emrestore.io.metadata", "emrestore.io.databar",
    "rsciio.digitalmicrograph", "rsciio.tia", "rsciio.emd", "rsciio.emd._emd_velox",
    "rsciio.emd._emd_ncem", "rsciio.mrc", "rsciio.hspy", "rsciio.tiff", "h5py", "tifffile",
    "PIL.Image", "PIL.PngImagePlugin", "PIL.JpegImagePlugin", "dask.array", "dateutil.parser",
    "box", "pint",
)

_context_lock = threading.Lock()
_context: Any = None


def _get_context() -> Any:
    """The fork-server multiprocessing context, prepared once."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(PRELOAD))
            _context = context
        return _context


_launch_lock = threading.Lock()


class IsolationUnavailable(RuntimeError):
    """The reader's child process could not be started on this machine."""


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Start a child without re-running the caller's ``__main__``.

    multiprocessing re-imports the parent's main script in every child so that
    functions defined there can be unpickled. The reader needs none of it (its target
    lives in this module), and re-running a user's script — one without an
    ``if __name__ == "__main__"`` guard, or code piped to ``python -`` — would repeat
    or break their work. The preparation data is filtered while this process starts.
    """
    from multiprocessing import spawn

    with _launch_lock:
        original = spawn.get_preparation_data

        def preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            return data

        spawn.get_preparation_data = preparation_data
        try:
            yield
        finally:
            spawn.get_preparation_data = original


def _address_space_bytes() -> int | None:
    """This process's current virtual memory size [bytes] (Linux), or ``None``."""
    try:
        with open("/proc/self/statm") as stream:
            return int(stream.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _set_memory_ceiling(n_bytes: int | None) -> None:
    """Let this process allocate at most ``n_bytes`` more (an RLIMIT_AS ceiling)."""
    if n_bytes is None:
        return
    try:
        import resource

        current = _address_space_bytes()
        if current is None:  # without /proc: the budget bounds the whole process
            current = 0
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + n_bytes
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform without rlimits
        pass


def _die_with_parent() -> None:
    """Make this process end when the caller ends, even if the caller is killed.

    The fork server stays up while any process holds its "alive" pipe, and every child
    it forks gets a copy; a parse that never ends would then keep both alive after the
    caller died (or was interrupted before it learned the child's pid). So the child
    gives its copy back, and asks the kernel (Linux) for SIGKILL when the fork server,
    its parent, exits — which it does once the caller is gone.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive, int):
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent is already gone
            os._exit(1)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _set_cpu_ceiling(deadline_s: float | None) -> None:
    """A CPU-time limit a little past the deadline: a second, kernel-kept stop for a spinning parser."""
    if deadline_s is None:
        return
    try:
        import resource

        soft = int(deadline_s) + 10
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover
        pass


def _child(conn: Connection, path: str, index: int | None, allow_nonfinite: bool,
           limits: ReadLimits) -> None:
    """Read ``path`` and send (status, ...) back; runs in the child process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _die_with_parent()
    _set_cpu_ceiling(limits.deadline_s(stored_bytes(Path(path))))
    budget = limits.memory_budget()
    from .api import read

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EMRestoreWarning)
        try:
            # the ceiling is set here, on top of the fork server's shared imports, so
            # that only the parse itself is bounded
            _set_memory_ceiling(budget)
            limits_module.active_ceiling = budget
            image = read(path, index=index, allow_nonfinite=allow_nonfinite,
                         limits=replace(limits, isolate=False))
        except EMRestoreError as error:
            _send_error(conn, type(error), error.cause, error.fix, caught)
            return
        except MemoryError:
            _send_error(conn, LimitExceededError, *memory_message(Path(path).name, budget), caught)
            return
        except BaseException as error:  # noqa: BLE001 - any parser failure becomes a clear error
            text = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            _send_error(conn, CorruptFileError,
                        f"{Path(path).name} could not be read ({type(error).__name__}: {text}).",
                        "The file may be damaged; copy or export it again.", caught)
            return
    data = np.ascontiguousarray(image.data)
    image.data = None  # type: ignore[assignment] - the pixels travel separately
    messages = [str(w.message) for w in caught if issubclass(w.category, EMRestoreWarning)]
    conn.send(("ok", image, data.shape, data.dtype.str, messages))
    conn.send_bytes(memoryview(data).cast("B"))
    conn.close()


def _send_error(conn: Connection, kind: type, cause: str, fix: str, caught: list) -> None:
    messages = [str(w.message) for w in caught if issubclass(w.category, EMRestoreWarning)]
    try:
        conn.send(("error", kind, cause, fix, messages))
    except Exception:  # the error type itself may not pickle: send a plain one
        conn.send(("error", CorruptFileError, cause, fix, messages))
    conn.close()


def _died_message(name: str, exitcode: int | None, budget: int | None) -> tuple[type, str, str]:
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            signame = signal.Signals(number).name
        except ValueError:
            signame = f"signal {number}"
        if number == signal.SIGKILL:
            return (LimitExceededError, *memory_message(name, budget))
        return (CorruptFileError,
                f"The reader crashed on {name} ({signame}): the file is damaged or not really this format.",
                "Copy or export the file again from the acquisition software.")
    return (CorruptFileError, f"The reader stopped on {name} without an answer (exit status {exitcode}).",
            "The file may be damaged; copy or export it again.")


def read_isolated(path: Path, *, index: int | None, allow_nonfinite: bool,
                  limits: ReadLimits) -> EMImage:
    """:func:`emrestore.read` in a child process; see the module docstring.

    Parameters
    ----------
    path : Path
        File to read (already checked to exist and be a regular file or a store).
    index : int or None
        As for :func:`emrestore.read`.
    allow_nonfinite : bool
        As for :func:`emrestore.read`.
    limits : ReadLimits
        Deadline, memory ceiling and declared-size limits.

    Raises
    ------
    LimitExceededError
        When the parse runs past ``limits.timeout_s`` or its memory ceiling.
    CorruptFileError
        When the reader crashes (e.g. a segmentation fault in a C library).
    EMRestoreError
        Any error the reader raised, as it raised it.
    """
    context = _get_context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, str(path), index, allow_nonfinite, limits),
                              name=f"emrestore-read:{path.name}", daemon=True)
    budget = limits.memory_budget()
    try:
        try:
            with _without_main_module():
                process.start()
        except OSError as error:  # no fork server here (sandbox without sockets, no /dev/shm, ...)
            raise IsolationUnavailable(str(error)) from error
        send.close()
        timeout_s = limits.deadline_s(stored_bytes(path))
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        message = _receive(receive, process, deadline, path.name, timeout_s, budget)
        status, *rest = message
        if status == "error":
            kind, cause, fix, messages = rest
            _reissue(messages)
            raise kind(cause, fix)
        image, shape, dtype, messages = rest
        data = np.empty(shape, dtype=np.dtype(dtype))
        if data.nbytes:
            _wait_readable(receive, process, deadline, path.name, timeout_s, budget)
            receive.recv_bytes_into(memoryview(data).cast("B"))
        image.data = data
        _reissue(messages)
        return image
    finally:
        receive.close()
        if process.pid is not None:  # None: interrupted before the child existed
            if process.is_alive():
                process.kill()
            process.join(timeout=10)
        with contextlib.suppress(ValueError):  # still running after kill + join: leave it to the OS
            process.close()


def _wait_readable(conn: Connection, process: Any, deadline: float | None, name: str,
                   timeout_s: float | None, budget: int | None) -> None:
    """Wait until ``conn`` has data, the child dies, or the deadline passes."""
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise LimitExceededError(
                f"Reading {name} took longer than {timeout_s:g} s and was stopped: the file "
                "is probably damaged (some damaged HDF5/EMD headers make the parser loop forever).",
                "Copy or export the file again; if it is genuine and simply slow to read "
                "(e.g. on a network drive), raise the deadline (--read-timeout / "
                "ReadLimits(timeout_s=...)).",
            )
        if conn.poll(0.2 if remaining is None else min(0.2, remaining)):
            return
        if not process.is_alive() and not conn.poll(0):
            kind, cause, fix = _died_message(name, process.exitcode, budget)
            raise kind(cause, fix)


def _receive(conn: Connection, process: Any, deadline: float | None, name: str,
             timeout_s: float | None, budget: int | None) -> tuple:
    _wait_readable(conn, process, deadline, name, timeout_s, budget)
    try:
        return conn.recv()
    except EOFError:
        process.join(timeout=5)
        kind, cause, fix = _died_message(name, process.exitcode, budget)
        raise kind(cause, fix) from None


def _reissue(messages: list[str]) -> None:
    for text in messages:
        warnings.warn(text, EMRestoreWarning, stacklevel=4)


def isolation_available() -> bool:
    """True where child processes can be started from a fork server (POSIX)."""
    return os.name == "posix" and "forkserver" in multiprocessing.get_all_start_methods()

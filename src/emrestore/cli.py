"""The ``emrestore`` command line.

Each sub-command lives in its own module under :mod:`emrestore.commands` and exposes
``add_parser(subparsers)`` (which sets ``func`` as the parser default) . Errors a user
can cause (:class:`~emrestore.errors.EMRestoreError`) are printed on one line and the
command exits with status 2; no traceback is shown.

Every sub-command accepts ``-q/--quiet`` and ``-v/--verbose``
(:mod:`emrestore.commands.common_options`, added here, not by each command).

Exit status: 0 done, 2 an error (or, for ``restore``, any file failed), 130 interrupted by
Ctrl-C (SIGINT), 143 stopped by SIGTERM, 141 (128 + SIGPIPE, as a shell reports a process killed
by SIGPIPE) when stdout was closed early, e.g. ``emrestore models --json | head -1``: the rest
of the output is discarded silently, without a traceback. SIGTERM is handled like SIGINT: it raises
:class:`Terminated` (a ``KeyboardInterrupt``) so every temporary output is removed on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from . import __version__
from .commands.common_options import add_output_options, output_options
from .errors import EMRestoreError

#: Sub-command modules, in the order ``emrestore --help`` lists them.
COMMAND_MODULES = (
    "info",
    "restore",
    "models",
    "demo",
    "evaluate",
    "simulate",
    "distort",
    "serve",
    "train",
    "export",
    "finetune",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="emrestore",
        description="Restore single-shot electron-microscopy images (TEM, STEM, SEM).",
    )
    parser.add_argument("--version", action="version", version=f"emrestore {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"emrestore.commands.{name}")
        add_output_options(module.add_parser(subparsers))
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; raised like Ctrl-C's ``KeyboardInterrupt`` so clean-up code runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Raise :class:`Terminated` on SIGTERM while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


#: Exit status when stdout was closed before everything was written (128 + SIGPIPE).
BROKEN_PIPE_STATUS = 128 + 13


def _discard_stdout() -> None:
    """Point stdout at the null device, so that the final flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 done, 2 an error, 130 interrupted (SIGINT), 143 terminated (SIGTERM), 141 stdout
        closed early (broken pipe).
    """
    command = "emrestore"
    try:
        with sigterm_as_interrupt():
            parser = build_parser()
            args = parser.parse_args(argv)
            if not getattr(args, "func", None):
                parser.print_help()
                return 2
            command = f"emrestore {args.command}"
            try:
                with output_options(args):
                    status = args.func(args)
            except EMRestoreError as error:
                print(f"{command}: error: {error}", file=sys.stderr)
                return 2
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
    except BrokenPipeError:
        _discard_stdout()
        return BROKEN_PIPE_STATUS
    except Terminated:
        print(f"{command}: stopped by SIGTERM.", file=sys.stderr)
        return 128 + int(signal.SIGTERM)
    except KeyboardInterrupt:
        print(f"{command}: interrupted (Ctrl-C, SIGINT).", file=sys.stderr)
        return 128 + int(signal.SIGINT)
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``emrestore`` command line.

Each sub-command lives in its own module under :mod:`emrestore.commands` and exposes
``add_parser(subparsers)`` (which sets ``func`` as the parser default) . Errors a user
can cause (:class:`~emrestore.errors.EMRestoreError`) are printed on one line and the
command exits with status 2; no traceback is shown.

Exit status: 0 done, 2 an error (or, for ``restore``, any file failed), 130 interrupted by
Ctrl-C (SIGINT), 143 stopped by SIGTERM. SIGTERM is handled like SIGINT: it raises
:class:`Terminated` (a ``KeyboardInterrupt``) so every temporary output is removed on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from . import __version__
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
        module.add_parser(subparsers)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 done, 2 an error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
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
                status = args.func(args)
            except EMRestoreError as error:
                print(f"{command}: error: {error}", file=sys.stderr)
                return 2
    except Terminated:
        print(f"{command}: stopped by SIGTERM.", file=sys.stderr)
        return 128 + int(signal.SIGTERM)
    except KeyboardInterrupt:
        print(f"{command}: interrupted (Ctrl-C, SIGINT).", file=sys.stderr)
        return 128 + int(signal.SIGINT)
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

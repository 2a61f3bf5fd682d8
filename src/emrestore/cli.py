"""The ``emrestore`` command line.

Each sub-command lives in its own module under :mod:`emrestore.commands` and exposes
``add_parser(subparsers)`` (which sets ``func`` as the parser default) . Errors a user
can cause (:class:`~emrestore.errors.EMRestoreError`) are printed on one line and the
command exits with status 2; no traceback is shown.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = args.func(args)
    except EMRestoreError as error:
        print(f"emrestore {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"emrestore {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

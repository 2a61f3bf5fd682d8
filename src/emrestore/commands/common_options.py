"""``-q/--quiet`` and ``-v/--verbose``, the same on every sub-command.

:func:`add_output_options` adds both to a sub-parser (``emrestore.cli.build_parser`` calls it
for every command, so no command adds them itself); :func:`output_options` applies them while
the command runs and undoes that afterwards.

* quiet: no progress bars and no informational lines; only results (the paths, tables or JSON a
  command prints), warnings and errors. Commands read :func:`progress_enabled` / ``args.quiet``.
* verbose: also log the INFO messages of the ``emrestore`` loggers on stderr (e.g. which model
  was chosen for a file and why).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

#: Prefix of the log lines ``--verbose`` prints on stderr.
LOG_FORMAT = "emrestore: %(message)s"


def add_output_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``-q/--quiet`` and ``-v/--verbose`` (mutually exclusive) to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        A sub-command's parser.

    Returns
    -------
    argparse.ArgumentParser
        The same parser.
    """
    group = parser.add_argument_group("output").add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or informational lines: only results, warnings and errors")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="also log what emrestore does on stderr (e.g. the model chosen for each file)")
    return parser


def is_quiet(args: argparse.Namespace) -> bool:
    """True when ``--quiet`` was given."""
    return bool(getattr(args, "quiet", False))


def progress_enabled(args: argparse.Namespace) -> bool:
    """Whether progress bars may be shown: not with ``--quiet``."""
    return not is_quiet(args)


@contextlib.contextmanager
def output_options(args: argparse.Namespace) -> Iterator[None]:
    """Apply ``--quiet`` / ``--verbose`` to the ``emrestore`` loggers while the block runs.

    With ``--verbose`` a stderr handler at INFO level is attached to the ``emrestore`` logger;
    with ``--quiet`` that logger shows warnings and errors only. The logger's level, handlers
    and ``propagate`` flag are restored on the way out.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (may lack ``quiet`` / ``verbose``).
    """
    logger = logging.getLogger("emrestore")
    level, propagate = logger.level, logger.propagate
    handler: logging.Handler | None = None
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(logging.INFO)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # one line per message, even if the root logger has a handler
    elif is_quiet(args):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate

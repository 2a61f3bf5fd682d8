"""Command-line options for the limits on reading untrusted files (shared by the commands)."""

from __future__ import annotations

import argparse

from ..errors import ParameterError
from ..io.limits import DEFAULT_MAX_PIXELS, ReadLimits


def add_read_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-pixels`` and ``--read-timeout`` to a sub-command's parser."""
    group = parser.add_argument_group("limits on input files")
    group.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                       help=f"largest image a file may declare, all frames together "
                            f"(default {DEFAULT_MAX_PIXELS} = 16384²)")
    group.add_argument("--read-timeout", type=float, metavar="S",
                       help="seconds a file may take to parse before it is given up as damaged "
                            "(default 60 s + 1 s per 10 MB)")


def read_limits(args: argparse.Namespace) -> ReadLimits:
    """The :class:`ReadLimits` the options ask for."""
    max_pixels = getattr(args, "max_pixels", DEFAULT_MAX_PIXELS)
    timeout = getattr(args, "read_timeout", None)
    if max_pixels is not None and max_pixels <= 0:
        raise ParameterError(f"--max-pixels must be positive (got {max_pixels}).", "Use e.g. --max-pixels 400000000.")
    if timeout is not None and not timeout > 0:
        raise ParameterError(f"--read-timeout must be positive (got {timeout}).", "Use e.g. --read-timeout 120.")
    return ReadLimits(max_pixels=max_pixels, timeout_s=timeout)

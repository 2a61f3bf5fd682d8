"""Checks added in front of third-party parsers where a damaged file makes them loop.

RosettaSciIO's DigitalMicrograph reader reads a tag array element by element in a
Python loop of the length the file declares. One damaged length field (2³¹ elements in
a 26 KB file) then costs minutes of CPU and gigabytes of memory before it fails. The
guard below refuses, before that loop starts, an array whose declared bytes exceed what
is left of the file, so such a file fails at once with a clear error. It wraps the
reader's method and calls it unchanged for every array that fits; where the reader's
internals differ (another RosettaSciIO version) the guard is not installed and the
isolation watchdog (:mod:`emrestore.io.isolation`) still bounds the damage.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

from ..errors import CorruptFileError

_installed = False
_lock = threading.Lock()


def _remaining_bytes(stream: Any) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size - stream.tell()
    except (AttributeError, OSError, ValueError):
        return None


def guard_digitalmicrograph() -> bool:
    """Install the tag-array length check on RosettaSciIO's DM reader (idempotent).

    Returns
    -------
    bool
        True if the guard is in place.
    """
    global _installed
    with _lock:
        if _installed:
            return True
        try:
            from rsciio.digitalmicrograph import _api
        except ImportError:
            return False
        reader = getattr(_api, "DigitalMicrographReader", None)
        original = getattr(reader, "read_array", None)
        if reader is None or original is None or not hasattr(reader, "simple_type"):
            return False

        @functools.wraps(original)
        def read_array(self: Any, size: int, enc_eltype: int, extra: Any = None, skip: bool = False) -> Any:
            if not skip:
                remaining = _remaining_bytes(self.f)
                if enc_eltype in self.simple_type:
                    item = self.get_data_reader(enc_eltype)[1]
                else:
                    item = 1  # a struct or string takes at least one byte per element
                if remaining is not None and size * item > remaining:
                    raise CorruptFileError(
                        f"The DigitalMicrograph file declares a tag array of {size} elements "
                        f"({size * item} bytes) where only {remaining} bytes are left: the file "
                        "is damaged.",
                        "Copy or export the file again from DigitalMicrograph.",
                    )
            return original(self, size, enc_eltype, extra=extra, skip=skip)

        reader.read_array = read_array
        _installed = True
        return True

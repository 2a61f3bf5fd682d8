"""Limits on reading untrusted files: declared size, expansion, memory and time.

A microscope file can declare a size it does not hold (a 17 KB HDF5 file may declare a
20000² float32 dataset whose chunks were never written), a damaged tag can make a
parser allocate gigabytes, and a corrupted HDF5 header can make h5py spin forever while
holding the GIL. :func:`emrestore.read` therefore

1. checks the size a file *declares* against :attr:`ReadLimits.max_pixels` and against
   its own size on disk (:attr:`ReadLimits.max_expansion`) before the pixels are read, and
2. by default parses the file in a child process with a memory ceiling
   (:attr:`ReadLimits.max_memory_bytes`) and a deadline (:attr:`ReadLimits.timeout_s`),
   killed when it exceeds either (:mod:`emrestore.io.isolation`).

Either way the caller gets a :class:`~emrestore.errors.LimitExceededError` that names
the limit and how to raise it, never a hang or an exhausted machine.
"""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LimitExceededError, ParameterError

#: Default largest image (all frames together) a file may declare [pixels]: 2²⁸ ≈ 268 Mpx,
#: e.g. 16384 × 16384, 1 GiB as float32.
DEFAULT_MAX_PIXELS = 2**28
#: Default largest ratio of declared (uncompressed) bytes to bytes on disk. Lossless
#: compression of a micrograph, whose noise is incompressible, gains a few times at most;
#: only crafted, sparse or corrupted files declare hundreds of times what they hold.
DEFAULT_MAX_EXPANSION = 256.0
#: Deadline for parsing one file when none is set: this much [s] ...
BASE_TIMEOUT_S = 60.0
#: ... plus one second per this many bytes of file (a slow network drive still reads
#: 10 MB/s; a local disk several hundred).
TIMEOUT_BYTES_PER_S = 10e6
#: Memory a parse may use besides its pixels (metadata trees, parser buffers) [bytes].
BASE_MEMORY_BYTES = 2**30
#: Declared sizes are only compared with the file size above this many bytes, so that
#: small test images of constant value stay readable.
EXPANSION_FLOOR_BYTES = 64 * 2**20


def physical_memory_bytes() -> int | None:
    """This machine's RAM [bytes], or ``None`` where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def stored_bytes(path: str | Path) -> int:
    """Bytes on disk that hold a file's pixels [bytes].

    The file itself; for a TIA ``.emi`` also its ``<stem>_*.ser`` data files; for a
    folder store (HyperSpy ``.zspy``) every file inside it.
    """
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    size = path.stat().st_size
    if path.suffix.lower() == ".emi":
        size += sum(p.stat().st_size for p in path.parent.glob(f"{glob.escape(path.stem)}_*.ser"))
    return size


def _megapixels(pixels: float) -> str:
    return f"{pixels / 1e6:.3g} Mpx"


def _size_text(n_bytes: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{int(n_bytes)} bytes"


@dataclass(frozen=True)
class ReadLimits:
    """How much a file may ask of :func:`emrestore.read`.

    Parameters
    ----------
    max_pixels : int or None
        Largest number of pixels (all frames together) a file may declare; ``None``
        for no limit. Default 2²⁸ (16384², 1 GiB as float32).
    max_expansion : float or None
        Largest ratio of declared uncompressed bytes to the file's bytes on disk,
        checked for files declaring more than 64 MiB; ``None`` to skip. Default 256.
    timeout_s : float or None
        Deadline for parsing one file [s] when isolated; ``math.inf`` for none. Default
        ``None``: 60 s plus 1 s per 10 MB of file.
    max_memory_bytes : int or None
        Memory the parse may allocate [bytes], on top of what the reading process
        holds before it starts (enforced as an address-space ceiling when isolated);
        default ``1 GiB + 3 × 4 bytes × max_pixels``, at most the machine's RAM.
    isolate : bool
        Parse in a child process that is killed at the deadline or the memory ceiling
        (default True). Without it only the declared-size checks apply.

    Examples
    --------
    >>> limits = ReadLimits(max_pixels=8192**2, timeout_s=60)
    >>> limits.check_pixels((8192, 8192), 4, "frame.tif")
    >>> limits.memory_budget() > 8192**2 * 4
    True
    """

    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_expansion: float | None = DEFAULT_MAX_EXPANSION
    timeout_s: float | None = None
    max_memory_bytes: int | None = None
    isolate: bool = True

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_expansion", "timeout_s", "max_memory_bytes"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ParameterError(f"ReadLimits.{name} must be positive or None (got {value!r}).",
                                     "Give a positive value, or None for no limit.")

    def deadline_s(self, file_bytes: int) -> float | None:
        """Seconds a parse of a file of ``file_bytes`` may take, or ``None`` for no deadline."""
        if self.timeout_s is None:
            return BASE_TIMEOUT_S + max(int(file_bytes), 0) / TIMEOUT_BYTES_PER_S
        return None if math.isinf(self.timeout_s) else float(self.timeout_s)

    def memory_budget(self) -> int | None:
        """Memory a parse may allocate [bytes], or ``None`` for no limit."""
        if self.max_memory_bytes is not None:
            return int(self.max_memory_bytes)
        if self.max_pixels is None:
            return None
        budget = BASE_MEMORY_BYTES + 3 * 4 * int(self.max_pixels)
        ram = physical_memory_bytes()
        return max(BASE_MEMORY_BYTES, min(budget, ram)) if ram else budget

    def check_pixels(self, shape: tuple[int, ...], itemsize: int, path: str | Path,
                     file_bytes: int | None = None) -> None:
        """Refuse a declared array before it is allocated.

        Parameters
        ----------
        shape : tuple of int
            The declared array shape (frames included).
        itemsize : int
            Bytes per element as stored.
        path : str or Path
            The file (for the message and, when ``file_bytes`` is None, its size).
        file_bytes : int, optional
            The file's size on disk [bytes]; measured from ``path`` if not given.

        Raises
        ------
        LimitExceededError
            If the pixel count exceeds :attr:`max_pixels`, or the declared bytes exceed
            :attr:`max_expansion` times the file's size.
        """
        name = Path(path).name
        pixels = 1
        for n in shape:
            pixels *= max(int(n), 0)
        if self.max_pixels is not None and pixels > self.max_pixels:
            raise LimitExceededError(
                f"{name} declares an image of {' × '.join(str(int(n)) for n in shape)} = "
                f"{_megapixels(pixels)}, more than the limit of {_megapixels(self.max_pixels)}.",
                "If the image is genuine, raise the limit (emrestore --max-pixels N, "
                "read(..., limits=ReadLimits(max_pixels=N))) or crop/bin it first.",
            )
        declared = pixels * max(int(itemsize), 1)
        if self.max_expansion is None or declared <= EXPANSION_FLOOR_BYTES:
            return
        if file_bytes is None:
            file_bytes = stored_bytes(path)
        if file_bytes and declared > self.max_expansion * file_bytes:
            raise LimitExceededError(
                f"{name} declares {_size_text(declared)} of pixels but holds only "
                f"{_size_text(file_bytes)} on disk ({declared / file_bytes:.0f} times more; "
                "no micrograph compresses that well): the file is damaged or crafted.",
                "Copy or export the file again; if it is genuine, raise "
                "ReadLimits(max_expansion=...).",
            )


#: The memory ceiling in force in this process [bytes]: set only inside a reader child
#: process (:mod:`emrestore.io.isolation`), so that its errors can name the limit.
active_ceiling: int | None = None


def memory_message(name: str, budget: int | None) -> tuple[str, str]:
    """(cause, fix) for a parse that ran out of memory (its ceiling, or the machine's)."""
    limit = f"its limit of {_size_text(budget)}" if budget else "is available"
    return (f"Reading {name} needs more memory than {limit}: the file is damaged, or far "
            "larger than it looks.",
            "If the file is genuine, raise the limit (ReadLimits(max_memory_bytes=...) or "
            "--max-pixels), use a machine with more memory, or crop/bin the data first.")


#: The limits :func:`emrestore.read` applies when none are given.
DEFAULT_LIMITS = ReadLimits()

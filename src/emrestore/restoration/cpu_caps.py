"""What the CPU can do for inference: its model, cores and the instruction sets that matter.

The flags come from ``/proc/cpuinfo`` (Linux); elsewhere the set is empty, so nothing beyond
the plain float32 path is assumed. They decide which precisions the automatic backend choice
tries (:func:`emrestore.restoration.backends.cpu_candidates`): bfloat16 only where the CPU
computes it natively (AVX-512 BF16 or AMX), because emulated bfloat16 is slower than float32.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuCaps", "parse_cpuinfo", "detect_cpu"]

#: The flags that inference backends care about (the rest of /proc/cpuinfo is dropped).
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


@dataclass(frozen=True)
class CpuCaps:
    """A CPU's model name, usable cores and inference-relevant instruction-set flags.

    Parameters
    ----------
    model : str
        The CPU model (``/proc/cpuinfo``'s "model name"), e.g. ``"AMD EPYC"``.
    cores : int
        Cores this process may use (its CPU affinity).
    flags : frozenset of str
        The subset of :data:`RELEVANT_FLAGS` the CPU reports.
    """

    model: str
    cores: int
    flags: frozenset[str]

    @property
    def avx2(self) -> bool:
        return "avx2" in self.flags

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.flags

    @property
    def amx(self) -> bool:
        """AMX tiles with bfloat16 (Intel Sapphire Rapids and newer)."""
        return {"amx_tile", "amx_bf16"} <= self.flags

    @property
    def bf16(self) -> bool:
        """Native bfloat16 arithmetic: AVX-512 BF16 or AMX."""
        return "avx512_bf16" in self.flags or self.amx

    def describe(self) -> str:
        """One line, e.g. ``"AMD EPYC, 2 cores, avx2 fma"``."""
        shown = " ".join(f for f in RELEVANT_FLAGS if f in self.flags) or "no AVX2"
        return f"{self.model}, {self.cores} core{'s' if self.cores != 1 else ''}, {shown}"


def parse_cpuinfo(text: str, cores: int | None = None) -> CpuCaps:
    """The :class:`CpuCaps` of a ``/proc/cpuinfo`` text (its first processor's entries).

    Parameters
    ----------
    text : str
        The file's content.
    cores : int, optional
        Usable cores (default: this process's CPU affinity).
    """
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split()) & frozenset(RELEVANT_FLAGS)
    return CpuCaps(model or platform.processor() or platform.machine() or "unknown CPU",
                   cores if cores is not None else _usable_cores(), flags)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.cache
def detect_cpu() -> CpuCaps:
    """This machine's :class:`CpuCaps` (read once per process)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text)

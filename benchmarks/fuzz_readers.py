"""Seeded fuzzing of :func:`emrestore.read`: mutate real vendor files, read each mutant.

Every mutant must end in one of two ways: an image, or an
:class:`~emrestore.errors.EMRestoreError` with its cause and fix. Anything else — another
exception (a traceback for the user), a read that does not return, a parser that
exhausts memory — is a finding. Parses that the watchdog had to stop (deadline or
memory ceiling) are counted separately: they show where a parser on its own would have
hung or allocated without bound.

Usage (the numbers in ``docs/reliability.md`` come from this run)::

    .venv/bin/python benchmarks/fuzz_readers.py --data ../shared/data/formats \\
        --mutations 2000 --seed 0 --out docs/reliability-fuzz.json

The default test run (``tests/io/test_untrusted.py``) runs a few hundred mutations of the same
kind with another seed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

#: Files of ``../shared/data/formats`` that are fuzzed (each a different parser).
FORMAT_FILES = (
    "example2_v3.1.hspy", "example_image.emd", "fei_example_tem_stack.emd", "test-1.dm3",
    "test-1.dm4", "test_STEM_image.dm3", "128x128-TEM_search_1.ser", "HAADFscan.mrc",
    "FEI-Helios-Ebeam-16bits.tif", "test_loading_image_saved_with_DM.tif",
    "test_loading_image_saved_with_imageJ.tif", "test_tiff_Zeiss_SEM_512pix.tif",
    "jpg_no_exif_tags.jpg",
)

#: Values written over 4- or 8-byte fields: lengths and offsets that overflow.
EXTREMES = (0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x40000000, 0x0000FFFF, 0x7FFFFFFFFFFFFFFF)


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random mutation of ``data`` and its description.

    Kinds: flip 1–4 bytes; overwrite an aligned 4/8-byte field with an extreme length;
    truncate; delete a chunk; duplicate a chunk; zero a chunk.
    """
    buf = bytearray(data)
    n = len(buf)
    kind = rng.choice(["flip", "extreme", "truncate", "delete", "duplicate", "zero"],
                      p=[0.35, 0.25, 0.1, 0.1, 0.1, 0.1])
    if kind == "flip":
        count = int(rng.integers(1, 5))
        where = rng.integers(0, n, size=count)
        for i in where:
            buf[i] ^= int(rng.integers(1, 256))
        return bytes(buf), f"flip {count} at {sorted(int(i) for i in where)[:4]}"
    if kind == "extreme":
        width = 8 if rng.random() < 0.25 else 4
        at = int(rng.integers(0, max(n - width, 1))) // width * width
        value = int(rng.choice(EXTREMES)) & ((1 << (8 * width)) - 1)
        order = "little" if rng.random() < 0.5 else "big"
        buf[at:at + width] = value.to_bytes(width, order)
        return bytes(buf), f"extreme {value:#x} ({width} B, {order}) at {at}"
    start = int(rng.integers(0, n))
    length = int(min(n - start, rng.integers(1, max(2, n // 8))))
    if kind == "truncate":
        return bytes(buf[:start]), f"truncate to {start}"
    if kind == "delete":
        del buf[start:start + length]
        return bytes(buf), f"delete {length} at {start}"
    if kind == "duplicate":
        buf[start:start] = buf[start:start + length]
        return bytes(buf), f"duplicate {length} at {start}"
    buf[start:start + length] = bytes(length)
    return bytes(buf), f"zero {length} at {start}"


@dataclass
class FuzzReport:
    """Counts of one fuzz run."""

    mutations: int = 0
    seed: int = 0
    timeout_s: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[dict[str, str]] = field(default_factory=list)
    slowest_s: float = 0.0
    wall_s: float = 0.0
    parent_max_rss_mb: float = 0.0
    limits: dict[str, object] = field(default_factory=dict)


def classify(error: BaseException | None) -> str:
    """Outcome name: ok, clean-error, watchdog-time, watchdog-memory, crash-contained, traceback."""
    from emrestore.errors import EMRestoreError, LimitExceededError

    if error is None:
        return "ok"
    if isinstance(error, LimitExceededError):
        text = str(error)
        if "took longer than" in text:
            return "watchdog-time"
        if "needs more memory than" in text:
            return "watchdog-memory"
        return "refused-size"
    if isinstance(error, EMRestoreError):
        return "crash-contained" if "reader crashed" in str(error) else "clean-error"
    return "traceback"


def run_fuzz(files: list[Path], mutations: int, seed: int, timeout_s: float = 10.0,
             max_pixels: int = 2**26, progress: bool = False) -> FuzzReport:
    """Read ``mutations`` seeded mutants of ``files``; count how each read ended.

    Parameters
    ----------
    files : list of Path
        Real files to mutate (the mutant keeps the original's name, so the same parser runs).
    mutations : int
        Number of mutants.
    seed : int
        Seed of the mutation generator (the run is reproducible).
    timeout_s : float
        Parse deadline per file [s].
    max_pixels : int
        Declared-size limit [pixels].
    progress : bool
        Print one line per 100 mutants to stderr.
    """
    import emrestore
    from emrestore.io.limits import ReadLimits

    limits = ReadLimits(max_pixels=max_pixels, timeout_s=timeout_s)
    originals = {path: path.read_bytes() for path in files}
    rng = np.random.default_rng(seed)
    report = FuzzReport(mutations=mutations, seed=seed, timeout_s=timeout_s,
                        limits={"max_pixels": max_pixels, "timeout_s": timeout_s,
                                "max_memory_bytes": limits.memory_budget(),
                                "max_expansion": limits.max_expansion})
    outcomes: Counter[str] = Counter()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="emrestore-fuzz-") as tmp:
        for i in range(mutations):
            source = files[int(rng.integers(0, len(files)))]
            mutant, how = mutate(originals[source], rng)
            folder = Path(tmp) / f"{i:05d}"
            folder.mkdir()
            target = folder / source.name
            target.write_bytes(mutant)
            began = time.monotonic()
            error: BaseException | None = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    emrestore.read(target, limits=limits)
            except Exception as caught:  # noqa: BLE001 - counting every way a read can end
                error = caught
            took = time.monotonic() - began
            report.slowest_s = max(report.slowest_s, took)
            outcome = classify(error)
            outcomes[outcome] += 1
            per = report.per_file.setdefault(source.name, {})
            per[outcome] = per.get(outcome, 0) + 1
            if outcome in ("traceback", "watchdog-time", "watchdog-memory", "crash-contained"):
                detail = "".join(traceback.format_exception_only(type(error), error)).strip()
                report.findings.append({"file": source.name, "mutation": how, "outcome": outcome,
                                        "error": detail[:300], "seconds": f"{took:.2f}"})
            for child in folder.iterdir():
                child.unlink()
            folder.rmdir()
            if progress and (i + 1) % 100 == 0:
                print(f"{i + 1}/{mutations} {dict(outcomes)}", file=sys.stderr)
    report.outcomes = dict(outcomes)
    report.wall_s = time.monotonic() - start
    report.parent_max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/formats"))
    parser.add_argument("--mutations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="parse deadline per file [s]")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    files = [args.data / name for name in FORMAT_FILES if (args.data / name).is_file()]
    if not files:
        print(f"no format files found in {args.data}", file=sys.stderr)
        return 2
    report = run_fuzz(files, args.mutations, args.seed, timeout_s=args.timeout, progress=True)
    text = json.dumps(asdict(report), indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in asdict(report).items() if k not in ("findings", "per_file")}, indent=1))
    for finding in report.findings:
        print(finding)
    return 1 if report.outcomes.get("traceback") else 0


if __name__ == "__main__":
    sys.exit(main())

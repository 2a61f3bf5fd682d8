"""Dask benchmarks: files/s against --workers, and block-wise peak memory against frame size.

Run: ``.venv/bin/python benchmarks/bench_dask.py [--files 8] [--workers 1 2] [--sizes 2048 4096 8192]``.

* **Batch**: ``--files`` generated 1024² STEM frames restored with ``emrestore restore --model
  hrstem`` in one process (the loop) and with ``--workers N``; wall time of the whole command,
  cluster start included.
* **Block-wise**: a memory-mapped ``.npy`` frame of each size restored with ``--chunk 1024``
  into a tiled TIFF, each in a fresh process; peak resident memory (VmHWM) and wall time.

Prints a Markdown table per part (the numbers docs/restore.md quotes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

BLOCKWISE = textwrap.dedent("""
    import sys, time
    from emrestore.cli import main
    start = time.perf_counter()
    status = main(["restore", sys.argv[1], "-o", sys.argv[2], "--model", "hrstem", "--chunk", "1024", "-q"])
    took = time.perf_counter() - start
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024 ** 2
    print(status, took, peak)
""")


def _frames(folder: Path, count: int, side: int = 1024) -> None:
    import emrestore

    rng = np.random.default_rng(0)
    for i in range(count):
        emrestore.write(emrestore.EMImage(rng.poisson(40, (side, side)).astype(np.float32), pixel_size=0.05,
                                          unit="nm", modality="stem"), folder / f"frame{i}.tif")


def _big_npy(path: Path, side: int) -> None:
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(side, side))
    rng = np.random.default_rng(1)
    for row in range(0, side, 1024):
        mapped[row:row + 1024] = rng.poisson(40, (min(1024, side - row), side))
    mapped.flush()
    del mapped


def bench_batch(files: int, workers: list[int], scratch: Path) -> None:
    folder = scratch / "frames"
    folder.mkdir()
    _frames(folder, files)
    print("| how | files | wall [s] | files/s |\n|---|---|---|---|")
    for label, extra in [("in-process loop", [])] + [(f"--workers {n}", ["--workers", str(n)]) for n in workers]:
        out = scratch / f"out-{label.replace(' ', '')}"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "emrestore", "restore", str(folder), "-o", str(out), "--model",
                        "hrstem", "-q", *extra], check=True, stdout=subprocess.DEVNULL)
        took = time.perf_counter() - start
        print(f"| {label} | {files} | {took:.1f} | {files / took:.2f} |", flush=True)


def bench_blockwise(sizes: list[int], scratch: Path) -> None:
    print("| frame | frame [MiB] | wall [s] | Mpx/s | peak RSS [GiB] |\n|---|---|---|---|---|")
    for side in sizes:
        source = scratch / f"big{side}.npy"
        _big_npy(source, side)
        result = subprocess.run([sys.executable, "-c", BLOCKWISE, str(source), str(scratch / f"out{side}")],
                                capture_output=True, text=True, check=True)
        status, took, peak = result.stdout.strip().splitlines()[-1].split()
        assert status == "0", result.stderr
        print(f"| {side}² | {side * side * 4 / 2**20:.0f} | {float(took):.1f} | "
              f"{side * side / 1e6 / float(took):.2f} | {float(peak):.2f} |", flush=True)
        source.unlink()
        for written in (scratch / f"out{side}").iterdir():
            written.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2048, 4096, 8192])
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_batch:
            bench_batch(args.files, args.workers, Path(scratch))
        if args.sizes:
            bench_blockwise(args.sizes, Path(scratch))


if __name__ == "__main__":
    main()

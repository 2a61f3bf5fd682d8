"""Speed of the distortion chains: median ms per 256×256 (degraded, target) pair.

Run on one core, e.g.::

    taskset -c 0 python benchmarks/bench_distortions.py [--pairs 200] [--size 256]

Every pair draws all its parameters from the default ranges (a fresh seed per pair),
as the training data loader does. Prints one table row per chain, then the median
time of each stage applied alone at a typical setting.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import time

import numpy as np

from emrestore.distortions import CHAINS, distort

#: Targets of spec §6 [ms per 256×256 pair, one core].
TARGETS_MS = {"tem": 5.0, "stem": 15.0, "sem": 15.0}


def lattice(size: int) -> np.ndarray:
    """A synthetic HR lattice (Gaussian columns on a square grid, 8 px period)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return 0.1 + np.exp(-((np.mod(xx, 8) - 4) ** 2 + (np.mod(yy, 8) - 4) ** 2) / 3.0)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_chain(modality: str, clean: np.ndarray, pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and CPU time [ms] of each pair (CPU time excludes time other processes
    held the core, so it is the fairer number on a shared machine)."""
    for seed in range(5):  # warm-up (imports, FFT plans, JPEG codec)
        distort(clean, modality, seed=10_000 + seed)
    wall = np.empty(pairs)
    cpu = np.empty(pairs)
    for seed in range(pairs):
        start, start_cpu = time.perf_counter(), time.process_time()
        distort(clean, modality, seed=seed)
        wall[seed] = time.perf_counter() - start
        cpu[seed] = time.process_time() - start_cpu
    return wall * 1e3, cpu * 1e3


def time_stages(modality: str, clean: np.ndarray, repeats: int) -> list[tuple[str, float]]:
    """Median CPU ms of each stage alone, parameters drawn once (seed 0) from the ranges.

    A displacement stage alone includes the whole scan rendering (sampling the image).
    """
    chain = CHAINS[modality]
    rng = np.random.default_rng(0)
    values = chain.sample_parameters(rng, clean.astype(np.float32) / clean.mean(), {})
    stages = chain.build(values)
    image = (clean / clean.mean() * 50.0).astype(np.float32)
    rows = []
    for cls, stage in stages.items():
        times = []
        for _ in range(repeats):
            start = time.process_time()
            stage(image, rng)
            times.append(time.process_time() - start)
        rows.append((cls.NAME, float(np.median(times)) * 1e3))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="pairs per chain")
    parser.add_argument("--size", type=int, default=256, help="image side [px]")
    parser.add_argument("--stages", action="store_true", help="also time each stage alone")
    args = parser.parse_args()
    clean = lattice(args.size)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"# emrestore distortions benchmark, {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {cpu_name()}, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}, numpy {np.__version__}; cores allowed: {cores}")
    print(f"# {args.pairs} pairs of {args.size}×{args.size} px per chain, all parameters drawn")
    print(f"# load average before: {os.getloadavg()[0]:.2f} (1 min)")
    print()
    print("| chain | median CPU ms/pair | p10 | p90 | median wall ms/pair | target (spec §6) |")
    print("|---|---:|---:|---:|---:|---:|")
    for modality in ("tem", "stem", "sem"):
        wall, cpu = time_chain(modality, clean, args.pairs)
        p10, med, p90 = np.percentile(cpu, [10, 50, 90])
        print(f"| {modality.upper()} | {med:.1f} | {p10:.1f} | {p90:.1f} | {np.median(wall):.1f} "
              f"| ≤ {TARGETS_MS[modality]:g} |")
    if args.stages:
        for modality in ("tem", "stem"):
            print()
            print(f"| {modality.upper()} stage alone | median CPU ms |")
            print("|---|---:|")
            for name, ms in time_stages(modality, clean, 20):
                print(f"| {name} | {ms:.2f} |")


if __name__ == "__main__":
    main()

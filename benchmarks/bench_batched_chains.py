"""Speed of the batched distortion chains against the numpy chain: (degraded, target) pairs/s.

Run, e.g.::

    .venv/bin/python benchmarks/bench_batched_chains.py [--size 128] [--batch 64] [--batches 5]
        [--device cpu] [--threads 1] [--stages]

For each modality: the numpy chain (:func:`~emrestore.distortions.distort`, one crop at a
time, a fresh seed per crop, all parameters drawn) against
:func:`~emrestore.distortions.batched.run_batch` on batches of ``--batch`` crops, with the
parameters of every sample drawn by :func:`~emrestore.distortions.batched.sample_batch` (the
numpy sampler, timed apart: it runs on the CPU whatever the device). One warm-up batch per
chain is not timed. A chain whose batched stages are not all there yet is reported as such.
``--stages`` adds the time of every batched stage inside ``run_batch`` (summed over the timed
batches). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import torch

from emrestore.distortions import distort
from emrestore.distortions.chains import get_chain

MODALITIES = ("tem", "stem", "sem")


def crops(count: int, size: int, seed: int) -> np.ndarray:
    """``count`` synthetic HR lattice crops (Gaussian columns, random period and phase)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.empty((count, size, size), dtype=np.float32)
    for i in range(count):
        period = rng.uniform(6.0, 12.0)
        dy, dx = rng.uniform(0.0, period, 2)
        width = rng.uniform(1.5, 4.0)
        out[i] = 0.1 + np.exp(-((np.mod(xx + dx, period) - period / 2) ** 2
                                + (np.mod(yy + dy, period) - period / 2) ** 2) / width)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_numpy(modality: str, images: np.ndarray) -> float:
    """Pairs/s of :func:`distort` on each crop in turn."""
    for seed in range(3):  # warm-up (imports, FFT plans)
        distort(images[seed % len(images)], modality, seed=50_000 + seed)
    start = time.perf_counter()
    for seed, image in enumerate(images):
        distort(image, modality, seed=seed)
    return len(images) / (time.perf_counter() - start)


def _timed_stages(totals: dict[str, float], device: torch.device) -> Callable[[], None]:
    """Wrap every registered batched stage to add its time to ``totals``; return the undo."""
    from emrestore.distortions.batched import IMPLEMENTATIONS

    original = dict(IMPLEMENTATIONS)

    def wrap(cls, fn):
        def timed(state, stages):
            _sync(device)
            start = time.perf_counter()
            fn(state, stages)
            _sync(device)
            totals[cls.__name__] += time.perf_counter() - start
        return timed

    for cls, fn in original.items():
        IMPLEMENTATIONS[cls] = wrap(cls, fn)

    def undo() -> None:
        IMPLEMENTATIONS.update(original)
    return undo


def time_batched(modality: str, images: np.ndarray, batch: int, device: torch.device,
                 stage_totals: dict[str, float] | None) -> tuple[float, float] | str:
    """``(pairs/s of run_batch, pairs/s of sample_batch + run_batch)``, or why it cannot run."""
    from emrestore.distortions.batched import (
        missing_implementations,
        run_batch,
        sample_batch,
    )

    try:
        missing = missing_implementations(get_chain(modality))
    except ModuleNotFoundError as error:
        return f"n/a (module {error.name} not there yet)"
    if missing:
        return f"n/a (no batched {', '.join(m.split(':')[1] for m in missing)})"
    generator = torch.Generator(device=device).manual_seed(0)
    sampling = running = 0.0
    undo = None
    for index, first in enumerate(range(-batch, len(images), batch)):  # the first batch warms up
        chunk = images[max(first, 0):max(first, 0) + batch]
        rngs = [np.random.default_rng([index, i]) for i in range(len(chunk))]
        start = time.perf_counter()
        values = sample_batch(modality, chunk, rngs)
        clean = torch.from_numpy(chunk).to(device)
        _sync(device)
        drawn = time.perf_counter()
        if index == 1 and stage_totals is not None:
            undo = _timed_stages(stage_totals, device)
        run_batch(modality, clean, values, generator)
        _sync(device)
        if index > 0:
            sampling += drawn - start
            running += time.perf_counter() - drawn
    if undo is not None:
        undo()
    return len(images) / running, len(images) / (running + sampling)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="crop side [px]")
    parser.add_argument("--batch", type=int, default=64, help="crops per batch")
    parser.add_argument("--batches", type=int, default=5, help="timed batches per chain")
    parser.add_argument("--device", default="cpu", help="torch device of the batched chain")
    parser.add_argument("--modalities", nargs="+", default=list(MODALITIES), choices=MODALITIES)
    parser.add_argument("--stages", action="store_true", help="also time each batched stage")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; on a loaded machine 1 can be faster)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    images = crops(args.batch * args.batches, args.size, seed=1)
    print(f"# emrestore batched-chain benchmark, {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), device {device}")
    print(f"# {len(images)} crops of {args.size}² px per chain; batched: {args.batches} batches of "
          f"{args.batch} after one warm-up batch")
    print(f"# load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print()
    print("| chain | numpy distort [pairs/s] | run_batch [pairs/s] | sample_batch + run_batch "
          "[pairs/s] | speed-up (total) |")
    print("|---|---:|---:|---:|---:|")
    per_stage: dict[str, dict[str, float]] = {}
    for modality in args.modalities:
        reference = time_numpy(modality, images)
        totals: dict[str, float] = defaultdict(float)
        result = time_batched(modality, images, args.batch, device, totals if args.stages else None)
        if isinstance(result, str):
            print(f"| {modality.upper()} | {reference:.0f} | {result} | | |")
            continue
        running, total = result
        print(f"| {modality.upper()} | {reference:.0f} | {running:.0f} | {total:.0f} "
              f"| {total / reference:.1f}× |")
        per_stage[modality] = dict(totals)
    for modality, totals in per_stage.items():
        if not totals:
            continue
        print()
        print(f"| {modality.upper()} batched stage | ms per batch of {args.batch} |")
        print("|---|---:|")
        for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
            print(f"| {name} | {seconds / args.batches * 1e3:.2f} |")
    print(f"\n# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

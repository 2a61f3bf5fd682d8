"""Clean-image supply: rendering a bank vs. loading it into a tensor, and crops + augmentation.

For each tag, renders a bank of ``n`` images as ``emrestore simulate`` does
(:func:`emrestore.datasets.bank.render_bank`, ``--workers`` processes, files included),
loads it into one tensor on ``--device`` (:class:`emrestore.training.device_supply.DeviceBank`),
then times :func:`~emrestore.training.device_supply.clean_batch` (crops, and crops with the
``auto`` augmentation) at ``--batch`` crops of ``--crop`` px. Speed is measured here, never
asserted in tests::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_bank_supply.py --n 20 --device cpu

prints a Markdown table (images/s; "faster" says whether rendering or loading a bank of
the same images is faster at the start of a lease) and the machine load. On the GPU machine
run it with ``--device cuda --workers 16`` to compare rendering on its 16 cores with loading.

Measured on the 2-CPU development machine (CPU only, shared: load average ≈ 5 from other
jobs; 20 images of 256² per bank, 1 render worker, batches of 64 × 128², ``--threads 1``;
rendering includes writing the files, as ``emrestore simulate`` does). With torch's default
2 threads on that loaded machine every torch rate fell 4–15× (thread contention: load
36–82 img/s, crops + augment 43–199 img/s), so use ``--threads 1`` on a shared machine.

| tag | render img/s | load img/s | faster | crops img/s | crops + augment img/s |
|---|---|---|---|---|---|
| hrstem | 1.2 | 309 | load | 3609 | 819 |
| hrtem | 0.2 | 167 | load | 2413 | 720 |
| hrsem | 6.4 | 232 | load | 4345 | 884 |
| lrstem | 9.0 | 287 | load | 2765 | 681 |
| lrtem | 6.8 | 227 | load | 2943 | 701 |
| lrsem | 5.7 | 178 | load | 2661 | 748 |

Loading is 30–840× faster than rendering with one worker; even 16 perfectly scaling render
workers (≤ 16×) stay below the load rate for every tag.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from emrestore.datasets.bank import render_bank
from emrestore.datasets.registry import available_tags
from emrestore.training.device_supply import DeviceBank, clean_batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(count: int, seconds: float) -> float:
    return count / max(seconds, 1e-9)


def _supply_rate(bank: DeviceBank, mode: str, batch: int, crop: int, batches: int) -> float:
    """Images/s of ``clean_batch`` in ``mode`` (after one warm-up batch)."""
    generator = torch.Generator().manual_seed(0)
    clean_batch(bank, batch, crop, generator, mode)
    _sync(bank.device)
    start = time.perf_counter()
    for _ in range(batches):
        clean_batch(bank, batch, crop, generator, mode)
    _sync(bank.device)
    return _rate(batch * batches, time.perf_counter() - start)


def bench_tag(tag: str, args: argparse.Namespace, root: Path) -> dict[str, float]:
    """The rates of one tag (a warm-up render first, so imports are not timed)."""
    render_bank(tag, 1, args.size, 1, root / f"{tag}-warmup", workers=1, progress=False)
    out = root / tag
    start = time.perf_counter()
    render_bank(tag, args.n, args.size, 0, out, workers=args.workers, progress=False)
    render = _rate(args.n, time.perf_counter() - start)
    device = torch.device(args.device)
    start = time.perf_counter()
    bank = DeviceBank.load(out, "stem", device=device)
    _sync(device)
    load = _rate(len(bank), time.perf_counter() - start)
    return {"render": render, "load": load,
            "crops": _supply_rate(bank, "none", args.batch, args.crop, args.batches),
            "augmented": _supply_rate(bank, "auto", args.batch, args.crop, args.batches)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", nargs="*", default=None, help="tags (default: every tag with a renderer)")
    parser.add_argument("--n", type=int, default=20, help="bank images per tag (default 20)")
    parser.add_argument("--size", type=int, default=256, help="bank image edge [px] (default 256)")
    parser.add_argument("--workers", type=int, default=1, help="render processes (default 1)")
    parser.add_argument("--device", default="cpu", help="device of the bank tensor (default cpu)")
    parser.add_argument("--batch", type=int, default=64, help="crops per batch (default 64)")
    parser.add_argument("--crop", type=int, default=128, help="crop edge [px] (default 128)")
    parser.add_argument("--batches", type=int, default=10, help="timed batches (default 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 on a machine shared with other jobs)")
    parser.add_argument("--out", default=None, help="directory for the banks (default: a temporary one)")
    args = parser.parse_args(argv)
    tags = args.tags or available_tags()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{args.n} images of {args.size}² per bank, render workers {args.workers}, device {args.device}, "
          f"batches of {args.batch} × {args.crop}², torch threads {torch.get_num_threads()}")
    print("| tag | render img/s | load img/s | faster | crops img/s | crops + augment img/s |\n"
          "|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out or scratch)
        for tag in tags:
            r = bench_tag(tag, args, root)
            faster = "load" if r["load"] > r["render"] else "render"
            print(f"| {tag} | {r['render']:.1f} | {r['load']:.0f} | {faster} | {r['crops']:.0f} | "
                  f"{r['augmented']:.0f} |", flush=True)
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

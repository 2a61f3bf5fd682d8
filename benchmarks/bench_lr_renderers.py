"""Time per 256² clean image of each low-magnification renderer (hrsem, lrsem, lrtem, lrstem).

Speed is measured here, not asserted in tests (a loaded machine must not fail a test)::

    .venv/bin/python benchmarks/bench_lr_renderers.py --n 40

prints, per tag, the mean, median and largest time of ``n`` renders with seeds 0..n-1
(after one warm-up render), for the table in ``docs/ground-truth-lr.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from emrestore.datasets import get_renderer

TAGS = ("hrsem", "lrsem", "lrtem", "lrstem")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="renders per tag (default 40)")
    parser.add_argument("--size", type=int, default=256, help="image edge [px] (default 256)")
    args = parser.parse_args(argv)
    print("| tag | n | mean s | median s | max s |\n|---|---|---|---|---|")
    for tag in TAGS:
        render = get_renderer(tag)
        render(args.size, np.random.default_rng(0))  # warm-up (imports, caches)
        times = []
        for seed in range(args.n):
            start = time.perf_counter()
            render(args.size, np.random.default_rng(seed))
            times.append(time.perf_counter() - start)
        print(f"| {tag} | {args.n} | {statistics.mean(times):.2f} | {statistics.median(times):.2f} | "
              f"{max(times):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

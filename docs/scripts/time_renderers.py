"""Seconds per clean image for each tag with a renderer (and HR-TEM engine), as a Markdown table.

Usage::

    PYTHONPATH=src python docs/scripts/time_renderers.py --size 256 --n 20 [--tags hrstem hrtem] [--abtem 3]

Each image uses its own seed (bank seeding); the time covers the whole renderer call
(specimen + optics) in one process with one thread per FFT, after one untimed warm-up call
(imports).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import numpy as np

from emrestore.datasets import available_tags, get_renderer
from emrestore.datasets.bank import sample_rng


def _time(tag: str, size: int, n: int, **overrides) -> np.ndarray:
    render = get_renderer(tag)
    render(32, sample_rng(1, 0), **overrides)  # warm-up: imports (abTEM, numba) are not timed
    out = []
    for i in range(n):
        t = time.perf_counter()
        render(size, sample_rng(777, i), **overrides)
        out.append(time.perf_counter() - t)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--tags", nargs="*")
    parser.add_argument("--abtem", type=int, default=0, help="also time N hrtem images with engine='abtem'")
    args = parser.parse_args()
    rows = []
    for tag in args.tags or available_tags():
        if tag == "hrtem":
            for potential in ("lobato", "moliere"):
                try:
                    t = _time(tag, args.size, args.n, potential=potential)
                except Exception as error:  # Lobato needs abTEM
                    print(f"skipping hrtem potential={potential}: {error}")
                    continue
                rows.append((tag, f"fast: numpy multislice, {potential} potential", t))
        else:
            rows.append((tag, "fast", _time(tag, args.size, args.n)))
        if tag == "hrtem" and args.abtem:
            rows.append((tag, "abTEM multislice", _time(tag, args.size, args.abtem, engine="abtem")))
    print(f"{args.size}×{args.size} px, {platform.processor() or platform.machine()}, "
          f"{datetime.date.today().isoformat()}")
    print("| tag | path | n | mean s | median s | max s |")
    print("|---|---|---|---|---|---|")
    for tag, path, t in rows:
        print(f"| {tag} | {path} | {len(t)} | {t.mean():.2f} | {np.median(t):.2f} | {t.max():.2f} |")


if __name__ == "__main__":
    main()

"""Whole-process time and peak memory of `emrestore restore` for several image sizes.

Each measurement is a fresh Python process that imports emrestore, loads the model,
restores one synthetic frame (Poisson noise on a lattice) of the given size and exits —
what a user pays per call. Peak memory is the process's maximum resident set size.

Usage::

    python benchmarks/bench_restore.py [--sizes 256 1024 2048 4096] [--models hrstem ...]
                                       [--paper] [--backends onnx torch] [--tile 1024]

``--paper`` also exports the paper-size CGRDN (random weights; speed does not depend on
them) to a temporary ONNX file and measures it the same way (needs PyTorch).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import emrestore
size, model, backend, tile = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
y, x = np.mgrid[:size, :size]
lattice = 1 + 0.5 * np.cos(2 * np.pi * x / 7.3) * np.cos(2 * np.pi * y / 5.1)
image = np.random.default_rng(0).poisson(20 * lattice).astype(np.float32)
t1 = time.perf_counter()
restorer = emrestore.load_model(model, backend=backend, tile=tile, progress=False)
t2 = time.perf_counter()
out = restorer.restore_array(image)
t3 = time.perf_counter()
# VmHWM: this process image's peak resident memory (ru_maxrss would include the parent's
# memory at fork time, because it survives exec)
with open("/proc/self/status") as status:
    hwm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "restore_s": t3 - t2,
                  "peak_gib": hwm_kib / 1024**2}))
"""


def measure(size: int, model: str, backend: str, tile: int) -> dict:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, str(size), model, backend, str(tile)],
                            capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - start
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["wall_s"] = wall
    return record


def export_paper(folder: Path) -> Path:
    from emrestore.nn import build_generator
    from emrestore.training.export import export_onnx

    path = folder / "paper.onnx"
    export_onnx(build_generator("paper", seed=0), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048, 4096])
    parser.add_argument("--models", nargs="+", help="model tags or .onnx paths (default: shipped models)")
    parser.add_argument("--backends", nargs="+", default=["onnx"], choices=["onnx", "torch"])
    parser.add_argument("--paper", action="store_true", help="also measure the paper configuration (onnx)")
    parser.add_argument("--paper-max-size", type=int, default=1024,
                        help="largest size measured for the paper configuration (it is slow)")
    from emrestore.restoration.engine import DEFAULT_TILE

    parser.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile edge [px] (default {DEFAULT_TILE})")
    args = parser.parse_args()

    from emrestore.restoration import shipped_models

    models = args.models or [m.name for m in shipped_models()]
    runs = [(m, b) for m in models for b in args.backends]
    with tempfile.TemporaryDirectory() as tmp:
        if args.paper:
            runs.append((str(export_paper(Path(tmp))), "onnx"))
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"{time.strftime('%Y-%m-%d')}, tile {args.tile}")
        print("| model | backend | size | whole process [s] | restore [s] | load [s] | peak memory [GiB] |")
        print("|---|---|---|---|---|---|---|")
        for model, backend in runs:
            name = Path(model).stem if model.endswith(".onnx") else model
            for size in args.sizes:
                if name == "paper" and size > args.paper_max_size:
                    continue
                r = measure(size, model, backend, args.tile)
                if "error" in r:
                    print(f"| {name} | {backend} | {size}² | error: {r['error']} | | | |")
                    continue
                print(f"| {name} | {backend} | {size}² | {r['wall_s']:.2f} | {r['restore_s']:.2f} | "
                      f"{r['load_s']:.2f} | {r['peak_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

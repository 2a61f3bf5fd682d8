"""Seconds per network pass and fraction of the CPU's peak, per backend × precision × model.

Each model runs one whole frame (1, 1, size, size) through every backend available here
(onnxruntime float32; OpenVINO float32, and bfloat16 where the CPU has it), in one process,
interleaved, after one warm-up pass; the median of ``--repeats`` passes is reported. The peak
is a large float32 (and, with native bfloat16, bfloat16) matrix product in PyTorch on the same
number of threads; the models' work is their nominal FLOP count (the card's
``gflop_per_256x256``, scaled to the frame: the graph rewrites remove work, so this is the
original network's FLOPs per second).

Usage::

    python benchmarks/bench_backends.py [--models hrstem hrtem extra.onnx ...] [--size 1024]
                                        [--threads 2] [--repeats 5] [--backends onnx openvino ...]

A model given as an ``.onnx`` path uses the card next to it for its FLOPs (or ``--gflop``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PEAK = r"""
import sys, time, torch
threads, dtype = int(sys.argv[1]), getattr(torch, sys.argv[2])
torch.set_num_threads(threads)
n = 4096
a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
torch.mm(a, b)
best = float("inf")
for _ in range(5):
    t = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t)
print(2 * n**3 / best / 1e12)
"""


def peak_tflops(threads: int, dtype: str) -> float | None:
    """Best-of-5 TFLOP/s of a 4096² matrix product in PyTorch (a fresh process; None without torch)."""
    result = subprocess.run([sys.executable, "-c", PEAK, str(threads), dtype], capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None


def model_gflop(model: str, size: int, override: float | None) -> tuple[Path, float | None]:
    from emrestore.model.registry import find_model

    info = find_model(model)
    per_256 = override or ((info.card.generator or {}).get("gflop_per_256x256"))
    return info.onnx_path, None if per_256 is None else float(per_256) * (size / 256) ** 2


def time_backends(path: Path, size: int, names: list[str], threads: int, repeats: int) -> dict[str, float]:
    """Median seconds per pass of each backend on one (1, 1, size, size) frame."""
    import numpy as np

    from emrestore.restoration.backends import OnnxBackend, check_frame
    from emrestore.restoration.openvino_backend import OpenVinoBackend

    frame = np.tile(check_frame(256), (1, 1, size // 256, size // 256))
    stats = np.array([[frame.mean(), frame.std()]], np.float32)
    runs = {}
    for name in names:
        if name == "onnx":
            runs[name] = OnnxBackend(path, device="cpu", threads=threads)
        else:
            runs[name] = OpenVinoBackend(path, precision="bf16" if name.endswith("bf16") else "fp32", threads=threads)
        runs[name](frame, stats)  # warm-up (OpenVINO compiles for the shape here)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run(frame, stats)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["hrstem", "hrtem"])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", nargs="+", help="default: every one this machine and install allow")
    parser.add_argument("--gflop", type=float, help="GFLOP per 256² frame for models without a card")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    from emrestore.restoration.backends import cpu_candidates
    from emrestore.restoration.cpu_caps import detect_cpu
    from emrestore.restoration.openvino_backend import openvino_available

    caps = detect_cpu()
    names = args.backends or cpu_candidates(caps, openvino_available())[::-1]
    peaks = {"fp32": peak_tflops(args.threads, "float32")}
    if caps.bf16:
        peaks["bf16"] = peak_tflops(args.threads, "bfloat16")
    load = os.getloadavg()
    print(f"# {caps.describe()}; {args.threads} threads; {dt.date.today()}; load {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; {args.size}²; peak fp32 {peaks['fp32'] or float('nan'):.3f} TFLOP/s"
          + (f", bf16 {peaks['bf16']:.3f}" if "bf16" in peaks else ""))
    print("| model | backend | precision | s per pass | TFLOP/s (nominal) | fraction of fp32 peak | "
          "fraction of the precision's peak |")
    print("|---|---|---|---:|---:|---:|---:|")
    rows = []
    for model in args.models:
        path, gflop = model_gflop(model, args.size, args.gflop)
        label = Path(model).stem if model.endswith(".onnx") else model
        for name, seconds in time_backends(path, args.size, names, args.threads, args.repeats).items():
            precision = "bf16" if name.endswith("bf16") else "fp32"
            tflops = gflop / seconds / 1e3 if gflop else None
            own = peaks.get(precision)
            row = {"model": label, "backend": name, "precision": precision, "seconds": seconds, "tflops": tflops,
                   "of_fp32_peak": tflops / peaks["fp32"] if tflops and peaks["fp32"] else None,
                   "of_own_peak": tflops / own if tflops and own else None}
            rows.append(row)
            fmt = (lambda v, spec: format(v, spec) if v is not None else "–")
            print(f"| {label} | {name} | {precision} | {seconds:.3f} | {fmt(tflops, '.3f')} | "
                  f"{fmt(row['of_fp32_peak'], '.0%')} | {fmt(row['of_own_peak'], '.0%')} |", flush=True)
    if args.json:
        print(json.dumps({"cpu": caps.describe(), "load": load, "peaks_tflops": peaks, "rows": rows}))


if __name__ == "__main__":
    main()

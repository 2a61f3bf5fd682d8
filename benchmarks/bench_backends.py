"""Seconds per network pass and fraction of the CPU's peak, per backend × precision × model.

Each model runs one whole frame (1, 1, size, size) through every backend available here
(onnxruntime float32; OpenVINO float32, and bfloat16 where the CPU has it), in one process,
after one warm-up pass, in ``--repeats`` rounds that run every case once; the shortest pass
is reported. The peak is a 3072² float32 (and, with native bfloat16, bfloat16) matrix product
in PyTorch on the same number of threads, timed once in every round too (so that peak and
models see the same load on a shared machine), the best round; the models' work is their nominal FLOP count (the card's
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
import time
from pathlib import Path


def matmul_peak(threads: int, dtype: str = "float32", n: int = 3072) -> "callable":
    """A function timing one n×n matrix product in PyTorch on ``threads`` threads [TFLOP/s]."""
    import torch

    torch.set_num_threads(threads)
    kind = getattr(torch, dtype)
    a, b = torch.randn(n, n).to(kind), torch.randn(n, n).to(kind)
    torch.mm(a, b)

    def once() -> float:
        start = time.perf_counter()
        torch.mm(a, b)
        return 2 * n**3 / (time.perf_counter() - start) / 1e12

    return once


def model_gflop(model: str, size: int, override: float | None) -> tuple[Path, float | None]:
    from emrestore.model.registry import find_model

    info = find_model(model)
    per_256 = override or ((info.card.generator or {}).get("gflop_per_256x256"))
    return info.onnx_path, None if per_256 is None else float(per_256) * (size / 256) ** 2


def time_runs(cases: list[tuple[str, Path, str]], size: int, threads: int, repeats: int,
              peaks: dict[str, "callable"]) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """Shortest seconds per pass of each (label, model file, backend) case on one (1, 1, size, size)
    frame, and the highest matrix-product TFLOP/s per precision. Every round runs each peak and
    each case once, so all of them see the same machine load."""
    import numpy as np

    from emrestore.restoration.backends import OnnxBackend, check_frame
    from emrestore.restoration.openvino_backend import OpenVinoBackend

    frame = np.tile(check_frame(256), (1, 1, size // 256, size // 256))
    stats = np.array([[frame.mean(), frame.std()]], np.float32)
    runs = {}
    for label, path, name in cases:
        if name == "onnx":
            run = OnnxBackend(path, device="cpu", threads=threads)
        else:
            run = OpenVinoBackend(path, precision="bf16" if name.endswith("bf16") else "fp32", threads=threads)
        run(frame, stats)  # warm-up (OpenVINO compiles for the shape here)
        runs[(label, name)] = run
    best = {key: float("inf") for key in runs}
    best_peak = {precision: 0.0 for precision in peaks}
    for _ in range(repeats):
        for precision, once in peaks.items():
            best_peak[precision] = max(best_peak[precision], once())
        for key, run in runs.items():
            start = time.perf_counter()
            run(frame, stats)
            best[key] = min(best[key], time.perf_counter() - start)
    return best, best_peak


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
    peaks = {"fp32": matmul_peak(args.threads, "float32")}
    if caps.bf16:
        peaks["bf16"] = matmul_peak(args.threads, "bfloat16")
    load = os.getloadavg()
    cases, gflops = [], {}
    for model in args.models:
        path, gflops[model] = model_gflop(model, args.size, args.gflop)
        label = Path(model).stem if model.endswith(".onnx") else model
        cases.extend((label, path, name) for name in names)
        gflops[label] = gflops.pop(model)
    seconds, peak = time_runs(cases, args.size, args.threads, args.repeats, peaks)
    rows = []
    for (label, name), value in seconds.items():
        gflop = gflops[label]
        rows.append({"model": label, "backend": name, "precision": "bf16" if name.endswith("bf16") else "fp32",
                     "seconds": value, "tflops": gflop / value / 1e3 if gflop else None})
    end = os.getloadavg()
    print(f"# {caps.describe()}; {args.threads} threads; {dt.date.today()}; load {load[0]:.2f} → {end[0]:.2f}; "
          f"{args.size}²; best of each; matrix-product peak fp32 {peak['fp32']:.3f} TFLOP/s"
          + (f", bf16 {peak['bf16']:.3f}" if "bf16" in peak else ""))
    print("| model | backend | precision | s per pass | TFLOP/s (nominal) | fraction of fp32 peak | "
          "fraction of the precision's peak |")
    print("|---|---|---|---:|---:|---:|---:|")
    for row in rows:
        tflops, own = row["tflops"], peak.get(row["precision"])
        row["of_fp32_peak"] = tflops / peak["fp32"] if tflops else None
        row["of_own_peak"] = tflops / own if tflops and own else None
        fmt = (lambda v, spec: format(v, spec) if v is not None else "–")
        print(f"| {row['model']} | {row['backend']} | {row['precision']} | {row['seconds']:.3f} | "
              f"{fmt(tflops, '.3f')} | {fmt(row['of_fp32_peak'], '.0%')} | {fmt(row['of_own_peak'], '.0%')} |")
    if args.json:
        print(json.dumps({"cpu": caps.describe(), "load": [load, end], "peaks_tflops": peak, "rows": rows}))


if __name__ == "__main__":
    main()

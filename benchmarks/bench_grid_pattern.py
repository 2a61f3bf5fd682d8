"""The fixed pattern of the networks on their 4-px grid, before and after its removal, on real frames.

For every shipped model (or the given .onnx files) and every real frame in the given folders
(first frame of a series; central 1024² at most): the strongest spot at a grid frequency
(k/4, l/4) cycles/px of the restored frame's power spectrum over the mean of the 24 bins around
it — the network's own output (tiles blended, nothing more) and the restored frame
(:mod:`emrestore.restoration.grid_pattern`) — with the same for the input, and the RMS of the
change the removal makes over the RMS of what the restoration removed (input − restored).

    PYTHONPATH=src python benchmarks/bench_grid_pattern.py ../shared/data/real-series ../shared/data/real
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from emrestore.evaluation.real_files import discover
from emrestore.restoration import load_model, shipped_models
from emrestore.restoration.grid_pattern import strongest_grid_spot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--model", action="append", help="tag or .onnx (default: the six shipped models)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    models = args.model or [m.name for m in shipped_models()]
    print("| frame | model | input | network output | restored | change RMS / RMS(input − restored) |")
    print("|---|---|---:|---:|---:|---:|")
    for folder in args.folders:
        files, _ = discover(folder)
        for real in files:
            frame = np.asarray(real.image.data, np.float32)
            frame = frame[0] if frame.ndim == 3 else frame
            n = min(frame.shape) // 16 * 16
            if n < 64:
                continue
            n = min(n, 1024)
            top, left = (frame.shape[0] - n) // 2, (frame.shape[1] - n) // 2
            frame = np.ascontiguousarray(frame[top:top + n, left:left + n])
            for model in models:
                restorer = load_model(model, progress=False)
                _, raw = restorer.network_output(frame)
                restored = restorer.restore_array(frame)
                change = float(np.sqrt(np.mean((restored - raw) ** 2)))
                residual = float(np.sqrt(np.mean((frame - restored) ** 2)))
                print(f"| {real.name} ({n}²) | {restorer.info.name} | {strongest_grid_spot(frame):.1f} | {strongest_grid_spot(raw):.0f} | "
                      f"{strongest_grid_spot(restored):.1f} | {change / residual:.4f} |", flush=True)


if __name__ == "__main__":
    main()

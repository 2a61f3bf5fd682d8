"""Receptive fields, tile seams and the cost of the overlap, for the shipped models.

Three parts (any combination):

``--measure``
    Measure every model's effective receptive field (:mod:`emrestore.restoration.receptive`):
    Poisson frames at three doses, two frames rendered like its training data, and the real
    frames under ``../shared/data/real`` when present. ``--write-cards`` stores the result
    (``receptive_field_px`` and ``receptive_field``) in the shipped model cards, leaving every
    other field as it is.
``--seams``
    Largest |tiled − whole| / std for every model and tile size on Poisson frames and the
    real HR-STEM frame, with the model's own overlap (and, for comparison, the old 64 px).
``--timing``
    Restore time of one frame on the CPU cores given (``taskset``), each case in a fresh
    process, with the old fixed overlap (64 px, quarter-overlap window) and the new one.

Usage::

    python benchmarks/bench_tiling.py --measure [--write-cards] [--models hrstem ...]
    python benchmarks/bench_tiling.py --seams [--tiles 0 256 512 1024]
    python benchmarks/bench_tiling.py --timing [--size 1024] [--tiles 1024 512] [--cpus 0,1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
REAL_FRAMES = ("hrstem_example.ser", "zeiss_sem_1k.tif")


def real_frames() -> list[tuple[str, np.ndarray]]:
    """The real micrographs under ../shared/data/real that are present."""
    import emrestore

    found = []
    for name in REAL_FRAMES:
        path = REAL / name
        if path.is_file():
            found.append((f"real {name}", np.asarray(emrestore.read(path).data, np.float32)))
    return found


def measure(models: list[str], write_cards: bool) -> None:
    from emrestore.restoration import Restorer
    from emrestore.model.receptive import DEFAULT_TOLERANCE, card_entry
    from emrestore.model.registry import MODELS_DIR
    from emrestore.restoration.receptive import measure_receptive_field, probe_frames, radius_at

    real = real_frames()
    print(f"# tolerance {DEFAULT_TOLERANCE:g} of the frame's std, {time.strftime('%Y-%m-%d')}")
    for tag in models:
        start = time.perf_counter()
        restorer = Restorer(tag, tile=0, progress=False)
        side = -(-(4 * restorer.info.theoretical_receptive_px + 32) // 4) * 4
        frames = probe_frames(tag, side) + real
        rows: list[tuple[str, np.ndarray]] = []
        field = measure_receptive_field(restorer, frames, on_frame=lambda name, p, rows=rows: rows.append((name, p)))
        print(f"\n## {tag}: theoretical {field.theoretical_px} px, measured radius {field.radius_px} px, "
              f"recorded context {field.effective_px} px ({time.perf_counter() - start:.0f} s)")
        for name, profile in rows:
            tail = np.maximum.accumulate(profile[::-1])[::-1]
            marks = " ".join(f"{d}:{tail[d]:.1e}" for d in (16, 32, 48, 64, 96) if d < len(tail))
            print(f"  {name:42s} r(1e-3)={radius_at(profile, 1e-3):3d} r(2.5e-4)={radius_at(profile, 2.5e-4):3d} "
                  f"r(1e-5)={radius_at(profile, 1e-5):3d}  {marks}")
        if write_cards:
            path = MODELS_DIR / f"{tag}.json"
            card = json.loads(path.read_text())
            updated = {}
            for key, value in card.items():
                if key in ("receptive_field_px", "receptive_field"):
                    continue
                updated[key] = value
                if key == "size_multiple":
                    updated["receptive_field_px"] = field.effective_px
                    updated["receptive_field"] = card_entry(field)
            path.write_text(json.dumps(updated, indent=2) + "\n")
            print(f"  wrote {path.relative_to(ROOT)}")


def seams(models: list[str], tiles: list[int], shape: tuple[int, int], legacy: bool) -> None:
    from emrestore.restoration import Restorer

    rng = np.random.default_rng(7)
    frames = [("poisson mean 20", rng.poisson(20.0, shape).astype(np.float32)),
              ("poisson mean 500", rng.poisson(500.0, shape).astype(np.float32))]
    frames += [(n, f) for n, f in real_frames() if "hrstem" in n]
    print(f"# max |tiled - whole| / std of the frame, {shape[0]}x{shape[1]} Poisson frames "
          f"and the real 1024x1024 HR-STEM frame, {time.strftime('%Y-%m-%d')}")
    print("| model | context [px] | overlap [px] | tile [px] | " + " | ".join(n for n, _ in frames) + " |")
    print("|---|---|---|---|" + "---|" * len(frames))
    for tag in models:
        whole_r = Restorer(tag, tile=0, progress=False)
        wholes = [whole_r.restore_array(f) for _, f in frames]
        settings = [(t, None) for t in tiles] + ([(512, 64)] if legacy else [])
        for tile, overlap in settings:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                tiled_r = Restorer(tag, tile=tile, overlap=overlap, progress=False)
            cells = []
            for (_, frame), whole in zip(frames, wholes):
                diff = np.abs(tiled_r.restore_array(frame) - whole).max() / frame.std()
                cells.append(f"{100 * diff:.4f} %")
            print(f"| {tag} | {tiled_r.context} | {tiled_r.overlap} | {tile} → {tiled_r.tile} | "
                  + " | ".join(cells) + " |", flush=True)


CHILD = r"""
import json, sys, time, warnings
import numpy as np
import emrestore
from emrestore.restoration import tiling
size, model, tile, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
y, x = np.mgrid[:size, :size]
lattice = 1 + 0.5 * np.cos(2 * np.pi * x / 7.3) * np.cos(2 * np.pi * y / 5.1)
image = np.random.default_rng(0).poisson(20 * lattice).astype(np.float32)
warnings.simplefilter("ignore")
if mode == "old":   # emrestore <= 0.1: 64-px overlap, quarter-overlap window
    restorer = emrestore.restoration.Restorer(model, tile=tile, overlap=64, progress=False)
    restorer.margin = None
else:
    restorer = emrestore.restoration.Restorer(model, tile=tile, progress=False)
restorer.restore_array(image[:64, :64])  # warm-up (session, allocator)
best = float("inf")
for _ in range(int(sys.argv[5])):
    t0 = time.perf_counter()
    restorer.restore_array(image)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"restore_s": best, "tiles": restorer.tile_count(image.shape),
                  "overlap": restorer.overlap, "tile": restorer.tile}))
"""


def timing(models: list[str], size: int, tiles: list[int], cpus: str, repeats: int) -> None:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "17179869184"}
    prefix = ["taskset", "-c", cpus] if cpus else []
    ncpu = len(cpus.split(",")) if cpus else os.cpu_count()
    print(f"# {platform.processor() or platform.machine()}, {ncpu} cores ({cpus or 'all'}), "
          f"{time.strftime('%Y-%m-%d')}, {size}x{size} frame, best of {repeats}")
    print("| model | tile [px] | overlap | tiles | restore [s] |")
    print("|---|---|---|---|---|")
    for model in models:
        for tile in tiles:
            for mode in ("old", "new"):
                result = subprocess.run(prefix + [sys.executable, "-c", CHILD, str(size), model, str(tile), mode,
                                                  str(repeats)], capture_output=True, text=True, env=env, check=False)
                if result.returncode != 0:
                    print(f"| {model} | {tile} | {mode} | error | {result.stderr.strip().splitlines()[-1]} |")
                    continue
                r = json.loads(result.stdout.strip().splitlines()[-1])
                label = "64 px (old)" if mode == "old" else f"{r['overlap']} px (model's)"
                print(f"| {model} | {r['tile']} | {label} | {r['tiles']} | {r['restore_s']:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--write-cards", action="store_true", help="with --measure: update the shipped cards")
    parser.add_argument("--seams", action="store_true")
    parser.add_argument("--legacy", action="store_true", help="with --seams: also 512-px tiles with 64-px overlap")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--models", nargs="+", help="model tags (default: shipped models)")
    parser.add_argument("--tiles", type=int, nargs="+", help="tile sizes [px]")
    parser.add_argument("--shape", type=int, nargs=2, default=[1100, 900], help="Poisson frame for --seams")
    parser.add_argument("--size", type=int, default=1024, help="frame edge for --timing")
    parser.add_argument("--cpus", default="0,1", help="CPU list for --timing (taskset; '' = all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from emrestore.restoration import shipped_models

    models = args.models or [m.name for m in shipped_models()]
    if args.measure:
        measure(models, args.write_cards)
    if args.seams:
        seams(models, args.tiles or [0, 256, 512, 1024], tuple(args.shape), args.legacy)
    if args.timing:
        timing(models, args.size, args.tiles or [1024, 512], args.cpus, args.repeats)
    if not (args.measure or args.seams or args.timing):
        parser.error("choose --measure, --seams and/or --timing")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()

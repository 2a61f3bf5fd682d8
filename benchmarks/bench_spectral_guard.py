"""The cap on a restoration's spectral gain, on real frames and on the simulated evaluation sets.

For every shipped model (or the given .onnx files) and every real frame in the given folders
(first frame of a series, whole), restored with and without the cap
(:mod:`emrestore.restoration.spectral_guard`; "without" is the network's output with its grid
pattern removed, what ``restore_array`` returned before the cap): the share of frequencies it
changes, the change as a PSNR against the restoration's range, the largest spectral gain of the
restoration over the input (:func:`~emrestore.evaluation.spectrum.spectral_gain`) and, where the
frame shows a lattice, the Bragg spots kept and those that appear
(:func:`~emrestore.evaluation.lattice.lattice_fidelity`), and the cap's time. With ``--sim N``,
also the mean PSNR against the target on the first N frames of each tag's evaluation set, with
and without it (and the largest loss and gain of one frame).

    PYTHONPATH=src python benchmarks/bench_spectral_guard.py ../shared/data/real-series ../shared/data/real \\
        [--sim 32 --cache DIR]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from emrestore.evaluation.lattice import MIN_SPOTS, find_spots, lattice_fidelity
from emrestore.evaluation.real_files import discover
from emrestore.evaluation.spectrum import spectral_gain
from emrestore.restoration import load_model, shipped_models
from emrestore.restoration.grid_pattern import remove_grid_pattern
from emrestore.restoration.spectral_guard import cap_spectral_gain, capped_share


def _both(restorer, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The frame as the network saw it, the restoration without and with the cap, the cap's time [s]."""
    data, raw = restorer.network_output(frame)
    before = remove_grid_pattern(data, raw, restorer.info.size_multiple)
    start = time.perf_counter()
    after = cap_spectral_gain(data, before)
    return data, before, after, time.perf_counter() - start


def _psnr(a: np.ndarray, b: np.ndarray, span: float) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(span**2 / mse)


def real_frames(folders: list[str], models: list[str]) -> None:
    print("| frame | model | frequencies capped | change [dB] | largest spectral gain, before → after | "
          "spots kept, before → after | appeared, before → after | cap [s] |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for folder in folders:
        files, _ = discover(folder)
        for real in files:
            frame = np.asarray(real.image.data, np.float32)
            frame = frame[0] if frame.ndim == 3 else frame
            lattice = len(find_spots(frame.astype(np.float64))) >= MIN_SPOTS
            for model in models:
                restorer = load_model(model, progress=False)
                data, before, after, seconds = _both(restorer, frame)
                span = float(np.ptp(before)) or 1.0
                gains = spectral_gain(frame, before).max_gain, spectral_gain(frame, after).max_gain
                spots = appeared = "–"
                if lattice:
                    fb, fa = lattice_fidelity(frame, before), lattice_fidelity(frame, after)
                    spots = f"{fb.share_survived:.0%} → {fa.share_survived:.0%}"
                    appeared = f"{len(fb.appeared)} → {len(fa.appeared)}"
                print(f"| {real.name} {frame.shape[0]}×{frame.shape[1]} | {restorer.info.name} | "
                      f"{capped_share(data, before):.3%} | {_psnr(after, before, span):.1f} | "
                      f"{gains[0]:.1f} → {gains[1]:.1f} | {spots} | {appeared} | {seconds:.2f} |", flush=True)


def simulated(models: list[str], n: int, cache: str | None) -> None:
    from emrestore.evaluation.validation import validation_pairs

    print("\n| model | frames | mean PSNR without → with the cap [dB] | largest loss / gain of one frame [dB] |")
    print("|---|---:|---:|---:|")
    for model in models:
        restorer = load_model(model, progress=False)
        pairs = validation_pairs(restorer.info.name, cache_dir=cache, progress=False)
        without, with_cap = [], []
        for x, target in zip(pairs.inputs[:n], pairs.targets[:n]):
            _, before, after, _ = _both(restorer, np.asarray(x, np.float32))
            span = float(np.ptp(target))
            without.append(_psnr(before, target, span))
            with_cap.append(_psnr(after, target, span))
        diff = np.array(with_cap) - np.array(without)
        print(f"| {restorer.info.name} | {len(diff)} | {np.mean(without):.3f} → {np.mean(with_cap):.3f} | "
              f"{diff.min():+.3f} / {diff.max():+.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*")
    parser.add_argument("--model", action="append", help="tag or .onnx (default: the six shipped models)")
    parser.add_argument("--sim", type=int, default=0, help="frames of each evaluation set to score (0: none)")
    parser.add_argument("--cache", help="folder of the evaluation sets (emrestore evaluate --cache)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    models = args.model or [m.name for m in shipped_models()]
    if args.folders:
        real_frames(args.folders, models)
    if args.sim:
        simulated(models, args.sim, args.cache)


if __name__ == "__main__":
    main()

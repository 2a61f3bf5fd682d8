"""The spectral guard of a restoration, on real frames and on the simulated evaluation sets.

``--step cap`` (default) measures the cap on the spectral gain; ``--step spots`` the step after
it, the input's clearly visible Bragg spots put back where the network removed them
(:func:`~emrestore.restoration.spectral_guard.keep_input_spots`): "before" is then the capped
restoration, "after" the one with the spots kept.

For every shipped model (or the given .onnx files) and every real frame in the given folders
(first frame of a series, whole), restored with and without the cap
(:mod:`emrestore.restoration.spectral_guard`; "without" is the network's output with its grid
pattern removed, what ``restore_array`` returned before the cap): the share of frequencies it
changes, the change as a PSNR against the restoration's range, the largest spectral gain of the
restoration over the input (:func:`~emrestore.evaluation.spectrum.spectral_gain`) and, where the
frame shows a lattice, the Bragg spots kept (those the optics can carry, as the report counts them) and those that appear
(:func:`~emrestore.evaluation.lattice.lattice_fidelity`), and the cap's time. With ``--sim N``,
also the mean PSNR against the target on the first N frames of each tag's evaluation set, with
and without it (and the largest loss and gain of one frame).

    PYTHONPATH=src python benchmarks/bench_spectral_guard.py ../shared/data/real-series ../shared/data/real \\
        [--sim 32 --cache DIR] [--step spots]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from emrestore.evaluation.lattice import MIN_SPOTS, find_spots, lattice_fidelity, transfer_limit_cycles_per_px
from emrestore.evaluation.real_files import discover
from emrestore.evaluation.spectrum import spectral_gain
from emrestore.restoration import load_model, shipped_models
from emrestore.restoration.grid_pattern import remove_grid_pattern
from emrestore.restoration.spectral_guard import cap_spectral_gain, capped_share, input_spots, keep_input_spots


def _both(restorer, frame: np.ndarray, step: str = "cap") -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The frame as the network saw it, the restoration without and with ``step``, its time [s]."""
    data, raw = restorer.network_output(frame)
    before = remove_grid_pattern(data, raw, restorer.info.size_multiple)
    if step == "spots":
        before = cap_spectral_gain(data, before)
    start = time.perf_counter()
    after = (cap_spectral_gain(data, before) if step == "cap"
             else keep_input_spots(data, before, scanned=restorer.scanned))
    return data, before, after, time.perf_counter() - start


def _changed_share(step: str, data: np.ndarray, before: np.ndarray) -> float:
    """Share of the half spectrum's frequencies ``step`` may change (capped, or input spot bins)."""
    if step == "cap":
        return capped_share(data, before)
    found = input_spots(data)
    return 0.0 if found is None else float(found[0].mean())


def _psnr(a: np.ndarray, b: np.ndarray, span: float) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(span**2 / mse)


def real_frames(folders: list[str], models: list[str], step: str = "cap") -> None:
    share = "frequencies capped" if step == "cap" else "input spot frequencies"
    print(f"| frame | model | {share} | change [dB] | largest spectral gain, before → after | "
          f"spots kept (outer half), before → after | appeared, before → after | {step} [s] |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for folder in folders:
        files, _ = discover(folder)
        for real in files:
            frame = np.asarray(real.image.data, np.float32)
            frame = frame[0] if frame.ndim == 3 else frame
            lattice = len(find_spots(frame.astype(np.float64))) >= MIN_SPOTS
            for model in models:
                restorer = load_model(model, progress=False)
                data, before, after, seconds = _both(restorer, frame, step)
                span = float(np.ptp(before)) or 1.0
                gains = spectral_gain(frame, before).max_gain, spectral_gain(frame, after).max_gain
                spots = appeared = "–"
                if lattice:
                    limit = transfer_limit_cycles_per_px(real.image.modality or "", real.image.pixel_size_nm)
                    fb = lattice_fidelity(frame, before).within(limit)
                    fa = lattice_fidelity(frame, after).within(limit)
                    spots = (f"{fb.share_survived:.0%} ({fb.share_outer_survived:.0%}) → "
                             f"{fa.share_survived:.0%} ({fa.share_outer_survived:.0%})")
                    appeared = f"{len(fb.appeared)} → {len(fa.appeared)}"
                print(f"| {real.name} {frame.shape[0]}×{frame.shape[1]} | {restorer.info.name} | "
                      f"{_changed_share(step, data, before):.3%} | {_psnr(after, before, span):.1f} | "
                      f"{gains[0]:.1f} → {gains[1]:.1f} | {spots} | {appeared} | {seconds:.2f} |", flush=True)


def simulated(models: list[str], n: int, cache: str | None, step: str = "cap") -> None:
    from emrestore.evaluation.validation import validation_pairs

    print(f"\n| model | frames | mean PSNR without → with step {step} [dB] | largest loss / gain of one frame [dB] |")
    print("|---|---:|---:|---:|")
    for model in models:
        restorer = load_model(model, progress=False)
        pairs = validation_pairs(restorer.info.name, cache_dir=cache, progress=False)
        without, with_cap = [], []
        for x, target in zip(pairs.inputs[:n], pairs.targets[:n]):
            _, before, after, _ = _both(restorer, np.asarray(x, np.float32), step)
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
    parser.add_argument("--step", choices=("cap", "spots"), default="cap",
                        help="the guard's step to measure: the gain cap, or the input's spots kept after it")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    models = args.model or [m.name for m in shipped_models()]
    if args.folders:
        real_frames(args.folders, models, args.step)
    if args.sim:
        simulated(models, args.sim, args.cache, args.step)


if __name__ == "__main__":
    main()

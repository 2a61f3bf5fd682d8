"""Error budget: how much of each evaluation frame's error is shot noise, and how much is not?

The evaluation asks every model to beat oracle-tuned BM3D by 3 dB mean PSNR. A denoiser, however
good, can at best recover the frame the microscope would have recorded without shot noise:
the scan distortions, blur, afterglow and display of the degraded frame stay. This benchmark
re-renders pairs of each tag's evaluation set (``emrestore evaluate``'s cached set, seed
20261122) with the same specimen and the same distortion parameters except:

* ``dose 1e6``: the dose set to 10⁶ e⁻/px (primary electrons for SEM), everything else
  unchanged — the *shot-noise-free* frame, close to what a perfect denoiser could give;
* ``… no scan geometry`` (STEM/SEM): also drift, line jitter, interference, fast jitter,
  fly-back and scan-speed warp switched off;
* ``… no blur`` (STEM/SEM): also dwell blur and detector afterglow switched off.

and prints, per tag, the mean PSNR [dB] against the target of the raw frame, of those
re-rendered frames, of the shipped model on the raw frame and on the shot-noise-free frame,
and of BM3D (oracle σ) when ``emrestore evaluate`` has cached its scores. A second table
splits the model's lead over BM3D by dose quartile (all 64 pairs; needs the cached BM3D
scores of ``emrestore evaluate --bm3d-images -1``), with what an oracle offset per frame (the
target's mean) would add to the model. The results are in docs/models.md ("What
limits the STEM and SEM models").

Usage::

    python benchmarks/bench_error_budget.py [--tags hrsem ...] [--stride 2] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emrestore.commands.evaluate import _cache_dir
from emrestore.datasets.bank import render_sample
from emrestore.datasets.registry import TAGS
from emrestore.evaluation.baselines import BASELINES
from emrestore.evaluation.metrics import psnr
from emrestore.evaluation.scoring import scores_cache_path
from emrestore.evaluation.validation import DOSE_KEYS, ValidationSet, validation_pairs
from emrestore.restoration.engine import Restorer

#: Dose of the shot-noise-free re-rendering [e⁻/px].
HIGH_DOSE = 1e6
#: Scan-geometry parameters of the STEM and SEM chains, switched off together.
SCAN_GEOMETRY_OFF = {
    "drift_px": 0.0, "jitter_sigma_x_px": 0.0, "jitter_sigma_y_px": 0.0, "fast_jitter_sigma_px": 0.0,
    "flyback_amplitude_px": 0.0, "scan_warp_px": 0.0,
    **{f"interference_amp_{axis}_px_{k}": 0.0 for axis in "xy" for k in (1, 2, 3)},
}
#: Probe-travel blur and detector afterglow of the STEM and SEM chains.
BLUR_OFF = {"dwell_blur_px": 0.0, "afterglow_tau_dwells": 0.0}
#: Parameters derived from the dose (the ADC mapping follows the signal range; a TEM frame the
#: new dose would saturate is recorded without an ADC, `adc_bits` None).
DOSE_DERIVED = {"offset_adu", "contrast_adu_per_e", "gain_adu_per_e", "adc_bits"}


def rerender(tag: str, size: int, seed: int, index: int, overrides: dict[str, float],
             reference: dict) -> dict[str, np.ndarray]:
    """Pair ``index`` again with ``overrides``; checks that no other parameter moved."""
    arrays = render_sample(tag, size, seed, index, pairs=True, distort_params=overrides)
    params = json.loads(str(arrays["params"]))["distortion"]
    moved = [k for k, v in params.items()
             if k not in overrides and k not in DOSE_DERIVED and reference.get(k) != v]
    if moved:
        raise RuntimeError(f"pair {index}: re-rendering changed {moved}; the budget would compare other frames")
    return arrays


def cached_bm3d(valset: ValidationSet, cache: Path) -> dict[str, dict] | None:
    """BM3D per-image scores cached by ``emrestore evaluate``, or None."""
    bm3d = next(b for b in BASELINES if b.name.startswith("BM3D"))
    path = scores_cache_path(cache, valset, bm3d)
    return json.loads(path.read_text()) if path.is_file() else None


def budget(tag: str, stride: int, cache: Path) -> dict[str, float]:
    """Mean PSNR [dB] of each variant over every ``stride``-th pair of ``tag``'s evaluation set."""
    valset = validation_pairs(tag, cache_dir=cache, progress=False)
    restorer = Restorer(tag, progress=False)
    bm3d = cached_bm3d(valset, cache)
    size = valset.inputs.shape[-1]
    scanned = tag.endswith(("stem", "sem"))
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for i in range(0, len(valset), stride):
        target = valset.targets[i]
        original = render_sample(tag, size, valset.seed, i, pairs=True)
        if not np.allclose(original["input"], valset.inputs[i]):
            raise RuntimeError(f"pair {i} renders differently from the cached evaluation set: re-run emrestore evaluate")
        reference = json.loads(str(original["params"]))["distortion"]
        key = next(k for k in DOSE_KEYS if k in reference)
        add("raw frame", psnr(valset.inputs[i], target))
        variants = {"dose 1e6": {key: HIGH_DOSE}}
        if scanned:
            variants["dose 1e6, no scan geometry"] = {key: HIGH_DOSE, **SCAN_GEOMETRY_OFF}
            variants["dose 1e6, no scan geometry, no blur"] = {key: HIGH_DOSE, **SCAN_GEOMETRY_OFF, **BLUR_OFF}
        clean_frame = None
        for name, overrides in variants.items():
            arrays = rerender(tag, size, valset.seed, i, overrides, reference)
            add(name, psnr(arrays["input"], arrays["target"]))
            if clean_frame is None:
                clean_frame = arrays
        add("model on raw frame", psnr(restorer.restore_array(valset.inputs[i]), target))
        add("model on dose-1e6 frame", psnr(restorer.restore_array(clean_frame["input"]), clean_frame["target"]))
        if bm3d is not None and str(i) in bm3d:
            add("BM3D (oracle σ) on raw frame", bm3d[str(i)]["psnr_db"])
    return {name: float(np.mean(values)) for name, values in rows.items()}


def dose_quartile_gaps(tag: str, cache: Path) -> tuple[list[float], float] | None:
    """Mean PSNR lead [dB] of the shipped model over BM3D in each dose quartile (lowest first),
    and what the model would gain [dB, mean] if its output had the target's mean (an oracle
    offset per frame: how much of its error is the intensity level)."""
    valset = validation_pairs(tag, cache_dir=cache, progress=False)
    bm3d = cached_bm3d(valset, cache)
    if bm3d is None or any(str(i) not in bm3d for i in range(len(valset))):
        return None
    restorer = Restorer(tag, progress=False)
    lead, offset_gain = [], []
    for i in range(len(valset)):
        out = restorer.restore_array(valset.inputs[i]).astype(np.float64)
        target = valset.targets[i].astype(np.float64)
        score = psnr(out, target)
        lead.append(score - bm3d[str(i)]["psnr_db"])
        offset_gain.append(psnr(out - out.mean() + target.mean(), target) - score)
    quartile = np.searchsorted(np.quantile(valset.doses, [0.25, 0.5, 0.75]), valset.doses, side="right")
    leads = np.array(lead)
    return [float(leads[quartile == q].mean()) for q in range(4)], float(np.mean(offset_gain))


def print_budget(results: dict[str, dict[str, float]], columns: list[str]) -> None:
    """The error-budget table (markdown)."""
    print("| tag | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for tag, result in results.items():
        print(f"| {tag} | " + " | ".join(f"{result[c]:.2f}" if c in result else "–" for c in columns) + " |")


def print_quartiles(tags: list[str], cache: Path) -> None:
    """The model's lead over BM3D per dose quartile, and its oracle-offset gain (markdown)."""
    print("\n| tag | model − BM3D [dB], dose quartile 1 (lowest) | 2 | 3 | 4 | model with the target's mean [dB gained] |"
          "\n|---|---:|---:|---:|---:|---:|")
    for tag in tags:
        result = dose_quartile_gaps(tag, cache)
        if result is None:
            print(f"| {tag} | no cached BM3D scores | | | | |")
            continue
        gaps, offset_gain = result
        print(f"| {tag} | " + " | ".join(f"{g:+.2f}" for g in gaps) + f" | {offset_gain:+.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", nargs="+", default=list(TAGS), choices=TAGS)
    parser.add_argument("--stride", type=int, default=2, help="every STRIDE-th pair of the 64 (default 2)")
    parser.add_argument("--cache", type=Path, default=None, help="emrestore evaluate's cache folder")
    parser.add_argument("--quartiles-only", action="store_true", help="only the dose-quartile table (no re-rendering)")
    args = parser.parse_args()
    cache = _cache_dir(args.cache)
    results = {} if args.quartiles_only else {tag: budget(tag, args.stride, cache) for tag in args.tags}
    columns = list(dict.fromkeys(name for result in results.values() for name in result))
    if results:
        print_budget(results, columns)
    print_quartiles(args.tags, cache)


if __name__ == "__main__":
    main()

"""How well a frame's noise level is read from the frame: the spectral floor (what noise-conditioned
models are told) against the variance–mean fit of flat patches
(:func:`emrestore.noise_estimate.shot_noise_variance`, the fit of :func:`emrestore.estimate_noise`).

For every ``stride``-th pair of each tag's evaluation set (``emrestore evaluate``'s cached set),
at its own dose and re-rendered at ``--high-dose`` (same specimen and distortion parameters,
``bench_error_budget.rerender``), a ``--crop`` px crop at a seeded position, clipped as the
tag's shipped model clips its input (``input_clip_percent``: TEM frames' X-ray hits), is read
both ways. The true level is ``std(input − target)/std(input)`` on the crop (the target
being the expected frame; constant crops, which have none, are skipped). Printed per tag:
Spearman ρ of each estimate with the truth, the median of log10(estimate/truth) with its
inter-quartile range, and the medians on crops whose true level is below 0.1 (near-clean
frames, where a model told a wrong level smooths real detail).

Usage::

    python benchmarks/bench_noise_level.py [--tags lrtem hrstem ...] [--stride 2] [--crop 128]

Results: docs/network.md ("How well the spectral floor reads the level").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from bench_error_budget import rerender  # noqa: E402

from emrestore.commands.evaluate import _cache_dir  # noqa: E402
from emrestore.datasets.bank import render_sample  # noqa: E402
from emrestore.evaluation.validation import DOSE_KEYS, validation_pairs  # noqa: E402
from emrestore.model.conditioning import clip_percentiles  # noqa: E402
from emrestore.noise_estimate import shot_noise_variance, spectral_noise_variance  # noqa: E402
from emrestore.restoration.engine import Restorer  # noqa: E402


def levels(crop: np.ndarray) -> tuple[float, float]:
    """(spectral, variance–mean) noise level of ``crop`` in units of its std [-] (NaN: no fit)."""
    std = float(crop.std())
    shot = shot_noise_variance(crop)
    return (float(np.sqrt(spectral_noise_variance(crop))) / std,
            float("nan") if shot is None else float(np.sqrt(shot)) / std)


def measure(tag: str, stride: int, crop: int, high_dose: float, cache: Path, seed: int) -> np.ndarray:
    """Rows of (true, spectral, variance–mean) levels for ``tag``."""
    valset = validation_pairs(tag, cache_dir=cache, progress=False)
    clip = Restorer(tag, progress=False).clip_percent  # what the network sees (TEM: X-ray hits clipped)
    size = valset.inputs.shape[-1]
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(0, len(valset), stride):
        original = render_sample(tag, size, valset.seed, i, pairs=True)
        reference = json.loads(str(original["params"]))["distortion"]
        key = next(k for k in DOSE_KEYS if k in reference)
        high = rerender(tag, size, valset.seed, i, {key: high_dose}, reference)
        for pair in (original, high):
            y, x = rng.integers(0, size - crop + 1, 2)
            degraded = clip_percentiles(pair["input"][y:y + crop, x:x + crop], clip).astype(np.float64)
            target = pair["target"][y:y + crop, x:x + crop].astype(np.float64)
            if degraded.std() == 0:  # e.g. HAADF vacuum without a count: no level to read
                continue
            true = float(np.std(degraded - target) / degraded.std())
            rows.append((true, *levels(degraded)))
    return np.array(rows)


def summary(tag: str, rows: np.ndarray) -> str:
    true, spectral, varmean = rows.T
    low = true < 0.1

    def stats(estimate: np.ndarray) -> str:
        ok = np.isfinite(estimate)
        ratio = np.log10(np.maximum(estimate[ok], 1e-6) / true[ok])
        q1, q3 = np.percentile(ratio, [25, 75])
        failed = f", {int((~ok).sum())} without a fit" if not ok.all() else ""
        return f"{spearmanr(true[ok], estimate[ok])[0]:.2f}{failed} | {np.median(ratio):+.2f} ({q3 - q1:.2f})"

    near_clean = (f"{np.median(true[low]):.3f} / {np.median(spectral[low]):.3f} / {np.nanmedian(varmean[low]):.3f} "
                  f"({int(low.sum())})" if low.any() else "none")
    return f"| {tag} | {len(rows)} | {stats(spectral)} | {stats(varmean)} | {near_clean} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", nargs="*", default=["hrstem", "lrstem", "hrtem", "lrtem", "hrsem", "lrsem"])
    parser.add_argument("--stride", type=int, default=2, help="use every N-th pair of the 64 (default 2)")
    parser.add_argument("--crop", type=int, default=128, help="crop side [px] (default 128, as in training)")
    parser.add_argument("--high-dose", type=float, default=1e5, help="second dose of each pair [e-/px]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    cache = _cache_dir(args.cache)
    print("| tag | crops | spectral: ρ | spectral: log10(est/true) median (IQR) | variance–mean: ρ | "
          "variance–mean: log10(est/true) median (IQR) | true < 0.1: true / spectral / variance–mean (crops) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for tag in args.tags:
        print(summary(tag, measure(tag, args.stride, args.crop, args.high_dose, cache, args.seed)), flush=True)


if __name__ == "__main__":
    main()

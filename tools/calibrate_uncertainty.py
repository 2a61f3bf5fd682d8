"""Fit each shipped model's uncertainty-map calibration and write it into its model card.

Usage (from the repository root)::

    PYTHONPATH=src python tools/calibrate_uncertainty.py [--tags hrstem ...] [--n 28] [--dry-run]
        [--cache /tmp/valcache]

For each tag: frames 0 … n − 1 (default 28, the map's design frames; docs/uncertainty.md)
of its evaluation set (:func:`emrestore.evaluation.validation.validation_pairs`, 256² px,
never seen in training) restored whole by the shipped model; the true local error
``sqrt(G₈ * (restored − truth)²)``; then, over every 7th pixel inside a 16-px border of all
frames,

* ``detail_weight`` = median of ``true error / structure`` (the error per unit of restored
  local detail), and
* ``scale`` = median of ``true error / sqrt(detail_weight²·structure² + removed·sqrt(structure² + removed²))``,

so that on these frames the map's median ratio to the true error is 1
(:mod:`emrestore.restoration.uncertainty.calibration`). The card's ``uncertainty`` section
records both, the frames, the date and the simulator version. Frames 44 on are never used
here: ``benchmarks/bench_uncertainty.py --skip 44`` scores the result on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys

import numpy as np
from scipy import ndimage

from emrestore.datasets.registry import TAGS
from emrestore.evaluation.validation import SIMULATOR_VERSION, validation_pairs
from emrestore.model.card import ModelCard
from emrestore.restoration import load_model
from emrestore.restoration.uncertainty import DEFAULT_WINDOW, uncertainty_map
from emrestore.restoration.uncertainty.calibration import CARD_SECTION
from emrestore.restoration.uncertainty.calibration import METHOD_VERSION


def pixels(values: np.ndarray, window: float) -> np.ndarray:
    """Every 7th pixel inside a 2·window border, as float64 (the benchmark's sampling)."""
    b = int(2 * window)
    return np.asarray(values, np.float64)[b:-b, b:-b].ravel()[::7]


def fit(tag: str, n: int, cache: str | None, window: float = DEFAULT_WINDOW) -> dict:
    """The calibration of the shipped ``tag`` model on frames 0 … n − 1 of its evaluation set."""
    pairs = validation_pairs(tag, n=n, size=256, cache_dir=cache, progress=False)
    restorer = load_model(tag, tile=0, progress=False)
    err, structure, removed = [], [], []
    for i in range(n):
        x, truth = pairs.inputs[i], pairs.targets[i].astype(np.float64)
        y = restorer.restore_array(x)
        m = uncertainty_map(x, y, window=window, modality=tag[2:])
        err.append(pixels(np.sqrt(ndimage.gaussian_filter((y - truth) ** 2, window)), window))
        structure.append(pixels(m.components["structure"], window))
        removed.append(pixels(m.components["removed"], window))
    e, s, r = (np.concatenate(v) for v in (err, structure, removed))
    weight = float(np.median(e / np.maximum(s, 1e-12)))
    uncalibrated = np.sqrt((weight * s) ** 2 + r * np.sqrt(s * s + r * r))
    scale = float(np.median(e / np.maximum(uncalibrated, 1e-12)))
    return {"method": METHOD_VERSION, "detail_weight": round(weight, 4), "scale": round(scale, 4),
            "fitted_on": f"frames 0-{n - 1} of the {tag} evaluation set (validation_pairs, 256 px; "
                         f"simulator {SIMULATOR_VERSION}); tools/calibrate_uncertainty.py",
            "date": dt.date.today().isoformat()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", nargs="*", default=list(TAGS))
    parser.add_argument("--n", type=int, default=28)
    parser.add_argument("--cache", default=None, help="folder caching the rendered evaluation sets")
    parser.add_argument("--dry-run", action="store_true", help="print the fits, do not write the cards")
    args = parser.parse_args(argv)
    for tag in args.tags:
        section = fit(tag, args.n, args.cache)
        print(tag, section, flush=True)
        if args.dry_run:
            continue
        info = load_model(tag, progress=False).info
        card_path = info.onnx_path.with_suffix(".json")
        card = dataclasses.replace(ModelCard.load(card_path), **{CARD_SECTION: section})
        card.save(card_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

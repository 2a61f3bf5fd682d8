"""Test-time augmentation: does averaging over flipped/rotated copies help the shipped models?

For each tag, restores every frame of its evaluation set (``emrestore evaluate``'s cached
set) as is, averaged with its left–right flip, over the four flips that keep rows as rows
(identity, left–right, up–down, both), and over all eight flips/rotations, and prints the
mean PSNR [dB] of each. The result is in docs/models.md ("What they do"): it hurts the
STEM/SEM models (their scan distortions have a direction) and helps the TEM models a little.

Usage::

    python benchmarks/bench_ensemble.py [--tags hrstem hrtem ...] [--cache DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emrestore.evaluation.metrics import psnr
from emrestore.evaluation.validation import validation_pairs
from emrestore.restoration.engine import Restorer
from emrestore.commands.evaluate import _cache_dir
from emrestore.datasets.registry import TAGS


def dihedral_outputs(restorer: Restorer, image: np.ndarray) -> dict[tuple[int, bool], np.ndarray]:
    """Restorations of the 8 rotated/flipped copies, each mapped back: (quarter turns, flipped) → image."""
    outputs = {}
    for turns in range(4):
        for flip in (False, True):
            copy = np.rot90(image, turns)
            copy = copy[:, ::-1] if flip else copy
            out = restorer.restore_array(np.ascontiguousarray(copy))
            out = out[:, ::-1] if flip else out
            outputs[(turns, flip)] = np.rot90(out, -turns)
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", nargs="+", default=list(TAGS))
    parser.add_argument("--cache", type=Path, default=None, help="evaluation-set cache (default: emrestore evaluate's)")
    args = parser.parse_args()
    print("| tag | plain | with left–right flip | 4 row-keeping flips | all 8 |")
    print("|---|---:|---:|---:|---:|")
    for tag in args.tags:
        valset = validation_pairs(tag, cache_dir=_cache_dir(args.cache), progress=False)
        restorer = Restorer(tag, progress=False)
        scores: dict[str, list[float]] = {"plain": [], "flip2": [], "flip4": [], "all8": []}
        for image, target in zip(valset.inputs, valset.targets):
            out = dihedral_outputs(restorer, image)
            scores["plain"].append(psnr(out[(0, False)], target))
            scores["flip2"].append(psnr((out[(0, False)] + out[(0, True)]) / 2, target))
            rows = [out[(0, False)], out[(0, True)], out[(2, False)], out[(2, True)]]
            scores["flip4"].append(psnr(sum(rows) / 4, target))
            scores["all8"].append(psnr(sum(out.values()) / 8, target))
        print(f"| {tag} | " + " | ".join(f"{np.mean(v):.2f}" for v in scores.values()) + " |", flush=True)


if __name__ == "__main__":
    main()

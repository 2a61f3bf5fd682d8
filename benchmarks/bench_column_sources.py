"""Where HR-STEM column precision is lost: the raw frame, the network, its last steps, jitter.

Scores the atomic-column precision of the ``hrstem`` evaluation set (the set and the scoring of
``emrestore evaluate``: :func:`~emrestore.evaluation.columns.evaluate_columns`, the same dose
terciles) for variants that separate the causes:

* ``raw input`` and ``emrestore hrstem`` (the shipped restoration, as in the report);
* ``network only``: the network's output with its grid pattern removed, before the spectral
  cap and the spot-keeping step (do the last steps move columns?);
* ``dihedral mean (4)``: the mean of the restorations of the four shape-keeping flips, each
  flipped back (self-ensemble; does the network's own variance cost precision?);
* ``½ raw + ½ restored``: a blend (do the raw frame and the restoration err differently?);
* ``raw, row jitter undone``: each row shifted back by its displacement measured from
  adjacent-row registration (the noise estimator's), its linear trend and its smooth part
  (Gaussian, σ = 4 rows) kept (is line jitter what the raw frame's error is made of?);
* ``restored, row jitter undone``: the same correction measured on, and applied to, the
  shipped restoration (its rows are far less noisy, so their registration is more precise:
  does the network leave line jitter in place?);
* ``raw, row jitter undone, then restored``: the corrected raw frame restored.

``--only NAME ...`` scores ``raw input`` and the named variants only (substrings of the names).

Prints the report's table (found, spurious, median RMS position error, median intensity error
per dose tercile) for every variant. About 6 min on 2 cores.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_column_sources.py [--model hrstem] [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import ndimage

from emrestore.dihedral import SHAPE_KEEPING, TRANSFORMS
from emrestore.evaluation.columns import column_truth, columns_markdown, evaluate_columns
from emrestore.evaluation.validation import validation_pairs
from emrestore.noise_estimate import _row_shifts
from emrestore.restoration import load_model
from emrestore.restoration.grid_pattern import remove_grid_pattern

#: Width of the smooth part of the row displacements kept by :func:`undo_row_jitter` [rows].
SMOOTH_ROWS = 4.0


def undo_row_jitter(image: np.ndarray, smooth_rows: float = SMOOTH_ROWS) -> np.ndarray:
    """``image`` with each row shifted back by its line-jitter displacement along x [px].

    Adjacent-row shifts (:func:`emrestore.noise_estimate._row_shifts`, robustly clipped) are
    summed into row positions; their linear trend (a lattice's inclination, linear drift) and
    their smooth part (Gaussian of ``smooth_rows``) are kept, the rest is undone by cubic
    resampling along the row.
    """
    shifts = _row_shifts(np.asarray(image, np.float64))
    med = np.median(shifts)
    mad = 1.4826 * np.median(np.abs(shifts - med)) + 1e-3
    shifts = np.clip(shifts, med - 5 * mad, med + 5 * mad)
    position = np.concatenate([[0.0], np.cumsum(shifts)])
    rows = np.arange(len(position), dtype=np.float64)
    residual = position - np.polyval(np.polyfit(rows, position, 1), rows)
    jitter = residual - ndimage.gaussian_filter1d(residual, smooth_rows, mode="nearest")
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float64)
    return ndimage.map_coordinates(np.asarray(image, np.float64), [yy, xx + jitter[:, None]], order=3, mode="nearest")


def variants(restorer, frame: np.ndarray, only: tuple[str, ...] = ()) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The variants of the module docstring for one degraded frame (``only``: substrings of
    the names to compute besides ``raw input``; empty: all)."""
    data, out = restorer.network_output(frame)
    restored = restorer.whole_frame_steps(data, out)
    makers = {
        f"emrestore {restorer.info.name}": lambda: restored,
        "network only": lambda: remove_grid_pattern(data, out, restorer.info.size_multiple),
        f"dihedral mean ({SHAPE_KEEPING})": lambda: np.mean(
            [inverse(restorer.restore_array(np.ascontiguousarray(forward(frame))))
             for forward, inverse in TRANSFORMS[:SHAPE_KEEPING]], axis=0),
        "½ raw + ½ restored": lambda: 0.5 * frame + 0.5 * restored,
        "raw, row jitter undone": lambda: undo_row_jitter(frame),
        "restored, row jitter undone": lambda: undo_row_jitter(restored),
        "raw, row jitter undone, then restored": lambda: restorer.restore_array(
            undo_row_jitter(frame).astype(np.float32)),
    }
    chosen = {name: make for name, make in makers.items() if not only or any(o in name for o in only)}
    return {"raw input": frame, **{name: make() for name, make in chosen.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hrstem", help="shipped tag or .onnx of an hrstem model")
    parser.add_argument("--cache", default=None, help="evaluation cache (emrestore evaluate --cache)")
    parser.add_argument("--only", nargs="*", default=(), metavar="NAME",
                        help="score raw input and these variants only (substrings of their names)")
    args = parser.parse_args(argv)
    valset = validation_pairs("hrstem", cache_dir=args.cache, progress=False)
    restorer = load_model(args.model, tile=0, progress=False)
    images: dict[str, list[np.ndarray]] = {}
    for i, frame in enumerate(valset.inputs):
        for name, image in variants(restorer, np.asarray(frame, np.float32), tuple(args.only)).items():
            images.setdefault(name, []).append(np.asarray(image, np.float64))
        print(f"\r{i + 1}/{len(valset)} frames", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(columns_markdown(evaluate_columns(valset, images, column_truth(valset), progress=False)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

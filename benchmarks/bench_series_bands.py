"""Where the frame-split error of a real series lies: per frame, per spatial-frequency band.

For each series of the real-data benchmark (``emrestore evaluate --real-series``), frame *k*
is scored against the registered mean of the others exactly as there (central ≤ 512² px),
for the raw frame, the reference-tuned Gaussian and every shipped model of the modality. The
squared error of each is split by Parseval into bands of spatial period (> 128 px, 32–128,
16–32, 8–16, 4–8, < 4 px) and printed per frame, with the difference of the frame's mean
from its reference's and their contrast ratio (the standard deviations after a σ = 2 px
smoothing). A band in which every method's error is alike (the field's own change between
frames) cannot rank methods; the per-frame rows show whether a ranking holds in each frame.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_series_bands.py [--folder ../shared/data/real-series]
        [--only ZEISS]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import ndimage

from emrestore.evaluation.baselines import oracle_gaussian
from emrestore.evaluation.real_data import applicable_models, central_crop, restore_frame
from emrestore.evaluation.real_files import discover
from emrestore.evaluation.registration import register_series

#: Band edges in cycles per pixel: periods > 128, 32–128, 16–32, 8–16, 4–8 and < 4 px.
BAND_EDGES = (0.0, 1 / 128, 1 / 32, 1 / 16, 1 / 8, 1 / 4, np.inf)
BAND_NAMES = ("> 128 px", "32–128", "16–32", "8–16", "4–8", "< 4 px")


def band_mse(error: np.ndarray) -> np.ndarray:
    """Mean squared ``error`` split over :data:`BAND_EDGES` (Parseval: the bands sum to the MSE)."""
    h, w = error.shape
    power = np.abs(np.fft.fft2(error)) ** 2 / (h * w) ** 2
    k = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    return np.array([power[(k >= lo) & (k < hi)].sum() for lo, hi in zip(BAND_EDGES[:-1], BAND_EDGES[1:])])


def series_rows(real) -> list[tuple[int, str, np.ndarray, float, float]]:
    """(frame, method, band MSEs, mean offset, contrast ratio) of every frame and method of a series."""
    data = real.image.data
    registered = register_series(data)
    crop = central_crop(registered.frames.shape)
    rows = []
    for k in range(len(data)):
        reference = registered.others_mean(k)[crop]
        raw = registered.frames[k][crop]
        offset = float(raw.mean() - reference.mean())
        contrast = float(ndimage.gaussian_filter(raw, 2).std() / ndimage.gaussian_filter(reference, 2).std())
        methods = {"raw input": raw, "Gaussian (oracle σ)": oracle_gaussian(raw, reference)[0]}
        for tag, _ in applicable_models(real):
            methods[f"emrestore {tag}"] = registered.align(restore_frame(tag, data[k]), k)[crop]
        for name, image in methods.items():
            rows.append((k, name, band_mse(image - reference), offset, contrast))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="../shared/data/real-series")
    parser.add_argument("--only", default=None, help="only the files whose name contains this")
    args = parser.parse_args(argv)
    files, _ = discover(args.folder)
    series = [f for f in files if f.role == "series" and (args.only is None or args.only in f.name)]
    if not series:
        print(f"No series in {args.folder}" + (f" matching {args.only!r}" if args.only else ""), file=sys.stderr)
        return 1
    print("| file | frame | mean offset from reference | contrast ratio | method | MSE | "
          + " | ".join(BAND_NAMES) + " |")
    print("|---|---:|---:|---:|---|---:|" + "---:|" * len(BAND_NAMES))
    for real in series:
        for k, name, bands, offset, contrast in series_rows(real):
            print(f"| {real.name} | {k} | {offset:+.3g} | {contrast:.3f} | {name} | {bands.sum():.4g} | "
                  + " | ".join(f"{b:.3g}" for b in bands) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

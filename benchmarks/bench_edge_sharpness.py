"""How much each model changes a step edge, by the edge's sharpness and contrast (docs/network.md).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_edge_sharpness.py [--models lrtem hrtem ...]
        [--onnx runs/x/model.onnx ...] [--noisy] [--real-series ../shared/data/real-series]

A straight edge at 17° across a 128² frame, each pixel the exact area fraction on the bright
side (box integration, 8× supersampled), then blurred by a Gaussian of σ = 0, 0.4, 0.8,
1.2 px; bright side 2,486 ADU (the real TEM preview series' level), dark side 0.9, 0.5 or 0.2
of it; 6.28 nm/px, modality TEM. Each frame is restored noise-free (and, with ``--noisy``,
with Poisson noise at 2.38 ADU per electron, the series' gain). Reported: the RMS change
(restored − input) within 3 px of the edge and more than 10 px away, as fractions of the
step. With ``--real-series``, also the registered mean of frames 1–4 of the TEM preview
series restored: the RMS change in its edge band (smoothed gradient > 0.3 of the largest)
and its flat parts, in ADU.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import ndimage

SIZE, SUPERSAMPLE, ANGLE_DEG, BRIGHT_ADU, GAIN = 128, 8, 17.0, 2486.0, 2.38


def edge_frame(sigma_px: float, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """(clean frame [ADU], signed distance to the edge [px]) of the test edge."""
    angle = np.deg2rad(ANGLE_DEG)
    fine = np.mgrid[:SIZE * SUPERSAMPLE, :SIZE * SUPERSAMPLE].astype(np.float64) / SUPERSAMPLE
    side = ((fine[1] - SIZE / 2) * np.cos(angle) + (fine[0] - SIZE / 2) * np.sin(angle)) > 0
    cover = side.reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))
    if sigma_px > 0:
        cover = ndimage.gaussian_filter(cover, sigma_px)
    yy, xx = np.mgrid[:SIZE, :SIZE] + 0.5
    distance = (xx - SIZE / 2) * np.cos(angle) + (yy - SIZE / 2) * np.sin(angle)
    return BRIGHT_ADU * (ratio + (1 - ratio) * cover), distance


def probe(restore, noisy: bool, seed: int = 0) -> list[dict]:
    """One row per (ratio, σ, noise): band and flat RMS change as fractions of the step."""
    rng = np.random.default_rng(seed)
    rows = []
    for ratio in (0.9, 0.5, 0.2):
        for sigma in (0.0, 0.4, 0.8, 1.2):
            clean, distance = edge_frame(sigma, ratio)
            step = BRIGHT_ADU * (1 - ratio)
            for with_noise in (False, True) if noisy else (False,):
                x = rng.poisson(clean / GAIN) * GAIN if with_noise else clean
                change = restore(x.astype(np.float32)) - clean
                rows.append({"ratio": ratio, "sigma_px": sigma, "noisy": with_noise,
                             "band": float(np.sqrt(np.mean(change[np.abs(distance) < 3] ** 2)) / step),
                             "flat": float(np.sqrt(np.mean(change[np.abs(distance) > 10] ** 2)) / step)})
    return rows


def real_edge(restore, folder: str) -> dict | None:
    """The TEM preview series' registered 4-frame mean restored: edge-band and flat RMS change [ADU]."""
    from emrestore.evaluation.real_files import discover
    from emrestore.evaluation.registration import register_series

    files, _ = discover(folder)
    real = next((f for f in files if "TEM_preview" in f.name), None)
    if real is None:
        return None
    mean = register_series(real.image.data.astype(np.float64)).others_mean(0)
    gradient = np.hypot(*np.gradient(ndimage.gaussian_filter(mean, 0.7)))
    band, flat = gradient > 0.3 * gradient.max(), gradient < 0.05 * gradient.max()
    change = restore(mean.astype(np.float32)) - mean
    return {"band_adu": float(np.sqrt(np.mean(change[band] ** 2))),
            "flat_adu": float(np.sqrt(np.mean(change[flat] ** 2))),
            "step_adu": float(np.percentile(mean, 98) - np.percentile(mean, 2))}


def main(argv: list[str] | None = None) -> int:
    from emrestore.restoration import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["lrtem"])
    parser.add_argument("--onnx", nargs="*", default=[], help="also these exported models")
    parser.add_argument("--noisy", action="store_true")
    parser.add_argument("--real-series", default=None)
    args = parser.parse_args(argv)
    for model in [*args.models, *args.onnx]:
        restorer = load_model(model, tile=0, progress=False)

        def restore(x: np.ndarray) -> np.ndarray:
            return restorer.restore_array(x).astype(np.float64)

        print(f"\n{model}\n| step ratio | σ [px] | noisy | edge band / step | flat / step |\n|---:|---:|---|---:|---:|")
        for r in probe(restore, args.noisy):
            print(f"| {r['ratio']:.1f} | {r['sigma_px']:.1f} | {'yes' if r['noisy'] else 'no'} | "
                  f"{r['band']:.3f} | {r['flat']:.3f} |")
        if args.real_series:
            real = real_edge(restore, args.real_series)
            if real:
                print(f"real TEM preview, 4-frame mean as input: edge band {real['band_adu']:.0f} ADU, "
                      f"flat {real['flat_adu']:.0f} ADU (step {real['step_adu']:.0f} ADU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Validation and real-file tables of ``emrestore.estimate_noise`` (docs/noise.md).

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_noise.py [--seeds 6] [--size 256] [--real-only | --validation-only]

Validation: frames from the forward model (``emrestore.distortions``) with known
parameters, several noise seeds each; prints true value, mean estimate, the spread of the
estimates over seeds (SD) and the mean reported uncertainty (the two should agree).
Real files: every readable file in ``../shared/data/real-series`` and ``../shared/data/real``
(skipped when absent), first frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from emrestore import read
from emrestore.distortions import LineJitter, ShotNoise, distort
from emrestore.noise_estimate import estimate_noise

ROOT = Path(__file__).resolve().parents[1]
REAL_DIRS = [ROOT.parent / "shared" / "data" / "real-series", ROOT.parent / "shared" / "data" / "real"]


def clean_frame(size: int = 256, seed: int = 0, density: float = 1 / 1600, sigma: float = 2.0,
                amp: float = 4.0) -> np.ndarray:
    """A ramp with sparse Gaussian blobs, mean 1 (flat areas between the features)."""
    rng = np.random.default_rng(seed)
    z = np.zeros((size, size))
    k = max(int(size * size * density), 1)
    z[rng.integers(0, size, k), rng.integers(0, size, k)] = 1.0
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.5 + xx + 0.5 * yy + amp * ndimage.gaussian_filter(z, sigma) * 2 * np.pi * sigma ** 2 / 4
    return img / img.mean()


TEM_NEUTRAL = {"counting_camera": False, "psf_sigma_px": 0.0, "psf_tail_weight": 0.0, "dark_e_per_px": 0.0,
               "dark_subtracted": False, "gain_nonuniformity_sigma": 0.0, "band_sigma_adu": 0.0,
               "dead_fraction": 0.0, "hot_fraction": 0.0, "dead_segment": False, "adc_bits": 16,
               "display_applied": False}


def poisson_frame(clean, dose, gain, offset, read_sigma, seed):
    rng = np.random.default_rng(seed)
    return gain * rng.poisson(dose * clean) + offset + rng.normal(0.0, read_sigma, clean.shape)


def tem_frame(clean, seed, gain=4.0, swank_k=4.0, dose=20.0, read_sigma=5.0, bias=100.0, xray=2e-4):
    noisy, _, _ = distort(clean, "tem", seed=seed, gain_adu_per_e=gain, swank_k=swank_k,
                          dose_e_per_px=dose, read_sigma_adu=read_sigma, bias_adu=bias,
                          xray_rate_per_px=xray, **TEM_NEUTRAL)
    return noisy


def stem_frame(clean, seed, sigma_x, dose=200.0):
    rng = np.random.default_rng(seed)
    return ShotNoise()(dose * LineJitter(jitter_sigma_x_px=sigma_x, jitter_phi=0.0)(clean, rng), rng)


def cases(size):
    """(name, {quantity: true value}, frame(seed) -> (array, kwargs))."""
    c = clean_frame(size)
    scanned = clean_frame(size, density=1 / 400, amp=8.0)  # row features for the jitter
    out = []
    for dose in (5.0, 20.0, 100.0):
        out.append((f"Poisson ×3 + 100, D = {dose:g}", {"gain": 3.0, "offset": 100.0, "dose_per_px": dose},
                    lambda s, d=dose: (poisson_frame(c, d, 3.0, 100.0, 0.0, s), {})))
    out.append(("Poisson ×4 + 100 + read 6, D = 20 (offset given)", {"gain": 4.0, "read_noise": 6.0},
                lambda s: (poisson_frame(c, 20.0, 4.0, 100.0, 6.0, s), {"offset": 100.0})))
    out.append(("TEM camera g 4, k 4, read 5, bias 100, X-ray 2e-4, D = 20",
                {"gain": 4.0 * (1 + 1 / 4), "offset": 100.0, "outlier_events_per_px": 2e-4,
                 "dose_per_px": 20.0 / (1 + 1 / 4)},
                lambda s: (tem_frame(c, s), {"modality": "tem"})))
    for sx in (0.0, 0.25, 0.5, 1.0):
        band = np.sqrt(1 - 2 * (1 / 8)) * sx  # white jitter: share of the power above 1/8 cycles/row
        out.append((f"STEM line jitter σx = {sx:g} px (φ = 0), D = 200", {"row_jitter_px": band, "gain": 1.0},
                    lambda s, sx=sx: (stem_frame(scanned, s, sx), {"modality": "stem"})))
    return out


def validation(seeds: int, size: int) -> list[tuple]:
    rows = []
    for name, truth, make in cases(size):
        estimates = []
        for s in range(seeds):
            frame, kwargs = make(100 + s)
            estimates.append(estimate_noise(frame, seed=0, **kwargs))
        for key, true in truth.items():
            vals = np.array([np.nan if getattr(e, key) is None else getattr(e, key) for e in estimates], float)
            errs = np.array([np.nan if getattr(e, key + "_err", None) is None else getattr(e, key + "_err")
                             for e in estimates], float)
            rows.append((name, key, true, np.nanmean(vals), np.nanstd(vals, ddof=1),
                         np.nanmean(errs) if np.isfinite(errs).any() else np.nan,
                         int(np.isfinite(vals).sum()), seeds))
    return rows


def real_files() -> list[tuple]:
    rows = []
    for folder in REAL_DIRS:
        if not folder.is_dir():
            print(f"(skipped: {folder} absent)", file=sys.stderr)
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix.lower() in (".md", ".emi", ".txt"):
                continue
            try:
                image = read(path)
                est = estimate_noise(image)
            except Exception as error:  # noqa: BLE001 - report, do not stop the table
                rows.append((str(path.relative_to(folder.parent)), "", "", f"not estimated: {error}"))
                continue
            rows.append((str(path.relative_to(folder.parent)), image.modality or "?",
                         "×".join(map(str, image.shape)), est))
    return rows


def fmt(v, e=None):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return f"{v:.3g} ± {e:.2g}" if e is not None and np.isfinite(e) else f"{v:.3g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--real-only", action="store_true")
    parser.add_argument("--validation-only", action="store_true")
    args = parser.parse_args()
    if not args.real_only:
        print(f"## Validation ({args.size}² frames, {args.seeds} noise seeds each)\n")
        print("| frame | quantity | true | mean estimate | SD over seeds | mean reported ± | estimated in |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name, key, true, mean, sd, err, n, total in validation(args.seeds, args.size):
            print(f"| {name} | {key} | {true:.4g} | {fmt(mean)} | {fmt(sd)} | {fmt(err)} | {n}/{total} |")
        print()
    if not args.validation_only:
        print("## Real files (first frame)\n")
        print("| file | modality | shape | gain [ADU/e] | offset [ADU] | read noise [ADU] | dose [e/px] "
              "| noise lag-1 (y, x) | outliers [/px] | row jitter [px] | notes |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for path, modality, shape, est in real_files():
            if isinstance(est, str):
                print(f"| {path} | {modality} | {shape} | {est} |||||||")
                continue
            notes = "; ".join(n.split(":")[0] for n in est.notes if not n.startswith("row jitter: x only"))
            print(f"| {path} | {modality} | {shape} | {fmt(est.gain, est.gain_err)} | "
                  f"{fmt(est.offset, est.offset_err)} | {fmt(est.read_noise, est.read_noise_err)} | "
                  f"{fmt(est.dose_per_px, est.dose_per_px_err)} | {est.noise_correlation[0]:.2f}, "
                  f"{est.noise_correlation[1]:.2f} | {est.outlier_density:.2g} | "
                  f"{fmt(est.row_jitter_px, est.row_jitter_px_err)} | {notes} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Calibration of the uncertainty map (docs/uncertainty.md): Spearman ρ with the true error.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_uncertainty.py [--n 16] [--skip 28] [--size 256]
        [--dihedral 4] [--renoise 2] [--window 8] [--tags hrstem lrstem ...] [--cache /tmp/valcache]
        [--json out.json]

For each tag: frames ``skip … skip + n − 1`` of its evaluation set (frames 0–27 were used
while the map was designed; the default scores the 16 after them) (:func:`validation_pairs`, the
frames ``emrestore evaluate`` scores; never seen in training), restored whole by the
shipped model. True local error: ``sqrt(G_w * (restored − truth)²)`` with the map's own
Gaussian window ``w``. For the map and each component: Spearman ρ between it and the true
local error over the pixels of each frame (a 2·w border left out, every 7th pixel), then the
mean (and the range) over frames. ``noise_level`` (not part of the map) is ``sqrt(G_w * V)``,
the predicted input noise: the reference a map that only knew the dose would reach.
``total`` is the map as computed with the model's calibration (and the spreads asked for),
``cheap`` the same without the spreads (the default of the web app and napari),
``total_v2``/``cheap_v2`` the previous definition (``uncertainty-2``) and ``total_v1`` the
first; ``err_over_total``/``err_over_cheap``: the median of true error / map (1 where the
scale holds; the ranges across frames show how much it varies).

``--ceiling K``: instead, how much of each frame's error field a map could rank at best. The
frame's specimen is degraded again ``K`` times with *every* parameter of the distortion chain
fixed to the frame's own (dose, blur, jitter amplitudes, ...) and only the noise realization
new; each copy is restored and its true local error computed. ``ceiling`` is the Spearman ρ
between the frame's own error and the mean error of the ``K`` copies: what a map that knew the
specimen and the microscope exactly, but not this frame's noise, would reach. ``pair`` is the
mean ρ between two copies' errors (the share of the error field that is reproducible at all).

Frames used so far: 0–11 designed uncertainty-1, 12–27 scored it; 0–27 designed
uncertainty-2; 28–43 (``--skip 28 --n 16``) scored it once; 0–27 designed uncertainty-3 and
fitted its calibration (``tools/calibrate_uncertainty.py``); 44–59 (``--skip 44 --n 16``)
scored it once; 28–59 (``--ceiling 8 --n 32 --skip 28``) measured the reachable ρ (nothing
was changed after it).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time

import numpy as np
from scipy import ndimage, stats

from emrestore.datasets.registry import TAGS
from emrestore.evaluation.validation import validation_pairs
from emrestore.restoration import load_model
from emrestore.restoration.uncertainty import combine
from emrestore.restoration.uncertainty.noise_model import noise_variance


def frame_rhos(x: np.ndarray, truth: np.ndarray, restorer, dihedral: int, renoise: int, window: float,
               modality: str) -> tuple[dict[str, float], str]:
    """ρ of the map, its components and the noise level with the true local error of one frame."""
    y = restorer.restore_array(x)
    m = restorer.uncertainty(x, y, dihedral=dihedral, renoise=renoise, window=window, modality=modality)
    err = np.sqrt(ndimage.gaussian_filter((y.astype(np.float64) - truth) ** 2, window))
    noise = noise_variance(x, y, modality)
    c = m.components
    old_removed = np.maximum(c["excess"], c["neighbour_structure"])
    spreads = [c[k] for k in ("dihedral", "renoise") if k in c]
    feats = {"total": m.total, "cheap": combine(c["removed"], c["structure"], calibration=m.calibration),
             # uncertainty-2 (scored on frames 28–43): every excess counts, no detail term, no scale
             "total_v2": combine(old_removed, c["structure"], spreads), "cheap_v2": combine(old_removed, c["structure"]),
             # uncertainty-1 (scored on frames 12–27): sqrt(removed² + spreads²)
             "total_v1": np.sqrt(old_removed.astype(np.float64) ** 2 + sum(v.astype(np.float64) ** 2 for v in spreads)),
             **{k: np.abs(v) for k, v in c.items()},
             "noise_level": np.sqrt(ndimage.gaussian_filter(noise(y), window))}
    b = int(2 * window)
    inner = (slice(b, -b), slice(b, -b))
    out = {}
    e = err[inner].ravel()[::7]
    for name, value in feats.items():
        a = value[inner].ravel()[::7]
        out[name] = float(stats.spearmanr(a, e)[0]) if np.ptp(a) > 0 and np.ptp(e) > 0 else float("nan")
    # the scale: median of true error / map (1 where the calibration holds)
    out["err_over_total"] = float(np.median(e / np.maximum(m.total[inner].ravel()[::7], 1e-12)))
    out["err_over_cheap"] = float(np.median(e / np.maximum(feats["cheap"][inner].ravel()[::7], 1e-12)))
    return out, m.noise[0]["source"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--skip", type=int, default=28)
    parser.add_argument("--dihedral", type=int, default=4)
    parser.add_argument("--renoise", type=int, default=2)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--tags", nargs="*", default=list(TAGS))
    parser.add_argument("--cache", default=None, help="folder caching the rendered evaluation sets")
    parser.add_argument("--json", default=None)
    parser.add_argument("--real", metavar="FOLDER", default=None,
                        help="instead: figures and spot checks on the real lattice files, written to FOLDER "
                             "(docs/uncertainty)")
    parser.add_argument("--ceiling", type=int, default=0, metavar="K",
                        help="instead: the reachable ρ, from K re-noised copies of each frame (see above)")
    args = parser.parse_args(argv)
    if args.ceiling:
        return ceiling_table(args)
    if args.real:
        rows = real_figures(args.real, args.dihedral, args.renoise)
        print("\n| file | model | spots | lost | lost, seen in the residual | appeared | appeared, seen in "
              "the residual | map median | map p99 | removed median | removed p99 | removed > 0 |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['file']} | {r['model']} | {r['spots']} | {r['lost']} | {r['lost_in_residual']} | "
                  f"{r['appeared']} | {r['appeared_in_residual']} | {r['map_median']:.3g} | {r['map_p99']:.3g} | "
                  f"{r['removed_median']:.3g} | {r['removed_p99']:.3g} | {100 * r['removed_nonzero']:.0f} % |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
        return 0
    results = {}
    started = time.perf_counter()
    for tag in args.tags:
        vs = validation_pairs(tag, n=args.skip + args.n, size=args.size, cache_dir=args.cache, progress=False)
        restorer = load_model(tag, tile=0, progress=False)
        rows, sources = [], []
        for i in range(args.skip, len(vs)):
            rho, source = frame_rhos(vs.inputs[i], vs.targets[i].astype(np.float64), restorer,
                                     args.dihedral, args.renoise, args.window, tag[2:])
            rows.append(rho)
            sources.append(source)
        names = list(rows[0])
        summary = {name: {"mean": float(np.nanmean([r[name] for r in rows])),
                          "min": float(np.nanmin([r[name] for r in rows])),
                          "max": float(np.nanmax([r[name] for r in rows]))} for name in names}
        summary["fallback_frames"] = int(sum(s != "estimate_noise" for s in sources))
        results[tag] = summary
        print(f"{tag}: " + ", ".join(f"{k} {v['mean']:.2f}" for k, v in summary.items() if isinstance(v, dict))
              + f" (noise-model fallback on {summary['fallback_frames']}/{args.n})", flush=True)
    names = [k for k, v in results[args.tags[0]].items() if isinstance(v, dict)]
    print(f"\nSpearman ρ (mean over frames {args.skip}–{args.skip + args.n - 1} of {args.size}² px; window σ "
          f"{args.window:g} px; dihedral {args.dihedral}; renoise {args.renoise}; "
          f"{time.perf_counter() - started:.0f} s)\n")
    print("| tag | " + " | ".join(names) + " | fallback |")
    print("|---|" + "---:|" * (len(names) + 1))
    for tag, summary in results.items():
        print(f"| {tag} | " + " | ".join(f"{summary[k]['mean']:.2f}" for k in names)
              + f" | {summary['fallback_frames']}/{args.n} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    return 0



# --------------------------------------------------------------------------- ceiling
#: Seed of the extra noise realizations of ``--ceiling`` (independent of the evaluation seed).
CEILING_SEED = 977


def local_error(restored: np.ndarray, truth: np.ndarray, window: float) -> np.ndarray:
    """True local RMS error ``sqrt(G_w * (restored − truth)²)`` [input units]."""
    d = restored.astype(np.float64) - np.asarray(truth, np.float64)
    return np.sqrt(ndimage.gaussian_filter(d * d, window))


@functools.lru_cache(maxsize=1)
def _clean_frame(tag: str, index: int, size: int):
    """The clean specimen image of evaluation frame ``index`` (kept for its copies)."""
    from emrestore.datasets.bank import get_renderer, sample_rng
    from emrestore.evaluation.validation import EVAL_SEED

    return get_renderer(tag)(size, sample_rng(EVAL_SEED, index))


def evaluation_frame(tag: str, index: int, size: int, copy: int = 0):
    """Frame ``index`` of ``tag``'s evaluation set, or a copy of it with new noise only.

    ``copy`` 0 renders it as :func:`validation_pairs` does (same specimen, same distortion
    parameters, same noise); ``copy`` k ≥ 1 keeps the specimen and every distortion parameter
    and draws new noise (seed ``[CEILING_SEED, index, k]``). Returns ``(input, target, params)``.
    """
    from emrestore.datasets.bank import sample_rng
    from emrestore.distortions import distort
    from emrestore.evaluation.validation import EVAL_SEED

    clean = _clean_frame(tag, index, size)
    x, t, params = distort(clean.image, clean.modality, seed=sample_rng(EVAL_SEED, index, 1),
                           pixel_size_nm=clean.pixel_size_nm)
    if copy:
        fixed = {name: value for name, value in params.items() if name != "modality"}
        x, t, params = distort(clean.image, clean.modality, seed=np.random.default_rng([CEILING_SEED, index, copy]),
                               pixel_size_nm=clean.pixel_size_nm, **fixed)
    return np.asarray(x, np.float32), np.asarray(t, np.float64), params


def frame_ceiling(tag: str, index: int, size: int, restorer, copies: int, window: float) -> dict[str, float]:
    """Map ρ, the reachable ρ (``ceiling``) and the copies' mutual ρ (``pair``) on one frame
    (:func:`evaluation_frame` and its ``copies`` re-noised copies)."""
    b = int(2 * window)
    inner = (slice(b, -b), slice(b, -b))
    errors = []
    for k in range(copies + 1):
        x, t, _ = evaluation_frame(tag, index, size, k)
        y = restorer.restore_array(x)
        if k == 0:
            m = restorer.uncertainty(x, y, window=window, modality=tag[2:])
            own_map = m.total[inner].ravel()[::7]
        errors.append(local_error(y, t, window)[inner].ravel()[::7])

    def rho(a: np.ndarray, e: np.ndarray) -> float:
        return float(stats.spearmanr(a, e)[0]) if np.ptp(a) > 0 and np.ptp(e) > 0 else float("nan")

    pairs = [rho(errors[i], errors[j]) for i in range(1, copies + 1) for j in range(i + 1, copies + 1)]
    e = errors[0]
    return {"map": rho(own_map, e), "ceiling": rho(np.mean(errors[1:], axis=0), e),
            "pair": float(np.nanmean(pairs)) if pairs else float("nan"),
            "error_cv": float(np.std(e) / max(np.mean(e), 1e-300))}


def ceiling_table(args: argparse.Namespace) -> int:
    """``--ceiling K``: per tag, the map's ρ beside the reachable one (mean over frames)."""
    results = {}
    started = time.perf_counter()
    for tag in args.tags:
        restorer = load_model(tag, tile=0, progress=False)
        rows = []
        for i in range(args.skip, args.skip + args.n):
            rows.append(frame_ceiling(tag, i, args.size, restorer, args.ceiling, args.window))
            print(f"{tag} frame {i}: " + ", ".join(f"{k} {v:+.2f}" for k, v in rows[-1].items()), flush=True)
        results[tag] = {name: {"mean": float(np.nanmean([r[name] for r in rows])),
                               "frames": [r[name] for r in rows]} for name in rows[0]}
    print(f"\nReachable Spearman ρ (mean over frames {args.skip}–{args.skip + args.n - 1} of {args.size}² px; "
          f"window σ {args.window:g} px; {args.ceiling} re-noised copies; cheap map; "
          f"{time.perf_counter() - started:.0f} s)\n")
    print("| tag | map (cheap) | ceiling | copy vs copy | frames where the map reaches ≥ 80 % of the ceiling |")
    print("|---|---:|---:|---:|---:|")
    for tag, r in results.items():
        near = sum(m >= 0.8 * c for m, c in zip(r["map"]["frames"], r["ceiling"]["frames"]) if c > 0)
        print(f"| {tag} | {r['map']['mean']:.2f} | {r['ceiling']['mean']:.2f} | {r['pair']['mean']:.2f} | "
              f"{near}/{args.n} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    return 0


# --------------------------------------------------------------------------- real files
#: (file under ../shared/data, models): the lattice files of the real-data benchmark
#: (docs/evaluation.md: hrstem removes high-order spots of STO_ADF, lrstem invents many).
REAL_CASES = (("real/hrstem_example.ser", ("hrstem", "lrstem")),
              ("real-series/STO_ADF.hdf5", ("hrstem", "lrstem")))


def spot_check(x: np.ndarray, y: np.ndarray) -> dict:
    """What the residual shows at the spots the restoration lost or added.

    For each input spot whose amplitude the restoration kept < 0.5 (lost) and each spot
    that appeared: whether the *residual* ``x − y`` holds it (its smoothed spectrum ≥ 8×
    the local floor there) — the signal the physics check sees.
    """
    from emrestore.evaluation.lattice import (
        lattice_fidelity,
        local_floor,
        smoothed_spectrum,
    )

    fid = lattice_fidelity(x, y)
    spectrum = smoothed_spectrum(x.astype(np.float64) - y)
    ratio = spectrum / local_floor(spectrum)
    lost = fid.spots.positions[~fid.survived]
    seen_lost = [bool(ratio[r, c] >= 8) for r, c in lost]
    seen_new = [bool(ratio[r, c] >= 8) for r, c in fid.appeared]
    return {"spots": len(fid.spots), "lost": len(lost), "lost_in_residual": int(sum(seen_lost)),
            "appeared": len(fid.appeared), "appeared_in_residual": int(sum(seen_new))}


def real_figures(outdir: str, dihedral: int, renoise: int) -> list[dict]:
    """Figures and spot checks on the real lattice files (skipped when absent)."""
    from pathlib import Path

    from emrestore import read
    from emrestore.evaluation.figures import (
        image_panel,
        pyplot,
        save_figure,
        scale_bar,
        slug,
    )

    root = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    rows = []
    for name, models in REAL_CASES:
        path = root / name
        if not path.is_file():
            print(f"{name}: absent, skipped")
            continue
        image = read(path)
        x = np.asarray(image.data[0] if image.is_series else image.data, np.float32)
        plt = pyplot()
        fig, axes = plt.subplots(len(models), 4, figsize=(12.8, 3.3 * len(models)), squeeze=False)
        results = []
        for tag in models:
            restorer = load_model(tag, tile=0, progress=False)
            y = restorer.restore_array(x)
            m = restorer.uncertainty(x, y, dihedral=dihedral, renoise=renoise, modality="stem")
            check = spot_check(x, y)
            removed = m.components["removed"]
            rows.append({"file": name, "model": tag, **check, "map_median": float(np.median(m.total)),
                         "map_p99": float(np.percentile(m.total, 99)),
                         "removed_median": float(np.median(removed)), "removed_p99": float(np.percentile(removed, 99)),
                         "removed_nonzero": float(np.mean(removed > 0)), "noise_source": m.noise[0]["source"]})
            print(rows[-1], flush=True)
            results.append((tag, y, m))
        # the maps of one file are compared: one colour scale for all of them
        high = max(float(np.percentile(m.total, 99.5)) for _, _, m in results)
        for row, (tag, y, m) in zip(axes, results):
            image_panel(row[0], x, x, f"{Path(name).name}: input", image.pixel_size_nm)
            image_panel(row[1], y, x, f"restored ({tag}), input's grey scale", image.pixel_size_nm)
            for ax, values, title in ((row[2], m.total, f"uncertainty map ({tag})"),
                                      (row[3], m.components["removed"], f"its evidence, 'removed' ({tag})")):
                shown = ax.imshow(values, cmap="magma", vmin=0, vmax=high, interpolation="nearest")
                ax.set_title(title + ", one scale per file", fontsize=7)
                ax.set_axis_off()
                scale_bar(ax, image.pixel_size_nm, x.shape[1], x.shape[0])
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
        fig.tight_layout()
        save_figure(fig, Path(outdir) / f"real_{slug(Path(name).name)}.jpg")
    return rows


if __name__ == "__main__":
    sys.exit(main())

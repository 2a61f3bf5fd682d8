"""Figures of a simulated evaluation set: scores against dose, and a side-by-side of methods.

* :func:`dose_figure` — PSNR of every image against its dose for the baselines and each model
  (points, and the median per dose bin as a line; log dose axis), and, where atomic columns
  were measured (:mod:`~emrestore.evaluation.columns`), the RMS column-position error against dose.
* :func:`comparison_figure` — raw / Gaussian / BM3D / each model / truth for a few frames, every
  panel on the truth's grey scale, with a scale bar. The baseline images are recomputed from the
  parameters their cached scores keep (oracle σ), and checked against those scores.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ..tags import Tag
from .columns import CHANCE_ROW, CLEAN_ROW
from .figures import FigureRecord, Panel, image_panel, pyplot, save_figure
from .metrics import psnr

if TYPE_CHECKING:
    from .scoring import MethodScores, TagEvaluation

#: Methods left out of the dose plot (close to raw and clutter it).
DOSE_PLOT_SKIP = ("median 3×3",)
#: Log-spaced dose bins of the median lines.
DOSE_BINS = 6
#: Baseline images regenerated for the side-by-side must reproduce their cached PSNR this closely [dB].
REPRODUCE_TOLERANCE_DB = 0.01
#: Column-precision rows shown in the dose figure (method names of the column evaluation).
COLUMN_METRIC = ("rms_pm", "RMS column-position error [pm]")


def dose_unit(tag: str) -> str:
    """Unit of the tag's dose: primary electrons per pixel for SEM, electrons per pixel otherwise."""
    return "primary e⁻/px" if Tag.get(tag).modality == "sem" else "e⁻/px"


def _binned_median(doses: np.ndarray, values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometric-mean dose and median of ``values`` of the images in each dose bin (bins without images skipped)."""
    centres, medians = [], []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (doses >= low) & (doses <= high) & np.isfinite(values)
        if inside.any():
            centres.append(float(np.exp(np.mean(np.log(doses[inside])))))
            medians.append(float(np.median(values[inside])))
    return np.array(centres), np.array(medians)


def _dose_panel(ax, doses: np.ndarray, series: dict[str, np.ndarray], ylabel: str, title: str,
                curves: dict[str, int], colours: dict[str, str], log_y: bool = False) -> None:
    edges = np.geomspace(doses.min(), doses.max() * (1 + 1e-9), DOSE_BINS + 1)
    for name, values in series.items():
        done = np.isfinite(values)
        if not done.any():
            continue
        colour = colours[name]
        bold = name.startswith("emrestore")
        ax.plot(doses[done], values[done], "o", ms=3 if done.sum() > 20 else 4.5, alpha=0.45, color=colour)
        centres, medians = _binned_median(doses, values, edges)
        ax.plot(centres, medians, "-", lw=2.4 if bold else 1.4, color=colour,
                label=f"{name} ({int(done.sum())} images)")
        curves[f"{title}: {name}"] = int(done.sum())
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def dose_figure(evaluation: TagEvaluation, path: str | Path) -> FigureRecord:
    """PSNR (and, where measured, column precision) of each image against its dose (PNG).

    Points are images; lines join the medians of :data:`DOSE_BINS` log-spaced dose bins.
    Methods in :data:`DOSE_PLOT_SKIP` are left out.
    """
    plt = pyplot()
    vs = evaluation.valset
    columns = evaluation.columns
    n_panels = 1 + (columns is not None)
    fig, axes = plt.subplots(1, n_panels, figsize=(6.4 * n_panels, 4.6), squeeze=False, constrained_layout=True)
    curves: dict[str, int] = {}
    names = [CLEAN_ROW, CHANCE_ROW] + [m.name for m in evaluation.methods]  # one colour per method, both panels
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {name: cycle[k % len(cycle)] for k, name in enumerate(names)}
    psnr_series = {m.name: m.psnr_db for m in evaluation.methods if m.name not in DOSE_PLOT_SKIP}
    _dose_panel(axes[0, 0], np.asarray(vs.doses), psnr_series, "PSNR against the target [dB]", "PSNR", curves,
                colours)
    if columns is not None:
        key, label = COLUMN_METRIC
        series = {name: np.array([np.nan if s is None else getattr(s, key) for s in scores], float)
                  for name, scores in columns.methods.items()}
        colours.update({name: cycle[(len(colours) + k) % len(cycle)]
                        for k, name in enumerate(n for n in series if n not in colours)})
        _dose_panel(axes[0, 1], np.asarray(columns.doses), series, label,
                    f"atomic columns ({int(columns.scored.sum())} images)", curves, colours, log_y=True)
    for ax in axes[0]:
        ax.set_xlabel(f"dose [{dose_unit(evaluation.tag)}]")
    fig.suptitle(f"{evaluation.tag}: {len(vs)} held-out evaluation images (points: images; lines: median per "
                 "dose bin)", fontsize=10)
    return FigureRecord(save_figure(fig, path, dpi=90), [], curves)


# ---------------------------------------------------------------------------- side by side
def baseline_image(scores: MethodScores, index: int, image: np.ndarray) -> np.ndarray | None:
    """Recompute a tuned baseline's output on image ``index`` from the parameters its scores keep.

    Gaussian: ``sigma_px``; BM3D: ``sigma`` on the 3×3-median-filtered input, as in
    :mod:`~emrestore.evaluation.baselines`. Returns None where the parameters are missing.
    """
    params = scores.params[index] if index < len(scores.params) else {}
    data = np.asarray(image, np.float32)
    if scores.name.startswith("Gaussian") and "sigma_px" in params:
        return ndimage.gaussian_filter(data, params["sigma_px"], mode="reflect")
    if scores.name.startswith("BM3D") and "sigma" in params:
        import bm3d

        filtered = ndimage.median_filter(data, size=3, mode="reflect")
        return np.asarray(bm3d.bm3d(filtered, sigma_psd=params["sigma"]), np.float32)
    return None


def _method(evaluation: TagEvaluation, prefix: str) -> MethodScores | None:
    return next((m for m in evaluation.methods if m.name.startswith(prefix)), None)


def comparison_columns(evaluation: TagEvaluation, index: int) -> list[tuple[str, np.ndarray, float]]:
    """(label, image, PSNR [dB]) of raw, Gaussian, BM3D (where run) and each model on image ``index``.

    A baseline image that no longer reproduces its cached score (beyond
    :data:`REPRODUCE_TOLERANCE_DB`) is shown with its new score and a warning.
    """
    vs = evaluation.valset
    image, target = vs.inputs[index], vs.targets[index]
    columns = [("raw input", np.asarray(image, np.float32), psnr(image, target))]
    for prefix in ("Gaussian", "BM3D"):
        scores = _method(evaluation, prefix)
        if scores is None or not scores.evaluated[index]:
            continue
        out = baseline_image(scores, index, image)
        if out is None:
            continue
        value = psnr(out, target)
        if abs(value - scores.psnr_db[index]) > REPRODUCE_TOLERANCE_DB:
            warnings.warn(f"{evaluation.tag} image {index}: {scores.name} recomputed scores {value:.2f} dB, "
                          f"its cached score {scores.psnr_db[index]:.2f} dB.", stacklevel=2)
        columns.append((scores.name, out, value))
    for name, kept in evaluation.examples.items():
        if index in kept:
            columns.append((name, kept[index], psnr(kept[index], target)))
    return columns


def comparison_figure(evaluation: TagEvaluation, indices: list[int], path: str | Path) -> FigureRecord:
    """Raw / Gaussian / BM3D / models / truth of images ``indices`` (rows), all on the truth's grey scale.

    Every panel of a row is mapped with the 0.5–99.5 % range of that row's truth
    (:func:`~emrestore.evaluation.figures.grey`) and carries a scale bar of the image's pixel size.
    """
    plt = pyplot()
    vs = evaluation.valset
    rows = [(i, comparison_columns(evaluation, i)) for i in indices]
    n_cols = 1 + max(len(cols) for _, cols in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.15 * n_cols, 2.35 * len(rows)), squeeze=False)
    panels: list[Panel] = []
    unit = dose_unit(evaluation.tag)
    for r, (i, cols) in enumerate(rows):
        target = vs.targets[i]
        pixel = float(vs.pixel_size_nm[i])
        for c, (label, image, value) in enumerate(cols):
            title = f"{label}\n{value:.1f} dB" + (f", {vs.doses[i]:.3g} {unit}" if c == 0 else "")
            panels.append(image_panel(axes[r, c], image, target, title, pixel))
        panels.append(image_panel(axes[r, len(cols)], target, target, "truth (target)", pixel))
        for c in range(len(cols) + 1, n_cols):
            axes[r, c].set_axis_off()
    fig.suptitle(f"{evaluation.tag}: held-out images, every panel on the grey scale of its row's truth "
                 "(Gaussian and BM3D with σ tuned on the truth; PSNR against the truth)", fontsize=8)
    fig.tight_layout()
    return FigureRecord(save_figure(fig, path, dpi=100, quality=88), panels)

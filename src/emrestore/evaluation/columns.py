"""Atomic-column precision on HR-STEM evaluation images with known column positions.

What a microscopist measures on an atomic-resolution STEM image is columns: where they are
and how much they scatter. For every image of the ``hrstem`` evaluation set this module
knows the true projected column positions (from the renderer), finds columns in an image
(local maxima; minima for ABF contrast), refines each with a 2D Gaussian fit, and reports:

- **found**: fraction of the *visible* columns (those the clean target itself resolves)
  with a detected peak within a quarter of the column spacing;
- **spurious**: fraction of detections with no true column within that distance (a
  restorer must not invent atoms);
- **RMS position error** [pm] of Gaussian fits started at the true positions;
- **intensity error**: median relative difference of each column's fitted integrated
  intensity from the same fit on the clean target (scattering cross-sections).

The numerics (peaks, Gaussian fits, matching, affine maps) are in
:mod:`~emrestore.evaluation.column_fit`. Images whose clean target resolves fewer than :data:`MIN_VISIBLE_COLUMNS` columns (lattices
seen off axis, unresolved spacings) are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ..errors import ParameterError
from .column_fit import affine_fit, apply_affine, find_peaks, fit_gaussians, mutual_pairs, robust_affine_fit
from .validation import ValidationSet

#: Images with fewer visible columns than this are not scored.
MIN_VISIBLE_COLUMNS = 10
#: Radius that makes a target peak a visible column, and the smallest distance between two
#: peaks, as fractions of the median column spacing.
MATCH_FRACTION = 0.4
#: Radius within which a detected peak counts as a found column, as a fraction of the median
#: spacing of the visible columns (small, so that peaks of pure noise rarely match by chance).
DETECT_FRACTION = 0.25
#: Half-width of the fit window, as a fraction of the median spacing [px ≥ 2].
WINDOW_FRACTION = 0.35
#: Row of the clean target: the fitting floor.
CLEAN_ROW = "clean target"
#: Row of white-noise frames: the chance level of every measure.
CHANCE_ROW = "white noise (chance level)"


@dataclass
class ColumnTruth:
    """True columns of one evaluation image.

    Attributes
    ----------
    xy : numpy.ndarray
        (K, 2) true column positions (x, y) [px].
    dark : bool
        Columns appear dark (ABF detector): they are located as minima.
    """

    xy: np.ndarray
    dark: bool


@dataclass
class ImageColumns:
    """Column scores of one image restored by one method."""

    found: float
    spurious: float
    rms_pm: float
    intensity_error: float
    n_visible: int
    n_detected: int
    fits_converged: float


# ---------------------------------------------------------------------------- truth
def column_truth(valset: ValidationSet) -> list[ColumnTruth]:
    """True columns of each image of an atomic-resolution evaluation set (carried by the set).

    Parameters
    ----------
    valset : ValidationSet
        An ``hrstem`` (or ``hrtem``) set from :func:`~emrestore.evaluation.validation_pairs`.

    Raises
    ------
    ParameterError
        If the set's renderer gives no column positions (not an atomic-resolution tag).
    """
    if valset.columns is None or valset.dark_columns is None:
        raise ParameterError(f"The {valset.tag} evaluation set has no atomic-column positions.",
                             "Score columns on an atomic-resolution tag (hrstem, hrtem).")
    return [ColumnTruth(xy, bool(dark)) for xy, dark in zip(valset.columns, valset.dark_columns)]


# ---------------------------------------------------------------------------- scoring
@dataclass
class ColumnReference:
    """What the clean target resolves: visible true columns, spacing and their fitted intensities."""

    visible: np.ndarray  # (V, 2) true positions of the visible columns [px]
    all_true: np.ndarray  # (K, 2) every true column [px]
    spacing_px: float
    volumes: np.ndarray  # (V,) integrated intensities fitted on the target
    dark: bool

    @property
    def detect_radius(self) -> float:
        return DETECT_FRACTION * self.spacing_px

    @property
    def half_width(self) -> int:
        return max(2, int(round(WINDOW_FRACTION * self.spacing_px)))

    @property
    def min_distance(self) -> int:
        return max(1, int(round(MATCH_FRACTION * self.spacing_px)))


def column_reference(target: np.ndarray, truth: ColumnTruth) -> ColumnReference | None:
    """The visible columns of a clean target, or ``None`` when it resolves too few."""
    true = np.asarray(truth.xy, np.float64)
    if len(true) < MIN_VISIBLE_COLUMNS:
        return None
    nn = cKDTree(true).query(true, 2)[0][:, 1]
    start = max(1.0, 0.5 * float(np.median(nn)))
    peaks = find_peaks(target, int(round(start)), truth.dark)
    _, it = mutual_pairs(peaks, true, start)
    if len(it) < MIN_VISIBLE_COLUMNS:
        return None
    visible = true[np.sort(it)]
    spacing = float(np.median(cKDTree(visible).query(visible, 2)[0][:, 1]))
    reference = ColumnReference(visible, true, spacing, np.zeros(len(visible)), truth.dark)
    # columns whose fit window leaves the image are not scored (cut Gaussians bias the fits)
    margin = reference.half_width + 1
    height, width = np.shape(target)
    inside = ((visible[:, 0] >= margin) & (visible[:, 0] <= width - 1 - margin)
              & (visible[:, 1] >= margin) & (visible[:, 1] <= height - 1 - margin))
    if inside.sum() < MIN_VISIBLE_COLUMNS:
        return None
    reference.visible = visible[inside]
    _, volumes, ok = fit_gaussians(target, reference.visible, reference.half_width, truth.dark)
    reference.volumes = np.where(ok, volumes, np.nan)
    return reference


def score_columns(image: np.ndarray, reference: ColumnReference, pixel_size_nm: float) -> ImageColumns:
    """Columns of ``image`` against the reference of its target.

    A single frame cannot know its global translation and linear drift (the scan distortions
    move every column of the raw input), so both are removed first: peaks are paired with
    the nearest visible column within half a spacing, and the affine map between them is
    fitted robustly (RANSAC with a residual threshold of :data:`DETECT_FRACTION` of the
    spacing, then least squares on its inliers), so that noise peaks do not bend it. Detection: *found* counts visible columns matched one to one by a mapped peak
    within :data:`DETECT_FRACTION` of their spacing; *spurious* counts peaks with no true
    column (visible or not) that close. Precision (position and
    intensity errors): Gaussian fits started at the true positions carried into the image by
    that map; the position error is what remains after a second affine fit of the fitted
    positions to the true ones.
    """
    peaks = find_peaks(image, reference.min_distance, reference.dark)
    visible = reference.visible
    to_image = np.vstack([np.eye(2), np.zeros(2)])  # true frame → image frame
    if len(peaks):
        d, near = cKDTree(visible).query(peaks, distance_upper_bound=0.5 * reference.spacing_px)
        close = np.isfinite(d)
        radius = reference.detect_radius
        to_image = robust_affine_fit(visible[near[close]], peaks[close], radius)
        to_true = robust_affine_fit(peaks[close], visible[near[close]], radius)
        mapped = apply_affine(to_true, peaks)
        _, ivis = mutual_pairs(mapped, visible, reference.detect_radius)
        nearest = cKDTree(reference.all_true).query(mapped, distance_upper_bound=reference.detect_radius)[0]
        spurious = float(np.mean(~np.isfinite(nearest)))
    else:
        ivis, spurious = np.zeros(0, int), 0.0
    found = len(ivis) / len(visible)
    positions, volumes, ok = fit_gaussians(image, apply_affine(to_image, visible), reference.half_width, reference.dark)
    if ok.any():
        aligned = apply_affine(affine_fit(positions[ok], visible[ok]), positions[ok])
        err = aligned - visible[ok]
        rms_pm = float(np.sqrt(np.mean(np.sum(err * err, axis=1)))) * pixel_size_nm * 1e3
        ref = reference.volumes
        good = ok & np.isfinite(ref) & (ref > 0)
        intensity = float(np.median(np.abs(volumes[good] - ref[good]) / ref[good])) if good.any() else float("nan")
    else:
        rms_pm, intensity = float("nan"), float("nan")
    return ImageColumns(found, spurious, rms_pm, intensity, len(visible), len(peaks), float(np.mean(ok)))


@dataclass
class ColumnEvaluation:
    """Column scores of several methods on one evaluation set.

    Attributes
    ----------
    tag : str
    doses : numpy.ndarray
        (N,) dose of each image [e⁻/px].
    scored : numpy.ndarray
        (N,) True for images whose target resolves enough columns.
    methods : dict
        Method name → list of :class:`ImageColumns` (``None`` for unscored images).
    """

    tag: str
    doses: np.ndarray
    scored: np.ndarray
    methods: dict[str, list[ImageColumns | None]]

    def dose_bins(self) -> list[tuple[str, np.ndarray]]:
        """(label, mask) of the dose terciles of the scored images, then all of them."""
        doses = self.doses[self.scored]
        if len(doses) == 0:
            return []
        lo, hi = np.quantile(doses, [1 / 3, 2 / 3])
        bins = [(f"≤ {lo:.3g}", self.doses <= lo), (f"{lo:.3g}–{hi:.3g}", (self.doses > lo) & (self.doses <= hi)),
                (f"> {hi:.3g}", self.doses > hi), ("all", np.ones(len(self.doses), bool))]
        return [(label, mask & self.scored) for label, mask in bins]

    def table(self) -> list[dict[str, float | str | int]]:
        """Rows (method, dose bin): mean found and spurious fractions, median RMS error and
        median intensity error over the bin's images."""
        rows = []
        for name, scores in self.methods.items():
            for label, mask in self.dose_bins():
                picked = [scores[i] for i in np.flatnonzero(mask) if scores[i] is not None]
                if not picked:
                    continue
                rows.append({
                    "method": name, "dose": label, "images": len(picked),
                    "found": float(np.mean([s.found for s in picked])),
                    "spurious": float(np.mean([s.spurious for s in picked])),
                    "rms_pm_median": float(np.nanmedian([s.rms_pm for s in picked])),
                    "intensity_error_median": float(np.nanmedian([s.intensity_error for s in picked])),
                })
        return rows

    def to_json(self) -> dict:
        return {"tag": self.tag, "scored_images": int(self.scored.sum()), "images": int(len(self.scored)),
                "table": self.table()}


def evaluate_columns(valset: ValidationSet, images: dict[str, list[np.ndarray]], truth: list[ColumnTruth],
                     progress: bool = True, seed: int = 0) -> ColumnEvaluation:
    """Score the column precision of each method's images (``images[name][i]`` restores pair ``i``).

    Two rows frame the others. The clean target (row :data:`CLEAN_ROW`): its error is the
    floor set by fitting single Gaussians to overlapping columns, not by noise. White noise
    (row :data:`CHANCE_ROW`, drawn with ``seed``): what the same procedure reports for a frame
    with no columns at all — its fits, started at the true positions, wander within their
    windows — so a method near that row locates nothing, whatever its number.
    """
    from tqdm.auto import tqdm

    n = len(valset)
    references = [column_reference(valset.targets[i], truth[i]) for i in range(n)]
    scored = np.array([r is not None for r in references])
    methods: dict[str, list[ImageColumns | None]] = {}
    rng = np.random.default_rng(seed)
    noise = [rng.standard_normal(np.shape(target)).astype(np.float32) for target in valset.targets]
    all_images = {CLEAN_ROW: list(valset.targets), CHANCE_ROW: noise, **images}
    for name, restored in all_images.items():
        scores: list[ImageColumns | None] = []
        for i in tqdm(range(n), desc=f"{valset.tag}: columns, {name}", unit="img", disable=not progress, leave=False):
            ref = references[i]
            scores.append(None if ref is None else score_columns(restored[i], ref, float(valset.pixel_size_nm[i])))
        methods[name] = scores
    return ColumnEvaluation(valset.tag, np.asarray(valset.doses), scored, methods)


def columns_markdown(evaluation: ColumnEvaluation) -> str:
    """Markdown table of :meth:`ColumnEvaluation.table`."""
    lines = ["| method | dose [e⁻/px] | images | found | spurious | RMS position error [pm] | "
             "intensity error |", "|---|---|---|---|---|---|---|"]
    for row in evaluation.table():
        lines.append(f"| {row['method']} | {row['dose']} | {row['images']} | {100 * row['found']:.0f} % | "
                     f"{100 * row['spurious']:.0f} % | {row['rms_pm_median']:.1f} | "
                     f"{100 * row['intensity_error_median']:.0f} % |")
    return "\n".join(lines)


def columns_figure(evaluation: ColumnEvaluation, path: str | Path) -> Path:
    """Per-image column scores against dose, one colour per method (PNG, written atomically)."""
    from .figures import pyplot, save_figure

    plt = pyplot()
    panels = (("rms_pm", "RMS position error [pm]", True), ("found", "columns found", False),
              ("spurious", "spurious detections", False), ("intensity_error", "column intensity error", True))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), constrained_layout=True)
    for ax, (key, label, log) in zip(axes, panels):
        for name, scores in evaluation.methods.items():
            idx = [i for i, s in enumerate(scores) if s is not None]
            values = np.array([getattr(scores[i], key) for i in idx], float)
            ax.plot(evaluation.doses[idx], values, "o", ms=3.5, alpha=0.75, label=name)
        ax.set_xscale("log")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("dose [e⁻/px]")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{evaluation.tag}: atomic columns on {int(evaluation.scored.sum())} evaluation images", fontsize=11)
    return save_figure(fig, path)

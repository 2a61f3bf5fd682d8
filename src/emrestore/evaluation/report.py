"""Evaluate restorers on a tag's evaluation set and write ``evaluation.md`` with figures.

Baselines are scored once per evaluation set and cached as JSON (they never change);
models are scored every time. Times are wall-clock milliseconds per 256×256 image on the
machine that runs the evaluation (tuning of the oracle baselines excluded).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from .baselines import BASELINES, Baseline, oracle_gaussian
from .columns import ColumnEvaluation, column_truth, columns_markdown, evaluate_columns
from .figures import FigureRecord, image_panel, pyplot, save_figure, slug
from .metrics import psnr, ssim
from .real_data import RealBenchmark
from .real_report import real_data_lines
from .spectrum import power_spectrum, spectral_gain, spectrum_display
from .validation import ValidationSet

#: Images spread over the doses (BM3D's subset is chosen this way).
FIGURE_IMAGES = 8
#: Images (rows) of each tag's side-by-side figure, among those BM3D ran on.
COMPARISON_IMAGES = 4
#: Tags whose evaluation includes atomic-column precision (known column positions).
COLUMN_TAGS = ("hrstem",)


@dataclass
class MethodScores:
    """Per-image scores of one method on (part of) an evaluation set.

    ``psnr_db``, ``ssim``, ``ms`` are (N,) arrays with NaN where the method was not run.
    """

    name: str
    kind: str  # "baseline" or "model"
    psnr_db: np.ndarray
    ssim: np.ndarray
    ms: np.ndarray
    params: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    @property
    def evaluated(self) -> np.ndarray:
        return np.isfinite(self.psnr_db)

    def summary(self, low_dose: np.ndarray) -> dict[str, float]:
        """Means and medians over the evaluated images (low dose: lowest third of doses)."""
        done = self.evaluated
        low = done & low_dose
        return {
            "n": int(done.sum()),
            "psnr_mean_db": float(np.mean(self.psnr_db[done])),
            "psnr_median_db": float(np.median(self.psnr_db[done])),
            "ssim_mean": float(np.mean(self.ssim[done])),
            "low_dose_psnr_mean_db": float(np.mean(self.psnr_db[low])) if low.any() else float("nan"),
            "low_dose_ssim_mean": float(np.mean(self.ssim[low])) if low.any() else float("nan"),
            "ms_median": float(np.median(self.ms[done])),
        }


@dataclass
class TagEvaluation:
    """Everything the report shows for one tag."""

    tag: str
    valset: ValidationSet
    methods: list[MethodScores]
    examples: dict[str, dict[int, np.ndarray]]  # model name -> {index: restored}
    model_cards: dict[str, dict[str, Any]]
    columns: ColumnEvaluation | None = None

    def table(self) -> list[dict[str, Any]]:
        low = self.valset.low_dose()
        return [{"method": m.name, "kind": m.kind, "note": m.note, **m.summary(low)} for m in self.methods]

    def bm3d_gaps(self) -> dict[str, float]:
        """Mean PSNR of each model minus BM3D's, on the images BM3D was run on [dB]."""
        bm3d = next((m for m in self.methods if m.name.startswith("BM3D")), None)
        if bm3d is None:
            return {}
        on = bm3d.evaluated
        return {m.name: float(np.mean(m.psnr_db[on]) - np.mean(bm3d.psnr_db[on]))
                for m in self.methods if m.kind == "model"}


def figure_indices(valset: ValidationSet, count: int = FIGURE_IMAGES) -> list[int]:
    """``count`` images spread evenly over the set's doses, lowest first."""
    order = np.argsort(valset.doses, kind="stable")
    picks = np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)
    return [int(order[i]) for i in picks]


def comparison_indices(valset: ValidationSet, methods: list[MethodScores],
                       count: int = COMPARISON_IMAGES) -> list[int]:
    """``count`` images spread over the doses (lowest first) among those BM3D was run on (all without BM3D)."""
    bm3d = next((m for m in methods if m.name.startswith("BM3D")), None)
    candidates = np.flatnonzero(bm3d.evaluated) if bm3d is not None else np.arange(len(valset))
    order = candidates[np.argsort(valset.doses[candidates], kind="stable")]
    picks = np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)
    return [int(order[i]) for i in picks]


def _score(image: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    return psnr(image, target), ssim(image, target)


def scores_cache_path(cache_dir: str | Path, valset: ValidationSet, baseline: Baseline) -> Path:
    """File holding ``baseline``'s per-image scores on ``valset`` (JSON: index → psnr_db, ssim, ms, params)."""
    return Path(cache_dir) / f"scores_{valset.tag}_{valset.key}_{slug(baseline.name)}_v{baseline.version}.json"


def score_baseline(baseline: Baseline, valset: ValidationSet, indices: list[int],
                   cache_dir: Path | None, progress: bool = True) -> MethodScores:
    """Run a baseline on ``indices`` of the set, reusing cached per-image scores."""
    from tqdm.auto import tqdm

    n = len(valset)
    cache = scores_cache_path(cache_dir, valset, baseline) if cache_dir is not None else None
    stored: dict[str, Any] = {}
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
    todo = [i for i in indices if str(i) not in stored]
    for i in tqdm(todo, desc=f"{valset.tag}: {baseline.name}", unit="img", disable=not progress, leave=False):
        start = time.perf_counter()
        out, params = baseline.run(valset.inputs[i], valset.targets[i])
        elapsed = 1e3 * (time.perf_counter() - start)
        ms = float(params.pop("ms", elapsed))
        p, s = _score(out, valset.targets[i])
        stored[str(i)] = {"psnr_db": p, "ssim": s, "ms": ms, "params": params}
        if cache is not None:  # after each image: slow baselines resume where they stopped
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(stored))
            os.replace(tmp, cache)
    scores = MethodScores(baseline.name, "baseline", np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                          [{} for _ in range(n)])
    for i in indices:
        row = stored[str(i)]
        scores.psnr_db[i], scores.ssim[i], scores.ms[i] = row["psnr_db"], row["ssim"], row["ms"]
        scores.params[i] = row["params"]
    return scores


def score_model(model: str | Path, valset: ValidationSet, keep: list[int],
                progress: bool = True) -> tuple[MethodScores, dict[int, np.ndarray], dict[str, Any]]:
    """Restore every image of the set with ``model``; returns scores, the images ``keep`` and the card."""
    from tqdm.auto import tqdm

    from ..restoration.engine import Restorer

    restorer = Restorer(model, progress=False)
    if restorer.info.tag not in (None, valset.tag):
        raise ParameterError(f"Model {model} was trained for {restorer.info.tag!r}, not {valset.tag!r}.",
                             "Evaluate a model on its own tag's set (--tag).")
    name = f"emrestore {restorer.info.name}"
    config = restorer.info.card.config_name
    n = len(valset)
    scores = MethodScores(name, "model", np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                          note=f"{config} preset" if config else "")
    restorer.restore_array(valset.inputs[0])  # warm-up: session start-up is not per-image time
    kept: dict[int, np.ndarray] = {}
    for i in tqdm(range(n), desc=f"{valset.tag}: {name}", unit="img", disable=not progress, leave=False):
        start = time.perf_counter()
        out = restorer.restore_array(valset.inputs[i])
        scores.ms[i] = 1e3 * (time.perf_counter() - start)
        scores.psnr_db[i], scores.ssim[i] = _score(out, valset.targets[i])
        if i in keep:
            kept[i] = out
    return scores, kept, restorer.info.card.to_dict()


def evaluate_tag(valset: ValidationSet, models: list[str | Path], bm3d_images: int = 8,
                 cache_dir: str | Path | None = None, progress: bool = True,
                 columns: bool = True) -> TagEvaluation:
    """Score the baselines and ``models`` on a tag's evaluation set.

    Parameters
    ----------
    valset : ValidationSet
        From :func:`~emrestore.evaluation.validation_pairs`.
    models : list of str or Path
        Shipped tags or ``.onnx`` paths, each a row of the table.
    bm3d_images : int
        BM3D (≈ 2.5–5 s per image and σ) runs on this many images, spread over the doses;
        0 skips it, a negative value runs it on all.
    cache_dir : path-like, optional
        Where baseline scores are cached.
    progress : bool
        Progress bars.
    columns : bool
        For :data:`COLUMN_TAGS`, also score atomic-column precision (raw input, oracle
        Gaussian and each model; :mod:`emrestore.evaluation.columns`).
    """
    n = len(valset)
    with_columns = columns and valset.tag in COLUMN_TAGS
    methods: list[MethodScores] = []
    for baseline in BASELINES:
        if not baseline.available:
            continue
        if baseline.slow:
            if bm3d_images == 0:
                continue
            indices = list(range(n)) if bm3d_images < 0 or bm3d_images >= n else sorted(
                figure_indices(valset, bm3d_images))
        else:
            indices = list(range(n))
        scores = score_baseline(baseline, valset, indices, Path(cache_dir) if cache_dir else None, progress)
        if len(indices) < n:
            scores.note = f"{len(indices)} of {n} images"
        methods.append(scores)
    keep = comparison_indices(valset, methods)
    examples: dict[str, dict[int, np.ndarray]] = {}
    cards: dict[str, dict[str, Any]] = {}
    restored: dict[str, list[np.ndarray]] = {}
    for model in models:
        scores, kept, card = score_model(model, valset, list(range(n)) if with_columns else keep, progress)
        methods.append(scores)
        examples[scores.name] = {i: kept[i] for i in keep}
        cards[scores.name] = card
        restored[scores.name] = [kept[i] for i in range(n)] if with_columns else []
    column_scores = None
    if with_columns:
        images = {"raw input": list(valset.inputs),
                  "Gaussian (oracle σ)": [oracle_gaussian(valset.inputs[i], valset.targets[i])[0] for i in range(n)],
                  **restored}
        column_scores = evaluate_columns(valset, images, column_truth(valset, cache_dir, progress), progress)
    return TagEvaluation(valset.tag, valset, methods, examples, cards, column_scores)


# ---------------------------------------------------------------------------- real files
@dataclass
class RealResult:
    """A real file restored with the automatically chosen model."""

    file: str
    shape: tuple[int, ...]
    model: str
    reason: str
    seconds: float
    mean_in: float
    mean_out: float
    figure: str
    max_spectral_gain: float
    share_doubled: float


def real_file_figure(image, restored, path: Path, zoom: int = 256) -> FigureRecord:
    """Input and restored frame (input's grey scale, scale bars where calibrated), central zooms, spectra.

    Parameters
    ----------
    image, restored : emrestore.EMImage
        A real file as read, and its restoration (a series: its first frame is shown).
    path : Path
        Output JPEG.
    zoom : int
        Edge of the central crops [px].
    """
    plt = pyplot()
    data_in, data_out = image.data, restored.data
    if data_in.ndim == 3:  # a series: show its first frame
        data_in, data_out = data_in[0], data_out[0]
    h, w = data_in.shape
    size = min(zoom, h, w)
    y, x = (h - size) // 2, (w - size) // 2
    gain = spectral_gain(data_in, data_out)
    spectra = power_spectrum(data_in), power_spectrum(data_out)
    fig, axes = plt.subplots(3, 2, figsize=(9, 14))
    pixel_nm = image.pixel_size_nm
    panels = [image_panel(ax, data, data_in, label, pixel_nm, fontsize=9) for ax, data, label in (
        (axes[0, 0], data_in, "input"), (axes[0, 1], data_out, "restored (same grey scale)"),
        (axes[1, 0], data_in[y:y + size, x:x + size], f"input, central {size}×{size} px"),
        (axes[1, 1], data_out[y:y + size, x:x + size], f"restored, central {size}×{size} px"))]
    for ax, spectrum, label in ((axes[2, 0], spectra[0], "input, power spectrum (log)"),
                                (axes[2, 1], spectra[1], f"restored, same scale (largest gain "
                                                         f"{gain.max_gain:.2f}×)")):
        ax.imshow(spectrum_display(spectrum, spectra[0]), cmap="gray", interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    pixel = f"{image.pixel_size:.4g} {image.unit}/px" if image.pixel_size else "uncalibrated"
    model = restored.metadata.get("restoration", {}).get("model", "?")
    name = Path(image.source).name if image.source else path.stem
    fig.suptitle(f"{name} ({image.modality or 'modality unknown'}, {pixel}) restored with {model}", fontsize=9)
    fig.tight_layout()
    return FigureRecord(save_figure(fig, path, dpi=100, quality=90), panels)


def restore_real(path: Path, figure_dir: Path, zoom: int = 256) -> RealResult:
    """Restore a real file (model chosen from its metadata); draw full view, zoom and spectra.

    The power spectra of input and restored frame are compared (:func:`spectral_gain`): a
    restoration should remove power and add none, so gains well above 1 flag invented
    structure without needing the truth.
    """
    from ..io import read
    from ..restoration import restore

    image = read(path)
    start = time.perf_counter()
    restored = restore(image, progress=False)
    seconds = time.perf_counter() - start
    info = restored.metadata.get("restoration", {})
    data_in, data_out = (image.data[0], restored.data[0]) if image.data.ndim == 3 else (image.data, restored.data)
    gain = spectral_gain(data_in, data_out)
    figure = real_file_figure(image, restored, figure_dir / f"real_{slug(path.stem)}.jpg", zoom)
    return RealResult(path.name, tuple(image.data.shape), str(info.get("model", "?")),
                      str(info.get("model_choice", "")), seconds,
                      float(np.mean(data_in)), float(np.mean(data_out)), figure.name,
                      gain.max_gain, gain.share_doubled)


# ---------------------------------------------------------------------------- markdown
def _fmt(value: float, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(evaluation: TagEvaluation) -> str:
    """The tag's table as Markdown."""
    lines = ["| method | mean PSNR [dB] | median PSNR [dB] | mean SSIM | low-dose PSNR [dB] | "
             "low-dose SSIM | ms / image | images |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in evaluation.table():
        name = f"**{row['method']}**" if row["kind"] == "model" else row["method"]
        if row["note"]:
            name += f" ({row['note']})"
        lines.append(f"| {name} | {_fmt(row['psnr_mean_db'])} | {_fmt(row['psnr_median_db'])} | "
                     f"{_fmt(row['ssim_mean'], 3)} | {_fmt(row['low_dose_psnr_mean_db'])} | "
                     f"{_fmt(row['low_dose_ssim_mean'], 3)} | {_fmt(row['ms_median'], 1)} | {row['n']} |")
    return "\n".join(lines)


def _columns_section(columns: ColumnEvaluation, figures: Path, figure_subdir: str) -> list[str]:
    """Markdown lines (and the figure) of the atomic-column precision of one tag."""
    from .columns import columns_figure

    figure = columns_figure(columns, figures / f"{columns.tag}_columns.png")
    n_scored, n = int(columns.scored.sum()), len(columns.scored)
    return [f"#### Atomic columns ({columns.tag})", "",
            f"Scored on {n_scored} of {n} images (the others resolve fewer than 10 columns in their "
            "clean target). A single frame cannot know its global shift and linear drift, so an affine "
            "map between peaks and true columns is removed first (fitted robustly: RANSAC, then least "
            "squares on its inliers). *Found*: share of the columns the clean target resolves that have a detected "
            "peak within ¼ of the column spacing; *spurious*: detected peaks with no true column that close "
            "(invented atoms); *RMS position error*: 2D Gaussian fits started at the true positions, "
            "against those positions; *intensity error*: median relative difference of each column's "
            "fitted integrated intensity from the same fit on the clean target. The *clean target* rows "
            "are the floor of the method (single Gaussians on overlapping columns), not noise. Means of "
            "found/spurious and medians of the errors over the images of each dose tercile.", "",
            columns_markdown(columns), "",
            f"![{columns.tag} column precision]({figure_subdir}/{figure.name})", ""]


def _figure_lines(evaluation: TagEvaluation, figures: Path, figure_subdir: str) -> list[str]:
    """The tag's dose figure and side-by-side (written into ``figures``) as Markdown lines."""
    from .sim_figures import comparison_figure, dose_figure

    tag = evaluation.tag
    dose = dose_figure(evaluation, figures / f"{tag}_dose.png")
    shown = sorted({i for kept in evaluation.examples.values() for i in kept},
                   key=lambda i: evaluation.valset.doses[i])
    shown = [i for i in comparison_indices(evaluation.valset, evaluation.methods) if i in shown] or shown
    lines = [f"![{tag}: PSNR against dose]({figure_subdir}/{dose.name})", "",
             f"*{tag}, scores against dose*: each point one image, lines the median per dose bin"
             + (" (right: RMS error of the atomic-column positions; *clean target* is the fitting floor)"
                if evaluation.columns is not None else "") + "."]
    if shown:
        side = comparison_figure(evaluation, shown, figures / f"{tag}_side-by-side.jpg")
        lines += ["", f"![{tag}: raw, Gaussian, BM3D, emrestore, truth]({figure_subdir}/{side.name})", "",
                  f"*{tag}, side by side*: {len(shown)} images spread over the doses BM3D ran on, every panel "
                  "on the grey scale of its row's truth; scale bars from the simulated pixel size."]
    return lines


def write_report(evaluations: list[TagEvaluation], real: list[RealResult], out_dir: str | Path,
                 machine: dict[str, Any], figure_subdir: str = "evaluation", command: str = "emrestore evaluate",
                 real_data: RealBenchmark | None = None, date: str | None = None) -> Path:
    """Write ``evaluation.md`` (and the example figures) into ``out_dir``; returns its path.

    ``command`` is the command line that regenerates the report (shown in its header);
    ``real_data`` (:func:`~emrestore.evaluation.real_data.run_real_benchmark`) leads the report;
    ``date``: when the numbers were measured (default now, UTC).
    """
    from ..model.card import ModelCard
    from .sim_figures import dose_unit

    out = Path(out_dir)
    figures = out / figure_subdir
    figures.mkdir(parents=True, exist_ok=True)
    date = date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Evaluation",
        "",
        f"Regenerated by `{command}` "
        f"({date}; commit {machine.get('git_commit', 'unknown')[:10]}"
        f"{' + local changes' if machine.get('git_dirty') else ''}; {machine.get('cpu_model', '?')}, "
        f"{machine.get('threads', '?')} threads"
        + (f", load average {machine['load_average_5min']:g} while measuring: ms per image grows with it"
           if machine.get("load_average_5min") is not None else "")
        + "). Method: `../shared/design/evaluation.md`; what is "
        "measured and how is explained at the end.",
        "",
    ]
    if real_data is not None:
        lines += real_data_lines(real_data, figures, figure_subdir)
    if evaluations:
        lines += ["## Simulated evaluation sets", "",
                  "Held-out frames of emrestore's own simulator (specimens and seeds never used in training). "
                  "The simulator was recalibrated against real data in December 2026 (`docs/realism.md`): "
                  "numbers made on the earlier evaluation sets are not comparable with these.", ""]
    for evaluation in evaluations:
        vs = evaluation.valset
        lines += [f"### {evaluation.tag}", "",
                  f"{len(vs)} held-out pairs of {vs.inputs.shape[-1]}×{vs.inputs.shape[-1]} px "
                  f"(evaluation seed, specimens never seen in training); dose "
                  f"{vs.doses.min():.3g}–{vs.doses.max():.3g}, low dose ≤ {np.quantile(vs.doses, 1 / 3):.3g} "
                  f"{dose_unit(evaluation.tag)}; pixel size "
                  f"{vs.pixel_size_nm.min():.3g}–{vs.pixel_size_nm.max():.3g} nm.", "",
                  markdown_table(evaluation), ""]
        for name, gap in evaluation.bm3d_gaps().items():
            verdict = "meets" if gap >= 3.0 else "does not meet"
            lines.append(f"{name} vs oracle BM3D on the same images: **{gap:+.2f} dB** mean PSNR "
                         f"({verdict} the +3 dB target).")
        for name, fields in evaluation.model_cards.items():
            card = ModelCard.from_dict(fields)
            training = card.training or {}
            lines.append(f"{name}: {card.config_name or '?'} preset, {card.parameters or 0:,} parameters, "
                         f"{training.get('steps', '?')} steps, {training.get('pairs_seen', '?')} pairs, "
                         f"{(training.get('wall_time_s') or 0) / 60:.0f} min of training.")
        lines += ["", *_figure_lines(evaluation, figures, figure_subdir), ""]
        if evaluation.columns is not None:
            lines += _columns_section(evaluation.columns, figures, figure_subdir)
    if real:
        lines += ["## Real micrographs restored (spectral check)", "",
                  "Restored at full size with the model chosen from the file's metadata; a central "
                  "crop below each full view, and the power spectra of both. There is no truth for "
                  "these frames, so the spectra are compared instead (`emrestore.evaluation.spectrum`): "
                  "a restoration should remove power, not add it. *Largest spectral gain*: the "
                  "largest ratio restored / input of the smoothed spectra (5×5 bins) outside the "
                  "lowest frequencies (≈ 1 or less: nothing added anywhere); *frequencies > 2×*: "
                  "their share where the restored frame holds more than twice the input's power "
                  "(invented periodicity or ringing would show here).", "",
                  "| file | shape | model | s | mean in | mean out | largest spectral gain | frequencies > 2× |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in real:
            lines.append(f"| {r.file} | {'×'.join(map(str, r.shape))} | {r.model} | {r.seconds:.1f} | "
                         f"{r.mean_in:.4g} | {r.mean_out:.4g} | {r.max_spectral_gain:.2f} | "
                         f"{100 * r.share_doubled:.2f} % |")
        lines.append("")
        for r in real:
            lines += [f"![{r.file}]({figure_subdir}/{r.figure})", ""]
    lines += [
        "## How to read this",
        "",
        *([
            "* **Real data** (`emrestore.evaluation.real_data`): *frame-split* — frames registered "
            "(phase correlation, subpixel, Fourier shift; the region all frames cover), frame *k* restored "
            "on its own and scored against the mean of the others; that reference keeps noise of variance "
            "σ²/(N − 1) (σ² from frame-to-frame differences: an upper bound where the field changes, as on "
            "the FIB-SEM pages), which every method's error includes alike; the *corrected* PSNR removes it. "
            "A method that beats the raw frame there brings the frame closer to what averaging gives. "
            "*Near-clean*: the same forward model as in training, applied to real content; its target is the "
            "chain's (undistorted, noise-free) frame, so a residual scan distortion of the real frame is part "
            "of the truth. *Pass-through*: the clean frame as input; a restorer that also removes the "
            "frame's own residual noise and distortions scores below 35 dB against it. *Lattice*: the input's "
            "spots include noise peaks that happen to sit on lattice nodes and, on scanned frames, high "
            "orders smeared along the slow-scan axis by row jitter; a denoiser may rightly weaken those.",
            "* Facts a real file does not store come from a manifest: `emrestore-real.toml` in the folder "
            "(a table per file: `role` = series / near-clean / single, `modality`, `pixel_size_nm`, `note`) "
            "or, without one, the built-in entries for the public test files "
            "(`emrestore.evaluation.real_files.KNOWN_FILES`).",
        ] if real_data is not None else []),
        "* PSNR uses the target's range (max − min) as the peak; SSIM is scikit-image's (7×7 window) "
        "with the same range. Means and medians are over images; *low dose* is the lowest third of "
        "the set's doses.",
        "* Gaussian, non-local means and BM3D have their strength tuned **per image on the target** "
        "(σ, h and σ from small grids, see `emrestore.evaluation.baselines`): upper bounds no user can "
        "reach without the truth. BM3D runs on the 3×3-median-filtered input (impulses removed); at "
        "seconds per image and σ it runs by default on 8 images spread over the doses "
        "(`--bm3d-images N`, -1 for all; the *images* column says how many), and the model-vs-BM3D "
        "gap is computed on the images it ran on. A subset can mislead: PSNR means over frames "
        "whose targets span orders of magnitude in range are dominated by a few frames.",
        "* Our models get no tuning: one network per tag, run through onnxruntime exactly as "
        "`emrestore restore` does (ms per image includes normalisation and padding, not start-up).",
        "* Baseline scores and times are cached per evaluation set (`--cache`) and computed once: their "
        "times are those of that first run, models are timed anew on every run.",
        "* Figures (`emrestore.evaluation.sim_figures`, `emrestore.evaluation.figures`): in every side-by-side "
        "the panels of a row share one grey scale, the 0.5–99.5 % range of that row's truth (real data: of the "
        "reference, target or input), so a restoration that is brighter, darker or flatter than the truth looks "
        "it; the Gaussian and BM3D panels are recomputed from the σ their cached scores keep, and their PSNR is "
        "checked against the table's. Every image with a pixel size carries a scale bar (simulated sets: the "
        "pixel size the image was rendered with).",
        "* Atomic columns (hrstem): `emrestore.evaluation.columns`; the raw input's columns are also "
        "displaced by the scan distortions, which restoration is trained to undo.",
        "* The targets are what the distortion chain defines as truth (`docs/distortions.md`): scan "
        "distortions and blur are part of the degradation, so a denoiser alone cannot reach them.",
        "",
    ]
    path = out / "evaluation.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    data = {"date": date, "machine": machine, "command": command,
            "tags": {e.tag: {"table": e.table(), "bm3d_gap_db": e.bm3d_gaps(),
                             **({"columns": e.columns.to_json()} if e.columns is not None else {})}
                     for e in evaluations},
            "real": [r.__dict__ for r in real],
            **({"real_data": real_data.to_json()} if real_data is not None else {})}
    json_path = figures / "evaluation.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float), encoding="utf-8")
    os.replace(tmp, json_path)
    return path

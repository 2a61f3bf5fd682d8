"""Write ``evaluation.md``: the tables and figures of the scored tags, real files and real data.

The numbers come from :mod:`~emrestore.evaluation.scoring` (simulated evaluation sets),
:mod:`~emrestore.evaluation.real_examples` and :mod:`~emrestore.evaluation.real_data`.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import write_text_atomic
from .columns import ColumnEvaluation, columns_markdown
from .real_data import RealBenchmark
from .real_examples import RealResult
from .real_report import real_data_lines
from .scoring import TagEvaluation, comparison_indices


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
            "are the floor of the method (single Gaussians on overlapping columns), not noise; the *white "
            "noise (chance level)* rows score frames of pure noise, which hold no columns at all (their "
            "fits wander within their windows): a method near them locates nothing. Means of "
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
            "The per-frame column (each frame's corrected PSNR minus the tuned Gaussian's) shows whether a "
            "ranking holds in every frame: where the field itself changes between frames (a new FIB slice), "
            "that change is most of every method's error and a ranking by tenths of a dB can flip. "
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
    write_text_atomic(path, "\n".join(lines))
    data = {"date": date, "machine": machine, "command": command,
            "tags": {e.tag: {"table": e.table(), "bm3d_gap_db": e.bm3d_gaps(),
                             **({"columns": e.columns.to_json()} if e.columns is not None else {})}
                     for e in evaluations},
            "real": [r.__dict__ for r in real],
            **({"real_data": real_data.to_json()} if real_data is not None else {})}
    json_path = figures / "evaluation.json"
    write_text_atomic(json_path, json.dumps(data, indent=2, default=float))
    return path

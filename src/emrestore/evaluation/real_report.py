"""The real-data section of ``evaluation.md``: tables and figures of :class:`~emrestore.evaluation.real_data.RealBenchmark`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import FigureRecord, Panel, image_panel, pyplot, save_figure, slug
from .lattice import (
    STEM_PROBE_LIMIT,
    SPOT_THRESHOLD,
    STREAK_CONTRAST,
    STREAK_OFFSET_BINS,
    SURVIVAL_AMPLITUDE,
    smoothed_spectrum,
    transfer_limit_cycles_per_px,
)
from .real_data import (PASS_THROUGH_DB, SCORE_CROP_PX, FrameResult, MethodScore, NearCleanResult, RealBenchmark,
                        SeriesResult)
from .spectrum import spectrum_display

#: Doses shown in a near-clean file's figure (of the ladder).
FIGURE_DOSES = (1.0, 100.0, 1e4)


def _fmt(value: float, digits: int = 2) -> str:
    if value is None or np.isnan(value):
        return "–"
    return "∞" if np.isinf(value) else f"{value:.{digits}f}"


def _model_label(name: str, chosen: bool) -> str:
    return f"**{name}**" + (" (auto)" if chosen else "")


def _panel(panels: list[Panel], ax, image, reference, title, pixel_nm=None) -> None:
    panels.append(image_panel(ax, image, reference, title, pixel_nm))


# ---------------------------------------------------------------------------- figures
def series_figure(result: SeriesResult, path: Path) -> FigureRecord:
    """Frame 0, each model's restoration and the reference (full scored region and a zoom), one grey scale."""
    plt = pyplot()
    panels: list[Panel] = []
    ex = result.example
    names = ["raw"] + [m.name for m in result.methods if m.kind == "model"] + ["reference"]
    reference = ex["reference"]
    h, w = reference.shape
    zoom = max(16, min(h, w) // 4)
    zy, zx = (h - zoom) // 2, (w - zoom) // 2
    fig, axes = plt.subplots(2, len(names), figsize=(2.6 * len(names), 5.6), squeeze=False)
    pixel = result.file.image.pixel_size_nm
    for col, name in enumerate(names):
        image = ex[name]
        score = "" if name == "reference" else f" {next(m.psnr_db for m in result.methods if m.name == ('raw input' if name == 'raw' else name)):.1f} dB"
        label = {"raw": "frame 0", "reference": f"mean of frames 1–{result.file.frames - 1}"}.get(name, name)
        _panel(panels, axes[0, col], image, reference, label + score, pixel)
        _panel(panels, axes[1, col], image[zy:zy + zoom, zx:zx + zoom], reference[zy:zy + zoom, zx:zx + zoom],
               f"central {zoom}×{zoom} px", pixel)
    fig.suptitle(f"{result.file.name}: frame 0 restored vs the registered mean of the other frames "
                 "(grey scale of the reference; PSNR of frame 0)", fontsize=8)
    fig.tight_layout()
    return FigureRecord(save_figure(fig, path, dpi=90, quality=88), panels)


def near_clean_figure(result: NearCleanResult, path: Path) -> FigureRecord:
    """Rows: the clean frame passed through, then degraded at a few doses; input, each model, target."""
    plt = pyplot()
    panels: list[Panel] = []
    doses = [0.0] + [d for d in FIGURE_DOSES if d in result.examples]
    models = [m.name for m in result.pass_through]
    fig, axes = plt.subplots(len(doses), 2 + len(models), figsize=(2.4 * (2 + len(models)), 2.5 * len(doses)),
                             squeeze=False)
    pixel = result.file.image.pixel_size_nm
    for row, dose in enumerate(doses):
        ex = result.examples[dose]
        target = ex["target"]
        rows = {m.name: m for m in (result.pass_through if dose == 0 else result.ladder[dose])}
        for col, name in enumerate(["input"] + models + ["target"]):
            if name == "input":
                title = "clean real frame as input" if dose == 0 else f"degraded, {dose:g} e⁻/px"
                if dose:
                    title += f" ({next(m.psnr_db for m in rows.values() if m.name == 'raw input'):.1f} dB)"
            elif name == "target":
                title = "target (the clean frame)" if dose == 0 else "target"
            else:
                title = f"{name} {rows[name].psnr_db:.1f} dB"
            _panel(panels, axes[row, col], ex[name], target, title, pixel)
    fig.suptitle(f"{result.file.name}: real content through the forward model (grey scale of the target)",
                 fontsize=8)
    fig.tight_layout()
    return FigureRecord(save_figure(fig, path, dpi=90, quality=88), panels)


def frame_figure(result: FrameResult, path: Path) -> FigureRecord:
    """Input and restored frame (one grey scale) with a central zoom, and both power spectra (one log scale).

    Where the frame shows a lattice, its spots are marked: kept (green), lost (red), appeared
    (yellow squares).
    """
    plt = pyplot()
    panels: list[Panel] = []
    frame, restored = result.frame, result.restored
    pixel = result.file.image.pixel_size_nm
    n = min(frame.shape)
    y, x = (frame.shape[0] - n) // 2, (frame.shape[1] - n) // 2
    zoom = max(16, min(256, n // 4))
    zy, zx = (frame.shape[0] - zoom) // 2, (frame.shape[1] - zoom) // 2
    fig, axes = plt.subplots(2, 3, figsize=(12, 8.4))
    _panel(panels, axes[0, 0], frame[y:y + n, x:x + n], frame, "input (central square)", pixel)
    _panel(panels, axes[0, 1], restored[y:y + n, x:x + n], frame, f"{result.chosen} (same grey scale)", pixel)
    _panel(panels, axes[1, 0], frame[zy:zy + zoom, zx:zx + zoom], frame, f"input, central {zoom}×{zoom} px", pixel)
    _panel(panels, axes[1, 1], restored[zy:zy + zoom, zx:zx + zoom], frame, "restored, same region", pixel)
    p_in, p_out = smoothed_spectrum(frame), smoothed_spectrum(restored)
    fidelity = result.fidelity.get(result.chosen)
    counts = ("" if fidelity is None else f": {len(fidelity.spots)} spots")
    kept = ("" if fidelity is None else f": {int(fidelity.survived.sum())} kept, {len(fidelity.appeared)} appeared")
    for ax, spectrum, title in ((axes[0, 2], p_in, f"input spectrum (log){counts}"),
                                (axes[1, 2], p_out, f"restored spectrum, same scale{kept}")):
        ax.imshow(spectrum_display(spectrum, p_in), cmap="gray", interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    if fidelity is not None:
        pos, ok = fidelity.spots.positions, fidelity.survived
        for ax in (axes[0, 2], axes[1, 2]):
            ax.scatter(pos[ok, 1], pos[ok, 0], s=50, facecolors="none", edgecolors="lime", lw=0.8)
            ax.scatter(pos[~ok, 1], pos[~ok, 0], s=50, facecolors="none", edgecolors="red", lw=0.8)
        if len(fidelity.appeared):
            axes[1, 2].scatter(fidelity.appeared[:, 1], fidelity.appeared[:, 0], s=50, marker="s",
                               facecolors="none", edgecolors="yellow", lw=0.8)
    what = ("Bragg spots of the input: green kept, red lost, yellow squares appeared; one of each Friedel pair"
            if fidelity is not None else "no lattice found: spectra compared only")
    fig.suptitle(f"{result.file.name} ({_facts(result.file)}) restored whole — {what}", fontsize=8)
    fig.tight_layout()
    return FigureRecord(save_figure(fig, path, dpi=90, quality=88), panels)


# ---------------------------------------------------------------------------- markdown
def _facts(result_file) -> str:
    src = result_file.sources
    pixel = f"{result_file.image.pixel_size_nm:.4g} nm/px" if result_file.image.pixel_size_nm else "no pixel size"
    return (f"{result_file.image.modality or '?'} ({src.get('modality')}), {pixel} ({src.get('pixel_size')})")


def _series_summary(results: list[SeriesResult]) -> list[str]:
    """Per modality: mean corrected PSNR of raw, the best tuned classical filter and the automatic model."""
    rows = []
    for modality in sorted({r.file.image.modality or "unknown" for r in results}):
        group = [r for r in results if (r.file.image.modality or "unknown") == modality]
        raw = [r.method("raw input").psnr_corrected_db for r in group]
        classical = [max(m.psnr_corrected_db for m in r.methods if m.kind == "baseline") for r in group]
        model = [next((m.psnr_corrected_db for m in r.methods if m.chosen), float("nan")) for r in group]
        beats = sum(m > max(a, c) for m, a, c in zip(model, raw, classical))
        rows.append(f"| {modality} | {len(group)} | {np.mean(raw):.2f} | {np.mean(classical):.2f} | "
                    f"{np.mean(model):.2f} | {np.mean(model) - np.mean(raw):+.2f} | "
                    f"{np.mean(model) - np.mean(classical):+.2f} | {beats} of {len(group)} |")
    return ["Summary per modality (means over files of the corrected PSNR [dB]; *best classical*: the best "
            "reference-tuned filter of each file):", "",
            "| modality | files | raw | best classical | emrestore (auto) | vs raw | vs best classical | "
            "files where emrestore beats both |", "|---|---:|---:|---:|---:|---:|---:|---:|", *rows, ""]


#: The baseline each method's per-frame differences are taken against (the issue's yardstick).
SPREAD_BASELINE = "Gaussian (oracle σ)"


def _per_frame_spread(result: SeriesResult, method: MethodScore) -> str:
    """``"lowest … highest"`` per-frame corrected-PSNR difference of ``method`` from the tuned Gaussian."""
    try:
        base = result.method(SPREAD_BASELINE)
    except StopIteration:
        return "–"
    if method is base or not method.corrected_per_frame_db \
            or len(method.corrected_per_frame_db) != len(base.corrected_per_frame_db):
        return ""
    diffs = np.subtract(method.corrected_per_frame_db, base.corrected_per_frame_db)
    if not np.all(np.isfinite(diffs)):
        return "–"
    return f"{diffs.min():+.2f} … {diffs.max():+.2f}"


def series_lines(results: list[SeriesResult], figures: Path, subdir: str) -> list[str]:
    if not results:
        return []
    lines = ["### Series of one field: frame-split scoring", "",
             "Each frame restored on its own and compared with the registered mean of the other frames "
             f"(central ≤ {SCORE_CROP_PX}² px of the region all frames cover; means over the choice of frame). "
             "*Corrected*: the PSNR with the reference's own noise variance (frame noise / (N − 1), from "
             "frame-to-frame differences) removed from the squared error — what the score would be "
             "against a noise-free reference. The classical filters are tuned on the reference.", ""]
    lines += _series_summary(results)
    lines += [f"*Per frame vs {SPREAD_BASELINE}*: the corrected PSNR minus that of the tuned Gaussian, "
              "frame by frame (the lowest … the highest over the choices of frame): a difference that "
              "changes sign between frames is not one the series can decide.", "",
              "| file | facts (source) | frames | method | PSNR [dB] | corrected PSNR [dB] | SSIM | vs raw [dB] "
              f"| per frame vs {SPREAD_BASELINE} [dB] |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in results:
        raw = r.method("raw input").psnr_db
        for i, m in enumerate(r.methods):
            head = (f"| {r.file.name} | {_facts(r.file)} | {r.file.frames} " if i == 0 else "| | | ")
            name = _model_label(m.name, m.chosen) if m.kind == "model" else m.name
            lines.append(f"{head}| {name} | {_fmt(m.psnr_db)} | {_fmt(m.psnr_corrected_db)} | {_fmt(m.ssim, 3)} | "
                         f"{m.psnr_db - raw:+.2f} | {_per_frame_spread(r, m)} |")
    lines.append("")
    for r in results:
        figure = series_figure(r, figures / f"realseries_{slug(r.file.name)}.jpg")
        lines += [f"![{r.file.name}]({subdir}/{figure.name})", ""]
    return lines


def finetune_lines(results: list) -> list[str]:
    """The fine-tuning frame split (:mod:`emrestore.finetune.frame_split`), when it was measured."""
    if not results:
        return []
    lines = ["### Series of one field: fine-tuned on the other frames (`emrestore finetune`)", "",
             "For each frame *k*, the automatically chosen shipped model is fine-tuned on the *other* frames "
             "of the series (`emrestore finetune` with its default objectives for the model's modality, a "
             "fixed number of steps, seed 0), then frame *k* is restored by the shipped and the fine-tuned "
             "model and scored as above, against the registered mean of the other frames. Caveat: that "
             "reference is made of the frames the model adapted on (their noise only served as targets, "
             "never frame *k*'s), so a model that learned their content is favoured, more than on a new "
             "field. Measured by `emrestore evaluate --real-series DIR --finetune-steps N` (N: the steps per fold "
             "below; needs the `train` extra). Details and the objectives compared: `docs/finetune.md`.", "",
             "| file | frames | steps per fold | objectives (blind spot) | method | PSNR [dB] | corrected PSNR [dB] "
             "| SSIM | gain over shipped [dB] |", "|---|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in results:
        fold = r.folds[0] if r.folds else {}
        objectives = f"{', '.join(fold.get('objectives', []))} ({fold.get('blind_spot') or '?'})"
        shipped = r.method(f"emrestore {r.tag} (shipped)").psnr_corrected_db
        for i, m in enumerate(r.methods):
            head = (f"| {r.file.name} | {r.file.frames} | {r.steps} | {objectives} " if i == 0 else "| | | | ")
            gain = f"{m.psnr_corrected_db - shipped:+.2f}" if m.kind == "model" else ""
            name = f"**{m.name}**" if m.name.endswith("fine-tuned") else m.name
            lines.append(f"{head}| {name} | {_fmt(m.psnr_db)} | {_fmt(m.psnr_corrected_db)} | {_fmt(m.ssim, 3)} | "
                         f"{gain} |")
    dates = sorted({r.date for r in results if r.date})
    when = f"{dates[0]}" if len(dates) == 1 else (f"{dates[0]} to {dates[-1]}" if dates else "with the rest")
    lines += ["", f"Measured {when}; fine-tuning and restoring took, per fold, "
              + ", ".join(f"{r.file.name}: {np.mean([f['wall_time_s'] for f in r.folds]) / 60:.1f} min"
                          for r in results) + " (2 CPU cores).", ""]
    return lines


def near_clean_lines(results: list[NearCleanResult], figures: Path, subdir: str) -> list[str]:
    if not results:
        return []
    lines = ["### Near-clean real frames: passed through, and degraded at known doses", "",
             f"*Pass-through*: the clean real frame given as input, the restoration against the frame itself "
             f"(≥ {PASS_THROUGH_DB:.0f} dB: a clean input comes back unchanged). *Ladder*: the frame "
             f"(central ≤ {SCORE_CROP_PX}² px) degraded by the file's forward model at each dose (the other "
             "chain parameters drawn once from the default ranges, the same at every dose), scored against the chain's target; "
             "the classical filters are tuned on that target.", "",
             "*Own noise*: the frame's residual noise as a PSNR against the frame, 20 log10(range / σ), σ from "
             "the floor of its power spectrum: what a restorer that removed exactly that noise, and nothing "
             "else, would score in pass-through. A pass-through well above it kept the noise; near it, "
             "removed it. The ladder's target is the same frame, noise included, so its PSNRs are bounded "
             "near this value too.", "",
             "| file | facts (source) | own noise [dB] | model | pass-through PSNR [dB] | SSIM | ≥ 35 dB |",
             "|---|---|---:|---|---:|---:|:-:|"]
    for r in results:
        for i, m in enumerate(r.pass_through):
            head = f"| {r.file.name} | {_facts(r.file)} | {_fmt(r.own_noise_psnr_db)} " if i == 0 else "| | | "
            lines.append(f"{head}| {_model_label(m.name, m.chosen)} | {_fmt(m.psnr_db)} | {_fmt(m.ssim, 3)} | "
                         f"{'✓' if m.psnr_db >= PASS_THROUGH_DB else '✗'} |")
    lines.append("")
    for r in results:
        names = [m.name for m in next(iter(r.ladder.values()))]
        bm3d = next((n for n in names if n.startswith("BM3D")), None)
        models = [n for n in names if n.startswith("emrestore")]
        lines += [f"**{r.file.name}** — PSNR [dB] against the target, per dose [e⁻/px]:", "",
                  "| dose | " + " | ".join(names) + (" | " + " | ".join(f"{m} − BM3D" for m in models) if bm3d else "")
                  + " |",
                  "|---:|" + "---:|" * (len(names) + (len(models) if bm3d else 0))]
        for dose, rows in r.ladder.items():
            by = {m.name: m.psnr_db for m in rows}
            cells = [_fmt(by[n]) for n in names]
            if bm3d:
                cells += [f"{by[m] - by[bm3d]:+.2f}" for m in models]
            lines.append(f"| {dose:g} | " + " | ".join(cells) + " |")
        figure = near_clean_figure(r, figures / f"realclean_{slug(r.file.name)}.jpg")
        lines += ["", f"![{r.file.name}]({subdir}/{figure.name})", ""]
    return lines


def frame_lines(results: list[FrameResult], figures: Path, subdir: str) -> list[str]:
    if not results:
        return []
    lattice = [r for r in results if r.is_lattice]
    lines = ["### Whole frames: lattice fidelity and spectra", "",
             f"Each file's frame restored whole (a series: its first frame). Spots: peaks of the input's power "
             f"spectrum (Hann window, 3×3-smoothed) ≥ {SPOT_THRESHOLD:g}× the local floor and ≥ {STREAK_CONTRAST:g}× "
             f"the power {STREAK_OFFSET_BINS} bins away along each axis (so the streak that row-to-row changes of a "
             "scan drag through a strong spot is not counted: since 2026-12-03) that lie on one 2-D "
             "reciprocal lattice (`emrestore.evaluation.lattice`; not one whose spots all lie on the spectrum's "
             "axes: that is row and column structure), one of each Friedel pair. *Kept*: the "
             f"restoration keeps ≥ {SURVIVAL_AMPLITUDE:g} of the spot's amplitude above the floor; *outer*: the "
             "half of the spots beyond their median frequency (the high orders); *appeared*: clearly visible "
             "peaks of the restored spectrum where the input shows none (invented periodicity). *Largest "
             "spectral gain*: restored / input power of the smoothed spectra, largest over all frequencies "
             "(≈ 1 or less: no power added anywhere). *Beyond the optics*: spots at a higher frequency than "
             f"any STEM probe the `hrstem` renderer draws can carry (2α/λ at {STEM_PROBE_LIMIT[0]:g} mrad, "
             f"{STEM_PROBE_LIMIT[1]:g} kV: {1e3 / transfer_limit_cycles_per_px('stem', 1.0):.0f} pm; the finest STEM image resolution "
             "reported is about 40 pm), where the pixel size is known: not specimen detail but noise peaks on the "
             "dense high-order lattice nodes or artefacts, which a denoiser should remove. The *≤ optics* "
             "columns score the other spots, their outer half taken among them (– where the limit is unknown: "
             "no pixel size, or not STEM).", ""]
    if lattice:
        lines += ["| file | facts (source) | spots (outer) | finest period [px] | beyond the optics | model | kept | "
                  "outer kept | kept, ≤ optics | outer kept, ≤ optics | appeared | largest spectral gain |",
                  "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in lattice:
            for i, (name, f) in enumerate(r.fidelity.items()):
                w = r.within_limit(name)
                beyond = "–" if r.transfer_limit is None else str(len(f.spots) - len(w.spots))
                head = (f"| {r.file.name} | {_facts(r.file)} | {len(f.spots)} ({int(f.outer.sum())}) | "
                        f"{f.spots.period_px.min():.2f} | {beyond} " if i == 0 else "| | | | | ")
                limited = ("| – | – " if r.transfer_limit is None else
                           f"| {_fmt(100 * w.share_survived, 0)} % | {_fmt(100 * w.share_outer_survived, 0)} % ")
                lines.append(f"{head}| {_model_label(name, name == r.chosen)} | {100 * f.share_survived:.0f} % | "
                             f"{_fmt(100 * f.share_outer_survived, 0)} % {limited}| {len(f.appeared)} | "
                             f"{r.spectral_gain[name]:.2f} |")
        lines.append("")
    others = [r for r in results if not r.is_lattice]
    if others:
        lines += ["Frames without a lattice:", "", "| file | facts (source) | model | largest spectral gain |",
                  "|---|---|---|---:|"]
        for r in others:
            for i, (name, gain) in enumerate(r.spectral_gain.items()):
                head = f"| {r.file.name} | {_facts(r.file)} " if i == 0 else "| | "
                lines.append(f"{head}| {_model_label(name, name == r.chosen)} | {gain:.2f} |")
        lines.append("")
    for r in results:
        if r.file.role == "series":
            continue  # shown with its reference above
        figure = frame_figure(r, figures / f"realframe_{slug(r.file.name)}.jpg")
        lines += [f"![{r.file.name}]({subdir}/{figure.name})", ""]
    return lines


def real_data_lines(bench: RealBenchmark, figures: Path, subdir: str) -> list[str]:
    """The whole real-data section (Markdown lines; figures written into ``figures``)."""
    lines = ["## Real data", "",
             "Real micrographs that no simulator made (`emrestore evaluate --real-series DIR`; folders: "
             + ", ".join(f"`{f}`" for f in bench.folders) + "). Facts a file does not store (modality, pixel "
             "size, whether a frame is near-clean) come from a manifest — " + "; ".join(bench.manifests)
             + " — and each table says where each fact came from (*file*, *manifest*, *unknown*). Every "
             "shipped model of the file's modality is scored, and each `--model` file of that modality "
             "(*emrestore model (its folder)*); *(auto)* marks the one `emrestore restore` would choose.", ""]
    lines += series_lines(bench.series, figures, subdir)
    lines += finetune_lines(getattr(bench, "finetuned", []))  # results saved before it existed have none
    lines += near_clean_lines(bench.near_clean, figures, subdir)
    lines += frame_lines(bench.frames, figures, subdir)
    if bench.skipped:
        lines += ["Skipped: " + "; ".join(f"{n} ({r})" for n, r in bench.skipped), ""]
    return lines

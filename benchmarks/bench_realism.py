"""Simulated frames next to real micrographs, per tag, with numbers (issue 16).

Run from the repository root::

    .venv/bin/python benchmarks/bench_realism.py --data ../shared/data --out docs

Writes ``OUT/realism.md`` (tables: real statistics against simulated ones, before and after
the calibration of the simulator's ranges) and small figures in ``OUT/realism/``. The real
files are only read, never copied. "Before" numbers come from the previous ranges, drawn
here explicitly (HR pixel sizes logU[0.05, 0.4] Å, support films without texture); "after"
from the current renderers and chains. Every random draw is seeded, so a rerun gives the
same tables. About 5–8 minutes on two shared cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import emrestore
from emrestore.datasets.atomic import PIXEL_RANGE_NM, _pixel_A
from emrestore.datasets.lowmag import TAG_CONFIGS
from emrestore.datasets.registry import get_renderer
from emrestore.distortions import CHAINS, distort
from emrestore.evaluation.realism import (
    background_texture, noise_curve, power_share_below_period, radial_power_spectrum, scan_noise,
    simulated_series, white_noise_fraction,
)
from emrestore.evaluation.validation import SIMULATOR_VERSION

#: The previous HR pixel-size range [nm] (before this calibration).
OLD_HR_RANGE_NM = (0.005, 0.04)
#: Pixel size of the STO ADF/ABF files, stored without unit (README: ≈ 9.3 pm) [nm].
STO_PIXEL_NM = 0.0093


# ------------------------------------------------------------------------------ helpers
def read(path: Path) -> tuple[np.ndarray, float | None]:
    """Frame(s) and pixel size [nm] of a real file."""
    image = emrestore.read(str(path))
    return np.asarray(image.data, np.float64), image.pixel_size_nm


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Central ``size`` × ``size`` crop (the whole frame where it is smaller)."""
    h, w = image.shape[-2:]
    t, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return image[..., t:t + size, left:left + size]


def save_figure(fig: Any, path: Path) -> None:
    """Save a figure as a small PNG (palette of 96 colours) and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    quantise_png(path)


def quantise_png(path: Path, colours: int = 96) -> None:
    """Rewrite a PNG with an adaptive palette (a third of the size; grey scales stay exact enough)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def stretch(image: np.ndarray) -> np.ndarray:
    """The grey-scale convention of every figure: 0.5–99.5 % percentiles to black–white."""
    lo, hi = np.percentile(image, [0.5, 99.5])
    return np.clip((image - lo) / max(hi - lo, 1e-12), 0, 1)


def q(values: list[float] | np.ndarray, fmt: str = "{:.3g}") -> str:
    """Median [10th–90th percentile] of a list of numbers."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return "–"
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return f"{fmt.format(p50)} [{fmt.format(p10)}–{fmt.format(p90)}]"


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def render_degraded(tag: str, size: int, seed: int, pixel_size_nm: float | None = None,
                    overrides: dict | None = None, distort_params: dict | None = None
                    ) -> tuple[np.ndarray, np.ndarray, float, dict, float]:
    """Clean and degraded frame of ``tag`` (one seed), pixel size, params, render time [s]."""
    ov = dict(overrides or {})
    if pixel_size_nm is not None:
        ov["pixel_size_nm"] = pixel_size_nm
    start = time.perf_counter()
    clean = get_renderer(tag)(size, np.random.default_rng([seed, 1]), **ov)
    took = time.perf_counter() - start
    degraded, _, params = distort(clean.image, clean.modality, seed=np.random.default_rng([seed, 2]),
                                  pixel_size_nm=clean.pixel_size_nm, **(distort_params or {}))
    return np.asarray(clean.image), np.asarray(degraded, float), clean.pixel_size_nm, params, took


@dataclass
class Section:
    """The markdown of one tag: tables and notes."""

    title: str
    lines: list[str] = field(default_factory=list)

    def add(self, *text: str) -> None:
        self.lines.extend(text)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "---|" * len(header))
        for row in rows:
            self.lines.append("| " + " | ".join(row) + " |")
        self.lines.append("")


# ------------------------------------------------------------------------- measurements
def hr_section(tag: str, data: Path, figs: Path, n: int, size: int, results: dict) -> Section:
    """Power below 8 px: real HR frames against clean/degraded frames of the old and new range."""
    import matplotlib.pyplot as plt

    sec = Section(tag)
    real = results.setdefault("hr_real", None)
    if real is None:
        real = []
        files = [("real/hrstem_example.ser", None), ("real-series/STO_ADF.hdf5", STO_PIXEL_NM),
                 ("real-series/STO_ABF.hdf5", STO_PIXEL_NM), ("real-series/Cropped_PTO-SRO_Aligned.hspy", None)]
        files += [(f"real-series/atomsegnet/{p.name}", None)
                  for p in sorted((data / "real-series" / "atomsegnet").glob("*.png"))]
        for rel, pixel in files:
            path = data / rel
            if not path.is_file():
                continue
            frame, stored = read(path)
            frame = frame if frame.ndim == 2 else frame[0]
            real.append({"file": Path(rel).name, "pixel_nm": pixel or stored, "share": power_share_below_period(frame),
                         "noise": white_noise_fraction(frame),
                         "spectrum": radial_power_spectrum(centre_crop(frame, size), 64), "frame": frame})
        results["hr_real"] = real
    rng_old = np.random.default_rng([7, 0 if tag == "hrstem" else 1])
    old_px = np.exp(rng_old.uniform(np.log(OLD_HR_RANGE_NM[0]), np.log(OLD_HR_RANGE_NM[1]), n))
    rng_new = np.random.default_rng([8, 0 if tag == "hrstem" else 1])
    new_px = np.array([_pixel_A(rng_new, {}) / 10 for _ in range(n)])
    stats: dict[str, dict[str, list[float]]] = {}
    examples: dict[str, Any] = {}
    for name, pixels in (("before", old_px), ("after", new_px)):
        st = stats.setdefault(name, {"clean": [], "degraded": [], "time": [], "pixel": []})
        for i, p in enumerate(pixels):
            clean, degraded, pix, _, took = render_degraded(tag, size, 100 + i, float(p))
            st["clean"].append(power_share_below_period(clean))
            st["degraded"].append(power_share_below_period(degraded))
            st["time"].append(took)
            st["pixel"].append(pix)
    # at the real files' pixel sizes (within the new range)
    at_real = []
    for r in real:
        if r["pixel_nm"] is None or not PIXEL_RANGE_NM[0] <= r["pixel_nm"] <= PIXEL_RANGE_NM[1]:
            continue
        if any(abs(a["pixel_nm"] - r["pixel_nm"]) < 1e-6 for a in at_real):
            continue
        shares_c, shares_d, spectra = [], [], []
        noise_before, noise_after = [], []
        modality = "stem" if tag == "hrstem" else "tem"
        old_dose = CHAINS[modality].specs()["dose_e_per_px"].with_range(tail_p=0.0)  # no high-dose tail
        for k in range(3):
            clean, degraded, _, _, _ = render_degraded(tag, size, 500 + k, float(r["pixel_nm"]))
            shares_c.append(power_share_below_period(clean))
            shares_d.append(power_share_below_period(degraded))
            spectra.append(radial_power_spectrum(degraded, 64)[1])
            # noise level: many draws of the chain on this clean frame, without / with the dose tail
            for j in range(15):
                drng = np.random.default_rng([900 + k, j])
                before = distort(clean, modality, seed=drng, dose_e_per_px=old_dose.draw(drng))[0]
                after = distort(clean, modality, seed=np.random.default_rng([950 + k, j]))[0]
                noise_before.append(white_noise_fraction(np.asarray(before, float)))
                noise_after.append(white_noise_fraction(np.asarray(after, float)))
                if k == 0:  # for the figure: the draw whose noise level is closest to the real frame's
                    gap = abs(noise_after[-1] - r["noise"])
                    if gap < examples.get(r["file"] + ":gap", np.inf):
                        examples[r["file"]] = (clean, np.asarray(after, float))
                        examples[r["file"] + ":gap"] = gap
        at_real.append({"file": r["file"], "pixel_nm": r["pixel_nm"], "clean": shares_c, "degraded": shares_d,
                        "spectrum": np.mean(spectra, axis=0), "noise_before": noise_before,
                        "noise_after": noise_after})
    results[f"{tag}_stats"] = stats
    sec.add(f"### {tag}", "")
    if tag == "hrstem":
        sec.add("Real atomic-resolution frames (HAADF/ABF-STEM; no real HR-TEM frame is among the files): "
                "share of the non-DC power at periods below 8 px (Hann window, whole frame).", "")
        sec.table(["file", "pixel size", "power < 8 px", "white-noise share"],
                  [[r["file"], f"{10 * r['pixel_nm']:.3g} Å" if r["pixel_nm"] else "not stored", pct(r["share"]),
                    f"{r['noise']:.3f}"] for r in real])
        sec.add(f"Median over the {len(real)} real frames: **{pct(float(np.median([r['share'] for r in real])))}**.", "")
    sec.add(f"{tag}: {n} frames of {size}² per range, median [10–90 %] (clean = target; degraded = "
            "full distortion chain, drawn dose).", "")
    rows = []
    for name in ("before", "after"):
        st = stats[name]
        rng_txt = ("logU[0.05, 0.4] Å" if name == "before"
                   else "0.05–1.0 Å (p = 0.7 logU[0.1, 0.6] Å, else logU[0.05, 1.0] Å)")
        if name == "before":
            coarse = 0.0
        else:
            draws = np.array([_pixel_A(np.random.default_rng([9, j]), {}) for j in range(4000)])
            coarse = float((draws > 0.4).mean())  # _pixel_A returns Å
        rows.append([name, rng_txt, q(np.array(st["pixel"]) * 10, "{:.2f}") + " Å", pct(coarse),
                     q(np.array(st["clean"]) * 100) + " %", pct(float((np.array(st["clean"]) > 0.01).mean())),
                     q(np.array(st["degraded"]) * 100) + " %", f"{np.mean(st['time']):.2f} s"])
    sec.table(["simulator", "pixel range", "pixel drawn", "P(pixel > 0.4 Å)", "power < 8 px, clean",
               "clean frames with > 1 % power < 8 px", "power < 8 px, degraded", "mean render time"], rows)
    if at_real:
        sec.add(f"{tag} rendered at the real files' pixel sizes (3 frames each):", "")
        sec.table(["at pixel size of", "pixel", "real", f"{tag} clean", f"{tag} degraded"],
                  [[a["file"], f"{10 * a['pixel_nm']:.3g} Å",
                    pct(next(r["share"] for r in real if r["file"] == a["file"])),
                    q(np.array(a["clean"]) * 100) + " %", q(np.array(a["degraded"]) * 100) + " %"] for a in at_real])
        sec.add("Noise level: white-noise share of the variance (the flat spectrum beyond 0.4 cycles/px extended "
                "over all frequencies; an upper bound where the lattice itself reaches 0.4 cycles/px, as at "
                "0.52 Å). Simulated: 45 chain draws on 3 clean frames at the real pixel size; *before* = dose "
                "without the high-dose tail. The percentile says where the real frame falls among them.", "")
        rows = []
        for a in at_real:
            rn = next(r["noise"] for r in real if r["file"] == a["file"])
            nb, na = np.array(a["noise_before"]), np.array(a["noise_after"])
            rows.append([a["file"], f"{rn:.3f}", q(nb), f"{100 * (nb < rn).mean():.0f}", q(na),
                         f"{100 * (na < rn).mean():.0f}"])
        sec.table(["real frame", "real noise share", "simulated before", "real's percentile",
                   "simulated after", "real's percentile"], rows)
    # figure: spectra together, and real vs simulated at the same pixel size
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.3), dpi=64)
    for r in real:
        f, pw = r["spectrum"]
        axes[0].semilogy(f, pw, color="k", alpha=0.35, lw=1)
    for a in at_real:
        axes[0].semilogy(f, a["spectrum"], lw=1.5, label=f"{tag} at {10 * a['pixel_nm']:.2g} Å")
    axes[0].axvline(1 / 8, color="grey", ls=":")
    axes[0].set(xlabel="spatial frequency [cycles/px]", ylabel="normalised power",
                title="real (grey) vs simulated, degraded")
    axes[0].legend(fontsize=7)
    key = "hrstem_example.ser" if "hrstem_example.ser" in examples else next(
        (k for k in examples if not k.endswith(":gap")), None)
    if key is not None:
        rf = next(r["frame"] for r in real if r["file"] == key)
        axes[1].imshow(stretch(centre_crop(rf, size)), cmap="gray")
        axes[1].set_title(f"real {key}\n{size}² crop, {10 * next(r['pixel_nm'] for r in real if r['file'] == key):.2f} Å/px",
                          fontsize=8)
        axes[2].imshow(stretch(examples[key][1]), cmap="gray")
        axes[2].set_title(f"simulated {tag}, same pixel size,\nchain draw closest in noise level", fontsize=8)
    for ax in axes[1:]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, figs / f"{tag}.png")
    sec.add(f"![{tag}: spectra and frames](realism/{tag}.png)", "")
    return sec


def tem_series_section(data: Path, figs: Path, n: int, results: dict) -> Section:
    """lrtem: noise curve of the real TEM preview series against simulated series at 6.28 nm."""
    import matplotlib.pyplot as plt

    sec = Section("lrtem")
    sec.add("### lrtem", "")
    path = data / "real-series" / "64x64x5_TEM_preview_1.ser"
    real_curve = None
    if path.is_file():
        frames, pixel = read(path)
        real_curve = noise_curve(frames, n_bins=6, min_count=20)
        real_share = power_share_below_period(frames.mean(axis=0))
    pixel = pixel if path.is_file() else 6.28
    sims = []
    for i in range(n):
        sim = simulated_series("lrtem", float(pixel), 64, seed=300 + i, n_frames=5)
        try:
            curve = noise_curve(sim.frames, register=False, n_bins=6, min_count=20)
        except Exception:  # a frame without intensity range (e.g. saturated) cannot be fitted
            continue
        d = sim.params["distortion"]
        sims.append({"curve": curve, "dose": d["dose_e_per_px"], "counting": d["counting_camera"],
                     "psf": d["psf_sigma_px"], "display": d["display_applied"],
                     "share": power_share_below_period(sim.frames.mean(axis=0)), "frame": sim.frames[0]})
    results["lrtem"] = {"real": real_curve.summary() if real_curve else None,
                        "sim": [s["curve"].summary() for s in sims]}
    rows = []
    if real_curve is not None:
        rc = real_curve
        rows.append(["real 64x64x5_TEM_preview (6.28 nm)", f"{rc.gain:.3g}", f"{rc.offset:.3g}",
                     f"{rc.relative_noise:.3g}", f"{rc.corr_x:.2f} / {rc.corr_y:.2f}", pct(real_share)])
    c = [s["curve"] for s in sims]
    rows.append([f"simulated lrtem, {len(sims)} series of 5 × 64² at 6.28 nm", q([x.gain for x in c]),
                 q([x.offset for x in c]), q([x.relative_noise for x in c]),
                 q([x.corr_x for x in c], "{:.2f}") + " / " + q([x.corr_y for x in c], "{:.2f}"),
                 q(np.array([s["share"] for s in sims]) * 100) + " %"])
    sec.add("Noise from the frame differences of a registered series (variance against mean in 6 intensity "
            "bins, fit `var = gain·mean + offset`; relative noise = σ/μ at the image mean; correlation = "
            "lag-1 autocorrelation of the difference images along x / y). Units: the file's counts, and "
            "the chain's output units (ADU, or 0–255 where a display pipeline was drawn).", "")
    sec.table(["series", "gain", "offset", "relative noise", "noise corr. x / y", "power < 8 px (mean frame)"], rows)
    if real_curve is not None and c:
        rel = np.array([x.relative_noise for x in c])
        cx = np.array([x.corr_x for x in c])
        sec.add(f"The real relative noise {real_curve.relative_noise:.3g} lies at the "
                f"{100 * (rel < real_curve.relative_noise).mean():.0f}th percentile of the simulated ones, the "
                f"real x-correlation {real_curve.corr_x:.2f} at the {100 * (cx < real_curve.corr_x).mean():.0f}th "
                "percentile.", "")
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.3), dpi=64)
        axes[0].plot(real_curve.mean / real_curve.image_mean, real_curve.variance / real_curve.image_mean ** 2,
                     "ko-", label="real")
        for s in sims[:8]:
            k = s["curve"]
            axes[0].plot(k.mean / k.image_mean, k.variance / k.image_mean ** 2, "-", alpha=0.6, lw=1)
        axes[0].set(yscale="log", xlabel="intensity / image mean", ylabel="noise variance / mean²",
                    title="noise curves (grey: simulated)")
        axes[1].imshow(stretch(frames[0]), cmap="gray")
        axes[1].set_title("real TEM preview frame (6.28 nm/px)", fontsize=8)
        axes[2].imshow(stretch(sims[0]["frame"]), cmap="gray")
        axes[2].set_title("simulated lrtem frame (6.28 nm/px)", fontsize=8)
        for ax in axes[1:]:
            ax.axis("off")
        fig.tight_layout()
        save_figure(fig, figs / "lrtem.png")
        sec.add("![lrtem: noise curves and frames](realism/lrtem.png)", "")
    return sec


JITTER_CUTOFF = 1 / 32  # cycles/row: above it "line jitter", below it slow wander (drift differences)


def sem_section(data: Path, figs: Path, n: int, size: int, results: dict) -> Section:
    """lrsem: noise and row displacements of the Zeiss pages against simulated pairs at 12.3 nm."""
    import matplotlib.pyplot as plt

    sec = Section("lrsem")
    sec.add("### lrsem (and the scan model)", "")
    path = data / "real-series" / "ZEISS_SEM_multipage.tif"
    real = None
    if path.is_file():
        pages, pixel = read(path)
        crop = pages[:, 256:1280, 512:1536]
        real_curve = noise_curve(crop, n_bins=10, highpass_px=4.0)
        # the bottom rows of a Zeiss TIFF hold the data bar: rows 0-1400 of the full width
        real_scan = scan_noise(pages[0, :1400], pages[1, :1400])
        real = {"curve": real_curve, "scan": real_scan, "share": power_share_below_period(crop[0]),
                "frame": centre_crop(crop[0], size)}
    pixel = float(pixel) if path.is_file() else 12.3
    high = {"dose_pe_per_px": 2e4}
    settings = (("before: scan noise drawn in px at any pixel size", False, {}),
                ("after: scan noise scaled with the pixel size", True, {}),
                ("before, dose fixed at 2·10⁴ (scan only, low estimator noise)", False, high),
                ("after, dose fixed at 2·10⁴ (scan only, low estimator noise)", True, high))
    sims: dict[str, list[dict]] = {}
    for name, aware, fixed in settings:
        rows = sims.setdefault(name, [])
        for i in range(n):
            sim = simulated_series("lrsem", pixel, size, seed=400 + i, n_frames=2, distort_params=fixed,
                                   pixel_aware=aware)
            try:
                curve = noise_curve(sim.frames, register=False, n_bins=10, highpass_px=4.0)
            except Exception:  # a pair without intensity range cannot be fitted
                curve = None
            rows.append({"curve": curve, "scan": scan_noise(sim.frames[0], sim.frames[1]),
                         "share": power_share_below_period(sim.frames[0]), "frame": sim.frames[0],
                         "params": sim.params["distortion"]})
    out_rows = []
    if real:
        rc, sc = real["curve"], real["scan"]
        out_rows.append(["real ZEISS_SEM_multipage (12.3 nm; 2 pages, 1024² crop for noise, 1400 rows × 2048 for "
                         "rows)", f"{rc.relative_noise:.3g}", f"{rc.corr_x:.2f} / {rc.corr_y:.2f}", f"{sc.rms_px:.3f}",
                         f"{sc.rms_above(JITTER_CUTOFF):.3f}", f"{sc.lag1:.2f}", pct(real["share"])])
    for name, rows in sims.items():
        c = [r["curve"] for r in rows if r["curve"] is not None]
        out_rows.append([f"simulated lrsem, {len(rows)} pairs of {size}² at 12.3 nm — {name}",
                         q([x.relative_noise for x in c]),
                         q([x.corr_x for x in c], "{:.2f}") + " / " + q([x.corr_y for x in c], "{:.2f}"),
                         q([r["scan"].rms_px for r in rows]), q([r["scan"].rms_above(JITTER_CUTOFF) for r in rows]),
                         q([r["scan"].lag1 for r in rows], "{:.2f}"),
                         q(np.array([r["share"] for r in rows]) * 100) + " %"])
    results["lrsem"] = {
        "real": ({**real["curve"].summary(), "scan_rms_px": real["scan"].rms_px,
                  "jitter_rms_px": real["scan"].rms_above(JITTER_CUTOFF)} if real else None),
        "sim": {name: [{"jitter_rms_px": r["scan"].rms_above(JITTER_CUTOFF), "rms_px": r["scan"].rms_px,
                        "jitter_sigma_x_px": r["params"]["jitter_sigma_x_px"]} for r in rows]
                for name, rows in sims.items()}}
    sec.add("Noise as for lrtem, from the two frames (binned by their own smoothed mean), with the difference "
            "images high-passed (σ = 4 px Gaussian subtracted: the two real pages also differ in content — the "
            "FIB-SEM surface changes — and that smooth change would otherwise dominate). Row displacement: each "
            "row of frame 1 registered against the same row of frame 0 (1-D cross-correlation, 1/20 px), mean and "
            f"linear trend removed; RMS in all, RMS at ≥ {JITTER_CUTOFF:.4g} cycles/row (line jitter, without the "
            "slow wander of drift differences), and lag-1 correlation of consecutive rows.", "")
    sec.table(["pair", "relative noise", "noise corr. x / y", "row shift RMS [px]",
               "row shift RMS ≥ 1/32 cycles/row [px]", "row lag-1", "power < 8 px"], out_rows)
    if real:
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.3), dpi=64)
        axes[0].loglog(real["scan"].frequency, real["scan"].spectrum, "k", lw=1, label="real pages")
        for name, style in ((settings[2][0], "C3"), (settings[3][0], "C0")):
            for k, r in enumerate(sims[name][:4]):
                axes[0].loglog(r["scan"].frequency, r["scan"].spectrum, color=style, lw=0.7, alpha=0.7,
                               label=("sim. before (dose 2e4)" if style == "C3" else "sim. after (dose 2e4)") if k == 0 else None)
        axes[0].set(xlabel="frequency [cycles/row]", ylabel="row-shift power [px²]", title="row displacements")
        axes[0].legend(fontsize=7)
        axes[1].imshow(stretch(real["frame"]), cmap="gray")
        axes[1].set_title(f"real Zeiss SEM, {size}² crop (12.3 nm/px)", fontsize=8)
        axes[2].imshow(stretch(sims[settings[1][0]][0]["frame"]), cmap="gray")
        axes[2].set_title("simulated lrsem (12.3 nm/px)", fontsize=8)
        for ax in axes[1:]:
            ax.axis("off")
        fig.tight_layout()
        save_figure(fig, figs / "lrsem.png")
        sec.add("![lrsem: row-displacement spectra and frames](realism/lrsem.png)", "")
    # the coarse SEM file: rendered at 2.6 µm, possible only with the new range
    coarse = data / "real" / "zeiss_sem_1k.tif"
    if coarse.is_file():
        frame, cp = read(coarse)
        frame = frame[:640]  # without the data bar
        shares = [power_share_below_period(render_degraded("lrsem", size, 600 + k, float(cp))[1]) for k in range(4)]
        sec.add(f"zeiss_sem_1k.tif ({cp / 1000:.2f} µm/px; outside the old lrsem range 5–1000 nm): real power < 8 px "
                f"{pct(power_share_below_period(frame))}; simulated lrsem at the same pixel size (4 frames) "
                f"{q(np.array(shares) * 100)} %.", "")
    return sec


def lrstem_section(data: Path, figs: Path, n: int, size: int, results: dict) -> Section:
    """lrstem: background texture of the real HAADF frames against simulated frames with/without film texture."""
    import matplotlib.pyplot as plt

    sec = Section("lrstem")
    sec.add("### lrstem", "")
    files = [("real-series/JEOL HAADF Image.dm4", 112), ("real-series/SiO2 HAADF Image.hspy", 128)]
    rows, pics = [], []
    for rel, side in files:
        path = data / rel
        if not path.is_file():
            continue
        frame, pixel = read(path)
        real_tex = background_texture(frame)
        st = {}
        for name, tex in (("before (flat support)", False), ("after", None)):
            vals, shares = [], []
            for i in range(n):
                clean, degraded, _, _, _ = render_degraded(
                    "lrstem", side, 700 + i, float(pixel), {"kind": "particles", "contrast": "haadf",
                                                            **({"support_texture": False} if tex is False else {})},
                    {"dose_e_per_px": 2e4})  # high dose: the texture, not the noise, is measured
                vals.append(background_texture(degraded))
                shares.append(power_share_below_period(degraded))
                if i == 0 and tex is None:
                    pics.append((Path(rel).name, pixel, frame, degraded))
            st[name] = (vals, shares)
        rows.append([f"{Path(rel).name} ({pixel:.3g} nm)", f"{real_tex:.3f}", q(st["before (flat support)"][0]),
                     q(st["after"][0]), pct(power_share_below_period(frame)), q(np.array(st["after"][1]) * 100) + " %"])
        results.setdefault("lrstem", []).append({"file": Path(rel).name, "real": real_tex,
                                                 "before": st["before (flat support)"][0], "after": st["after"][0]})
    sec.add("Background texture: the darkest 40 % of the frame after a σ = 2 px smoothing (vacuum or support "
            "film), its standard deviation over the frame's 1–99 % range. Simulated: HAADF particles at the "
            f"real file's pixel size and frame size, degraded at 2·10⁴ e⁻/px (the real frames are low-noise; "
            f"at drawn doses the noise left after smoothing dominates the measure), {n} frames each.", "")
    sec.table(["real frame", "real texture", "simulated before (flat support)", "simulated after",
               "real power < 8 px", "simulated power < 8 px"], rows)
    if pics:
        fig, axes = plt.subplots(1, 2 * len(pics), figsize=(3 * 2 * len(pics), 3.2), dpi=64)
        for k, (name, pixel, frame, sim) in enumerate(pics):
            axes[2 * k].imshow(stretch(frame), cmap="gray")
            axes[2 * k].set_title(f"real {name}\n{pixel:.3g} nm/px", fontsize=8)
            axes[2 * k + 1].imshow(stretch(sim), cmap="gray")
            axes[2 * k + 1].set_title(f"simulated lrstem HAADF\n{pixel:.3g} nm/px", fontsize=8)
        for ax in axes:
            ax.axis("off")
        fig.tight_layout()
        save_figure(fig, figs / "lrstem.png")
        sec.add("![lrstem: real and simulated HAADF frames](realism/lrstem.png)", "")
    return sec


def coverage_section(data: Path) -> Section:
    """Every real file's pixel size against the tag ranges."""
    from emrestore.datasets.atomic import PIXEL_RANGE_NM as HR

    sec = Section("coverage")
    ranges = {"hrstem": HR, "hrtem": HR, **{t: c.pixel_range_nm for t, c in TAG_CONFIGS.items()}}
    old = {"hrstem": OLD_HR_RANGE_NM, "hrtem": OLD_HR_RANGE_NM, "hrsem": (0.5, 5.0), "lrsem": (5.0, 1000.0),
           "lrtem": (0.5, 50.0), "lrstem": (0.5, 50.0)}
    files = [("real/hrstem_example.ser", "hrstem", None), ("real-series/STO_ADF.hdf5", "hrstem", STO_PIXEL_NM),
             ("real-series/Cropped_PTO-SRO_Aligned.hspy", "hrstem", None),
             ("real-series/64x64x5_TEM_preview_1.ser", "lrtem", None), ("formats/128x128-TEM_search_1.ser", "lrtem", None),
             ("real-series/JEOL HAADF Image.dm4", "lrstem", None), ("real-series/SiO2 HAADF Image.hspy", "lrstem", None),
             ("formats/test_STEM_image.dm3", "lrstem", None), ("real-series/ZEISS_SEM_multipage.tif", "lrsem", None),
             ("formats/test_tiff_Zeiss_SEM_512pix.tif", "lrsem", None), ("real/zeiss_sem_1k.tif", "lrsem", None),
             ("formats/FEI-Helios-Ebeam-16bits.tif", "lrsem", None)]
    rows = []
    for rel, tag, pixel in files:
        path = data / rel
        if not path.is_file():
            continue
        p = pixel or emrestore.read(str(path)).pixel_size_nm
        lo, hi = ranges[tag]
        olo, ohi = old[tag]
        rows.append([Path(rel).name, tag, f"{p:.4g} nm", f"{olo:g}–{ohi:g} nm: {'yes' if olo <= p <= ohi else '**no**'}",
                     f"{lo:g}–{hi:g} nm: {'yes' if lo <= p <= hi else '**no**'}"])
    sec.table(["real file", "tag", "pixel size", "old range covers", "new range covers"], rows)
    return sec


def dose_section(draws: int = 20000) -> Section:
    """Share of near-clean doses the chains draw."""
    sec = Section("dose")
    rows = []
    for modality, name, old_hi in (("tem", "dose_e_per_px", 5000.0), ("stem", "dose_e_per_px", 2000.0),
                                   ("sem", "dose_pe_per_px", 5000.0)):
        spec = CHAINS[modality].specs()[name]
        rng = np.random.default_rng(11)
        values = np.array([spec.draw(rng) for _ in range(draws)])
        rows.append([modality, f"`{name}`", f"logU[{spec.low:g}, {old_hi:g}]", f"logU[{spec.low:g}, {spec.high:g}] (with p = {spec.tail_p:g} instead logU[{spec.high:g}, {spec.tail_high:g}])",
                     pct(float((values >= 1e4).mean())), pct(float((values >= 1e5).mean())),
                     f"{values.max():.3g}"])
    sec.table(["chain", "parameter", "before", "after", "P(dose ≥ 10⁴)", "P(dose ≥ 10⁵)", f"max of {draws} draws"], rows)
    return sec


def scan_stem_section(n: int, size: int) -> Section:
    """Row displacements of simulated STEM pairs (no real STEM series among the files)."""
    sec = Section("stem scan")
    rows = []
    for tag, pixel in (("hrstem", 0.0524), ("lrstem", 1.25), ("lrstem", 8.55)):
        for name, aware in (("before", False), ("after", True)):
            rms, jit, lag = [], [], []
            for i in range(n):
                sim = simulated_series(tag, pixel, size, seed=800 + i, n_frames=2,
                                       distort_params={"dose_e_per_px": 2e4}, pixel_aware=aware)
                s = scan_noise(sim.frames[0], sim.frames[1])
                rms.append(s.rms_px)
                jit.append(s.rms_above(JITTER_CUTOFF))
                lag.append(s.lag1)
            rows.append([tag, f"{pixel:g} nm", name, q(rms), q(jit), q(lag, "{:.2f}")])
    sec.add("Simulated STEM pairs (dose fixed at 2·10⁴ e⁻/px so the row estimates are not noise-limited; no real "
            f"STEM series is among the files), {n} pairs of {size}² each:", "")
    sec.table(["tag", "pixel size", "simulator", "row shift RMS [px]", "RMS ≥ 1/32 cycles/row [px]", "row lag-1"],
              rows)
    return sec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="folder with real/ and real-series/")
    parser.add_argument("--out", default="docs", help="folder for realism.md and realism/")
    parser.add_argument("--n", type=int, default=12, help="simulated frames per tag and setting (≤ 16)")
    parser.add_argument("--size", type=int, default=256, help="simulated frame side [px]")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    data, out = Path(args.data), Path(args.out)
    figs = out / "realism"
    figs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: dict[str, Any] = {}
    sections = {}
    sections["coverage"] = coverage_section(data)
    for tag in ("hrstem", "hrtem"):
        sections[tag] = hr_section(tag, data, figs, args.n, args.size, results)
        print(f"{tag} done after {time.perf_counter() - start:.0f} s", flush=True)
    sections["lrtem"] = tem_series_section(data, figs, args.n, results)
    sections["lrsem"] = sem_section(data, figs, args.n, args.size, results)
    print(f"lrtem/lrsem done after {time.perf_counter() - start:.0f} s", flush=True)
    sections["lrstem"] = lrstem_section(data, figs, args.n, args.size, results)
    sections["stem_scan"] = scan_stem_section(max(args.n // 2, 3), args.size)
    sections["dose"] = dose_section()
    elapsed = time.perf_counter() - start
    generated = out / "realism" / "measured.md"
    with open(generated, "w", encoding="utf-8") as fh:
        fh.write(f"<!-- written by benchmarks/bench_realism.py (simulator {SIMULATOR_VERSION}, n = {args.n}, "
                 f"size = {args.size}, {elapsed:.0f} s) -->\n\n")
        for key in ("coverage", "hrstem", "hrtem", "lrtem", "lrsem", "lrstem", "stem_scan", "dose"):
            fh.write(f"<!-- section: {key} -->\n")
            fh.write("\n".join(sections[key].lines) + "\n\n")
    (out / "realism" / "measured.json").write_text(json.dumps(_jsonable(results), indent=1))
    _fill_report(out / "realism.md", sections, args, elapsed)
    print(f"wrote {out / 'realism.md'} and {figs} in {elapsed:.0f} s")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if k not in ("frame", "spectrum")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def _fill_report(path: Path, sections: dict[str, Section], args: argparse.Namespace, elapsed: float) -> None:
    """Replace the generated blocks of ``realism.md`` (between ``<!-- bench:KEY -->`` markers)."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Realism\n"
    for key, sec in sections.items():
        start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
        block = f"{start}\n" + "\n".join(sec.lines).rstrip() + f"\n{end}"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            text = head + block + rest.split(end, 1)[1]
        else:
            text += f"\n{block}\n"
    stamp = f"<!-- bench:run -->\n_Generated by `benchmarks/bench_realism.py --n {args.n} --size {args.size}` in " \
            f"{elapsed / 60:.1f} min, simulator `{SIMULATOR_VERSION}`._\n<!-- /bench:run -->"
    if "<!-- bench:run -->" in text:
        head, rest = text.split("<!-- bench:run -->", 1)
        text = head + stamp + rest.split("<!-- /bench:run -->", 1)[1]
    else:
        text += "\n" + stamp + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

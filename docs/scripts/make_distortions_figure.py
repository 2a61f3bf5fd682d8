"""Make ``docs/distortions.png``: every distortion stage alone, and the full chains.

Two clean synthetic images (an HR-STEM HAADF-like lattice and an HR-TEM phase-contrast
lattice), each stage of the STEM and TEM chains applied alone at a visible strength
(titled with the stage name and its parameters), and the full chains at a low and a
high dose. Run from the repository root::

    PYTHONPATH=src python docs/scripts/make_distortions_figure.py [OUT.png]
"""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from emrestore import distortions as d  # noqa: E402

SIZE = 128
COLUMNS = 6


def hrstem_clean(size: int = SIZE) -> np.ndarray:
    """HAADF-like lattice: bright and dim atomic columns (two sublattices), 12 px period."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    image = np.full((size, size), 0.05)
    for dy, dx, z in ((0, 0, 1.0), (6, 6, 0.45)):
        ry = np.mod(yy - dy - 3, 12) - 6
        rx = np.mod(xx - dx - 3, 12) - 6
        image += z * np.exp(-(rx**2 + ry**2) / (2 * 1.3**2))
    return image


def hrtem_clean(size: int = SIZE) -> np.ndarray:
    """Phase-contrast-like lattice fringes (two crossed frequencies) with a soft envelope."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    k1, k2 = 2 * np.pi / 9.0, 2 * np.pi / 7.0
    fringes = np.cos(k1 * (xx * 0.94 + yy * 0.34)) + 0.7 * np.cos(k2 * (-xx * 0.42 + yy * 0.91))
    envelope = 0.6 + 0.4 * np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (2 * (size / 3) ** 2))
    return 1.0 + 0.25 * envelope * fringes


def title_of(stage: d.Stage, keep: tuple[str, ...] | None = None) -> str:
    """Stage name and its (selected) parameters, wrapped for a small panel."""
    values = stage.parameters()
    names = keep if keep is not None else tuple(values)
    parts = []
    for name in names:
        value = values[name] if name in values else getattr(stage, name)
        parts.append(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}")
    body = ", ".join(parts)
    return stage.NAME + ("\n" + "\n".join(textwrap.wrap(body, 36)) if body else "")


def show(ax: plt.Axes, image: np.ndarray, title: str) -> None:
    lo, hi = np.percentile(image, [0.5, 99.5])
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    ax.set_title(title, fontsize=8, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])


def stem_panels(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    clean = d.normalise_clean(hrstem_clean())
    timing = dict(dwell_time_us=20.0, flyback_time_us=200.0)
    panels: list[tuple[str, np.ndarray]] = [("HR-STEM: clean image\n(normalised to mean 1)", clean)]
    stages: list[tuple[d.Stage, tuple[str, ...] | None, np.ndarray]] = [
        (d.Drift(drift_px=6.0, drift_angle_deg=20.0, drift_quadratic_fraction=0.3, **timing), None, clean),
        (d.LineJitter(jitter_sigma_x_px=1.5, jitter_sigma_y_px=0.5, jitter_phi=0.6, **timing), None, clean),
        (d.Interference(interference_terms=1, interference_freq_hz_1=50.0, interference_amp_x_px_1=1.2,
                        interference_amp_y_px_1=0.3, **timing),
         ("interference_terms", "interference_freq_hz_1", "interference_amp_x_px_1",
          "interference_amp_y_px_1", "dwell_time_us"), clean),
        (d.FastJitter(fast_jitter_sigma_px=0.5, **timing), ("fast_jitter_sigma_px",), clean),
        (d.FlybackSettling(flyback_amplitude_px=6.0, flyback_decay_px=25.0, flyback_y_fraction=0.1,
                           **timing), None, clean),
        (d.ScanSpeedWarp(scan_warp_px=4.0, **timing), ("scan_warp_px",), clean),
        (d.DwellBlur(dwell_blur_px=2.0, **timing), ("dwell_blur_px",), clean),
        (d.Dose(dose_e_per_px=3.0), None, clean),
    ]
    for stage, keep, image in stages:
        panels.append((title_of(stage, keep), stage(image, rng)))
    electrons = clean * 3.0
    panels.append(("shot noise\nPoisson(λ), λ = 3·c", d.ShotNoise()(electrons, rng)))
    signal = clean * 30.0
    more = [
        (d.ScintillatorGain(scintillator_k=1.0), None, signal, " (on λ = 30·c)"),
        (d.Afterglow(afterglow_tau_dwells=4.0, **timing), ("afterglow_tau_dwells",), signal, ""),
        (d.ElectronicNoise(electronic_sigma_e=8.0), None, signal, " (on 30·c)"),
        (d.BrightnessContrast(black_level_fraction=0.0, signal_span_fraction=0.9, offset_adu=-200.0,
                              contrast_adu_per_e=12.0, adc_bits=8),
         ("offset_adu", "contrast_adu_per_e"), signal, "\n(+8-bit ADC: clipped)"),
        (d.LineIntensityNoise(line_noise_sigma=0.08, line_noise_phi=0.5, offset_adu=0.0), None, signal, ""),
        (d.ADC(adc_bits=8), None, clean * 3.0, " (on 3·c)"),
        (d.Display(display_applied=True, display_low_percentile=1.0, display_high_percentile=99.0,
                   display_gamma=0.7, display_jpeg_quality=60),
         ("display_gamma", "display_jpeg_quality"), signal, ""),
    ]
    for stage, keep, image, note in more:
        out = stage(image, rng)
        if isinstance(stage, d.BrightnessContrast):
            out = d.ADC(adc_bits=8)(out)
        panels.append((title_of(stage, keep) + note, out))
    for dose in (2.0, 200.0):
        noisy, _, params = d.distort(hrstem_clean(), "stem", seed=4, dose_e_per_px=dose,
                                     display_applied=False)
        panels.append((f"full STEM chain, {dose:g} e⁻/px\n(seed 4, other parameters drawn)", noisy))
    return panels


def tem_panels(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    clean = d.normalise_clean(hrtem_clean())
    panels: list[tuple[str, np.ndarray]] = [("HR-TEM: clean image\n(normalised to mean 1)", clean)]
    electrons = clean * 10.0
    counts = d.ShotNoise()(electrons, rng)
    adu = clean * 100.0
    stages = [
        (d.Dose(dose_e_per_px=10.0), None, clean, ""),
        (d.ShotNoise(), None, electrons, "\nPoisson(λ), λ = 10·c"),
        (d.ConversionGain(gain_adu_per_e=10.0, swank_k=1.5, counting_camera=False), None, counts,
         " (on N)"),
        (d.DetectorBlur(psf_sigma_px=1.5, psf_tail_weight=0.2, psf_tail_sigma_px=8.0), None,
         counts, " (on N: correlated noise)"),
        (d.DarkCurrent(dark_e_per_px=20.0, dark_subtracted=False, gain_adu_per_e=1.0),
         ("dark_e_per_px", "dark_subtracted"), adu, " (on 100·c)"),
        (d.FixedPattern(gain_nonuniformity_sigma=0.02, band_sigma_adu=4.0), None, adu, " (on 100·c)"),
        (d.ReadoutNoise(read_sigma_adu=10.0), None, adu, " (on 100·c)"),
        (d.Bias(bias_adu=200.0), ("bias_adu",), adu, "\n(an offset: looks unchanged)"),
        (d.XRayHits(xray_rate_per_px=1e-3, adc_bits=12), ("xray_rate_per_px", "adc_bits"), adu, ""),
        (d.DeadHotPixels(dead_fraction=3e-3, hot_fraction=1e-3, dead_segment=True, adc_bits=12),
         ("dead_fraction", "hot_fraction", "dead_segment"), adu, ""),
        (d.ADC(adc_bits=8), None, clean * 4.0, " (on 4·c)"),
    ]
    for stage, keep, image, note in stages:
        panels.append((title_of(stage, keep) + note, stage(image, rng)))
    for dose in (5.0, 500.0):
        noisy, _, params = d.distort(hrtem_clean(), "tem", seed=2, dose_e_per_px=dose,
                                     display_applied=False)
        panels.append((f"full TEM chain, {dose:g} e⁻/px\n(seed 2, other parameters drawn)", noisy))
    return panels


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    blocks = [("HR-STEM: each stage alone, then the full chain", stem_panels(rng)),
              ("HR-TEM: each stage alone, then the full chain", tem_panels(rng))]
    rows = [block[i:i + COLUMNS] for _, block in blocks for i in range(0, len(block), COLUMNS)]
    fig, axes = plt.subplots(len(rows), COLUMNS, figsize=(2.6 * COLUMNS, 3.25 * len(rows)))
    for r, panels in enumerate(rows):
        for c in range(COLUMNS):
            ax = axes[r, c]
            if c < len(panels):
                show(ax, panels[c][1], panels[c][0])
            else:
                ax.axis("off")
    fig.suptitle("emrestore distortion models — top: HR-STEM chain, bottom: HR-TEM chain; each stage "
                 "alone at a visible strength, then the full chain at low and high dose\n"
                 "(docs/scripts/make_distortions_figure.py; each panel contrast-stretched 0.5–99.5 %)",
                 fontsize=11, y=0.997)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.005, top=0.935, wspace=0.06, hspace=0.62)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110)
    buffer.seek(0)
    # the figure is grey-scale: an 8-bit grey PNG is a third of the RGBA size
    Image.open(buffer).convert("L").save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "distortions.png")

"""Real example files of the report: each restored with the model its metadata chooses, drawn
with central zooms and power spectra (a restoration should remove power and add none)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .figures import FigureRecord, image_panel, pyplot, save_figure, slug
from .spectrum import power_spectrum, spectral_gain, spectrum_display


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

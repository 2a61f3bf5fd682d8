"""Small helpers shared by the report's figures: one grey scale, scale bars, atomic saving.

Every image panel drawn through :func:`image_panel` returns a :class:`Panel` record (its grey
range and its scale bar), and every figure a :class:`FigureRecord` listing its panels, so
tests and callers can check that compared panels share one grey scale and that a calibrated
panel carries a scale bar without looking at pixels.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Percentiles of the reference mapped to black and white [%].
GREY_PERCENTILES = (0.5, 99.5)
#: Scale-bar lengths tried, as mantissas of a power of ten.
BAR_MANTISSAS = (1, 2, 5, 10)
#: Target scale-bar length as a share of the panel width.
BAR_SHARE = 0.2
#: Matplotlib ``gid`` of the scale bar's line (found again in a figure by tests).
SCALE_BAR_GID = "emrestore-scale-bar"


def slug(text: str) -> str:
    """``text`` as a file-name part: lower case, runs of other characters as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def grey_range(reference: np.ndarray) -> tuple[float, float]:
    """Values of ``reference`` shown black and white: its 0.5 and 99.5 % percentiles (data units)."""
    low, high = np.percentile(np.asarray(reference, np.float64), GREY_PERCENTILES)
    return float(low), float(max(high, low + 1e-12))


def grey(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` mapped to [0, 1] with the 0.5–99.5 % percentile range of ``reference``.

    Images shown side by side with the same ``reference`` share one grey scale, so a
    restoration that is brighter or darker than its input looks it.
    """
    low, high = grey_range(reference)
    return np.clip((np.asarray(image, np.float64) - low) / (high - low), 0, 1)


@dataclass(frozen=True)
class ScaleBar:
    """A drawn scale bar: its length [nm], on the panel [px], and its label (``"5 nm"``)."""

    length_nm: float
    length_px: float
    label: str


@dataclass(frozen=True)
class Panel:
    """One image panel of a figure.

    Attributes
    ----------
    title : str
    grey_range : (float, float)
        Data values shown black and white (see :func:`grey_range`).
    scale_bar : ScaleBar or None
        None where the image has no pixel size.
    pixel_size_nm : float or None
        The pixel size the panel was drawn with [nm].
    """

    title: str
    grey_range: tuple[float, float]
    scale_bar: ScaleBar | None
    pixel_size_nm: float | None


@dataclass
class FigureRecord:
    """A written figure: its image panels (spectra are not listed) and its plotted curves.

    ``curves`` maps ``"panel: label"`` to the number of points drawn.
    """

    path: Path
    panels: list[Panel] = field(default_factory=list)
    curves: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file name (what the report links)."""
        return self.path.name

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def bar_length_nm(pixel_size_nm: float, width_px: int) -> float:
    """A round length (1, 2 or 5 × 10ⁿ nm) close to :data:`BAR_SHARE` of a panel ``width_px`` wide."""
    target_nm = pixel_size_nm * width_px * BAR_SHARE
    exponent = np.floor(np.log10(target_nm))
    return float(min((m * 10 ** exponent for m in BAR_MANTISSAS), key=lambda v: abs(v - target_nm)))


def scale_bar(ax, pixel_size_nm: float | None, width_px: int, height_px: int | None = None) -> ScaleBar | None:
    """Draw a scale bar of a round length (about ⅕ of the panel) in the lower left of ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes showing an image ``width_px`` × ``height_px`` (default square) in pixel coordinates.
    pixel_size_nm : float or None
        Pixel size [nm]; None or 0 draws nothing.
    width_px, height_px : int
        Panel size [px].

    Returns
    -------
    ScaleBar or None
        What was drawn (None without a pixel size).
    """
    if not pixel_size_nm or not np.isfinite(pixel_size_nm) or pixel_size_nm <= 0:
        return None
    from matplotlib import patheffects

    from ..image import convenient_length

    outline = [patheffects.withStroke(linewidth=4.5, foreground="black")]
    height_px = width_px if height_px is None else height_px
    length_nm = bar_length_nm(pixel_size_nm, width_px)
    length_px = length_nm / pixel_size_nm
    value, unit = convenient_length(length_nm * 1e-9, "m")
    label = f"{value:g} {unit}"
    x0, y0 = 0.05 * width_px, 0.93 * height_px
    ax.plot([x0, x0 + length_px], [y0, y0], color="white", lw=3, solid_capstyle="butt", gid=SCALE_BAR_GID,
            path_effects=outline)  # white on black: visible on any grey
    ax.text(x0 + length_px / 2, y0 - 0.03 * height_px, label, color="white", ha="center", va="bottom",
            fontsize=7, path_effects=[patheffects.withStroke(linewidth=2, foreground="black")])
    return ScaleBar(length_nm, float(length_px), label)


def image_panel(ax, image: np.ndarray, reference: np.ndarray, title: str,
                pixel_size_nm: float | None = None, fontsize: float = 7) -> Panel:
    """Show ``image`` on the grey scale of ``reference``, with a scale bar where calibrated.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : numpy.ndarray
        (H, W) image in data units.
    reference : numpy.ndarray
        Image whose 0.5–99.5 % range is black to white (the truth, where there is one).
    title : str
    pixel_size_nm : float, optional
        Pixel size [nm]; draws the scale bar.
    """
    ax.imshow(grey(image, reference), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=fontsize)
    ax.set_axis_off()
    bar = scale_bar(ax, pixel_size_nm, image.shape[1], image.shape[0])
    return Panel(title, grey_range(reference), bar, pixel_size_nm or None)


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 90, quality: int = 88) -> Path:
    """Write ``fig`` to ``path`` atomically (JPEG quality ``quality`` for .jpg) and close it."""
    from ..io.atomic import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"pil_kwargs": {"quality": quality}} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower().replace("jpeg", "jpg"), **kwargs)
    finally:
        pyplot().close(fig)
    return path

"""Small helpers shared by the report's figures: one grey scale for images that are compared."""

from __future__ import annotations

import re

import numpy as np


def slug(text: str) -> str:
    """``text`` as a file-name part: lower case, runs of other characters as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def grey(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` mapped to [0, 1] with the 0.5–99.5 % percentile range of ``reference``.

    Images shown side by side with the same ``reference`` share one grey scale, so a
    restoration that is brighter or darker than its input looks it.
    """
    low, high = np.percentile(reference, [0.5, 99.5])
    return np.clip((np.asarray(image, np.float64) - low) / max(high - low, 1e-12), 0, 1)


def scale_bar(ax, pixel_size_nm: float | None, width_px: int) -> None:
    """Draw a scale bar of a round length (about ⅕ of the panel) in the lower left of ``ax``."""
    if not pixel_size_nm:
        return
    from ..image import convenient_length

    target_nm = pixel_size_nm * width_px / 5
    exponent = np.floor(np.log10(target_nm))
    length_nm = min((m * 10 ** exponent for m in (1, 2, 5, 10)), key=lambda v: abs(v - target_nm))
    length_px = length_nm / pixel_size_nm
    value, unit = convenient_length(float(length_nm) * 1e-9, "m")
    x0, y0 = 0.05 * width_px, 0.93 * width_px
    ax.plot([x0, x0 + length_px], [y0, y0], color="white", lw=3, solid_capstyle="butt")
    ax.text(x0 + length_px / 2, y0 - 0.03 * width_px, f"{value:g} {unit}", color="white", ha="center",
            va="bottom", fontsize=7)

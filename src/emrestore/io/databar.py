"""Detect the data bar that SEM software burns into the bottom of saved TIFFs.

FEI/Thermo and Zeiss SEMs save the image with an information bar (scale bar, HV,
magnification, logo) appended below the scanned field. It is not part of the
micrograph and must not be restored, so readers cut it off and record its height in
``metadata["databar_height_px"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .metadata import get_path

#: A data-bar row has at least this fraction of its pixels at the bar's background value.
_BAR_ROW_FRACTION = 0.6
#: Rows at the very bottom that may be a border of any content.
_MAX_BORDER_ROWS = 2
#: Minimum and maximum bar height, as a fraction of the image height.
_MIN_BAR_ROWS = 8
_MAX_BAR_FRACTION = 0.3


def databar_height_from_metadata(original: Mapping[str, Any], n_rows: int) -> int | None:
    """Data-bar height [px] from FEI/Thermo metadata, or ``None`` if not given.

    FEI/Thermo SEMs write the scanned field's size as ``[Image] ResolutionY``; rows
    below it are the data bar.
    """
    scanned_rows = get_path(original, "fei_metadata.Image.ResolutionY")
    try:
        scanned_rows = int(scanned_rows)
    except (TypeError, ValueError):
        return None
    if 0 < scanned_rows < n_rows:
        return n_rows - scanned_rows
    if scanned_rows == n_rows:
        return 0
    return None


def _bar_like(rows: np.ndarray) -> np.ndarray:
    """For each row, whether most of its pixels share the row's most common value."""
    flat = rows.reshape(rows.shape[0], -1)
    # Most common value per row without a Python loop over pixels.
    sorted_rows = np.sort(flat, axis=1)
    change = np.diff(sorted_rows, axis=1) != 0
    # run lengths of equal values per row
    fractions = np.empty(flat.shape[0])
    for i in range(flat.shape[0]):  # loop over (at most ~30 % of) rows, not pixels
        edges = np.flatnonzero(change[i])
        bounds = np.concatenate(([0], edges + 1, [flat.shape[1]]))
        fractions[i] = np.diff(bounds).max() / flat.shape[1]
    return fractions >= _BAR_ROW_FRACTION


def databar_height_from_image(data: np.ndarray) -> int:
    """Data-bar height [px] found in the pixels, or 0 if the image has none.

    A data bar is a block of rows at the bottom, at least 8 rows and at most 30 % of
    the image high, in which each row is mostly one flat value (the bar's
    background with some text), bounded above by image rows that are not. Up to two
    rows of arbitrary content at the very bottom are allowed (a border).

    Parameters
    ----------
    data : numpy.ndarray
        (H, W) image as stored in the file.

    Returns
    -------
    int
        Number of rows to remove from the bottom.
    """
    if data.ndim != 2 or data.shape[0] < 4 * _MIN_BAR_ROWS:
        return 0
    n_rows = data.shape[0]
    max_rows = int(n_rows * _MAX_BAR_FRACTION)
    window = data[n_rows - max_rows - 1 :]
    bar_like = _bar_like(window)[::-1]  # index 0 = bottom row
    start = 0
    while start < _MAX_BORDER_ROWS and not bar_like[start]:
        start += 1
    run = 0
    while start + run < len(bar_like) and bar_like[start + run]:
        run += 1
    if run < _MIN_BAR_ROWS or start + run > max_rows:
        # too short to be a bar, or bar-like all the way up (a flat image): no bar
        return 0
    bar = data[n_rows - start - run : n_rows - start]
    # A real data bar holds text/graphics: pixels far from its background value.
    background = np.median(bar)
    spread = float(np.ptp(data)) or 1.0
    if np.mean(np.abs(bar - background) > 0.25 * spread) < 0.002:
        return 0
    return start + run


def find_databar(data: np.ndarray, original: Mapping[str, Any]) -> tuple[int, str]:
    """Height [px] of the SEM data bar and how it was found.

    Parameters
    ----------
    data : numpy.ndarray
        (H, W) image as stored in the file.
    original : dict
        The vendor's metadata (FEI/Thermo give the scanned height).

    Returns
    -------
    (int, str)
        Bar height in rows (0 if none) and ``"metadata"``, ``"image"`` or ``"none"``.
    """
    height = databar_height_from_metadata(original, data.shape[0])
    if height is not None:
        return height, "metadata" if height else "none"
    height = databar_height_from_image(data)
    return height, "image" if height else "none"

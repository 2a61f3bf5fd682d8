"""What the page draws: the displayed frame as raw float32, and its robust display range.

The page renders images itself, from the data: it fetches the frame it shows as raw
little-endian float32 (``input.f32``, ``result.f32``; C order, ``height × width`` values)
and maps values to grey levels with its own display range, brightness, contrast and
gamma, so a change of contrast never goes back to the server. A series is shown as the
same montage the PNG preview shows (:func:`emrestore.io.raster.montage`).

The default display range is a robust stretch: the :data:`DISPLAY_PERCENTILES` of the
image's finite values. The page applies the *input's* range to both images unless the
user asks for independent stretches, so a restoration is never shown brighter or with
more contrast than it has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..image import EMImage
from ..io.atomic import atomic_path
from ..io.raster import montage

#: Percentiles [%] of the finite pixel values that bound the default display range.
DISPLAY_PERCENTILES = (0.5, 99.5)


def display_frame(image: EMImage) -> np.ndarray:
    """The (H, W) float32 array the page shows for ``image`` (a series as a montage)."""
    data = montage(image.data) if image.is_series else image.data
    return np.ascontiguousarray(data, dtype=np.float32)


def display_range(data: np.ndarray) -> dict[str, float | None]:
    """Minimum, maximum and robust display range of an image's finite values.

    Parameters
    ----------
    data : numpy.ndarray
        Pixel values (any units: the image's own).

    Returns
    -------
    dict
        ``min``, ``max`` and ``low``/``high`` (the :data:`DISPLAY_PERCENTILES`), in the
        image's units; all ``None`` for an image without finite values. Where the
        percentiles coincide (a nearly constant image) ``low``/``high`` are the minimum
        and maximum.

    Examples
    --------
    >>> r = display_range(np.arange(1001, dtype=np.float32))
    >>> r["min"], r["low"], r["high"], r["max"]
    (0.0, 5.0, 995.0, 1000.0)
    """
    values = np.asarray(data, dtype=np.float32).ravel()
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if values.size == 0:
        return {"min": None, "max": None, "low": None, "high": None}
    low, high = (float(v) for v in np.percentile(values, DISPLAY_PERCENTILES))
    lowest, highest = float(values.min()), float(values.max())
    if not high > low:
        low, high = lowest, highest
    return {"min": lowest, "max": highest, "low": low, "high": high}


def write_display(image: EMImage, path: Path) -> dict[str, Any]:
    """Write the frame the page shows as raw little-endian float32, atomically.

    Parameters
    ----------
    image : EMImage
        Image or series (a series is written as its montage).
    path : Path
        Destination (``….f32``); replaced if it exists.

    Returns
    -------
    dict
        ``shape`` ([height, width] of the buffer, px) and ``range``
        (:func:`display_range`, in the image's units).
    """
    frame = display_frame(image)
    with atomic_path(Path(path)) as temp:
        frame.astype("<f4", copy=False).tofile(temp)
    return {"shape": [int(n) for n in frame.shape], "range": display_range(frame)}

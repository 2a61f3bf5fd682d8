"""One converter from Python and numpy values to values :func:`json.dumps` writes as plain JSON.

Used for the parameters renderers record with each clean image, and (through
:func:`emrestore.io.metadata.metadata_json_safe`) for the metadata written into output files.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np


def json_safe(value: Any, *, digits: int | None = None, non_finite: Literal["null", "text"] = "null",
              max_array_items: int | None = None, drop_none: bool = False) -> Any:
    """``value`` with numpy scalars and arrays, tuples, bytes and dates turned into JSON values.

    Parameters
    ----------
    value : Any
        A mapping, sequence, numpy array or scalar, or a plain value, nested freely.
    digits : int, optional
        Round every float to this many decimals (``None``: keep them exact).
    non_finite : {"null", "text"}
        NaN and ±inf become ``None`` (``"null"``), or their text ``"nan"``, ``"inf"``,
        ``"-inf"`` (``"text"``); :func:`json.dumps` would otherwise write invalid JSON.
    max_array_items : int, optional
        A numpy array with more elements becomes the text ``"<array SHAPE DTYPE>"``
        (``None``: every array becomes a nested list).
    drop_none : bool
        Leave out mapping entries whose converted value is ``None``.

    Returns
    -------
    Any
        Built from dict (string keys), list, str, int, float, bool and None only; any other
        object becomes its ``str``.
    """
    options = {"digits": digits, "non_finite": non_finite, "max_array_items": max_array_items,
               "drop_none": drop_none}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            safe = json_safe(item, **options)
            if safe is not None or not drop_none:
                out[str(key)] = safe
        return out
    if isinstance(value, (list, tuple)):
        return [json_safe(item, **options) for item in value]
    if isinstance(value, np.ndarray):
        if max_array_items is not None and value.size > max_array_items:
            return f"<array {value.shape} {value.dtype}>"
        return json_safe(value.tolist(), **options)
    if isinstance(value, np.generic):
        return json_safe(value.item(), **options)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value) if non_finite == "text" else None
        return round(value, digits) if digits is not None else value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    return str(value)


__all__ = ["json_safe"]

"""Hook for a per-pixel uncertainty map of a restoration (not available yet).

emrestore has no uncertainty API yet. When it gains one (e.g. ``restore(...,
uncertainty=True)`` recording a map next to the result), :func:`uncertainty_layer`
turns it into a second layer "<name> uncertainty" with the restored layer's scale and
units; until then it returns ``None`` and the widget adds only the restored image. It
never invents a map.
"""

from __future__ import annotations

from typing import Any

from ..image import EMImage
from ._layers import LayerDataTuple

#: Key under which a future emrestore would attach the map to a restored EMImage.
UNCERTAINTY_ATTRIBUTE = "uncertainty"


def uncertainty_layer(restored: EMImage, kwargs: dict[str, Any]) -> LayerDataTuple | None:
    """The uncertainty layer for a restoration, or ``None`` while there is none.

    Parameters
    ----------
    restored : EMImage
        The restoration.
    kwargs : dict
        The restored layer's keyword arguments (scale, units, translate, metadata).

    Returns
    -------
    (data, kwargs, "image") or None
        ``None`` unless ``restored`` carries an uncertainty array of its own shape.
    """
    data = getattr(restored, UNCERTAINTY_ATTRIBUTE, None)
    if data is None or getattr(data, "shape", None) != restored.shape:
        return None
    extra = {key: kwargs[key] for key in ("scale", "units", "translate", "axis_labels") if key in kwargs}
    return data, {**extra, "name": f"{kwargs['name'].removesuffix(' restored')} uncertainty",
                  "colormap": "magma", "metadata": {"uncertainty_of": kwargs["name"]}}, "image"

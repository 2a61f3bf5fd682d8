"""The uncertainty map of a restoration as a second napari layer.

With "uncertainty map" ticked in the widget, :func:`restore_with_uncertainty` restores as
usual and then computes :meth:`emrestore.restoration.Restorer.uncertainty` (the physics
check of ``input − restored`` against the frame's noise model; see ``docs/uncertainty.md``)
and attaches its total (the estimated local RMS error, in the input's units) to the
restored :class:`~emrestore.image.EMImage` as ``restored.uncertainty``.
:func:`uncertainty_layer` turns it into a layer "<name> uncertainty" with the restored
layer's scale and units. Without a map it returns ``None``: it never invents one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..image import EMImage
from ._job import ProgressCallback, restore_with_progress
from ._layers import LayerDataTuple

#: Attribute of a restored EMImage that holds its map ((H, W) or (N, H, W) array, input units).
UNCERTAINTY_ATTRIBUTE = "uncertainty"


def restore_with_uncertainty(image: EMImage, model: str | Path | None, *, tile: int | None,
                             progress: ProgressCallback | None = None,
                             cancel: threading.Event | None = None, dihedral: int = 0) -> EMImage:
    """:func:`~emrestore.napari._job.restore_with_progress`, then the uncertainty map.

    Parameters
    ----------
    image, model, tile, progress, cancel
        As for :func:`~emrestore.napari._job.restore_with_progress`.
    dihedral : {0, 4, 8}
        Also the spread over this many flipped/rotated copies (that many times the work).

    Returns
    -------
    EMImage
        The restoration with ``.uncertainty`` (float32, its shape) and
        ``metadata["uncertainty"]`` (the map's record: method, window, noise model).
    """
    from ..restoration import load_model
    from ..restoration.engine import resolve_choice

    restored = restore_with_progress(image, model, tile=tile, progress=progress, cancel=cancel)
    chosen, _ = resolve_choice(image, model)
    umap = load_model(chosen, tile=tile, progress=False).uncertainty(
        image.data, restored.data, dihedral=dihedral, modality=image.modality)
    setattr(restored, UNCERTAINTY_ATTRIBUTE, np.asarray(umap.total, np.float32))
    restored.metadata["uncertainty"] = umap.record()
    return restored


def uncertainty_layer(restored: EMImage, kwargs: dict[str, Any]) -> LayerDataTuple | None:
    """The uncertainty layer for a restoration, or ``None`` when it carries no map.

    Parameters
    ----------
    restored : EMImage
        The restoration.
    kwargs : dict
        The restored layer's keyword arguments (scale, units, translate, metadata).

    Returns
    -------
    (data, kwargs, "image") or None
        ``None`` unless ``restored`` carries an uncertainty array (or an
        :class:`~emrestore.restoration.uncertainty.UncertaintyMap`) of its own shape.
    """
    data = getattr(restored, UNCERTAINTY_ATTRIBUTE, None)
    data = getattr(data, "total", data)  # an UncertaintyMap: its total
    if data is None or getattr(data, "shape", None) != restored.shape:
        return None
    extra = {key: kwargs[key] for key in ("scale", "units", "translate", "axis_labels") if key in kwargs}
    metadata = {"uncertainty_of": kwargs["name"]}
    if "uncertainty" in restored.metadata:
        metadata["uncertainty"] = restored.metadata["uncertainty"]
    return data, {**extra, "name": f"{kwargs['name'].removesuffix(' restored')} uncertainty",
                  "colormap": "magma", "metadata": metadata}, "image"

"""EMImage <-> napari image layer: calibration, units and metadata both ways.

A layer made from an :class:`~emrestore.image.EMImage` gets

- ``scale`` = the pixel size in the image's unit on the two image axes (and 1 on the
  frame axis of a series), ``units`` = that unit (napari ≥ 0.5 layers carry units);
- ``metadata`` = ``{"modality", "pixel_size", "unit", "source", "metadata",
  "original_metadata"}`` (``"metadata"`` is the EMImage's flat metadata dict) plus
  ``"restoration"`` (the provenance record) for restored images.

:func:`layer_to_image` goes back: the layer's own scale and units win (the user may
have changed them in napari), the metadata fills in what napari cannot hold.

This module imports neither napari nor Qt: layers are handled as ``(data, meta)``, the
form napari hands to writer plugins (``meta`` is ``layer._get_state()``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..image import LENGTH_UNITS_NM, MODALITIES, EMImage, normalize_unit

#: Percentiles [%] of the initial contrast window: EM frames often hold a few hot pixels
#: or X-ray hits that would make a min/max window almost black.
CONTRAST_PERCENTILES = (0.1, 99.9)
#: Largest number of pixels looked at to set the contrast window (a regular subsample).
_CONTRAST_SAMPLE = 1 << 20
#: Relative difference under which the y and x scales count as equal (square pixels).
_SQUARE_TOLERANCE = 1e-6

LayerDataTuple = tuple[np.ndarray, dict[str, Any], str]



def contrast_limits(data: np.ndarray) -> tuple[float, float]:
    """Initial contrast window [data units]: the 0.1-99.9 percentiles.

    Parameters
    ----------
    data : numpy.ndarray
        (H, W) or (N, H, W) pixel values.

    Returns
    -------
    (float, float)
        ``(low, high)`` with ``high > low`` (flat images get a unit-wide window).
    """
    flat = np.asarray(data).ravel()
    step = max(1, flat.size // _CONTRAST_SAMPLE)
    low, high = (float(v) for v in np.percentile(flat[::step], CONTRAST_PERCENTILES))
    if not high > low:
        low, high = float(flat.min()), float(flat.max())
    if not high > low:
        high = low + 1.0
    return low, high


def layer_metadata(image: EMImage) -> dict[str, Any]:
    """The ``metadata`` dict of a layer that shows ``image``.

    Parameters
    ----------
    image : EMImage
        Image or series.

    Returns
    -------
    dict
        ``modality``, ``pixel_size`` [``unit``], ``unit``, ``source``, ``metadata``
        (the EMImage's own, a copy), ``original_metadata`` (the vendor tree), and
        ``restoration`` where the image was restored.
    """
    meta: dict[str, Any] = {
        "modality": image.modality,
        "pixel_size": image.pixel_size,
        "unit": image.unit,
        "source": image.source,
        "metadata": dict(image.metadata),
        "original_metadata": image.original_metadata,
    }
    if "restoration" in image.metadata:
        meta["restoration"] = image.metadata["restoration"]
    return meta


def layer_kwargs(image: EMImage, name: str) -> dict[str, Any]:
    """Keyword arguments of ``viewer.add_image`` for ``image`` (scale, units, metadata...).

    Parameters
    ----------
    image : EMImage
        Image (H, W) or series (N, H, W).
    name : str
        Layer name.

    Returns
    -------
    dict
        ``name``, ``scale`` ((s, s) or (1, s, s), s the pixel size in ``unit``; 1 when
        uncalibrated), ``units`` (only for calibrated images), ``axis_labels``,
        ``contrast_limits`` and ``metadata`` (see :func:`layer_metadata`).
    """
    size = image.pixel_size if image.pixel_size is not None else 1.0
    spatial = (size, size)
    kwargs: dict[str, Any] = {
        "name": name,
        "scale": (1.0, *spatial) if image.is_series else spatial,
        "axis_labels": ("frame", "y", "x") if image.is_series else ("y", "x"),
        "contrast_limits": contrast_limits(image.data),
        "metadata": layer_metadata(image),
    }
    if image.pixel_size is not None and any(image.origin):
        # the position of pixel [0, 0] in the image's unit: napari's translate, in world units
        kwargs["translate"] = (0.0, *image.origin) if image.is_series else tuple(image.origin)
    units = napari_unit(image.unit) if image.pixel_size is not None else None
    if units is not None:
        kwargs["units"] = ("pixel", units, units) if image.is_series else (units, units)
    return kwargs


def image_to_layer_data(image: EMImage, name: str) -> LayerDataTuple:
    """A napari ``LayerDataTuple`` ``(data, kwargs, "image")`` for ``image``."""
    return image.data, layer_kwargs(image, name), "image"


def napari_unit(unit: str | None) -> str | None:
    """The unit for napari's ``units``: lengths and reciprocal lengths only.

    Parameters
    ----------
    unit : str or None
        An emrestore unit (``"nm"``, ``"Å"``, ``"µm"``, ``"1/nm"``, ...).

    Returns
    -------
    str or None
        ``unit`` when it is one of :data:`~emrestore.image.LENGTH_UNITS_NM` or ``1/`` one
        of them (pint, behind napari's units, reads these); ``None`` otherwise (the layer
        then shows pixels and ``metadata["unit"]`` keeps the file's unit).
    """
    if unit is None:
        return None
    return unit if unit.removeprefix("1/") in LENGTH_UNITS_NM else None


def unit_from_napari(unit: Any) -> str | None:
    """An emrestore unit from a napari (pint) unit; ``None`` for pixels / no unit.

    Parameters
    ----------
    unit : pint.Unit, str or None
        One entry of ``layer.units``.

    Returns
    -------
    str or None
        ``"nm"``, ``"Å"``, ``"µm"``, ``"1/nm"``, ... or ``None``.

    Examples
    --------
    >>> unit_from_napari("nanometer"), unit_from_napari("pixel")
    ('nm', None)
    """
    if unit is None:
        return None
    if not isinstance(unit, str):
        unit = format(unit, "~")  # pint's short form: "nm", "µm", "Å", "1 / nm", "px"
    text = unit.replace(" / ", "/").replace(" ", "")
    if text.startswith("1/"):
        inner = normalize_unit(text[2:])
        return f"1/{inner}" if inner in LENGTH_UNITS_NM else normalize_unit(text)
    return normalize_unit(text)


def _spatial(values: Sequence[Any] | None, ndim: int, default: Any) -> list[Any]:
    values = list(values) if values is not None else []
    values = [default] * (ndim - len(values)) + values
    return values[-2:]


def layer_calibration(data_shape: Sequence[int], meta: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """Pixel size and unit of a layer, from its scale and units (metadata as fallback).

    Parameters
    ----------
    data_shape : sequence of int
        Shape of the layer's data.
    meta : mapping
        The layer's state (``scale``, ``units``, ``metadata``), as napari hands it to
        writers, or built from a layer with :func:`layer_state`.

    Returns
    -------
    (float or None, str or None)
        Pixel size [unit] and unit; ``(None, None)`` for an uncalibrated layer.

    Raises
    ------
    ParameterError
        Non-square pixels (the y and x scales differ).
    """
    ndim = len(data_shape)
    scale_y, scale_x = (float(s) for s in _spatial(meta.get("scale"), ndim, 1.0))
    if not (math.isfinite(scale_y) and math.isfinite(scale_x) and scale_y > 0 and scale_x > 0):
        raise ParameterError(f"The layer's scale ({scale_y}, {scale_x}) is not positive and finite.",
                             "Set a positive pixel size in the layer's scale.")
    if abs(scale_y - scale_x) > _SQUARE_TOLERANCE * max(scale_y, scale_x):
        raise ParameterError(
            f"The layer's pixels are not square (scale y {scale_y:g}, x {scale_x:g}); emrestore "
            "works with square pixels.",
            "Resample the image to square pixels, or set equal y and x scales.",
        )
    unit_y, unit_x = (unit_from_napari(u) for u in _spatial(meta.get("units"), ndim, None))
    unit = unit_x if unit_x == unit_y else None
    stored = meta.get("metadata") or {}
    stored_size, stored_unit = stored.get("pixel_size"), normalize_unit(stored.get("unit"))
    if unit is not None:
        return scale_x, unit
    # napari shows pixels: the unit may be one pint does not know ("1/nm" spelled oddly)
    if stored_size is not None and stored_unit is not None and \
            abs(float(stored_size) - scale_x) <= _SQUARE_TOLERANCE * scale_x:
        return scale_x, stored_unit
    return None, None  # a scale without a length unit is no calibration


def layer_state(layer: Any) -> dict[str, Any]:
    """The parts of a napari layer's state that :func:`layer_to_image` uses."""
    return {
        "name": layer.name,
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "units": tuple(getattr(layer, "units", ()) or ()),
        "metadata": dict(layer.metadata),
        "multiscale": bool(getattr(layer, "multiscale", False)),
        "rgb": bool(getattr(layer, "rgb", False)),
    }


def layer_modality(meta: Mapping[str, Any]) -> str | None:
    """The modality recorded in a layer's metadata (``None`` if unknown)."""
    stored = meta.get("metadata") or {}
    modality = stored.get("modality")
    return modality if modality in MODALITIES else None


def layer_to_image(data: Any, meta: Mapping[str, Any]) -> EMImage:
    """Rebuild an :class:`EMImage` from a layer's data and state.

    Parameters
    ----------
    data : array-like
        The layer's data: (H, W) or (N, H, W).
    meta : mapping
        The layer's state (see :func:`layer_calibration`).

    Returns
    -------
    EMImage
        float32 data, pixel size and unit from the layer's scale and units, modality,
        source and metadata from the layer's metadata.

    Raises
    ------
    ParameterError
        A multiscale or RGB layer, non-square pixels.
    NotAnImageError
        Data that is not (H, W) or (N, H, W).
    """
    name = meta.get("name") or "the layer"
    if meta.get("multiscale"):
        raise ParameterError(f"'{name}' is a multiscale (pyramid) layer.",
                             "Open the full-resolution image as a plain layer first.")
    if meta.get("rgb"):
        raise ParameterError(f"'{name}' is an RGB layer; electron micrographs are grey.",
                             "Convert it to one grey channel first (e.g. read it with the emrestore reader).")
    array = np.asarray(data)
    pixel_size, unit = layer_calibration(array.shape, meta)
    # napari's translate (world units, the scale's unit) is the position of pixel [0, 0]
    origin = tuple(float(t) for t in _spatial(meta.get("translate"), array.ndim, 0.0))
    if pixel_size is None or not all(math.isfinite(t) for t in origin):
        origin = (0.0, 0.0)
    stored = dict(meta.get("metadata") or {})
    inner = dict(stored.get("metadata") or {})
    source = stored.get("source")
    return EMImage(
        data=array,
        pixel_size=pixel_size,
        unit=unit,
        modality=layer_modality(meta),
        metadata=inner,
        source=str(source) if source else None,
        original_metadata=dict(stored.get("original_metadata") or {}),
        origin=origin,
    )


def name_for(path: str | Path) -> str:
    """Layer name for a file: its name without the extension."""
    return Path(path).stem or Path(path).name

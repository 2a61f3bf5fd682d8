"""Turn a RosettaSciIO signal dictionary into an :class:`~emrestore.image.EMImage`.

RosettaSciIO's contract is ``{"data", "axes", "metadata", "original_metadata",
"mapping"}``; axes carry ``scale``/``units`` and whether they are navigation axes.
An image has exactly two signal axes; a series adds one navigation axis.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NotAnImageError
from ..image import EMImage, check_square, convenient_length, normalize_unit
from .databar import find_databar
from .metadata import (
    EMRESTORE_SECTION,
    RESTORATION_KEY,
    apply_mapping,
    flatten_metadata,
    infer_modality,
    metadata_json_safe,
    restoration_record,
    set_restoration_record,
)

__all__ = ["EMRESTORE_SECTION", "EMRestoreWarning", "describe_non_image", "image_to_signal",
           "is_image_signal", "rgb_to_grey", "signal_fields", "signal_to_image"]


class EMRestoreWarning(UserWarning):
    """Something was changed on reading that the user should know about."""


def _signal_axes(signal: Mapping[str, Any]) -> tuple[list[dict], list[dict]]:
    """Split axes into (navigation, signal) lists, in array order."""
    axes = list(signal.get("axes") or [])
    ndim = np.ndim(signal["data"])
    if len(axes) != ndim:
        axes = [{} for _ in range(ndim)]
    flags = [axis.get("navigate") for axis in axes]
    if all(flag is None for flag in flags):
        # Formats without navigation flags (plain images): the last two axes are the image.
        flags = [True] * (ndim - 2) + [False] * min(ndim, 2)
    navigation = [axis for axis, flag in zip(axes, flags) if flag]
    signal_axes = [axis for axis, flag in zip(axes, flags) if not flag]
    return navigation, signal_axes


def is_image_signal(signal: Mapping[str, Any]) -> bool:
    """True if the signal is one image or a series of images."""
    data = signal.get("data")
    if data is None or np.ndim(data) not in (2, 3):
        return False
    navigation, signal_axes = _signal_axes(signal)
    return len(signal_axes) == 2 and len(navigation) <= 1


def describe_non_image(signal: Mapping[str, Any], path: str | Path) -> NotAnImageError:
    """A :class:`NotAnImageError` that says what the data is instead."""
    data = signal.get("data")
    shape = tuple(np.shape(data))
    ndim = len(shape)
    navigation, signal_axes = _signal_axes(signal) if data is not None else ([], [])
    if ndim == 1 or (ndim >= 1 and len(signal_axes) == 1):
        kind = "a spectrum (one signal axis)" if ndim == 1 else "a spectrum image (one signal axis per position)"
        fix = "emrestore restores images; use a spectroscopy tool (e.g. HyperSpy) for spectra."
    elif ndim == 4 or len(navigation) >= 2:
        kind = f"a {ndim}-D dataset such as 4D-STEM (navigation {len(navigation)}-D, signal {len(signal_axes)}-D)"
        fix = ("Make a 2-D image first, e.g. a virtual detector image summed over the "
               "diffraction axes with HyperSpy or py4DSTEM, and save it.")
    else:
        kind = f"{ndim}-D data"
        fix = "Select a 2-D image or a series of 2-D images from it and save that."
    return NotAnImageError(f"{Path(path).name} holds {kind} of shape {shape}, not an image.", fix)


def _calibration(signal_axes: Sequence[Mapping[str, Any]], where: str = "The image"
                 ) -> tuple[float | None, str | None, tuple[float, float]]:
    """Pixel size, unit and (y, x) origin from the two signal axes (y, x).

    The origin is the axes' ``offset`` in the returned unit (in pixels when uncalibrated).

    Raises
    ------
    ParameterError
        If the two axes have different pixel sizes (non-square pixels).
    """
    scales = [axis.get("scale") for axis in signal_axes]
    units = [normalize_unit(axis.get("units")) for axis in signal_axes]
    offsets = []
    for axis in signal_axes:
        try:
            offset = float(axis.get("offset") or 0.0)
        except (TypeError, ValueError):
            offset = 0.0
        offsets.append(offset if np.isfinite(offset) else 0.0)
    try:
        scale_y, scale_x = (float(s) if s is not None else None for s in scales)
    except (TypeError, ValueError):
        return None, None, (0.0, 0.0)
    unit = units[1] or units[0]
    if unit is None and scale_x is not None and np.isfinite(scale_x) and scale_x > 0 and scale_x != 1.0:
        warnings.warn(
            f"The image axes have a pixel size of {scale_x:g} but no unit; it is read as "
            "uncalibrated, so the model cannot be chosen from the pixel size.",
            EMRestoreWarning,
            stacklevel=3,
        )
    valid = [s is not None and np.isfinite(s) and s > 0 for s in (scale_y, scale_x)]
    if unit is None or not valid[1]:
        pixels = [o / s if ok else 0.0 for o, s, ok in zip(offsets, (scale_y, scale_x), valid)]
        return None, None, (pixels[0], pixels[1])
    if valid[0] and units[0] in (None, units[1]):
        check_square(scale_y, scale_x, unit, where)  # type: ignore[arg-type]
    size, shown = convenient_length(scale_x, unit)
    factor = size / scale_x
    return size, shown, (offsets[0] * factor, offsets[1] * factor)


def _to_grey(data: np.ndarray, path: str | Path) -> np.ndarray:
    """Structured (RGB/RGBA) data → grey luminance, with a warning."""
    fields = [name for name in data.dtype.names if name.upper() in ("R", "G", "B")]
    if len(fields) < 3:
        raise NotAnImageError(
            f"{Path(path).name} holds structured pixels {data.dtype} that are not RGB.",
            "Save the image as greyscale.",
        )
    rgb = np.stack([data[name].astype(np.float32) for name in ("R", "G", "B") if name in data.dtype.names], axis=-1)
    return rgb_to_grey(rgb, path)


def rgb_to_grey(rgb: np.ndarray, path: str | Path) -> np.ndarray:
    """(…, 3 or 4) RGB(A) → float32 luminance (ITU-R BT.709 weights).

    A grey image stored as RGB (all channels equal) is returned as one channel,
    silently; a real colour image is converted with a warning.
    """
    channels = rgb[..., :3]
    if np.array_equal(channels[..., 0], channels[..., 1]) and np.array_equal(channels[..., 0], channels[..., 2]):
        return channels[..., 0].astype(np.float32)
    warnings.warn(
        f"{Path(path).name} is a colour (RGB) image; converted to grey (luminance). "
        "Save micrographs as greyscale to keep the detector's values.",
        EMRestoreWarning,
        stacklevel=3,
    )
    weights = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    return rgb[..., :3].astype(np.float32) @ weights


def signal_fields(signal: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """Everything of an :class:`EMImage` but the pixels, from a signal dictionary.

    Reads only axes and metadata (never the data), so it also serves lazy signals.

    Parameters
    ----------
    signal : dict
        A RosettaSciIO signal dictionary (HyperSpy's ``_to_dictionary()`` has the same
        keys; a missing ``mapping`` means the metadata tree is already mapped).
    path : str or Path
        The file it came from, or a name for messages.

    Returns
    -------
    dict
        ``pixel_size``, ``unit``, ``origin``, ``modality``, ``metadata`` (flat, with the
        ``"restoration"`` record of a restored signal) and ``original_metadata``.

    Raises
    ------
    ParameterError
        If the pixels are not square.
    """
    _, signal_axes = _signal_axes(signal)
    pixel_size, unit, origin = _calibration(signal_axes, Path(path).name)
    original = signal.get("original_metadata") or {}
    tree = apply_mapping(signal)
    metadata = flatten_metadata(tree, original)
    modality = infer_modality(tree, original)
    ours = tree.get(EMRESTORE_SECTION) if isinstance(tree.get(EMRESTORE_SECTION), Mapping) else {}
    if ours:
        metadata.update(dict(ours.get("metadata") or {}))
        modality = ours.get("modality", modality)
        if isinstance(ours.get(RESTORATION_KEY), Mapping):
            metadata[RESTORATION_KEY] = dict(ours[RESTORATION_KEY])
    return {"pixel_size": pixel_size, "unit": unit, "origin": origin, "modality": modality,
            "metadata": metadata, "original_metadata": dict(original)}


def signal_to_image(
    signal: Mapping[str, Any],
    path: str | Path,
    *,
    allow_nonfinite: bool = False,
    remove_databar: bool = False,
) -> EMImage:
    """Build an :class:`EMImage` from one RosettaSciIO signal dictionary.

    Parameters
    ----------
    signal : dict
        One element of a RosettaSciIO ``file_reader`` result (or a HyperSpy signal's
        ``_to_dictionary()``).
    path : str or Path
        The file it came from (for messages and ``EMImage.source``).
    allow_nonfinite : bool
        Accept NaN/inf pixels.
    remove_databar : bool
        Detect and cut off an SEM data bar at the bottom (SEM TIFFs).

    Raises
    ------
    NotAnImageError
        If the signal is a spectrum, a spectrum image, 4D-STEM, ...
    ParameterError
        If the pixels are not square.
    """
    data = np.asarray(signal["data"])
    if data.dtype.names:
        data = _to_grey(data, path)
        signal = {**signal, "axes": list(signal.get("axes") or [])[: data.ndim]}
    if not is_image_signal({**signal, "data": data}):
        raise describe_non_image({**signal, "data": data}, path)
    fields = signal_fields({**signal, "data": data}, path)
    metadata, modality = fields.pop("metadata"), fields["modality"]
    stored = np.asarray(signal["data"]).dtype
    # emrestore's own files keep the dtype of the file they were made from
    metadata.setdefault("original_dtype", str(stored) if not stored.names else "rgb")

    if remove_databar and data.ndim == 2 and modality == "sem" and "databar_height_px" not in metadata:
        height, how = find_databar(data, fields["original_metadata"])
        if height:
            data = data[: data.shape[0] - height]
            metadata["databar_height_px"] = int(height)
            metadata["databar_found_from"] = how

    return EMImage(
        data=data,
        metadata=metadata_json_safe(metadata),
        source=str(path),
        allow_nonfinite=allow_nonfinite,
        **fields,
    )


def image_to_signal(image: EMImage) -> dict[str, Any]:
    """Build a RosettaSciIO signal dictionary (for writers) from an :class:`EMImage`.

    The axes carry the pixel size, unit and origin (``offset``); the restoration record
    goes to ``metadata.emrestore.restoration``, where the HyperSpy path of
    :func:`emrestore.restore` puts it too.
    """
    height, width = image.data.shape[-2:]
    units = image.unit if image.unit is not None else ""
    scale = image.pixel_size if image.pixel_size is not None else 1.0
    axes = []
    if image.is_series:
        axes.append({"name": "frame", "units": "", "scale": 1.0, "offset": 0.0,
                     "size": image.frames, "navigate": True, "index_in_array": 0})
    for name, size, offset in (("y", height, image.origin[0]), ("x", width, image.origin[1])):
        axes.append({"name": name, "units": units, "scale": scale, "offset": float(offset),
                     "size": size, "navigate": False, "index_in_array": len(axes)})
    flat = {k: v for k, v in image.metadata.items() if k != RESTORATION_KEY}
    metadata = {
        "General": {"title": str(image.metadata.get("title", ""))},
        "Signal": {"signal_type": "", "quantity": "Intensity"},
        EMRESTORE_SECTION: metadata_json_safe({
            "modality": image.modality,
            "pixel_size": image.pixel_size,
            "unit": image.unit,
            "origin": list(image.origin),
            "metadata": flat,
        }),
    }
    if image.source:
        metadata["General"]["original_filename"] = Path(image.source).name
    instrument = _acquisition_instrument(image)
    if instrument:
        metadata["Acquisition_instrument"] = instrument
    signal = {
        "data": image.data,
        "axes": axes,
        "metadata": metadata,
        "original_metadata": metadata_json_safe(image.original_metadata),
        # fields RosettaSciIO's HSPY writer expects from a HyperSpy signal
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"package": "emrestore", "package_version": _version()},
    }
    record = restoration_record(image)
    if record is not None:
        set_restoration_record(signal, record)
    return signal


#: emrestore's flat metadata keys and where HyperSpy keeps them (under TEM or SEM).
_HYPERSPY_PATHS = {
    "voltage_kV": ("beam_energy",),
    "magnification": ("magnification",),
    "camera_length_mm": ("camera_length",),
    "beam_current_nA": ("beam_current",),
    "working_distance_mm": ("working_distance",),
    "instrument": ("microscope",),
    "acquisition_mode": ("acquisition_mode",),
    "exposure_s": ("Detector", "Camera", "exposure"),
    "detector": ("Detector", "detector_type"),
}


def _acquisition_instrument(image: EMImage) -> dict[str, Any]:
    """HyperSpy's ``Acquisition_instrument`` tree from the flat metadata."""
    section: dict[str, Any] = {}
    for key, path in _HYPERSPY_PATHS.items():
        if key in image.metadata:
            node = section
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = image.metadata[key]
    if "dwell_time_us" in image.metadata:
        section["dwell_time"] = image.metadata["dwell_time_us"] * 1e-6  # HyperSpy: seconds
    if not section:
        return {}
    return {"SEM" if image.modality == "sem" else "TEM": metadata_json_safe(section)}


def _version() -> str:
    from .. import __version__

    return __version__

"""TIFF: read any microscope TIFF (through RosettaSciIO), write calibrated float32.

Reading goes through RosettaSciIO's TIFF reader, which understands ImageJ,
DigitalMicrograph-exported, FEI/Thermo and Zeiss SEM TIFFs and their metadata. SEM
data bars are cut off. TIFFs written by emrestore carry their full calibration and
metadata as JSON in the ImageJ description (key ``emrestore``) and read back exactly.

Writing produces an ImageJ-compatible float32 TIFF (a series as a stack) whose
calibration ImageJ/Fiji *and* HyperSpy (``hs.load``) read: :func:`calibration_tags` gives
the tags (ImageJ description with ``unit`` and origins, resolution tags, the Gatan
DigitalMicrograph unit/scale/origin tags that RosettaSciIO reads, and emrestore's own JSON
block), so other writers (the block-wise Dask writer) produce the same calibration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from .. import __name__ as _package
from ..image import EMImage
from .limits import DEFAULT_LIMITS, ReadLimits
from .metadata import metadata_json_safe
from .signal import EMRestoreWarning, signal_to_image

#: ImageJ spells some units its own way (its description is ASCII).
_IMAGEJ_UNITS = {"µm": "micron", "Å": "A", "1/µm": "1/micron", "1/Å": "1/A"}

#: Gatan DigitalMicrograph TIFF tags (x/y unit, x/y origin, x/y scale), as RosettaSciIO
#: writes and reads them; HyperSpy takes the units of an ImageJ TIFF from these.
_DM_TAGS = {"unit_x": 65003, "unit_y": 65004, "origin_x": 65006, "origin_y": 65007,
            "scale_x": 65009, "scale_y": 65010}

_UINT32_MAX = 2**32 - 1

DESCRIPTION_KEY = "emrestore"


def _own_description(path: Path) -> dict[str, Any] | None:
    """The JSON block emrestore wrote into an ImageJ description, if any."""
    try:
        with tifffile.TiffFile(path) as tif:
            meta = tif.imagej_metadata or {}
    except Exception:
        return None
    text = meta.get(DESCRIPTION_KEY)
    if not isinstance(text, str):
        return None
    try:
        block = json.loads(text)
    except json.JSONDecodeError:
        return None
    return block if isinstance(block, dict) else None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_complaints() -> Iterator[list[str]]:
    """Collect (instead of printing) what tifffile logs about tags it could not read."""
    logger = logging.getLogger("tifffile")
    handler = _Collect()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _check_declared(path: Path, limits: ReadLimits) -> None:
    """Refuse a TIFF whose pages declare more pixels than the limits allow, before decoding.

    tifffile parses only the image file directories here; no pixel is decoded.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            declared = [(tuple(series.shape), np.dtype(series.dtype).itemsize) for series in tif.series]
    except Exception:  # unreadable structure: left to the reader, which words the error
        return
    for shape, itemsize in declared:
        limits.check_pixels(shape, itemsize, path)


def read_tiff(path: Path, *, allow_nonfinite: bool = False,
              limits: ReadLimits = DEFAULT_LIMITS) -> list[EMImage]:
    """Read a TIFF into EMImages (one per image in the file).

    Parameters
    ----------
    path : Path
        The TIFF file.
    allow_nonfinite : bool
        Accept NaN/inf pixels.
    limits : ReadLimits
        Declared sizes are checked against these before any pixel is decoded.
    """
    from rsciio.tiff import file_reader

    _check_declared(path, limits)
    own = _own_description(path)
    with _tifffile_complaints() as complaints:
        signals = file_reader(str(path))
    if complaints:
        warnings.warn(
            f"{path.name} is damaged (probably truncated): part of its tags could not be read "
            f"({complaints[0][:160]}), so its calibration, modality or data bar may be missing.",
            EMRestoreWarning,
            stacklevel=3,
        )
    images = []
    for signal in signals:
        with warnings.catch_warnings():
            if own is not None:  # the calibration comes from emrestore's own block below
                warnings.filterwarnings("ignore", message="The image axes have a pixel size",
                                        category=EMRestoreWarning)
            image = signal_to_image(signal, path, allow_nonfinite=allow_nonfinite,
                                    remove_databar=own is None)
        if own is not None:
            image.pixel_size = own.get("pixel_size")
            image.unit = own.get("unit")
            image.origin = tuple(own.get("origin") or (0.0, 0.0))  # type: ignore[assignment]
            image.modality = own.get("modality")
            image.metadata = {**image.metadata, **own.get("metadata", {})}
            image.original_metadata = {}
            image.__post_init__()
        images.append(image)
    return images


def _imagej_unit(unit: str) -> str:
    """The unit as ImageJ's ASCII description spells it (µm → micron, Å → A)."""
    text = _IMAGEJ_UNITS.get(unit, unit)
    return text.replace("µ", "u").replace("Å", "A").encode("ascii", "replace").decode()


def _pixels_per_unit(pixel_size: float) -> tuple[int, int]:
    """TIFF resolution (pixels per unit) as a rational whose inverse is ``pixel_size``.

    Both terms fit in 32 bits, so the pixel size survives to ~10 significant digits
    (HyperSpy and ImageJ take it from these tags).
    """
    bound = max(1, min(_UINT32_MAX, int(_UINT32_MAX / max(pixel_size, 1e-300))))
    size = Fraction(pixel_size).limit_denominator(bound)
    if size.numerator == 0 or size.numerator > _UINT32_MAX:  # beyond what 32 bits can hold
        size = Fraction(pixel_size).limit_denominator(1)
        size = Fraction(min(max(size.numerator, 1), _UINT32_MAX), 1)
    return size.denominator, size.numerator


def calibration_tags(pixel_size: float | None, unit: str | None, *, shape: tuple[int, ...],
                     origin: tuple[float, float] = (0.0, 0.0), modality: str | None = None,
                     metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``tifffile.imwrite`` / ``TiffWriter.write`` that calibrate a TIFF.

    The result makes a float32 (H, W) image or (N, H, W) series that ImageJ/Fiji, HyperSpy
    (``hs.load``) and :func:`emrestore.read` all read with the same pixel size, unit and
    origin. Pass it unchanged, without ``imagej=True`` (the ImageJ description is in it)
    and with ``photometric="minisblack"``; tiled and block-by-block writes take it too.

    Parameters
    ----------
    pixel_size : float or None
        Pixel size in ``unit`` (square pixels); ``None`` for an uncalibrated image.
    unit : str or None
        Canonical unit (``"pm"``, ``"Å"``, ``"nm"``, ``"µm"``, ...).
    shape : tuple of int
        Shape of the data that will be written: (H, W) or (N, H, W).
    origin : (float, float)
        Position (y, x) of pixel [0, 0] in ``unit`` (HyperSpy's axis offsets).
    modality : str, optional
        ``"tem"``, ``"stem"`` or ``"sem"``, kept in emrestore's JSON block.
    metadata : dict, optional
        emrestore's flat metadata (including the ``"restoration"`` record), kept in the
        JSON block.

    Returns
    -------
    dict
        ``description`` (ImageJ: ``images``/``frames`` for a series, ``unit``, ``xorigin``
        and ``yorigin`` in pixels, and ``emrestore=<JSON>``), ``metadata=None`` (so that
        tifffile adds no description of its own), ``resolution`` (pixels per unit, as
        32-bit rationals) and ``resolutionunit`` (NONE), and ``extratags`` (the
        DigitalMicrograph unit/origin/scale tags 65003-65010).

    Examples
    --------
    >>> import numpy as np, tifffile
    >>> tags = calibration_tags(0.05, "nm", shape=(64, 64))
    >>> tifffile.imwrite("/tmp/calibrated.tif", np.zeros((64, 64), np.float32),
    ...                  photometric="minisblack", **tags)
    """
    if len(shape) not in (2, 3):
        raise ValueError(f"calibration_tags needs an (H, W) or (N, H, W) shape, got {shape}.")
    origin_y, origin_x = (float(v) for v in origin)
    block = metadata_json_safe({
        "pixel_size": pixel_size,
        "unit": unit if pixel_size is not None else None,
        "origin": [origin_y, origin_x],
        "modality": modality,
        "metadata": dict(metadata or {}),
        "writer": _package,
    })
    scale = float(pixel_size) if pixel_size is not None else 1.0
    description: dict[str, Any] = {}
    if pixel_size is not None and unit:
        description["unit"] = _imagej_unit(unit)
    if origin_x:
        description["xorigin"] = -origin_x / scale  # ImageJ: pixels, x = (i - xorigin) * width
    if origin_y:
        description["yorigin"] = -origin_y / scale
    description[DESCRIPTION_KEY] = json.dumps(block, ensure_ascii=True, separators=(",", ":"))
    text = tifffile.imagej_description(tuple(shape), "TYX" if len(shape) == 3 else "YX",
                                       hyperstack=len(shape) == 3, **description)
    kwargs: dict[str, Any] = {
        "description": text,
        "metadata": None,
        "resolutionunit": tifffile.RESUNIT.NONE,
    }
    dm_unit = (unit or "").encode("latin-1", "replace") if pixel_size is not None else b""
    kwargs["extratags"] = [
        (_DM_TAGS["unit_x"], "s", 0, dm_unit, False),
        (_DM_TAGS["unit_y"], "s", 0, dm_unit, False),
        (_DM_TAGS["origin_x"], "d", 1, origin_x, False),
        (_DM_TAGS["origin_y"], "d", 1, origin_y, False),
        (_DM_TAGS["scale_x"], "d", 1, scale, False),
        (_DM_TAGS["scale_y"], "d", 1, scale, False),
    ]
    if pixel_size is not None:
        rational = _pixels_per_unit(float(pixel_size))
        kwargs["resolution"] = (rational, rational)
    return kwargs


def write_tiff(image: EMImage, path: Path) -> None:
    """Write ``image`` as a float32 TIFF that ImageJ, HyperSpy and emrestore read calibrated.

    Parameters
    ----------
    image : EMImage
        Image or series to write.
    path : Path
        Destination (already checked and usually a temporary file).

    Notes
    -----
    The tags are those of :func:`calibration_tags`; the data are written contiguously
    (ImageJ's layout).
    """
    tags = calibration_tags(image.pixel_size, image.unit, shape=image.shape, origin=image.origin,
                            modality=image.modality, metadata=image.metadata)
    tifffile.imwrite(
        path,
        np.ascontiguousarray(image.data, dtype=np.float32),
        photometric="minisblack",
        contiguous=True,
        software=_package,
        **tags,
    )

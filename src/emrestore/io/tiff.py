"""TIFF: read any microscope TIFF (through RosettaSciIO), write calibrated float32.

Reading goes through RosettaSciIO's TIFF reader, which understands ImageJ,
DigitalMicrograph-exported, FEI/Thermo and Zeiss SEM TIFFs and their metadata. SEM
data bars are cut off. TIFFs written by emrestore carry their full calibration and
metadata as JSON in the ImageJ description (key ``emrestore``) and read back exactly.

Writing produces an ImageJ-compatible float32 TIFF (a series as a stack): ImageJ, Fiji
and RosettaSciIO/HyperSpy read its pixel size and unit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from .. import __name__ as _package
from ..image import EMImage
from .limits import DEFAULT_LIMITS, ReadLimits
from .metadata import json_safe
from .signal import EMRestoreWarning, signal_to_image

#: ImageJ spells some units its own way.
_IMAGEJ_UNITS = {"µm": "micron", "Å": "A"}

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
            image.modality = own.get("modality")
            image.metadata = {**image.metadata, **own.get("metadata", {})}
            image.original_metadata = {}
            image.__post_init__()
        images.append(image)
    return images


def write_tiff(image: EMImage, path: Path) -> None:
    """Write ``image`` as an ImageJ float32 TIFF with calibration and JSON metadata.

    Parameters
    ----------
    image : EMImage
        Image or series to write.
    path : Path
        Destination (already checked and usually a temporary file).
    """
    block = json_safe({
        "pixel_size": image.pixel_size,
        "unit": image.unit,
        "modality": image.modality,
        "metadata": image.metadata,
        "writer": _package,
    })
    metadata: dict[str, Any] = {
        "axes": "TYX" if image.is_series else "YX",
        DESCRIPTION_KEY: json.dumps(block, ensure_ascii=True, separators=(",", ":")),
    }
    kwargs: dict[str, Any] = {}
    if image.pixel_size is not None:
        metadata["unit"] = _IMAGEJ_UNITS.get(image.unit or "", image.unit or "")
        kwargs["resolution"] = (1.0 / image.pixel_size, 1.0 / image.pixel_size)
    tifffile.imwrite(
        path,
        np.ascontiguousarray(image.data, dtype=np.float32),
        imagej=True,
        metadata=metadata,
        **kwargs,
    )

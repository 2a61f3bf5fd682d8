"""napari writer: an image layer as a calibrated TIFF or HyperSpy file.

The layer becomes an :class:`~emrestore.image.EMImage` again (data, pixel size and unit
from its scale and units, modality and metadata from its metadata) and is written with
:func:`emrestore.write`, atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UnsupportedFormatError
from ._layers import layer_to_image

#: Suffixes the writer produces (napari offers them in its Save dialog).
WRITE_SUFFIXES = (".tif", ".tiff", ".hspy")


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write one image layer to ``path``.

    Parameters
    ----------
    path : str
        Destination; ``.tif``/``.tiff`` (float32, ImageJ calibration, metadata as JSON)
        or ``.hspy`` (HyperSpy HDF5 with axes in the layer's unit and the full metadata).
    data : array-like
        The layer's data, (H, W) or (N, H, W).
    meta : dict
        The layer's state as napari passes it (``scale``, ``units``, ``metadata``, ...).

    Returns
    -------
    list of str
        The written file.

    Raises
    ------
    UnsupportedFormatError
        Another suffix.
    OutputExistsError
        ``path`` is the file the layer was read from: inputs are never overwritten. An
        other existing file is replaced, because napari's Save dialog has asked first.
    ParameterError
        Multiscale or RGB layers, non-square pixels.
    """
    target = Path(path)
    if target.suffix.lower() not in WRITE_SUFFIXES:
        raise UnsupportedFormatError(
            f"The emrestore writer cannot write '{target.name}'.",
            f"Save as one of {', '.join(WRITE_SUFFIXES)}.",
        )
    from ..io import write

    image = layer_to_image(data, meta)
    return [str(write(image, target, overwrite=True))]

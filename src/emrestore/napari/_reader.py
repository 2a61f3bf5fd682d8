"""napari reader: every format :func:`emrestore.read` reads, calibrated.

napari calls :func:`get_reader` with the path the user opens; it returns
:func:`read_layers` for the suffixes of :data:`emrestore.io.api.READ_FORMATS` and
``None`` otherwise (napari then asks other plugins).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from ..errors import EMRestoreError
from ..io.api import DIRECTORY_FORMATS, READ_FORMATS
from ..io.signal import EMRestoreWarning
from ._layers import LayerDataTuple, image_to_layer_data, name_for

#: Suffixes (lower case, with the dot) the reader accepts.
SUFFIXES = tuple(ext for fmt in READ_FORMATS for ext in fmt.extensions)

ReaderFunction = Callable[[str | list[str]], list[LayerDataTuple]]


def _accepts(path: str) -> bool:
    candidate = Path(path)
    suffix = candidate.suffix.lower()
    if suffix not in SUFFIXES:
        return False
    return not candidate.is_dir() or suffix in DIRECTORY_FORMATS


def get_reader(path: str | list[str]) -> ReaderFunction | None:
    """The reader for ``path``, or ``None`` when emrestore does not read it.

    Parameters
    ----------
    path : str or list of str
        A file (or a HyperSpy ``.zspy`` folder), or several.

    Returns
    -------
    callable or None
        :func:`read_layers` when every path has a suffix emrestore reads
        (dm3, dm4, ser, emi, emd, mrc, hspy, hdf5, zspy, tif, tiff, png, jpg, npy, ...).
    """
    paths = [path] if isinstance(path, str) else list(path)
    if not paths or not all(_accepts(str(p)) for p in paths):
        return None
    return read_layers


def _notify_warning(message: str) -> None:
    """Show a reader warning in napari (a notification), or as a Python warning outside it."""
    try:
        from napari.utils.notifications import show_warning
    except ImportError:  # the reader used without napari installed
        warnings.warn(message, EMRestoreWarning, stacklevel=3)
        return
    show_warning(message)


def read_layers(path: str | list[str]) -> list[LayerDataTuple]:
    """Read files into napari image layers.

    Parameters
    ----------
    path : str or list of str
        File(s) to read.

    Returns
    -------
    list of (data, kwargs, "image")
        One layer per file: float32 (H, W) image or (N, H, W) stack; ``scale`` the pixel
        size in the file's unit ((1, s, s) for stacks), ``units``, name the file's stem,
        ``metadata`` with modality, pixel size, unit, source and the file's metadata.

    Raises
    ------
    EMRestoreError
        A damaged, empty or unsupported file; the message names the file, the cause and
        the fix, and napari shows it as an error notification (the viewer keeps running).
        Warnings (e.g. "several images, reading the first") become napari notifications.
    """
    from ..io import read

    paths = [path] if isinstance(path, str) else list(path)
    layers = []
    for item in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EMRestoreWarning)
            try:
                image = read(item)
            except EMRestoreError as error:
                # napari reports reader exceptions; say which file and keep cause and fix
                raise type(error)(f"emrestore could not open {Path(item).name}: {error.cause}",
                                  error.fix) from error
        for warning in caught:
            if issubclass(warning.category, EMRestoreWarning):
                _notify_warning(f"{Path(item).name}: {warning.message}")
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        layers.append(image_to_layer_data(image, name_for(item)))
    return layers

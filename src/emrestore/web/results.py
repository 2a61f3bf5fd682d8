"""The files of a finished restoration: those written with it, those made when first asked
for, and the names they are served under.

Files inside an entry's folder are named by the server (``upload.<ext>``, ``input.png``,
``input.f32``, ``result.tif``, ``result.png``, ``result.f32``; ``result.hspy``,
``uncertainty.tif`` and ``uncertainty.f32`` once first asked for); the client's file name
is only the (sanitised) name a download is offered under.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import EMRestoreError
from ..image import EMImage
from ..io.limits import ReadLimits
from .display import write_display
from .errors import WebError

#: Files of an entry that clients may fetch, and the suffix of their download names.
SERVED_FILES = {
    "input.png": ("", "image/png"),
    "input.f32": ("", "application/octet-stream"),
    "result.png": ("_restored", "image/png"),
    "result.tif": ("_restored", "image/tiff"),
    "result.f32": ("_restored", "application/octet-stream"),
    "result.hspy": ("_restored", "application/x-hdf5"),
    "uncertainty.tif": ("_uncertainty", "image/tiff"),
    "uncertainty.f32": ("_uncertainty", "application/octet-stream"),
}
#: Served files of a finished job written from its ``result.tif`` when first asked for.
HSPY_FILE = "result.hspy"
#: Served files of the uncertainty map, computed when first asked for.
UNCERTAINTY_FILES = ("uncertainty.tif", "uncertainty.f32")


def no_such_file(filename: str) -> WebError:
    """The 404 error of a file name that an entry does not serve."""
    return WebError(404, f"There is no file {filename!r} here.", "Use the URLs returned by /api/restore.")


def write_result(restored: EMImage, folder: Path) -> dict[str, Any]:
    """Write a restoration's ``result.tif``, ``result.png`` and ``result.f32`` into ``folder``.

    Returns
    -------
    dict
        The displayed frame's description (:func:`~emrestore.web.display.write_display`).
    """
    from ..io import write

    write(restored, folder / "result.tif")
    write(restored, folder / "result.png")
    return write_display(restored, folder / "result.f32")


def read_result(folder: Path) -> EMImage:
    """A finished job's restoration, read back from its ``result.tif`` (a file the server wrote)."""
    from ..io import read

    return read(folder / "result.tif", limits=ReadLimits(isolate=False))


def write_hspy(folder: Path) -> Path:
    """Write ``result.hspy`` of a finished job from its ``result.tif`` (atomically), unless it exists.

    HyperSpy's format takes longer to write than the TIFF, so it is made only for those
    who download it. The TIFF holds the same data, calibration and metadata. The caller
    holds the job's file lock.

    Raises
    ------
    WebError
        500 if the file cannot be written.
    """
    from ..io import write

    path = folder / HSPY_FILE
    if not path.is_file():
        try:
            write(read_result(folder), path)
        except EMRestoreError as error:
            raise WebError(500, f"The HyperSpy file could not be written: {error.cause}",
                           "Download the TIFF instead; it holds the same data and calibration.") from error
    return path

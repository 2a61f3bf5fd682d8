"""Uploads: which files may be uploaded, and reading one within the server's limits.

The client's file name is never used as a path: only its validated extension, and a
sanitised stem for download names (:func:`safe_stem`). Files are read with
:class:`emrestore.io.limits.ReadLimits`: a pixel-count limit checked against the size a
file declares before its pixels are decoded, and a parse in a child process that is
killed after a deadline or at a memory ceiling, so an untrusted upload can neither hang
nor exhaust the server. Messages name the client's file, never the server's temporary one.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import EMRestoreError, LimitExceededError, ParameterError
from ..image import EMImage
from ..io.api import READ_FORMATS
from ..io.limits import ReadLimits
from ..io.signal import EMRestoreWarning
from .display import write_display
from .errors import WebError

#: Extensions an upload may have: everything :func:`emrestore.read` reads from a single
#: file. HyperSpy Zarr ``.zspy`` is a folder, and a TIA ``.emi`` needs its ``.ser`` next
#: to it (the ``.ser`` alone holds the image), so neither can be uploaded.
UPLOAD_EXTENSIONS = tuple(ext for fmt in READ_FORMATS for ext in fmt.extensions if ext not in (".zspy", ".emi"))

#: Default largest image (all frames together) the server reads [pixels]: 8192² = 64 Mpx.
DEFAULT_MAX_PIXELS = 8192**2
#: Default deadline for parsing one uploaded file in its child process [s].
DEFAULT_READ_TIMEOUT_S = 120.0


def parse_pixel_count(text: str | int) -> int:
    """A pixel count from ``N`` or ``WxH`` (``67108864``, ``8192x8192``).

    Raises
    ------
    ParameterError
        If ``text`` is neither, or not positive.

    Examples
    --------
    >>> parse_pixel_count("8192x8192")
    67108864
    >>> parse_pixel_count(1000)
    1000
    """
    value = str(text).strip().lower().replace("×", "x").replace("_", "")
    try:
        if "x" in value:
            width, height = value.split("x", 1)
            pixels = int(width) * int(height)
        else:
            pixels = int(value)
    except ValueError:
        pixels = 0
    if pixels <= 0:
        raise ParameterError(f"The pixel limit {text!r} is not a positive number of pixels.",
                             "Give a count such as 67108864, or a size such as 8192x8192.")
    return pixels


def megapixels(pixels: float) -> str:
    """A pixel count for people: ``"67.1 Mpx"``."""
    return f"{pixels / 1e6:.3g} Mpx"


def safe_stem(filename: str | None) -> str:
    """A harmless stem for download names: letters, digits, ``.-_`` only, at most 80 chars.

    Examples
    --------
    >>> safe_stem("../../etc/passwd.dm3")
    'passwd'
    >>> safe_stem("Probe 7 (HAADF).dm4")
    'Probe_7_HAADF'
    """
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")
    return stem[:80] or "image"


def upload_extension(filename: str | None) -> str:
    """The validated, lower-case extension of an uploaded file's name.

    Raises
    ------
    WebError
        400 for a TIA ``.emi`` (its pixels are in the ``.ser``), 415 for anything
        :func:`emrestore.read` cannot read from a single file.
    """
    name = (filename or "").strip()
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext == ".emi":
        raise WebError(
            400,
            "A TIA .emi file holds only the acquisition metadata; the image itself is in the "
            "matching .ser file (e.g. name_1.ser).",
            "Upload the .ser file instead.",
        )
    if ext not in UPLOAD_EXTENSIONS:
        shown = f"'{ext}'" if ext else "no extension"
        raise WebError(
            415,
            f"The file {name or '(unnamed)'} has {shown}, which is not a format emrestore reads.",
            f"Upload one of: {', '.join(UPLOAD_EXTENSIONS)}.",
        )
    return ext


def client_message(message: str, path: Path, filename: str | None) -> str:
    """``message`` with the server's temporary file name replaced by the client's."""
    shown = safe_stem(filename) + path.suffix
    return message.replace(str(path), shown).replace(path.name, shown)


class UploadReader:
    """Reads uploaded files within the server's pixel and parse-time limits.

    Parameters
    ----------
    max_pixels : int
        Largest image (all frames together) read from an upload [pixels].
    read_timeout_s : float
        Deadline for parsing one upload (in a child process) [s].

    Raises
    ------
    ParameterError
        If either limit is not positive.
    """

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS,
                 read_timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> None:
        if not max_pixels >= 1:
            raise ParameterError(f"The pixel limit must be positive (got {max_pixels}).",
                                 "Use e.g. --max-pixels 8192x8192.")
        if not read_timeout_s > 0:
            raise ParameterError(f"The read timeout must be positive (got {read_timeout_s} s).",
                                 "Use e.g. --read-timeout 120.")
        self.max_pixels = int(max_pixels)
        self.read_timeout_s = float(read_timeout_s)

    def pixel_limit_error(self, name: str, shape: Sequence[int], declared: bool = False) -> WebError:
        """The 413 error of an image of ``shape`` [px] with more pixels than :attr:`max_pixels`."""
        pixels = math.prod(int(n) for n in shape)
        size = " × ".join(str(int(n)) for n in shape)
        verb = "declares" if declared else "is"
        return WebError(
            413,
            f"{name} {verb} an image of {size} px = {megapixels(pixels)}; this server reads images of up "
            f"to {megapixels(self.max_pixels)} ({self.max_pixels} pixels, all frames together).",
            "Crop or bin the image first, or restart the server with a larger --max-pixels "
            "(e.g. --max-pixels 16384x16384).",
        )

    def check_pixels(self, name: str, shape: Sequence[int]) -> None:
        """Raise :meth:`pixel_limit_error` if an image of ``shape`` [px] is too large."""
        if shape and math.prod(int(n) for n in shape) > self.max_pixels:
            raise self.pixel_limit_error(name, shape)

    def read_limits(self) -> ReadLimits:
        """The :class:`~emrestore.io.limits.ReadLimits` an upload is read with."""
        return ReadLimits(max_pixels=self.max_pixels, timeout_s=self.read_timeout_s, isolate=True)

    def read(self, path: Path, filename: str | None) -> EMImage:
        """Read an uploaded file within the limits.

        The declared pixel count is checked before the pixels are decoded, and the parse
        runs in a child process killed after :attr:`read_timeout_s` (by
        :func:`emrestore.read` with :meth:`read_limits`); the pixel count of the image
        read is checked again here.

        Parameters
        ----------
        path : Path
            The stored upload (a server-named file).
        filename : str or None
            The client's file name, for messages.

        Raises
        ------
        WebError
            413 when the image exceeds :attr:`max_pixels` or its parse exceeded its time
            or memory budget, 422 when the file cannot be read as an image.
        """
        from ..io import read

        name = safe_stem(filename) + path.suffix
        try:
            image = read(path, limits=self.read_limits())
        except LimitExceededError as error:
            raise WebError(
                413,
                client_message(error.cause, path, filename),
                "Crop or bin the image first; if the file is genuine, restart the server with larger "
                f"limits (--max-pixels, now {megapixels(self.max_pixels)}; --read-timeout, now "
                f"{self.read_timeout_s:g} s).",
            ) from error
        except EMRestoreError as error:
            raise WebError(422, client_message(str(error), path, filename)) from error
        self.check_pixels(name, image.shape)
        return image

    def read_quietly(self, path: Path, filename: str | None) -> EMImage:
        """:meth:`read` without the reader's warnings (passed on once, as the upload's notes)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EMRestoreWarning)
            return self.read(path, filename)

    def read_with_notes(self, path: Path, filename: str | None) -> tuple[EMImage, list[str]]:
        """:meth:`read`, and the reader's warnings as notes for the client.

        Returns
        -------
        image : EMImage
        notes : list of str
            The :class:`~emrestore.io.signal.EMRestoreWarning` messages (naming the
            client's file), and a note when an SEM data bar was removed.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EMRestoreWarning)
            image = self.read(path, filename)
        notes = [client_message(str(w.message), path, filename) for w in caught
                 if issubclass(w.category, EMRestoreWarning)]
        bar = image.metadata.get("databar_height_px")
        if bar:
            notes.append(f"The SEM data bar ({bar} px at the bottom) was removed; "
                         "only the image above it is restored.")
        return image, notes


def write_previews(image: EMImage, folder: Path) -> dict[str, Any]:
    """Write an upload's ``input.png`` and ``input.f32`` into ``folder``; returns the display
    description (:func:`~emrestore.web.display.write_display`)."""
    from ..io import write

    write(image, folder / "input.png")
    return write_display(image, folder / "input.f32")

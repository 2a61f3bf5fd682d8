"""Errors a user can cause, each naming its cause and the fix.

Every exception raised for bad input derives from :class:`EMRestoreError`, so a caller
(or the command line) can catch one type. The message always has two parts: what is
wrong, and what to do about it. The CLI prints ``str(error)`` on one line and exits
non-zero.

Hierarchy
---------
::

    EMRestoreError
    ├── InputNotFoundError        (also a FileNotFoundError)
    ├── FileFormatError
    │   ├── UnsupportedFormatError
    │   ├── EmptyFileError
    │   └── CorruptFileError
    ├── NotAnImageError           (also a ValueError)
    ├── NonFiniteDataError        (also a ValueError)
    ├── OutputExistsError         (also a FileExistsError)
    ├── OutputWriteError          (also an OSError)
    ├── LimitExceededError        (input larger, slower or hungrier than the set limits)
    └── ParameterError            (also a ValueError)
"""

from __future__ import annotations


class EMRestoreError(Exception):
    """Base class of every error a user can cause.

    Parameters
    ----------
    cause : str
        What is wrong, in plain words.
    fix : str
        What the user can do about it.
    """

    def __init__(self, cause: str, fix: str = "") -> None:
        self.cause = cause
        self.fix = fix
        message = cause if not fix else f"{cause} Fix: {fix}"
        super().__init__(message)


class InputNotFoundError(EMRestoreError, FileNotFoundError):
    """The input path does not exist."""


class FileFormatError(EMRestoreError):
    """The file cannot be read as an image."""


class UnsupportedFormatError(FileFormatError):
    """The file's extension is not one emrestore reads or writes."""


class EmptyFileError(FileFormatError):
    """The file has zero bytes, or holds no data."""


class CorruptFileError(FileFormatError):
    """The file has a known extension but its content cannot be parsed."""


class NotAnImageError(EMRestoreError, ValueError):
    """The data is not a 2-D image or a stack of 2-D images (e.g. a spectrum or 4D-STEM)."""


class NonFiniteDataError(EMRestoreError, ValueError):
    """The image holds NaN or infinite pixels."""


class OutputExistsError(EMRestoreError, FileExistsError):
    """A write would replace the input file, or an existing file without permission."""


class OutputWriteError(EMRestoreError, OSError):
    """An output cannot be written: read-only folder, no permission, disk full, name too long..."""


class LimitExceededError(EMRestoreError):
    """An input exceeds a set limit: declared pixel count, memory or time to parse it.

    Raised before any large allocation where the file declares its size, and when a
    file's parser runs out of its time or memory budget (see :class:`emrestore.io.ReadLimits`).
    """


class ParameterError(EMRestoreError, ValueError):
    """A parameter is outside its valid range (negative dose, unknown name, ...)."""


__all__ = [
    "EMRestoreError",
    "InputNotFoundError",
    "FileFormatError",
    "UnsupportedFormatError",
    "EmptyFileError",
    "CorruptFileError",
    "NotAnImageError",
    "NonFiniteDataError",
    "OutputExistsError",
    "OutputWriteError",
    "LimitExceededError",
    "ParameterError",
]

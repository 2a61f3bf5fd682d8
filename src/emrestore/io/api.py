"""`read` and `write`: the front door of emrestore's file I/O.

The format is chosen by the file extension (see :data:`READ_FORMATS` and
:data:`WRITE_FORMATS`); vendor formats are read through RosettaSciIO.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import (
    CorruptFileError,
    EmptyFileError,
    EMRestoreError,
    InputNotFoundError,
    LimitExceededError,
    NotAnImageError,
    UnsupportedFormatError,
)
from ..image import EMImage
from .atomic import atomic_path, check_output_path
from .limits import DEFAULT_LIMITS, ReadLimits, memory_message, stored_bytes
from .signal import EMRestoreWarning, image_to_signal, is_image_signal, signal_to_image


@dataclass(frozen=True)
class Format:
    """A file format emrestore reads or writes."""

    name: str
    extensions: tuple[str, ...]
    via: str


#: Formats :func:`read` understands, in the order the README lists them.
READ_FORMATS = (
    Format("Gatan DigitalMicrograph", (".dm3", ".dm4"), "rsciio.digitalmicrograph"),
    Format("FEI/Thermo TIA", (".ser", ".emi"), "rsciio.tia"),
    Format("Velox EMD / NCEM EMD", (".emd",), "rsciio.emd"),
    Format("MRC", (".mrc", ".mrcs", ".rec", ".st", ".ali"), "rsciio.mrc"),
    Format("HyperSpy HDF5", (".hspy", ".hdf5"), "rsciio.hspy"),
    Format("HyperSpy Zarr", (".zspy",), "rsciio.zspy"),
    Format("TIFF (ImageJ, DM-exported, FEI/Thermo & Zeiss SEM, emrestore)", (".tif", ".tiff"), "tiff"),
    Format("PNG / JPEG", (".png", ".jpg", ".jpeg"), "raster"),
    Format("NumPy array", (".npy",), "npy"),
)

#: Formats :func:`write` produces.
WRITE_FORMATS = (
    Format("float32 TIFF, ImageJ calibration + JSON metadata", (".tif", ".tiff"), "tiff"),
    Format("HyperSpy HDF5 (full metadata)", (".hspy",), "rsciio.hspy"),
    Format("8-bit PNG for viewing (percentile contrast)", (".png",), "raster"),
    Format("NumPy array (data only)", (".npy",), "npy"),
)


def _format_for(path: Path, table: tuple[Format, ...], action: str) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".zspy" or path.is_dir() and suffix == ".zspy":
        suffix = ".zspy"
    for fmt in table:
        if suffix in fmt.extensions:
            return fmt
    known = ", ".join(ext for fmt in table for ext in fmt.extensions)
    raise UnsupportedFormatError(
        f"Cannot {action} '{path.name}': the extension '{path.suffix or '(none)'}' is not supported.",
        f"Use one of: {known}.",
    )


def _materialise(data: object) -> np.ndarray:
    """A lazily read (dask) array as numpy, computed in this thread."""
    compute = getattr(data, "compute", None)
    if compute is not None:
        return np.asarray(compute(scheduler="synchronous"))
    return np.asarray(data)


def _read_rsciio(path: Path, module_name: str, allow_nonfinite: bool,
                 index: int | None, limits: ReadLimits) -> EMImage:
    module = importlib.import_module(module_name)
    if module_name == "rsciio.digitalmicrograph":
        from .parser_guards import guard_digitalmicrograph

        guard_digitalmicrograph()
    reader: Callable = module.file_reader
    # lazily: the declared shapes are checked before any pixel is read
    signals = reader(str(path), lazy=True)
    if not signals:
        if path.suffix.lower() == ".emi":
            raise CorruptFileError(
                f"{path.name} yielded no image: its data file(s) <name>_1.ser were not "
                "found next to it, or the .emi is damaged.",
                "Keep the .emi in the same folder as its .ser file(s), or read the .ser directly.",
            )
        raise EmptyFileError(f"{path.name} holds no data.", "Check that the acquisition was saved.")
    images = [s for s in signals if is_image_signal(s)]
    if index is not None:
        if not 0 <= index < len(images):
            raise NotAnImageError(
                f"{path.name} holds {len(images)} image(s); index {index} does not exist.",
                f"Use an index from 0 to {len(images) - 1}.",
            )
        chosen = images[index]
    elif images:
        chosen = images[0]
        if len(images) > 1:
            warnings.warn(
                f"{path.name} holds {len(images)} images; reading the first. "
                "Pick another with read(path, index=i).",
                EMRestoreWarning,
                stacklevel=3,
            )
    else:
        from .signal import describe_non_image

        raise describe_non_image(signals[0], path)
    data = chosen["data"]
    limits.check_pixels(tuple(np.shape(data)), np.dtype(data.dtype).itemsize, path,
                        file_bytes=stored_bytes(path))
    return signal_to_image({**chosen, "data": _materialise(data)}, path, allow_nonfinite=allow_nonfinite)


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Silence parser libraries' log warnings; their failures surface as our errors."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _read_npy(path: Path, allow_nonfinite: bool, limits: ReadLimits) -> EMImage:
    try:
        # memory-mapped first: the header's shape is checked before the pixels are read
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise CorruptFileError(
            f"{path.name} is not a plain NumPy array file, or is shorter than its header "
            f"says ({error}).",
            "Save the image with numpy.save (no pickled objects).",
        ) from error
    if not isinstance(mapped, np.ndarray):
        raise CorruptFileError(f"{path.name} is a NumPy archive of several arrays, not one image.",
                               "Save a single array with numpy.save.")
    if mapped.ndim not in (2, 3):
        from .signal import describe_non_image

        raise describe_non_image({"data": mapped, "axes": []}, path)
    limits.check_pixels(mapped.shape, mapped.dtype.itemsize, path)
    data = np.array(mapped)
    del mapped
    if data.ndim == 3 and data.shape[-1] in (3, 4) and min(data.shape[:2]) > 4:
        # (H, W, 3|4) is how numpy holds an RGB(A) picture; a series of 3-px-wide frames is not an image
        from .signal import rgb_to_grey

        data = rgb_to_grey(data, path)
    return EMImage(data=data, source=str(path), allow_nonfinite=allow_nonfinite)


#: Formats whose "file" is a folder (HyperSpy's Zarr store).
DIRECTORY_FORMATS = (".zspy",)

def read(path: str | Path, *, index: int | None = None, allow_nonfinite: bool = False,
         limits: ReadLimits | None = None) -> EMImage:
    """Read a microscope image file, keeping its calibration and metadata.

    Parameters
    ----------
    path : str or Path
        File to read. Supported: DM3/DM4, TIA SER/EMI, Velox/NCEM EMD, MRC,
        HyperSpy .hspy/.zspy, TIFF (ImageJ, DM-exported, FEI/Thermo and Zeiss SEM,
        emrestore), PNG/JPEG and .npy.
    index : int, optional
        Which image to read from files that hold several (e.g. Velox EMD with
        several detectors); default the first.
    allow_nonfinite : bool
        Accept NaN/inf pixels instead of raising :class:`NonFiniteDataError`.
    limits : ReadLimits, optional
        How much the file may ask: declared pixel count (default 2²⁸), declared size
        against size on disk, and — parsed in a killable child process unless
        ``isolate=False`` — a deadline (default 60 s + 1 s per 10 MB) and a memory
        ceiling (default 2 GiB + 12 bytes per allowed pixel). Default
        :data:`~emrestore.io.limits.DEFAULT_LIMITS`.

    Returns
    -------
    EMImage
        ``data`` float32 (H, W) or (N, H, W); ``pixel_size`` and ``unit`` from the
        file (``None`` if uncalibrated); ``modality`` inferred from the metadata.
        SEM data bars are removed (``metadata["databar_height_px"]``); colour images
        become grey with a warning.

    Raises
    ------
    InputNotFoundError, UnsupportedFormatError, EmptyFileError, CorruptFileError,
    NotAnImageError, NonFiniteDataError, LimitExceededError
        Each with the cause and the fix in its message.

    Examples
    --------
    >>> import emrestore
    >>> image = emrestore.read("../shared/data/formats/test_STEM_image.dm3")  # doctest: +SKIP
    >>> image.pixel_size, image.unit, image.modality                          # doctest: +SKIP
    (0.2485..., 'nm', 'stem')
    """
    path = Path(path).expanduser()
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(limits, ReadLimits):
        raise TypeError(f"limits must be a ReadLimits, got {type(limits).__name__}.")
    try:
        exists = path.exists()
    except OSError as error:  # a symlink loop, a name too long, no permission on a folder
        raise InputNotFoundError(f"{path} cannot be opened ({error.strerror or error}).",
                                 "Check the path (symbolic links, permissions, name length).") from error
    if not exists:
        kind = "is a broken or looping symbolic link" if path.is_symlink() else "does not exist"
        raise InputNotFoundError(f"{path} {kind}.", "Check the path and the file name.")
    # a FIFO named *.tif would block the reader forever; a folder is no image, except HyperSpy's
    # Zarr format, which is one
    if not path.is_file() and not (path.is_dir() and path.suffix.lower() in DIRECTORY_FORMATS):
        kind = "a folder" if path.is_dir() else "not a regular file (a pipe, socket or device)"
        raise InputNotFoundError(f"{path} is {kind}, not an image file.",
                                 "Pass an image file (emrestore restore also takes folders of them).")
    fmt = _format_for(path, READ_FORMATS, "read")
    if path.is_file() and path.stat().st_size == 0:
        raise EmptyFileError(f"{path.name} is empty (0 bytes).",
                             "The file was not written completely; copy or export it again.")
    if limits.isolate:
        from .isolation import IsolationUnavailable, isolation_available, read_isolated

        if isolation_available():
            try:
                return read_isolated(path, index=index, allow_nonfinite=allow_nonfinite, limits=limits)
            except IsolationUnavailable as error:
                warnings.warn(
                    f"Reading {path.name} in this process: no child process could be started "
                    f"({error}), so only the declared-size limits protect against a damaged file.",
                    EMRestoreWarning, stacklevel=2)
    try:
        with warnings.catch_warnings(), _quiet_loggers("tifffile", "rsciio", "h5py"):
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="rsciio")
            if fmt.via == "tiff":
                from .tiff import read_tiff

                images = read_tiff(path, allow_nonfinite=allow_nonfinite, limits=limits)
                if not images:
                    raise CorruptFileError(
                        f"{path.name} holds no readable image (the TIFF is probably truncated).",
                        "Copy or export the file again from the acquisition software.",
                    )
                return images[index or 0]
            if fmt.via == "raster":
                from .raster import read_raster

                return read_raster(path, allow_nonfinite=allow_nonfinite, limits=limits)[0]
            if fmt.via == "npy":
                return _read_npy(path, allow_nonfinite, limits)
            return _read_rsciio(path, fmt.via, allow_nonfinite, index, limits)
    except EMRestoreError:
        raise
    except (MemoryError, OSError) as error:
        if isinstance(error, OSError) and error.errno != errno.ENOMEM:
            raise _parse_error(path, fmt, error) from error
        from . import limits as limits_module

        raise LimitExceededError(*memory_message(path.name, limits_module.active_ceiling)) from error
    except Exception as error:  # any parser failure is a damaged or mislabelled file
        raise _parse_error(path, fmt, error) from error


def _parse_error(path: Path, fmt: Format, error: BaseException) -> CorruptFileError:
    """The error for a parser failure: a damaged or mislabelled file."""
    reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    return CorruptFileError(
        f"{path.name} could not be read as {fmt.name} ({type(error).__name__}: {reason}).",
        "The file may be truncated or not really this format; copy or export it "
        "again from the acquisition software.",
    )


def write(image: EMImage, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write an :class:`EMImage`, atomically and never over its input file.

    Parameters
    ----------
    image : EMImage
        Image or series to write.
    path : str or Path
        Destination; the extension chooses the format: ``.tif``/``.tiff`` (float32,
        ImageJ calibration, metadata as JSON in the description), ``.hspy`` (full
        metadata through RosettaSciIO), ``.png`` (8-bit view, percentile contrast),
        ``.npy`` (data only).
    overwrite : bool
        Replace an existing file that is not the input (default False).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    UnsupportedFormatError, OutputExistsError
    OutputWriteError
        Any operating-system error while writing (read-only disk, no permission, disk full,
        name too long, ...), with the cause and the fix; it is also an :class:`OSError`. The
        temporary file is removed and an existing ``path`` is left as it was.

    Examples
    --------
    >>> import numpy as np, emrestore
    >>> img = emrestore.EMImage(np.ones((8, 8)), pixel_size=0.1, unit="nm")
    >>> emrestore.write(img, "/tmp/example.tif", overwrite=True).name
    'example.tif'
    """
    from .atomic import memory_file, output_write_error

    if not isinstance(image, EMImage):
        raise TypeError(f"write() needs an EMImage, got {type(image).__name__}; wrap arrays with EMImage(data).")
    target = Path(path).expanduser()
    try:
        fmt = _format_for(target, WRITE_FORMATS, "write")
        out = check_output_path(target, inputs=(image.source,), overwrite=overwrite)
        with atomic_path(out) as temp:
            if fmt.via == "tiff":
                from .tiff import write_tiff

                write_tiff(image, temp)
            elif fmt.via == "raster":
                from .raster import write_png

                write_png(image, temp)
            elif fmt.via == "npy":
                with open(temp, "wb") as stream:
                    np.save(stream, image.data.astype(np.float32), allow_pickle=False)
            else:
                from rsciio.hspy import file_writer

                # HDF5 writes into memory, then plain Python I/O copies the bytes: h5py crashes
                # the interpreter when the disk fills up under it
                with warnings.catch_warnings(), memory_file(temp) as buffer:
                    warnings.simplefilter("ignore")
                    file_writer(buffer, image_to_signal(image), show_progressbar=False)
    except OSError as error:
        if isinstance(error, EMRestoreError):
            raise
        raise output_write_error(error, target) from error
    return out

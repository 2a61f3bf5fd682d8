"""Files too large for memory: open them lazily, write the restoration tile by tile.

:func:`open_lazy` gives a file's pixels as a :class:`dask.array.Array` (memory-mapped
``.npy``, Zarr, RosettaSciIO's lazy readers for HSPY/ZSPY/EMD/MRC/DM/TIFF) together with
its calibration; :func:`write_tiled_tiff` stores a lazy result as a tiled float32 TIFF
(BigTIFF beyond 4 GiB), one tile at a time, atomically, with the calibration tags of
:func:`emrestore.io.tiff.calibration_tags` (what :func:`emrestore.read`, HyperSpy and Fiji read).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import (
    CorruptFileError,
    NotAnImageError,
    OutputWriteError,
    UnsupportedFormatError,
)
from ..image import EMImage

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

    from ..io.limits import ReadLimits

#: TIFF tiles must be multiples of 16 px.
TIFF_TILE_MULTIPLE = 16
#: Beyond this many bytes the output is a BigTIFF (a classic TIFF holds at most 4 GiB).
BIGTIFF_BYTES = 2**32 - 2**25
#: Extensions :func:`open_lazy` reads through RosettaSciIO (lazily).
RSCIIO_MODULES = {".hspy": "rsciio.hspy", ".hdf5": "rsciio.hspy", ".zspy": "rsciio.zspy",
                  ".emd": "rsciio.emd", ".mrc": "rsciio.mrc", ".mrcs": "rsciio.mrc",
                  ".dm3": "rsciio.digitalmicrograph", ".dm4": "rsciio.digitalmicrograph",
                  ".tif": "rsciio.tiff", ".tiff": "rsciio.tiff"}
#: Extensions :func:`open_lazy` reads.
LAZY_SUFFIXES = (".npy", ".zarr", *RSCIIO_MODULES)


class MappedFile:
    """A memory-mapped array that Dask reads slice by slice.

    ``dask.array.from_array`` copies a ``numpy.memmap`` whole into memory (dask ≥ 2025
    copies array-likes that have ``copy``); this wrapper has only ``shape``, ``dtype``,
    ``ndim`` and slicing, so each block reads just its pixels from the file.
    """

    def __init__(self, mapped: np.ndarray) -> None:
        self.mapped = mapped
        self.shape = mapped.shape
        self.dtype = mapped.dtype
        self.ndim = mapped.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.array(self.mapped[key])


def lazy_npy(path: str | Path, *, chunk: int = 1024, mapped: np.ndarray | None = None) -> da.Array:
    """A ``.npy`` file as a Dask array of (chunk, chunk) blocks, memory-mapped, never read whole.

    Parameters
    ----------
    path : str or Path
        The file (written by ``numpy.save``).
    chunk : int
        Block edge [px]; a series gets one frame per block.
    mapped : numpy.ndarray, optional
        The file already opened with ``numpy.load(path, mmap_mode="r")``.
    """
    import dask.array as da

    path = Path(path)
    if mapped is None:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    stat = path.stat()  # named by file, size and time (dask would otherwise hash every pixel)
    chunks = (1,) * (mapped.ndim - 2) + (chunk, chunk) if mapped.ndim >= 2 else chunk
    return da.from_array(MappedFile(mapped), chunks=chunks, asarray=False,
                         name=f"npy-{path.resolve()}-{stat.st_size}-{stat.st_mtime_ns}",
                         meta=np.empty((0,) * mapped.ndim, mapped.dtype))


def _header(path: Path, data: Any, signal: dict[str, Any] | None) -> EMImage:
    """An EMImage with ``path``'s calibration and metadata and a stand-in of 16² px per frame.

    The model choice and the output's tags need only these; the pixels stay lazy.
    """
    from ..io.signal import signal_to_image

    shape = (*data.shape[:-2], 16, 16) if data.ndim == 3 else (16, 16)
    stand_in = np.zeros(shape[-3:], dtype=np.dtype(data.dtype))
    if signal is None:
        return EMImage(data=stand_in, source=str(path))
    return signal_to_image({**signal, "data": stand_in}, path)


def open_lazy(path: str | Path, *, limits: ReadLimits | None = None,
              chunk: int = 1024) -> tuple[da.Array, EMImage]:
    """A file's pixels as a lazy Dask array, and its calibration.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (memory-mapped), ``.zarr`` (a Zarr array folder), or a format RosettaSciIO
        reads lazily: ``.hspy``/``.hdf5``, ``.zspy``, ``.emd``, ``.mrc``, ``.dm3``/``.dm4``,
        ``.tif``.
    limits : ReadLimits, optional
        The declared size is checked against ``max_pixels`` (default limits).
    chunk : int
        Block edge [px] for files without chunks of their own (``.npy``).

    Returns
    -------
    (dask.array.Array, EMImage)
        The (H, W) or (N, H, W) pixels, and an image whose calibration, modality and
        metadata are the file's (its ``data`` is a 16-px stand-in, not the pixels).

    Raises
    ------
    UnsupportedFormatError, CorruptFileError, NotAnImageError, LimitExceededError
    """
    import dask.array as da

    from ..io.limits import DEFAULT_LIMITS

    limits = limits or DEFAULT_LIMITS
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    signal: dict[str, Any] | None = None
    if suffix == ".npy":
        try:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise CorruptFileError(f"{path.name} is not a plain NumPy array file ({error}).",
                                   "Save the image with numpy.save (no pickled objects).") from error
        data = lazy_npy(path, chunk=chunk, mapped=mapped)
    elif suffix == ".zarr":
        data = da.from_zarr(str(path))
    elif suffix in RSCIIO_MODULES:
        import importlib

        reader = importlib.import_module(RSCIIO_MODULES[suffix]).file_reader
        try:
            signals = reader(str(path), lazy=True)
        except Exception as error:
            raise CorruptFileError(f"{path.name} could not be opened lazily ({type(error).__name__}: {error}).",
                                   "Restore it without --blockwise, or convert it to .npy or .zarr.") from error
        from ..io.signal import is_image_signal

        images = [s for s in signals if is_image_signal(s)]
        if not images:
            raise NotAnImageError(f"{path.name} holds no image that can be restored block-wise.",
                                  "Restore it without --blockwise.")
        signal = images[0]
        data = signal["data"]
        if not isinstance(data, da.Array):
            data = da.from_array(data, chunks=chunk)
    else:
        raise UnsupportedFormatError(
            f"{path.name}: block-wise restoration reads {', '.join(LAZY_SUFFIXES)}, not {suffix or 'this file'}.",
            "Restore it without --blockwise, or convert it to .npy or .zarr.")
    if data.ndim not in (2, 3) or 0 in data.shape:
        raise NotAnImageError(f"{path.name} holds data of shape {data.shape}, not an (H, W) image or (N, H, W) series.",
                              "Give an image or a series of images.")
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise NotAnImageError(f"{path.name} holds {data.dtype} pixels, not real numbers.",
                              "Give a greyscale image.")
    limits.check_pixels(tuple(data.shape), np.dtype(data.dtype).itemsize, path)
    return data, _header(path, data, signal)


def _tile_edge(data: da.Array) -> int:
    """TIFF tile edge [px]: the array's block edge, on the 16-px grid TIFF needs."""
    edge = min(int(data.chunks[-2][0]), int(data.chunks[-1][0]))
    return max(TIFF_TILE_MULTIPLE, edge // TIFF_TILE_MULTIPLE * TIFF_TILE_MULTIPLE)


def iterate_tiles(data: da.Array, tile: int, *, parallel: int = 1,
                  on_tile: Callable[[int], None] | None = None) -> Iterator[np.ndarray]:
    """Compute ``data`` tile by tile in TIFF order (frame, tile row, tile column).

    ``parallel`` tiles are computed at once (Dask's threaded scheduler); only those are held.
    """
    import dask

    frames = data.shape[0] if data.ndim == 3 else 1
    height, width = data.shape[-2:]
    corners = [(f, r, c) for f in range(frames) for r in range(0, height, tile) for c in range(0, width, tile)]
    for start in range(0, len(corners), parallel):
        group = corners[start:start + parallel]
        pieces = [(data[f] if data.ndim == 3 else data)[r:r + tile, c:c + tile] for f, r, c in group]
        for piece in dask.compute(*pieces, scheduler="threads", num_workers=parallel):
            yield np.ascontiguousarray(piece, dtype=np.float32)
        if on_tile is not None:
            on_tile(len(group))


def write_tiled_tiff(data: da.Array, image: EMImage, path: str | Path, *, overwrite: bool = False,
                     parallel: int = 1, on_tile: Callable[[int], None] | None = None) -> Path:
    """Write a lazy (H, W) or (N, H, W) result as a tiled float32 TIFF, one tile at a time.

    Parameters
    ----------
    data : dask.array.Array
        The pixels, e.g. from :func:`~emrestore.restoration.blockwise.restore_dask_array`.
        Tiles follow its blocks (rounded down to 16 px; rechunked if they are not square).
    image : EMImage
        Calibration, modality and metadata for the tags (its ``data`` is not written).
    path : str or Path
        The ``.tif``/``.tiff`` output; written to a temporary file next to it and renamed
        when complete (no partial output on an error or interrupt).
    overwrite : bool
        Replace an existing file (never the input).
    parallel : int
        Tiles computed at once.
    on_tile : callable, optional
        Called with the number of tiles done after each group (progress).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputExistsError, OutputWriteError
    """
    import tifffile

    from .. import __name__ as package
    from ..io.atomic import atomic_path, check_output_path, output_write_error
    from ..io.tiff import calibration_tags

    target = Path(path).expanduser()
    out = check_output_path(target, inputs=(image.source,), overwrite=overwrite)
    tile = _tile_edge(data)
    if data.chunks[-2][0] != tile or data.chunks[-1][0] != tile:
        data = data.rechunk((1,) * (data.ndim - 2) + (tile, tile))
    tags = calibration_tags(image.pixel_size, image.unit, shape=tuple(data.shape), origin=image.origin,
                            modality=image.modality, metadata=image.metadata)
    nbytes = math.prod(data.shape) * 4
    try:
        with atomic_path(out) as temp:
            tifffile.imwrite(temp, iterate_tiles(data, tile, parallel=parallel, on_tile=on_tile),
                             shape=data.shape, dtype=np.float32, tile=(tile, tile),
                             bigtiff=nbytes > BIGTIFF_BYTES, photometric="minisblack",
                             software=package, **tags)
    except OutputWriteError:
        raise
    except OSError as error:
        raise output_write_error(error, out) from error
    return out


__all__ = ["LAZY_SUFFIXES", "MappedFile", "iterate_tiles", "lazy_npy", "open_lazy", "write_tiled_tiff"]

"""Block-wise restoration of frames larger than memory, as lazy Dask arrays.

:func:`restore_dask_array` restores a (H, W) frame or an (N, H, W) series held as a
:class:`dask.array.Array` (memory-mapped ``.npy``, Zarr, chunked HDF5, a lazy HyperSpy
signal) block by block with :func:`dask.array.map_overlap`, and returns a lazy result with
the input's chunks. Nothing is computed until the result is.

The result equals the in-memory :meth:`Restorer.restore_array` of the whole frame, up to the
tiling tolerance (≤ 5e-6 of the frame's std for the shipped models, see docs/restore.md),
*before* its last steps — the removal of the network's fixed pattern on its pixel grid
(:mod:`~emrestore.restoration.grid_pattern`) and the cap on its spectral gain
(:mod:`~emrestore.restoration.spectral_guard`), which need the whole restored frame at once and
are not done here (the pattern's amplitude is ~0.3 % of the frame's std, the capped frequencies
change a real frame by 55–80 dB as a PSNR; :meth:`Restorer.whole_frame_steps` applies both to a
computed result that fits in memory) — because every other rule of the whole-frame path is kept:

* **Whole-frame statistics.** The network gets each frame normalised by the mean and std of
  the *whole* frame (after clipping to the frame's ``input_clip_percent`` percentiles for the
  TEM models), never of a block. :func:`frame_statistics` computes them lazily first, in
  passes over the blocks: the percentiles *exactly* (a two-pass radix selection over the
  float32 bit patterns, then numpy's linear interpolation, so the clip limits are the very
  numbers :func:`numpy.percentile` gives), then the float64 mean and the two-pass std as
  numpy does (equal up to the order of the float64 additions).
* **Same padding and grid.** The frame is mirror-padded at the bottom/right to the model's
  size multiple as in :func:`~emrestore.restoration.tiling.pad_to_multiple`, and every block
  starts and ends on that grid, so blocks see the pixels a whole-frame pass would.
* **Enough context.** Each block is restored with a halo of :func:`block_depth` px (the
  model's receptive field ``receptive_field_px`` plus 8 px, half its tile overlap) from its
  neighbours and cropped back, so every kept pixel had the context it would have had in the
  whole frame.

Memory: one block with its halo (and the tiles the network runs on it) per running task;
the frame itself is never held. The statistics passes need 65,536 counts per pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import NotAnImageError, ParameterError
from .tiling import pad_to_multiple, restore_tiled

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

    from .engine import Restorer

#: Bins of one radix-selection pass (16 of the 32 bits of a float32 key).
_BINS = 1 << 16
#: Block edge [px] used when the input's own chunks are smaller than useful (each block
#: pays a halo of the receptive field on every side).
MIN_USEFUL_CHUNK = 256


# --------------------------------------------------------------------------- statistics
def _keys(values: np.ndarray) -> np.ndarray:
    """uint32 keys whose unsigned order is the float32 order of ``values``."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).ravel()
    negative = (bits & np.uint32(0x80000000)) != 0
    return np.where(negative, ~bits, bits | np.uint32(0x80000000))


def _from_key(key: int) -> np.float32:
    """The float32 whose :func:`_keys` is ``key``."""
    key = int(key)
    bits = key & 0x7FFFFFFF if key & 0x80000000 else (~key) & 0xFFFFFFFF
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def _high_histogram(block: np.ndarray) -> np.ndarray:
    counts = np.bincount(_keys(block) >> np.uint32(16), minlength=_BINS)
    return counts.astype(np.int64)[None, None, :]


def _low_histograms(block: np.ndarray, buckets: tuple[int, ...]) -> np.ndarray:
    keys = _keys(block)
    high = keys >> np.uint32(16)
    out = np.zeros((1, 1, len(buckets), _BINS), dtype=np.int64)
    for i, bucket in enumerate(buckets):
        low = keys[high == np.uint32(bucket)] & np.uint32(0xFFFF)
        out[0, 0, i] = np.bincount(low, minlength=_BINS)
    return out


def order_statistics(frame: da.Array, ranks: list[int]) -> list[np.float32]:
    """Exact order statistics (0-based ``ranks`` in sorted order) of a lazy 2-D frame.

    Two passes over the blocks, each summing 65,536-bin histograms of half the bits of an
    order-preserving uint32 key of the float32 values: the first finds the bucket of each
    rank, the second the exact value inside it. Memory does not grow with the frame.

    Parameters
    ----------
    frame : dask.array.Array
        (H, W) frame, any real dtype (taken as float32, as the restorer does).
    ranks : list of int
        Positions in the sorted frame, 0 ≤ rank < H · W.

    Returns
    -------
    list of numpy.float32
        The values at ``ranks``, as ``numpy.sort(frame.ravel())[ranks]`` would give.
    """
    nb0, nb1 = frame.numblocks
    first = frame.map_blocks(_high_histogram, dtype=np.int64, new_axis=2,
                             chunks=((1,) * nb0, (1,) * nb1, (_BINS,)))
    counts = np.asarray(first.sum(axis=(0, 1)).compute())
    cumulative = np.cumsum(counts)
    buckets = [int(np.searchsorted(cumulative, rank, side="right")) for rank in ranks]
    wanted = tuple(sorted(set(buckets)))
    second = frame.map_blocks(_low_histograms, wanted, dtype=np.int64, new_axis=(2, 3),
                              chunks=((1,) * nb0, (1,) * nb1, (len(wanted),), (_BINS,)))
    low_counts = np.asarray(second.sum(axis=(0, 1)).compute())
    values = []
    for rank, bucket in zip(ranks, buckets):
        before = int(cumulative[bucket - 1]) if bucket > 0 else 0
        inside = np.cumsum(low_counts[wanted.index(bucket)])
        low = int(np.searchsorted(inside, rank - before, side="right"))
        values.append(_from_key((bucket << 16) | low))
    return values


def percentiles(frame: da.Array, percents: list[float]) -> list[float]:
    """``numpy.percentile(frame, percents)`` (linear interpolation) of a lazy 2-D frame, exactly.

    The order statistics come from :func:`order_statistics`; the interpolation between them
    is numpy's own (float64 weights, ``b - (b - a)(1 - t)`` for t ≥ 0.5).
    """
    count = int(np.prod(frame.shape))
    virtual = (count - 1) * np.true_divide(np.asarray(percents, dtype=np.float64), 100)
    below = np.floor(virtual).astype(np.int64)
    above = np.minimum(below + 1, count - 1)
    gamma = virtual - below
    needed = sorted(set(below.tolist()) | set(above.tolist()))
    found = dict(zip(needed, order_statistics(frame, needed)))
    out = []
    for lo, hi, t in zip(below.tolist(), above.tolist(), gamma.tolist()):
        a, b = np.float32(found[lo]), np.float32(found[hi])
        diff = b - a  # float32, as numpy's _lerp
        t64 = np.float64(t)
        out.append(float(b - diff * (1 - t64)) if t >= 0.5 else float(a + diff * t64))
    return out


def frame_statistics(restorer: Restorer, frame: da.Array
                     ) -> tuple[float | None, float | None, float, float, float | None]:
    """What :meth:`Restorer.normalisation` computes for a whole frame, from a lazy frame.

    Parameters
    ----------
    restorer : Restorer
        Its ``clip_percent`` (the model card's ``input_clip_percent``) says whether and where
        the frame is clipped first.
    frame : dask.array.Array
        (H, W) frame in any units.

    Returns
    -------
    (low, high, mean, std, level)
        Clip limits (None, None without clipping), and the mean and std of the clipped
        frame [input units], std at least :data:`~emrestore.model.conditioning.STD_EPS`;
        ``level``: the noise level of a noise-conditioned model (read on the frame's central
        region, :func:`~emrestore.model.conditioning.noise_level`), else None.
    """
    from ..model.conditioning import STD_EPS

    frame = frame.astype(np.float32)
    low = high = None
    percent = restorer.clip_percent
    if percent:
        low, high = percentiles(frame, [percent, 100.0 - percent])
        frame = frame.clip(np.float32(low), np.float32(high))
    count = int(np.prod(frame.shape))
    mean = float(frame.sum(dtype=np.float64).compute()) / count
    variance = float(((frame.astype(np.float64) - mean) ** 2).sum().compute()) / count
    level = None
    if restorer.takes_stats and restorer.stats_width == 3:
        from ..model.conditioning import NOISE_LEVEL_CROP_PX

        h, w = frame.shape
        ch, cw = min(h, NOISE_LEVEL_CROP_PX), min(w, NOISE_LEVEL_CROP_PX)
        central = np.asarray(frame[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw].compute())
        level = restorer.frame_level(central)
    return low, high, mean, max(float(np.sqrt(variance)), STD_EPS), level


# --------------------------------------------------------------------------- restoration
def block_depth(restorer: Restorer) -> int:
    """Halo [px] each block borrows from its neighbours: half the model's own tile overlap.

    :attr:`Restorer.needed_overlap` / 2 = the receptive field (``receptive_field_px``) plus
    half the 16-px blend, rounded up to the model's size multiple (72 px for the shipped STEM
    models, 52-56 px for TEM); 32 px for a model whose field is unknown. It does not follow an
    explicit ``overlap``. With the bare receptive field the kept pixels at a block edge
    differ from a whole-frame pass by up to the card's tolerance (2.5e-4 of the std; 5.7e-6
    measured for hrtem); the 8 px more bring that below 1e-6.
    """
    multiple = restorer.info.size_multiple
    half = -(-int(restorer.needed_overlap) // 2)
    return max(multiple, -(-half // multiple) * multiple)


def _axis_chunks(length: int, preferred: int, depth: int, multiple: int) -> tuple[int, ...]:
    """Block sizes along one padded axis: multiples of ``multiple``, none smaller than the halo."""
    size = max(-(-preferred // multiple) * multiple, -(-depth // multiple) * multiple, 4 * multiple)
    if size >= length:
        return (length,)
    chunks = [size] * (length // size)
    rest = length - sum(chunks)
    if rest:
        if rest < max(depth, 4 * multiple):
            chunks[-1] += rest
        else:
            chunks.append(rest)
    return tuple(chunks)


def _restore_block(block: np.ndarray, restorer: Restorer, low: float | None, high: float | None,
                   mean: float, std: float, level: float | None = None) -> np.ndarray:
    """Restore one block (with its halo) as :meth:`Restorer.restore_array` would, but with the
    whole frame's clip limits and statistics."""
    data = np.asarray(block, dtype=np.float32)
    if low is not None:
        data = np.clip(data, np.float32(low), np.float32(high))
    multiple = restorer.info.size_multiple
    _, _, grid = restorer._plan(*data.shape)
    padded, (height, width) = pad_to_multiple(data, multiple, minimum=4 * multiple)
    out = restore_tiled(padded, restorer.predictor(mean, std, level), grid, restorer.batch_size)
    return np.ascontiguousarray(out[:height, :width])


def _restore_frame(restorer: Restorer, frame: da.Array, chunk: tuple[int, int]) -> da.Array:
    import dask.array as da

    low, high, mean, std, level = frame_statistics(restorer, frame)
    height, width = frame.shape
    multiple = restorer.info.size_multiple
    depth = block_depth(restorer)
    target_h = max(-(-height // multiple) * multiple, 4 * multiple)
    target_w = max(-(-width // multiple) * multiple, 4 * multiple)
    work = frame.astype(np.float32)
    if (target_h, target_w) != (height, width):
        work = da.pad(work, ((0, target_h - height), (0, target_w - width)), mode="symmetric")
    work = work.rechunk((_axis_chunks(target_h, chunk[0], depth, multiple),
                         _axis_chunks(target_w, chunk[1], depth, multiple)))
    depths = {0: depth if work.numblocks[0] > 1 else 0, 1: depth if work.numblocks[1] > 1 else 0}
    restored = da.map_overlap(_restore_block, work, depth=depths, boundary="none", trim=True,
                              dtype=np.float32, meta=np.empty((0, 0), np.float32),
                              restorer=restorer, low=low, high=high, mean=mean, std=std, level=level)
    return restored[:height, :width]


def restore_dask_array(restorer: Restorer, data: da.Array, *, chunk: int | None = None) -> da.Array:
    """Restore a lazy (H, W) frame or (N, H, W) series block by block.

    Parameters
    ----------
    restorer : Restorer
        The loaded model and its tiling (:func:`~emrestore.restoration.load_model`).
    data : dask.array.Array
        (H, W) or (N, H, W), any real dtype, in any units; each frame is restored on its own,
        normalised with its *whole* frame's statistics (:func:`frame_statistics`).
    chunk : int, optional
        Block edge [px] to restore with (rounded up to the model's size multiple). Default:
        the input's own chunks, or :data:`MIN_USEFUL_CHUNK` where they are smaller.

    Returns
    -------
    dask.array.Array
        float32, the shape and chunks of ``data``, in the input's units. Lazy: the network
        runs when it is computed (or stored block by block, e.g. ``to_zarr`` or
        :func:`~emrestore.restoration.lazy_files.write_tiled_tiff`). The statistics passes
        over ``data`` run now.

    Raises
    ------
    NotAnImageError
        If ``data`` is not 2-D or 3-D, or is empty.
    ParameterError
        If ``data`` is not a Dask array, or ``chunk`` is not positive.

    Notes
    -----
    Blocks are restored with a halo of :func:`block_depth` px from their neighbours; the
    work is about ``((chunk + 2 · depth) / chunk)²`` times a whole-frame pass (1.30× for
    1024-px blocks and the 72-px halo of the shipped STEM models).

    Examples
    --------
    >>> from emrestore.restoration import load_model
    >>> from emrestore.restoration.lazy_files import lazy_npy
    >>> frame = lazy_npy("big.npy", chunk=1024)    # memory-mapped, read block by block  # doctest: +SKIP
    >>> restored = restore_dask_array(load_model("hrstem"), frame)              # doctest: +SKIP
    >>> restored.to_zarr("big_restored.zarr")                                   # doctest: +SKIP
    """
    import dask.array as da

    if not isinstance(data, da.Array):
        raise ParameterError(f"restore_dask_array needs a dask.array.Array, got {type(data).__name__}.",
                             "Wrap it first: dask.array.from_array(x, chunks=1024).")
    if data.ndim not in (2, 3) or 0 in data.shape:
        raise NotAnImageError(
            f"Cannot restore data of shape {data.shape}: an image is (H, W) or a series (N, H, W).",
            "Pass a 2-D image or a stack of 2-D images.")
    if chunk is not None and int(chunk) <= 0:
        raise ParameterError(f"chunk must be a positive number of pixels (got {chunk}).",
                             "Use e.g. chunk=1024, or leave it unset to use the array's own chunks.")

    def preferred(axis: int) -> int:
        if chunk is not None:
            return int(chunk)
        return max(int(data.chunks[axis][0]), MIN_USEFUL_CHUNK)

    size = (preferred(data.ndim - 2), preferred(data.ndim - 1))
    if data.ndim == 2:
        out = _restore_frame(restorer, data, size)
    else:
        out = da.stack([_restore_frame(restorer, data[i], size) for i in range(data.shape[0])])
    return out.rechunk(data.chunks)


__all__ = ["block_depth", "frame_statistics", "order_statistics", "percentiles", "restore_dask_array"]

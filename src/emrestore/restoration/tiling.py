"""Overlapping tiles with smooth blending, so an image of any size restores in bounded memory.

An image is padded to a size the network accepts, cut into overlapping square tiles,
restored tile by tile (in batches), and put back together with a separable window that
falls smoothly to (almost) zero across each overlap. Each output pixel is the
window-weighted mean of the tiles that cover it, so no seam appears where tiles meet.

How much overlap is enough follows from the network's receptive field: a tile's output
within ``context`` px of an interior edge differs from the whole-frame output, so those
pixels get (almost) no weight — the window's *margin* — and the neighbour must cover them
with its own full context. Two margins plus a short blend make the overlap:
:func:`needed_overlap` = 2 · context + :data:`BLEND_PX`, on the network's grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError


def pad_to_multiple(image: np.ndarray, multiple: int, minimum: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Mirror-pad a (H, W) image at the bottom/right to a multiple of ``multiple``.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) image.
    multiple : int
        Both output sides are multiples of this [px].
    minimum : int
        Both output sides are at least this [px] (for networks with a minimum input).

    Returns
    -------
    (numpy.ndarray, (int, int))
        The padded image and the original (H, W) to crop back to.
    """
    height, width = image.shape
    target_h = max(-(-height // multiple) * multiple, -(-minimum // multiple) * multiple)
    target_w = max(-(-width // multiple) * multiple, -(-minimum // multiple) * multiple)
    if (target_h, target_w) == (height, width):
        return image, (height, width)
    padded = np.pad(image, ((0, target_h - height), (0, target_w - width)), mode="symmetric")
    return padded, (height, width)


def axis_tiles(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """Tile size and start offsets along one axis of ``length`` px.

    The fewest tiles of at most ``tile`` px that overlap by at least ``overlap`` px are
    used, shrunk to the smallest size that still covers the axis, and spread evenly from
    0 to ``length - size``. This wastes far less work than fixed-size tiles with the last
    one shifted back (a 1024-px axis takes 3 tiles of 384 px instead of 3 of 512 px).
    Sizes *and starts* are multiples of ``multiple``: a network that works at 1/2 or 1/4
    resolution is only shift-equivariant by multiples of its factor, so tiles must sit on
    the same grid as a whole-image pass to agree with it.

    Parameters
    ----------
    length : int
        Axis length [px], a multiple of ``multiple`` (the image is padded first).
    tile : int
        Largest tile size [px], a multiple of ``multiple``.
    overlap : int
        Smallest overlap between neighbouring tiles [px].
    multiple : int
        Grid the network needs [px].

    Returns
    -------
    (int, list of int)
        The tile size [px] and the start offsets [px].
    """
    if tile >= length:
        return length, [0]
    count = -(-(length - overlap) // (tile - overlap))
    while True:
        size = -(-(length + (count - 1) * overlap) // count)
        size = min(-(-size // multiple) * multiple, length)
        while size <= tile:
            exact = np.linspace(0, length - size, count) if count > 1 else np.zeros(1)
            starts = (np.rint(exact / multiple).astype(int) * multiple).tolist()
            if all(a + size - b >= overlap for a, b in zip(starts, starts[1:])):
                return size, starts
            size += multiple
        count += 1


#: Width [px] of the raised-cosine hand-over between two tiles, beyond both margins. The
#: margins already make each tile agree with the whole frame; the blend only smooths what
#: is left (≤ the receptive-field tolerance), so it can be short.
BLEND_PX = 16


def needed_overlap(context: int, multiple: int = 1) -> int:
    """Overlap [px] that gives every blended pixel ``context`` px of context in its tiles.

    Each tile ignores a margin of ``context`` px at an interior edge and the neighbour
    takes over across :data:`BLEND_PX` px: 2 · context + BLEND_PX, rounded up to
    ``multiple`` (tile positions sit on the network's grid).
    """
    return -(-(2 * int(context) + BLEND_PX) // multiple) * multiple


def window_margin(overlap: int, context: int | None) -> int:
    """Margin [px] of the blending window for ``overlap`` and a network needing ``context`` px.

    ``context`` if the overlap has room for two margins and the blend; otherwise as large
    as a blend of ``min(BLEND_PX, overlap)`` px leaves room for. Without a known context
    (``None``), a quarter of the overlap (the window used before models recorded one).
    """
    if context is None:
        return overlap // 4
    blend = min(BLEND_PX, overlap)
    return max(0, min(int(context), (overlap - blend) // 2))


def min_tile(overlap: int, multiple: int = 1) -> int:
    """Smallest tile edge [px] that can hold two overlaps: more than 2 · ``overlap``, on the grid.

    At this size a tile contributes only a few pixels of its own beyond the overlaps; tiles
    of 3–4 overlaps or more are where tiling stays cheap (see docs/restore.md).
    """
    return (2 * int(overlap) // multiple + 1) * multiple


def ramp_1d(length: int, overlap: int, *, start_ramp: bool = True, end_ramp: bool = True,
            margin: int | None = None) -> np.ndarray:
    """1-D blending weights for a tile edge of ``length`` px overlapping ``overlap`` px.

    Over the overlap, the outer ``margin`` px are (almost) ignored — a network's output
    near a tile's edge is spoiled by the missing context — then a raised cosine rises to 1
    across the remaining ``overlap − 2 · margin`` px, which the neighbour's margin leaves
    to this tile. The ramps of two neighbouring tiles mirror each other, so their weights
    add to 1 and every pixel gets the output of tiles that saw at least ``margin`` px of
    context. An edge that lies on the image border gets no ramp
    (``start_ramp``/``end_ramp`` False): there the tile is the only one with full
    context. Weights never reach zero (minimum 1e-8).

    Parameters
    ----------
    length : int
        Tile edge [px].
    overlap : int
        Overlap with each neighbour [px].
    start_ramp, end_ramp : bool
        Ramp the first / last ``overlap`` px.
    margin : int, optional
        Ignored band at each ramped edge [px], at most ``overlap // 2``; default
        ``overlap // 4`` (see :func:`window_margin`).
    """
    weights = np.ones(length, dtype=np.float64)
    if overlap > 0:
        margin = overlap // 4 if margin is None else min(max(int(margin), 0), overlap // 2)
        d = np.arange(overlap, dtype=np.float64)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip((d - margin + 0.5) / max(overlap - 2 * margin, 1), 0, 1))
        if start_ramp:
            weights[:overlap] = ramp
        if end_ramp:
            weights[-overlap:] = np.minimum(weights[-overlap:], ramp[::-1])
    return np.maximum(weights, 1e-8).astype(np.float32)


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one padded image lie (see :func:`axis_tiles`).

    Parameters
    ----------
    height, width : int
        Padded image size [px].
    tile : int
        Largest tile edge [px].
    overlap : int
        Smallest overlap between neighbouring tiles [px].
    multiple : int
        Tile sides are multiples of this [px] (what the network needs).
    margin : int, optional
        Band [px] at each interior tile edge that gets (almost) no weight (see
        :func:`ramp_1d`); default a quarter of the overlap.
    """

    height: int
    width: int
    tile: int
    overlap: int
    multiple: int = 1
    margin: int | None = None

    @property
    def rows(self) -> tuple[int, list[int]]:
        return axis_tiles(self.height, self.tile, self.overlap, self.multiple)

    @property
    def cols(self) -> tuple[int, list[int]]:
        return axis_tiles(self.width, self.tile, self.overlap, self.multiple)

    @property
    def tile_h(self) -> int:
        return self.rows[0]

    @property
    def tile_w(self) -> int:
        return self.cols[0]

    def positions(self) -> list[tuple[int, int]]:
        """(row, column) of every tile's top-left corner."""
        return [(r, c) for r in self.rows[1] for c in self.cols[1]]

    def window(self, row: int, col: int) -> np.ndarray:
        """Blending weights (tile_h, tile_w) for the tile whose corner is at (row, col)."""
        wy = ramp_1d(self.tile_h, self.overlap, start_ramp=row > 0,
                     end_ramp=row + self.tile_h < self.height, margin=self.margin)
        wx = ramp_1d(self.tile_w, self.overlap, start_ramp=col > 0,
                     end_ramp=col + self.tile_w < self.width, margin=self.margin)
        return np.outer(wy, wx)


def make_grid(height: int, width: int, tile: int, overlap: int, multiple: int,
              margin: int | None = None) -> TileGrid:
    """Validate tiling parameters and build the grid for a padded (height, width) image."""
    if tile < multiple or tile % multiple:
        raise ParameterError(
            f"Tile size {tile} px is not a positive multiple of {multiple} px, which this model needs.",
            f"Use a tile size such as {max(multiple, (tile // multiple) * multiple or multiple)}.",
        )
    if overlap < 0 or overlap >= tile // 2 and tile < max(height, width):
        raise ParameterError(
            f"Overlap {overlap} px must be ≥ 0 and less than half the tile ({tile} px).",
            "Use a smaller overlap or a larger tile.",
        )
    return TileGrid(height=height, width=width, tile=tile, overlap=overlap, multiple=multiple, margin=margin)


def iterate_batches(positions: list[tuple[int, int]], batch_size: int) -> Iterator[list[tuple[int, int]]]:
    """Split tile positions into batches of at most ``batch_size``."""
    for start in range(0, len(positions), batch_size):
        yield positions[start : start + batch_size]


def restore_tiled(
    image: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    grid: TileGrid,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Restore a padded (H, W) image tile by tile and blend the tiles.

    Parameters
    ----------
    image : numpy.ndarray
        Padded (H, W) float32 image, already in the network's input units.
    predict : callable
        Maps a (B, 1, h, w) float32 batch to a (B, 1, h, w) batch.
    grid : TileGrid
        Tile layout for ``image``.
    batch_size : int
        Tiles per call of ``predict``.
    on_batch : callable, optional
        Called with the number of tiles done after each batch (progress).

    Returns
    -------
    numpy.ndarray
        (H, W) float32 restored image.
    """
    height, width = image.shape
    out = np.zeros((height, width), dtype=np.float32)
    weight = np.zeros((height, width), dtype=np.float32)
    th, tw = grid.tile_h, grid.tile_w
    positions = grid.positions()
    for batch_positions in iterate_batches(positions, batch_size):
        batch = np.stack([image[r : r + th, c : c + tw] for r, c in batch_positions])[:, None]
        result = predict(np.ascontiguousarray(batch, dtype=np.float32))
        for (r, c), tile in zip(batch_positions, result[:, 0]):
            window = grid.window(r, c)
            out[r : r + th, c : c + tw] += tile * window
            weight[r : r + th, c : c + tw] += window
        if on_batch is not None:
            on_batch(len(batch_positions))
    out /= weight
    return out

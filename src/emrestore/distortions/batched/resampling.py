"""Resampling numerics of the batched scan: a batch of images sampled at displaced probe positions.

The torch counterpart of :mod:`emrestore.distortions.resampling`, sample for sample the
same numerics: separable Catmull-Rom sampling (the kernel is
:func:`~emrestore.distortions.resampling.cubic_weights` itself, applied to tensors), a
vertical pass at each pixel's ``y``, then a horizontal pass at the ``K`` positions of the
dwell, averaged; borders reflected (``d c b a | a b c d``). The numpy sampler pads each
image by ``ceil(reach) + 3`` px (``reach``: its largest displacement) and, in the
horizontal pass, reads columns left and right of the image with the ``y`` of the edge
column; here the reflection is index arithmetic and the padding of every sample is its
own ``ceil(reach) + 3``, so the fractional positions, and hence the values, are those of
the numpy sampler for that image. Every sample averages its own number of dwell samples
``K_b`` (:func:`~emrestore.distortions.resampling.dwell_samples` of its own travel).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...errors import ParameterError
from ..resampling import cubic_weights

__all__ = ["ProbePath", "reflect_index", "sample_separable"]


def reflect_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices into ``[0, size)`` of the symmetric extension ``d c b a | a b c d`` of an axis.

    Any distance from the axis: the extension is even and periodic (period ``2·size``),
    as :func:`numpy.pad` with ``mode="symmetric"`` makes it.

    Examples
    --------
    >>> reflect_index(torch.arange(-3, 7), 4).tolist()
    [2, 1, 0, 0, 1, 2, 3, 3, 2, 1]
    """
    period = 2 * size
    folded = torch.remainder(index, period)
    return torch.where(folded < size, folded, period - 1 - folded)


class ProbePath:
    """The column positions [px] of the probe during each dwell of a batch, made on demand.

    Sample ``b`` has ``K_b = counts[b]`` positions: ``x_k = start + travel·(k + ½)/K_b``
    (the :class:`~emrestore.distortions.resampling.DwellPath` of that image) when
    ``K_b > 1``, else the one position ``still``. A sequence of length ``max(counts)``;
    entry ``k`` is (B, H, W), meaningful for the samples with ``k < K_b``.

    Parameters
    ----------
    still : torch.Tensor
        Column position of a probe at rest during the dwell [px], (B, H, W).
    start : torch.Tensor
        Column position at the start of each dwell [px], (B, H, W).
    travel : torch.Tensor
        Column distance moved during each dwell [px], (B, H, W).
    counts : sequence of int
        Number of positions ``K_b`` of every sample (≥ 1).
    """

    def __init__(self, still: torch.Tensor, start: torch.Tensor, travel: torch.Tensor,
                 counts: Sequence[int]) -> None:
        if len(counts) != still.shape[0] or min(counts, default=1) < 1:
            raise ParameterError(f"ProbePath needs one count ≥ 1 per sample, got {list(counts)} for "
                                 f"{still.shape[0]} samples.", "Pass the K of every sample.")
        self.still, self.start, self.travel = still, start, travel
        self.counts = [int(k) for k in counts]
        self._moving = torch.tensor([k > 1 for k in self.counts], device=still.device)[:, None, None]

    def __len__(self) -> int:
        return max(self.counts)

    def _at(self, fractions: list[float]) -> torch.Tensor:
        # float32((k + ½)/K) of every sample, as DwellPath rounds it
        scale = torch.tensor(fractions, dtype=torch.float32, device=self.still.device)[:, None, None]
        moving = self.travel * scale
        moving += self.start
        return torch.where(self._moving, moving, self.still)

    def __getitem__(self, k: int) -> torch.Tensor:
        if not 0 <= k < len(self):
            raise IndexError(k)
        return self._at([(k + 0.5) / n for n in self.counts])

    def last(self) -> torch.Tensor:
        """Every sample's last position ``x_{K_b − 1}`` (B, H, W)."""
        return self._at([(n - 0.5) / n for n in self.counts])


def _positions(x: torch.Tensor | ProbePath, counts: Sequence[int] | None
               ) -> tuple[Sequence[torch.Tensor] | ProbePath, list[int], torch.Tensor]:
    """``(sequence of K positions, K_b of every sample, last position of every sample)``."""
    if isinstance(x, ProbePath):
        return x, x.counts, x.last()
    if x.ndim != 4:
        raise ParameterError(f"sample_separable needs x of shape (K, B, H, W), got {tuple(x.shape)}.",
                             "Stack the K sample positions of the batch on a first axis.")
    counts = [int(x.shape[0])] * int(x.shape[1]) if counts is None else [int(k) for k in counts]
    if len(counts) != x.shape[1] or not all(1 <= k <= x.shape[0] for k in counts):
        raise ParameterError(f"counts {counts} do not fit x of shape {tuple(x.shape)}.",
                             "Give every sample a count between 1 and K.")
    index = torch.tensor(counts, device=x.device) - 1
    last = x[index, torch.arange(x.shape[1], device=x.device)]
    return x, counts, last


def _vertical_pass(image: torch.Tensor, y: torch.Tensor, pad: torch.Tensor, margin: int) -> torch.Tensor:
    """Cubic vertical pass on the columns ``−margin … W + margin − 1``: (B, H, W + 2·margin).

    Column ``c`` samples image column ``reflect(c)`` at the ``y`` of the nearest image
    column; ``pad`` (B,) is every sample's numpy padding (the fractional parts are taken
    of ``y + pad``, as numpy does).
    """
    batch, height, width = image.shape
    device = image.device
    columns = torch.arange(-margin, width + margin, device=device)
    y_ext = y[:, :, columns.clamp(0, width - 1)] + pad.to(torch.float32)[:, None, None]
    y0 = torch.floor(y_ext)
    weights = cubic_weights(y_ext - y0)
    # numpy clips the first-but-one tap to [1, H + 2·pad − 3] of its padded image (never
    # reached for finite positions); then the first tap, in image rows
    y0 = torch.maximum(y0, torch.ones_like(y0))
    y0 = torch.minimum(y0, (height + 2 * pad - 3).to(torch.float32)[:, None, None])
    first = y0.to(torch.long) - 1 - pad[:, None, None]
    source_columns = reflect_index(columns, width)[None, None, :]
    flat = image.reshape(batch, -1)
    rows = None
    for tap in range(4):
        index = reflect_index(first + tap, height) * width + source_columns
        gathered = torch.gather(flat, 1, index.reshape(batch, -1)).reshape(index.shape)
        gathered *= weights[tap]
        rows = gathered if rows is None else rows.add_(gathered)
    assert rows is not None
    return rows


def sample_separable(image: torch.Tensor, y: torch.Tensor, x: torch.Tensor | ProbePath,
                     counts: Sequence[int] | None = None) -> torch.Tensor:
    """Cubic sampling of a batch: vertical pass at ``y``, horizontal at the ``K_b`` positions ``x``.

    Sample ``b`` gets what :func:`emrestore.distortions.resampling.sample_separable` gives
    its image, ``y[b]`` and its ``K_b`` positions.

    Parameters
    ----------
    image : torch.Tensor
        float32 (B, H, W).
    y : torch.Tensor
        Row coordinate of each pixel [px], (B, H, W).
    x : torch.Tensor or ProbePath
        Column coordinates of the samples of each pixel [px]: (K, B, H, W), or a
        :class:`ProbePath`.
    counts : sequence of int, optional
        Number of positions ``K_b ≤ K`` of every sample (default all ``K``; a
        :class:`ProbePath` has its own).

    Returns
    -------
    torch.Tensor
        float32 (B, H, W).
    """
    if image.ndim != 3 or y.shape != image.shape:
        raise ParameterError(f"sample_separable needs image and y of one shape (B, H, W), got "
                             f"{tuple(image.shape)} and {tuple(y.shape)}.", "Pass (B, H, W) tensors.")
    positions, counts, last = _positions(x, counts)
    batch, height, width = image.shape
    device = image.device
    nominal_rows = torch.arange(height, dtype=torch.float32, device=device)[:, None]
    nominal_cols = torch.arange(width, dtype=torch.float32, device=device)
    first = positions[0]
    reach = torch.stack([(y - nominal_rows).abs().amax(dim=(1, 2)),
                         (first - nominal_cols).abs().amax(dim=(1, 2)),
                         (last - nominal_cols).abs().amax(dim=(1, 2))]).amax(dim=0)
    pad = torch.ceil(reach).to(torch.long) + 3  # numpy's padding of every image
    margin = int(pad.max().item())
    rows = _vertical_pass(image, y, pad, margin).reshape(batch, -1)

    stride = width + 2 * margin  # row length of the vertical pass
    row_offset = (torch.arange(height, device=device) * stride)[None, :, None]
    pad_f = pad.to(torch.float32)[:, None, None]
    upper = (width + 2 * pad - 3).to(torch.float32)[:, None, None]
    shift = (margin - pad)[:, None, None] - 1  # numpy padded column → column of `rows`, first tap
    total = torch.zeros_like(image)
    for k in range(len(positions)):  # ≤ 4 samples
        x_pad = (first if k == 0 else positions[k]) + pad_f
        x0 = torch.floor(x_pad)
        weights = cubic_weights(x_pad - x0)
        x0 = torch.minimum(torch.maximum(x0, torch.ones_like(x0)), upper)
        start = x0.to(torch.long) + shift + row_offset
        taking_part = None
        if k >= min(counts):
            taking_part = torch.tensor([k < n for n in counts], device=device)[:, None, None]
        for tap in range(4):
            gathered = torch.gather(rows, 1, (start + tap).reshape(batch, -1)).reshape(image.shape)
            gathered *= weights[tap]
            if taking_part is not None:
                gathered = torch.where(taking_part, gathered, torch.zeros_like(gathered))
            total += gathered
    if max(counts) > 1:
        scale = [1.0 / n if n > 1 else 1.0 for n in counts]  # numpy: float32(1 / K) when K > 1
        total *= torch.tensor(scale, dtype=torch.float32, device=device)[:, None, None]
    return total

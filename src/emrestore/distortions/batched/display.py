"""Batched display stage (:class:`~emrestore.distortions.display.Display`), JPEG in torch.

The stretch limits are the per-sample percentiles of the same subsampled pixels as
:meth:`Display.limits`, computed as :func:`numpy.percentile` does (linear method, the
same float32/float64 steps), so the intensity mapping agrees with numpy to float
rounding. JPEG compression (:func:`jpeg_roundtrip`) is the baseline greyscale JPEG
transform in floating point: edge-replicated padding to whole 8×8 blocks, the level
shift by 128, the orthonormal 8×8 DCT, quantisation by the IJG luminance table scaled
as libjpeg scales it (:func:`jpeg_luminance_table`), rounding half away from zero,
dequantisation, the inverse DCT and rounding/clipping to 0…255. libjpeg (behind PIL,
the numpy path) computes the DCTs in fixed point, so the two differ by a grey level
on a small fraction of the pixels (the tests measure it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

from ...errors import ParameterError
from ..display import Display
from .core import BatchState, implements

__all__ = ["IJG_LUMINANCE_TABLE", "display_limits", "jpeg_luminance_table", "jpeg_roundtrip"]

#: Block side of the JPEG transform [px].
BLOCK = 8

#: The IJG/ITU-T T.81 (Annex K, table K.1) luminance quantisation table at quality 50.
IJG_LUMINANCE_TABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
], dtype=np.int64)


def jpeg_luminance_table(quality: int) -> np.ndarray:
    """The luminance quantisation table libjpeg uses at ``quality`` (baseline).

    libjpeg's scaling: factor ``5000/q`` below quality 50, else ``200 − 2q`` [%]; each
    entry ``(T·factor + 50) // 100``, clamped to 1…255.

    Parameters
    ----------
    quality : int
        JPEG quality, 1…100.

    Returns
    -------
    numpy.ndarray
        (8, 8) int64 table in natural (row-major) order.
    """
    if not 1 <= int(quality) <= 100:
        raise ParameterError(f"JPEG quality must be in 1…100, got {quality!r}.",
                             "Give e.g. quality=75.")
    quality = int(quality)
    factor = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((IJG_LUMINANCE_TABLE * factor + 50) // 100, 1, 255)


@functools.cache
def _dct_matrix() -> np.ndarray:
    """Orthonormal 8-point DCT-II matrix ``D[u, x]`` (the JPEG DCT is ``D·X·Dᵀ``)."""
    u = np.arange(BLOCK)[:, None]
    x = np.arange(BLOCK)[None, :]
    scale = np.where(u == 0, math.sqrt(1.0 / BLOCK), math.sqrt(2.0 / BLOCK))
    return scale * np.cos((2 * x + 1) * u * math.pi / (2 * BLOCK))


def jpeg_roundtrip(images: torch.Tensor, quality: Sequence[int]) -> torch.Tensor:
    """Compress and decompress 8-bit greyscale images as baseline JPEG does.

    Parameters
    ----------
    images : torch.Tensor
        (N, H, W) grey levels 0…255 (integer valued), any float dtype.
    quality : sequence of int
        JPEG quality 1…100 of every image.

    Returns
    -------
    torch.Tensor
        (N, H, W) float32 decoded grey levels (integers 0…255).
    """
    count, height, width = (int(n) for n in images.shape)
    if len(quality) != count:
        raise ParameterError(f"{len(quality)} JPEG qualities for {count} images.",
                             "Give one quality per image.")
    device = images.device
    tall, wide = -(-height // BLOCK) * BLOCK, -(-width // BLOCK) * BLOCK
    x = images.to(torch.float32)
    if (tall, wide) != (height, width):  # libjpeg replicates the last row and column
        x = torch.nn.functional.pad(x[:, None], (0, wide - width, 0, tall - height),
                                    mode="replicate")[:, 0]
    # float64 transforms: exact enough that only libjpeg's fixed point differs, and never
    # run in TF32 (a float32 GPU matmul may be)
    blocks = (x - 128.0).to(torch.float64)
    blocks = blocks.view(count, tall // BLOCK, BLOCK, wide // BLOCK, BLOCK).transpose(2, 3)
    dct = torch.as_tensor(_dct_matrix(), dtype=torch.float64, device=device)
    table = torch.as_tensor(np.stack([jpeg_luminance_table(q) for q in quality]),
                            dtype=torch.float64, device=device)[:, None, None]
    coefficients = dct @ blocks @ dct.T
    ratio = coefficients / table
    levels = torch.sign(ratio) * torch.floor(ratio.abs() + 0.5)  # half away from zero
    decoded = dct.T @ (levels * table) @ dct + 128.0
    decoded = torch.floor(decoded + 0.5).clamp(0.0, 255.0)
    decoded = decoded.transpose(2, 3).reshape(count, tall, wide)
    return decoded[:, :height, :width].to(torch.float32).contiguous()


def display_limits(images: torch.Tensor, low_percent: torch.Tensor,
                   high_percent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image stretch limits ``(lo, hi)`` (float64 (N,)) as :meth:`Display.limits`.

    The percentiles of the subsampled pixels ``image[::max(1, H // 128), ::max(1, W //
    128)]`` by numpy's linear method (float32 differences, float64 interpolation); where
    ``hi ≤ lo``, ``hi = lo + 1``.

    Parameters
    ----------
    images : torch.Tensor
        (N, H, W) float32.
    low_percent, high_percent : torch.Tensor
        (N,) float64 percentiles [%].
    """
    count, height, width = images.shape
    sub = images[:, :: max(1, height // 128), :: max(1, width // 128)].reshape(count, -1)
    ordered = sub.sort(dim=1).values
    size = int(ordered.shape[1])

    def percentile(percent: torch.Tensor) -> torch.Tensor:
        virtual = (size - 1) * (percent / 100.0)
        below = torch.floor(virtual)
        gamma = (virtual - below)[:, None]
        first = below.long().clamp(0, size - 1)
        last = torch.where(virtual >= size - 1, first, (first + 1).clamp(max=size - 1))
        a = ordered.gather(1, first[:, None])
        b = ordered.gather(1, last[:, None])
        diff = (b - a).to(torch.float64)
        a64, b64 = a.to(torch.float64), b.to(torch.float64)
        value = torch.where(gamma >= 0.5, b64 - diff * (1.0 - gamma), a64 + diff * gamma)
        return value[:, 0]

    lo, hi = percentile(low_percent), percentile(high_percent)
    return lo, torch.where(hi <= lo, lo + 1.0, hi)


def _map_intensity(images: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                   gamma: torch.Tensor) -> torch.Tensor:
    """``255·clip((x − lo)/(hi − lo), 0, 1)^γ`` in float32, as :meth:`Display.map_intensity`."""
    def per_image(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.float32)[:, None, None]

    scaled = ((images - per_image(lo)) / per_image(hi - lo)).clamp(0.0, 1.0)
    exponent = per_image(gamma)
    scaled = torch.where(exponent == 1.0, scaled, scaled ** exponent)
    return scaled * 255.0


@implements(Display)
def display(state: BatchState, stages: Sequence[Display]) -> None:
    """Stretch, gamma, 8 bits and JPEG where applied; the target gets the same mapping."""
    applied = [i for i, s in enumerate(stages) if s.display_applied]
    if not applied:
        return
    assert state.target is not None
    picked = [stages[i] for i in applied]
    device = state.device
    index = torch.tensor(applied, device=device)

    def values(name: str) -> torch.Tensor:
        return torch.tensor([float(getattr(s, name)) for s in picked], dtype=torch.float64,
                            device=device)

    signal = state.signal[index]
    lo, hi = display_limits(signal, values("display_low_percentile"), values("display_high_percentile"))
    gamma = values("display_gamma")
    target = _map_intensity(state.target[index], lo, hi, gamma)
    shown = torch.round(_map_intensity(signal, lo, hi, gamma))
    jpeg = [k for k, s in enumerate(picked) if s.display_jpeg_quality > 0]
    if jpeg:
        rows = torch.tensor(jpeg, device=device)
        qualities = [int(picked[k].display_jpeg_quality) for k in jpeg]
        shown = shown.index_copy(0, rows, jpeg_roundtrip(shown[rows], qualities))
    state.target = state.target.index_copy(0, index, target)
    state.signal = state.signal.index_copy(0, index, shown)

"""Simulation grids: geometry, spatial frequencies, atom splatting and resampling.

A :class:`Grid` is a square, periodic computation grid of ``n`` × ``n`` points spaced
``sampling`` [Å]; grid point ``i`` sits at ``x = (i + offset) * sampling`` in specimen
coordinates. The output image (``size`` pixels of ``pixel_A``) starts ``pad`` grid points
in, so the margin around the field of view absorbs the periodic wrap-around of the FFTs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from ..errors import ParameterError


@dataclass(frozen=True)
class Grid:
    """Computation grid tied to an output image.

    Parameters
    ----------
    n : int
        Grid points per side.
    sampling : float
        Grid spacing [Å].
    pad : int
        Grid points before the first image pixel.
    size : int
        Output image size [px].
    pixel_A : float
        Output pixel size [Å].
    ratio : int
        ``pixel_A / sampling`` when ≥ 1 (sub-sampling), else −``sampling / pixel_A``
        (Fourier up-sampling).
    """

    n: int
    sampling: float
    pad: int
    size: int
    pixel_A: float
    ratio: int

    @property
    def extent(self) -> float:
        """Side length of the (periodic) grid [Å]."""
        return self.n * self.sampling

    @property
    def margin_A(self) -> float:
        """Distance from the grid origin to the first image pixel centre [Å]."""
        return self.pad * self.sampling

    def freqs(self) -> tuple[np.ndarray, np.ndarray]:
        """Spatial frequencies ``kx, ky`` [1/Å] (broadcastable, FFT order)."""
        k = sfft.fftfreq(self.n, self.sampling)
        return k[None, :], k[:, None]

    def to_image_px(self, xy: np.ndarray) -> np.ndarray:
        """Specimen coordinates [Å] → image pixel coordinates (x, y) [px]."""
        return (np.asarray(xy) - self.margin_A) / self.pixel_A


def make_grid(size: int, pixel_A: float, max_sampling_A: float, margin_A: float) -> Grid:
    """Choose a grid with spacing ≤ ``max_sampling_A`` that maps exactly onto the image.

    Parameters
    ----------
    size : int
        Output image size [px].
    pixel_A : float
        Output pixel size [Å].
    max_sampling_A : float
        Coarsest spacing that represents the signal without aliasing [Å].
    margin_A : float
        Minimum margin around the field of view [Å].
    """
    if size < 8:
        raise ParameterError(f"Image size must be at least 8 px, got {size}.", "Pass size >= 8.")
    if not pixel_A > 0:
        raise ParameterError(f"Pixel size must be positive, got {pixel_A} Å.", "Pass a pixel size > 0.")
    if pixel_A >= max_sampling_A:
        ratio = math.ceil(pixel_A / max_sampling_A - 1e-9)
        sampling = pixel_A / ratio
        inner = size * ratio
        step = 1
    else:
        j = max(1, int(max_sampling_A / pixel_A + 1e-9))
        sampling = pixel_A * j
        inner = math.ceil(size / j)
        ratio = -j if j > 1 else 1
        step = 1
    pad = math.ceil(margin_A / sampling)
    n = sfft.next_fast_len(inner + 2 * pad + step, real=True)
    while n % 2:
        n = sfft.next_fast_len(n + 1, real=True)
    return Grid(n=n, sampling=sampling, pad=pad, size=size, pixel_A=pixel_A, ratio=ratio)


def splat(grid: Grid, xy: np.ndarray, weights: np.ndarray, channels: np.ndarray | None = None,
          n_channels: int = 1) -> np.ndarray:
    """Deposit point weights on the grid by bilinear interpolation (periodic).

    Parameters
    ----------
    xy : numpy.ndarray
        (N, 2) positions [Å].
    weights : numpy.ndarray
        (N,) weights.
    channels : numpy.ndarray, optional
        (N,) channel index of each point (e.g. species or slice).

    Returns
    -------
    numpy.ndarray
        (n_channels, n, n) float64 array. Divide its Fourier transform by
        :func:`splat_transfer` to undo the interpolation blur.
    """
    n = grid.n
    u = xy / grid.sampling
    i0 = np.floor(u).astype(np.int64)
    f = u - i0
    ix0 = i0[:, 0] % n
    iy0 = i0[:, 1] % n
    ix1 = (ix0 + 1) % n
    iy1 = (iy0 + 1) % n
    base = np.zeros(len(xy), np.int64) if channels is None else channels.astype(np.int64) * n * n
    w = np.asarray(weights, float)
    fx, fy = f[:, 0], f[:, 1]
    idx = np.concatenate([base + iy0 * n + ix0, base + iy0 * n + ix1, base + iy1 * n + ix0, base + iy1 * n + ix1])
    val = np.concatenate([w * (1 - fx) * (1 - fy), w * fx * (1 - fy), w * (1 - fx) * fy, w * fx * fy])
    return np.bincount(idx, val, n_channels * n * n).reshape(n_channels, n, n)


def splat_transfer(grid: Grid) -> np.ndarray:
    """Fourier transfer of bilinear splatting: ``sinc²(kx s) · sinc²(ky s)``."""
    kx, ky = grid.freqs()
    s = grid.sampling
    return (np.sinc(kx * s) ** 2) * (np.sinc(ky * s) ** 2)


def to_image(grid: Grid, field: np.ndarray, integrate: bool) -> np.ndarray:
    """Resample a real grid field to the output image.

    Parameters
    ----------
    field : numpy.ndarray
        (n, n) field on the grid.
    integrate : bool
        True: each pixel integrates the signal over its area (camera); False: point
        samples at the pixel centres (scanning probe).

    Returns
    -------
    numpy.ndarray
        (size, size) float64 image.
    """
    size = grid.size
    if grid.ratio >= 1:
        m = grid.ratio
        if integrate and m > 1:
            # box average of m×m grid points centred on the pixel centre
            f = sfft.rfft2(field)
            kx = sfft.rfftfreq(grid.n, grid.sampling)[None, :]
            ky = sfft.fftfreq(grid.n, grid.sampling)[:, None]
            f *= _box_transfer(kx, m, grid.sampling) * _box_transfer(ky, m, grid.sampling)
            field = sfft.irfft2(f, s=field.shape)
        sl = slice(grid.pad, grid.pad + size * m, m)
        return field[sl, sl]
    j = -grid.ratio
    f = sfft.fft2(field)
    if integrate:
        kx, ky = grid.freqs()
        f = f * np.sinc(kx * grid.pixel_A) * np.sinc(ky * grid.pixel_A)
    n = grid.n
    big = np.zeros((n * j, n * j), complex)
    h = n // 2
    big[:h, :h] = f[:h, :h]
    big[:h, -h:] = f[:h, -h:]
    big[-h:, :h] = f[-h:, :h]
    big[-h:, -h:] = f[-h:, -h:]
    up = sfft.ifft2(big).real * (j * j)
    start = grid.pad * j
    return up[start:start + size, start:start + size]


def _box_transfer(k: np.ndarray, m: int, s: float) -> np.ndarray:
    # Discrete average of m samples spaced s (centred): Dirichlet kernel / m.
    num = np.sin(np.pi * k * m * s)
    den = m * np.sin(np.pi * k * s)
    out = np.ones_like(k, dtype=float)
    nz = np.abs(den) > 1e-12
    out[nz] = num[nz] / den[nz]
    return out


__all__ = ["Grid", "make_grid", "splat", "splat_transfer", "to_image"]

"""The fixed pattern a network leaves on its body's pixel grid, and its removal.

The shipped networks run their body at 1/4 resolution (pixel-unshuffle by 4, then
pixel-shuffle back), so every output pixel is made by one of 16 sub-pixel channels. Those
channels never agree exactly, and the restored frame carries a faint fixed pattern that repeats
every 4 px: in its power spectrum, sharp peaks at the frequencies ``(k/4, l/4)`` cycles/px —
measured on the real ZEISS SEM frame, 0.02–0.15 grey levels in amplitude (far below the noise)
but up to 4,600× the spectrum around them, where a restored frame's spectrum is smooth. A
microscopist who takes the FFT of a restored frame (a diffractogram, geometric phase analysis)
sees them as spots at periods of 4, 2 and 4/√2 px that the specimen does not have.

Only those few frequencies carry it, and there it can be removed without touching anything
else. The means of a frame over each of the ``p × p`` positions of the grid cell are its Fourier
components at exactly the frequencies ``(k/p, l/p)``. Where the restored frame shows a spot at
one of them — its power more than :data:`RESTORED_SPOT` times the mean of the 8 frequencies
around it, 1/(4p) cycles/px away — its component is replaced by the input's if the input shows a
spot there too (more than :data:`SPOT_THRESHOLD` times: a lattice of exactly that period; noise
makes such a spot once in 10⁶ or rarer), and by zero otherwise (one frequency bin of the
restored content, which the pattern outweighs there). Other frequencies, the mean and frames
where the pattern does not stand out (small frames, where one bin holds much of the content)
are left as restored.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError


def _check(reference: np.ndarray, restored: np.ndarray, period: int) -> None:
    if reference.shape != restored.shape or reference.ndim != 2:
        raise ParameterError(f"Input {reference.shape} and restored {restored.shape} must be one 2-D shape.",
                             "Pass the frame the network saw and its restoration.")
    if not isinstance(period, (int, np.integer)) or period < 1:
        raise ParameterError(f"Grid period {period!r} must be a positive integer [px].",
                             "Use the model's size multiple (ModelInfo.size_multiple).")


#: The input's component at a grid frequency is kept where its power is this many times the mean
#: of the 8 frequencies around it (a spot; for noise alone exceeded with probability e⁻²⁵, or
#: about 10⁻⁶ at the real-valued Nyquist frequencies).
SPOT_THRESHOLD = 25.0
#: A grid frequency of the restored frame is corrected only where it is a spot, this many times the
#: mean of the 8 frequencies around it: there the pattern outweighs the content it would take
#: along (on small frames, where one frequency bin holds much of the content, it often does not).
RESTORED_SPOT = 10.0
#: The input's cell sums are taken on a grid this many times finer in frequency (``SUB · p`` px),
#: which gives the frequencies around each grid frequency.
SUB = 4


def cell_sums(frame: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums and pixel counts of ``frame`` at each position of a ``period``-px cell.

    Parameters
    ----------
    frame : numpy.ndarray
        (h, w) frame [any units]; the cell's origin is its first pixel.
    period : int
        Cell edge [px].

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        (period, period) float64 sums and int64 counts (a frame that is not a whole number of
        cells has fewer pixels at the last positions).
    """
    frame = np.asarray(frame, np.float64)
    h, w = frame.shape
    sums, counts = np.zeros((period, period)), np.zeros((period, period), np.int64)
    for i in range(min(period, h)):
        column_sums = frame[i::period].sum(axis=0)
        rows = len(range(i, h, period))
        for j in range(min(period, w)):
            sums[i, j] = column_sums[j::period].sum()
            counts[i, j] = rows * len(range(j, w, period))
    return sums, counts


def strongest_grid_spot(image: np.ndarray, period: int = 4) -> float:
    """How strongly a square frame shows a grid pattern: the largest power of its spectrum at a
    frequency ``(k/p, l/p)`` ≠ 0 over the mean of the 24 bins around it [-] (≈ 1 for none;
    the side must be a multiple of ``period``). Used by the tests and
    ``benchmarks/bench_grid_pattern.py``."""
    image = np.asarray(image, np.float64)
    n = image.shape[0]
    if image.ndim != 2 or image.shape[1] != n or n % period:
        raise ParameterError(f"strongest_grid_spot needs a square frame whose side is a multiple of {period} px, "
                             f"got {image.shape}.", "Crop it first.")
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    worst = 0.0
    for k in range(period):
        for m in range(period):
            if k or m:
                u, v = k * n // period, m * n // period
                around = [power[(u + a) % n, (v + b) % n] for a in range(-2, 3) for b in range(-2, 3) if a or b]
                worst = max(worst, float(power[u, v] / np.mean(around)))
    return worst


def _spots(sums: tuple[np.ndarray, np.ndarray], period: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Components of a frame at the grid frequencies (k/p, l/p), from its :func:`cell_sums` on the
    ``SUB · period`` cell, scaled to a ``period`` cell's DFT, and whether each is a spot: its power
    more than ``threshold`` times the mean of the 8 frequencies around it."""
    spectrum = np.fft.fft2(sums[0] / np.maximum(sums[1], 1))
    power = np.abs(spectrum) ** 2
    n = SUB * period
    components = np.zeros((period, period), complex)
    spot = np.zeros((period, period), bool)
    for k in range(period):
        for m in range(period):
            u, v = SUB * k, SUB * m
            around = [power[(u + a) % n, (v + b) % n] for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b]
            components[k, m] = spectrum[u, v] / SUB**2
            spot[k, m] = bool(k or m) and power[u, v] > threshold * np.mean(around)
    return components, spot


def correction_cell(input_sums: tuple[np.ndarray, np.ndarray], restored_sums: tuple[np.ndarray, np.ndarray],
                    period: int) -> np.ndarray:
    """The (period, period) correction to add to the restored frame, from :func:`cell_sums` of the
    input and of the restoration, both on the ``SUB · period`` px cell."""
    restored, pattern = _spots(restored_sums, period, RESTORED_SPOT)
    given, signal = _spots(input_sums, period, SPOT_THRESHOLD)
    new = np.where(signal, given, 0)
    return np.fft.ifft2(np.where(pattern, new - restored, 0)).real


def grid_cell(reference: np.ndarray, restored: np.ndarray, period: int) -> np.ndarray:
    """The correction that removes the restored frame's fixed pattern on a ``period``-px grid.

    Parameters
    ----------
    reference : numpy.ndarray
        (H, W) frame the network was given [input units].
    restored : numpy.ndarray
        (H, W) its restoration [input units], on the same pixel grid (cell origin at pixel 0).
    period : int
        Grid period of the network's body [px] (its size multiple: 4 for a 1/4-resolution body).

    Returns
    -------
    numpy.ndarray
        (period, period) float64, zero-mean, to be added to ``restored`` repeated over the frame
        (:func:`tile_cell`): at the frequencies ``(k/p, l/p)`` where the restored frame shows a
        spot, minus its component, plus the input's where the input shows one (module docstring).
    """
    _check(reference, restored, period)
    if not applies(reference.shape, period):
        return np.zeros((period, period))
    return correction_cell(cell_sums(reference, SUB * period), cell_sums(restored, SUB * period), period)


def applies(shape: tuple[int, ...], period: int) -> bool:
    """Whether a frame of ``shape`` is corrected: a network grid (``period`` > 1) and both sides
    at least one input cell (``SUB · period`` px); a smaller frame is left as restored."""
    return period > 1 and min(shape[-2:]) >= SUB * period


def tile_cell(cell: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``cell`` repeated over a frame of ``shape`` (cell origin at pixel 0)."""
    p = cell.shape[0]
    reps = (-(-shape[0] // p), -(-shape[1] // p))
    return np.tile(cell, reps)[: shape[0], : shape[1]]


def remove_grid_pattern(reference: np.ndarray, restored: np.ndarray, period: int) -> np.ndarray:
    """``restored`` with its fixed pattern on the network's ``period``-px grid removed (module docstring).

    Parameters
    ----------
    reference, restored, period
        As in :func:`grid_cell`.

    Returns
    -------
    numpy.ndarray
        The corrected restoration, ``restored``'s dtype; ``restored`` itself where ``period`` is 1
        (a full-resolution network has no such grid) or the frame is smaller than ``4 · period``
        px along a side (:func:`applies`).

    Examples
    --------
    A flat restoration of noise carrying a 4-px fixed pattern gets it removed; a lattice of
    exactly 4 px that the input shows and the restoration lost is given back.

    >>> rng = np.random.default_rng(0)
    >>> cell = rng.normal(0, 0.1, (4, 4))
    >>> pattern = tile_cell(cell - cell.mean(), (256, 256))
    >>> noisy = 100 + rng.normal(0, 5, (256, 256))
    >>> fixed = remove_grid_pattern(noisy, 100 + pattern, 4)
    >>> bool(np.abs(fixed - 100).max() < 1e-9 < 0.05 < np.abs(pattern).max())
    True
    >>> lattice = np.cos(2 * np.pi * np.arange(256) / 4)[None, :] * np.ones((256, 1))
    >>> fixed = remove_grid_pattern(100 + lattice + rng.normal(0, 5, (256, 256)), 100 + pattern, 4)
    >>> bool(np.abs(fixed - 100 - lattice).max() < 0.1)
    True
    """
    _check(reference, restored, period)
    if not applies(reference.shape, period):
        return restored
    cell = grid_cell(reference, restored, period)
    return (restored + tile_cell(cell, restored.shape)).astype(restored.dtype, copy=False)


__all__ = ["applies", "cell_sums", "strongest_grid_spot", "correction_cell", "grid_cell", "remove_grid_pattern", "tile_cell"]

"""No frequency of a restoration holds more power than the input gives evidence for.

What the networks learn to return is the *expected frame* (docs/distortions.md): the
instrument's frame-constant response kept, noise, events and scan displacements removed. The
input is that frame plus zero-mean noise independent of it, so at every spatial frequency k its
expected power is the target's plus the noise's, ``E|X(k)|² = |S(k)|² + N(k) ≥ |S(k)|²``:
a correct restoration never needs more power at a frequency than the input holds there. A
linear filter with gain ≤ 1 obeys this bin by bin; a network need not, and on real lattices
the shipped ones did not: the pattern each of their 16 sub-pixel channels leaves on the 4-px
body grid is modulated by the content, which puts copies of the lattice's spectrum around the
grid frequencies (1/4, 1/2 cycles/px) — peaks in the restored diffractogram that the input does
not show (measured on the real STO ABF frame: 9 such peaks, up to 47× the input's power).

:func:`cap_spectral_gain` enforces the bound where it is broken by more than chance allows:
the power spectra of input and restoration (periodic components of the periodic-plus-smooth
decomposition, so the frame edges add no cross of leakage; each bin averaged with its 8
neighbours) are compared, and wherever the restoration holds more than :data:`MAX_GAIN` times
the input's power, the restoration's Fourier components there are scaled down to that level.
Everything else — the frame's mean, its smooth (edge) component, every frequency within the
bound — is left exactly as restored. The margin 2 covers the scatter of the 9-bin average of the
input's power (a relative scatter of 1/3 on noise-dominated bins) and the power that correcting
scan displacements moves between neighbouring bins (a jittered lattice spot spreads into a
streak; restored, it gathers again).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ..errors import ParameterError

#: A restoration may hold up to this many times the input's (9-bin averaged) power at a frequency.
MAX_GAIN = 2.0
#: Frames smaller than this along a side are left as restored (too few frequencies to average).
MIN_SIDE_PX = 32


def periodic_component(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``frame`` into a periodic component and a smooth one (periodic plus smooth).

    The smooth component carries the jumps between opposite edges of the frame (the cause of the
    cross of leakage in a frame's Fourier transform), the periodic one everything else; they add
    up to ``frame`` exactly (up to rounding). The smooth component is the zero-mean solution of a
    discrete Poisson equation whose source is the edge jumps (L. Moisan, J. Math. Imaging Vis. 39,
    2011).

    Parameters
    ----------
    frame : numpy.ndarray
        (H, W) frame [any units].

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Periodic and smooth components, float64, ``frame``'s shape.

    Examples
    --------
    A ramp is not periodic; its periodic component has no jump between opposite edges left:

    >>> ramp = np.add.outer(np.arange(64.0), np.zeros(64))
    >>> p, s = periodic_component(ramp)
    >>> bool(np.allclose(p + s, ramp)), bool(abs(p[0] - p[-1]).max() < abs(ramp[0] - ramp[-1]).max() / 10)
    (True, True)
    """
    z = np.asarray(frame, np.float64)
    h, w = z.shape
    jumps = np.zeros_like(z)
    jumps[0, :] += z[-1, :] - z[0, :]
    jumps[-1, :] -= z[-1, :] - z[0, :]
    jumps[:, 0] += z[:, -1] - z[:, 0]
    jumps[:, -1] -= z[:, -1] - z[:, 0]
    q = np.arange(h)[:, None]
    r = np.arange(w // 2 + 1)[None, :]
    laplacian = 2 * np.cos(2 * np.pi * q / h) + 2 * np.cos(2 * np.pi * r / w) - 4
    laplacian[0, 0] = 1.0
    smooth_hat = sfft.rfft2(jumps) / laplacian
    smooth_hat[0, 0] = 0.0
    smooth = sfft.irfft2(smooth_hat, s=(h, w))
    return z - smooth, smooth


def averaged_power(spectrum: np.ndarray, width: int) -> np.ndarray:
    """|spectrum|² of a real frame's ``rfft2`` averaged over each bin and its 8 neighbours.

    Parameters
    ----------
    spectrum : numpy.ndarray
        (H, W // 2 + 1) complex half spectrum of an (H, W) real frame.
    width : int
        W, the frame's width [px] (the half spectrum does not say whether it was odd).

    Returns
    -------
    numpy.ndarray
        (H, W // 2 + 1) float64; the neighbours across the half spectrum's edges are the
        Hermitian mirrors, so every bin is averaged as in the full spectrum.
    """
    power = np.abs(spectrum).astype(np.float64) ** 2
    h = power.shape[0]
    flip = (-np.arange(h)) % h
    first = power[flip, 1:2] if power.shape[1] > 1 else power[flip, 0:1]
    mirror = width - (width // 2 + 1)
    last = power[flip, mirror:mirror + 1]
    padded = np.concatenate([first, power, last], axis=1)
    return ndimage.uniform_filter(padded, 3, mode=("wrap", "nearest"))[:, 1:-1]


def cap_spectral_gain(reference: np.ndarray, restored: np.ndarray, max_gain: float = MAX_GAIN) -> np.ndarray:
    """``restored`` with no frequency holding more than ``max_gain`` × the power ``reference`` holds.

    Parameters
    ----------
    reference : numpy.ndarray
        (H, W) frame the network was given [input units].
    restored : numpy.ndarray
        (H, W) its restoration [input units].
    max_gain : float
        Largest allowed ratio of the restoration's (9-bin averaged) power at a frequency to the
        input's (default :data:`MAX_GAIN`; module docstring).

    Returns
    -------
    numpy.ndarray
        The restoration, ``restored``'s dtype, changed only at the frequencies where it broke the
        bound; ``restored`` itself for frames under :data:`MIN_SIDE_PX` along a side or where no
        frequency breaks it.

    Examples
    --------
    A restoration that invents a fine lattice the noisy input does not show loses it; a smoothed
    input (a filter with gain ≤ 1) is returned unchanged:

    >>> rng = np.random.default_rng(0)
    >>> noisy = 100 + rng.normal(0, 5, (128, 128))
    >>> invented = 100 + 3 * np.cos(2 * np.pi * np.arange(128) / 4)[None, :] * np.ones((128, 1))
    >>> capped = cap_spectral_gain(noisy, invented)
    >>> bool(np.std(capped - 100) < 0.2 * np.std(invented - 100))
    True
    >>> from scipy.ndimage import gaussian_filter
    >>> smooth = gaussian_filter(noisy, 1.0, mode="wrap")
    >>> cap_spectral_gain(noisy, smooth) is smooth
    True
    """
    y = np.asarray(restored)
    spectra = _spectra(reference, restored, max_gain)
    if spectra is None or not spectra[2].any():
        return restored
    y_hat, y_smooth, over, ratio = spectra
    factor = np.ones(y_hat.shape, np.float32)
    factor[over] = np.sqrt(max_gain / ratio[over])
    capped = sfft.irfft2(y_hat * factor, s=y.shape) + y_smooth
    return capped.astype(y.dtype, copy=False)


def capped_share(reference: np.ndarray, restored: np.ndarray, max_gain: float = MAX_GAIN) -> float:
    """Share of the frequencies (of the half spectrum) where ``restored`` breaks the bound [0–1]:
    what :func:`cap_spectral_gain` changes (0 for frames it leaves alone)."""
    spectra = _spectra(reference, restored, max_gain)
    return 0.0 if spectra is None else float(spectra[2].mean())


def _spectra(reference: np.ndarray, restored: np.ndarray, max_gain: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The restoration's half spectrum (periodic component, float32) and smooth component, where it
    breaks the bound, and its averaged power over the input's; ``None`` for a frame too small."""
    x, y = np.asarray(reference), np.asarray(restored)
    if x.shape != y.shape or x.ndim != 2:
        raise ParameterError(f"Input {x.shape} and restored {y.shape} must be one 2-D shape.",
                             "Pass the frame the network saw and its restoration.")
    if not (np.isfinite(max_gain) and max_gain > 0):
        raise ParameterError(f"max_gain {max_gain!r} must be a positive number.", "Use the default, 2.")
    if min(y.shape) < MIN_SIDE_PX:
        return None
    w = y.shape[1]
    y_periodic, y_smooth = periodic_component(y)
    y_hat = sfft.rfft2(y_periodic.astype(np.float32))
    p_in = averaged_power(sfft.rfft2(periodic_component(x)[0].astype(np.float32)), w)
    ratio = averaged_power(y_hat, w) / np.maximum(p_in, np.finfo(np.float64).tiny)
    over = ratio > max_gain
    over[0, 0] = False
    return y_hat, y_smooth, over, ratio


__all__ = ["MAX_GAIN", "MIN_SIDE_PX", "averaged_power", "cap_spectral_gain", "capped_share", "periodic_component"]

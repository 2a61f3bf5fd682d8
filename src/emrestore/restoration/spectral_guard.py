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

:func:`keep_input_spots` is the converse bound for the one kind of frequency a microscopist
reads first: a diffraction spot. Where the input's diffractogram shows an isolated peak far above
its surroundings (:data:`SPOT_EVIDENCE` times the local background and :data:`PEAK_CONTRAST`
times the power :data:`PEAK_OFFSET_BINS` bins away along each axis, outside the bins of the two
spectrum axes, where row and column artefacts put their power), the peak is crystal signal: noise
cannot produce it. If the restoration keeps less than :data:`KEPT_SHARE` of the peak's power
above the background, the input's Fourier coefficient is put back there, Wiener-weighted by the
share of its power that is signal, ``(P − B) / P``. Everything else is left as restored. The
restore engine applies it for TEM models only: in a scanned frame, isolated peaks also come from
periodic scan jitter (satellites of the lattice spots) and drift (displaced spots), which the
expected frame lacks (docs/restore.md).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ..errors import ParameterError
from ..reciprocal_lattice import on_lattice

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


def _periodic_spectrum(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The half spectrum (``rfft2``, complex64) of ``frame``'s periodic component, and its smooth one."""
    periodic, smooth = periodic_component(frame)
    return sfft.rfft2(periodic.astype(np.float32)), smooth


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape != y.shape or x.ndim != 2:
        raise ParameterError(f"Input {x.shape} and restored {y.shape} must be one 2-D shape.",
                             "Pass the frame the network saw and its restoration.")


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
    _check_pair(x, y)
    if not (np.isfinite(max_gain) and max_gain > 0):
        raise ParameterError(f"max_gain {max_gain!r} must be a positive number.", "Use the default, 2.")
    if min(y.shape) < MIN_SIDE_PX:
        return None
    w = y.shape[1]
    y_hat, y_smooth = _periodic_spectrum(y)
    p_in = averaged_power(_periodic_spectrum(x)[0], w)
    ratio = averaged_power(y_hat, w) / np.maximum(p_in, np.finfo(np.float64).tiny)
    over = ratio > max_gain
    over[0, 0] = False
    return y_hat, y_smooth, over, ratio


#: An input peak is clearly visible when its 9-bin power is this many times the local background
#: (the median of the :data:`BACKGROUND_BLOCK_BINS`-wide block around it): for noise alone, a
#: 9-bin average exceeds 10× its median with a probability below 10⁻¹⁵ per bin.
SPOT_EVIDENCE = 10.0
#: … and this many times the 9-bin power :data:`PEAK_OFFSET_BINS` away along *each* axis, so that
#: a streak (row noise piles power along one axis of the spectrum) is not taken for a spot.
PEAK_CONTRAST = 4.0
PEAK_OFFSET_BINS = 3
#: Edge of the blocks of the half spectrum whose median power is the local background [bins].
BACKGROUND_BLOCK_BINS = 16
#: Frequencies closer to zero than this are left alone (the mean and slow shading leak there) [bins].
MIN_SPOT_RADIUS_BINS = 4
#: Frequencies within this many bins of either axis of the spectrum are left alone: structure
#: constant along rows or along columns (row gain and offset, line interference of a scan,
#: column readout of a camera) puts isolated peaks exactly there, which the restorer is right to
#: remove; a lattice with a reciprocal vector on an axis keeps what the network gives it.
AXIS_BINS = 1
#: A spot counts as removed where the restoration holds less than this share of the power the
#: input's evidence gives the signal there (power minus background): half the power, 0.71 of
#: the amplitude.
KEPT_SHARE = 0.5
#: Scanned frames (``scanned=True``): a spot counts as removed only where the restoration also
#: holds less than :data:`KEPT_SHARE` of its power everywhere within this many bins (a spot the
#: network moved — back to its undistorted place, undoing drift — was not removed).
MOVED_BINS = 2


def _background(power: np.ndarray) -> np.ndarray:
    """Local background of a half power spectrum: block medians, bilinearly interpolated [units²]."""
    shifted = np.fft.fftshift(power, axes=0)
    b = BACKGROUND_BLOCK_BINS
    h, w = shifted.shape
    nh, nw = -(-h // b), -(-w // b)
    padded = np.pad(shifted, ((0, nh * b - h), (0, nw * b - w)), mode="reflect")
    medians = np.median(padded.reshape(nh, b, nw, b).transpose(0, 2, 1, 3).reshape(nh, nw, b * b), axis=2)
    yy, xx = np.meshgrid((np.arange(h) + 0.5) / b - 0.5, (np.arange(w) + 0.5) / b - 0.5, indexing="ij")
    background = ndimage.map_coordinates(medians, [yy, xx], order=1, mode="nearest")
    return np.fft.ifftshift(np.maximum(background, np.finfo(np.float64).tiny), axes=0)


def _axial_neighbours(power: np.ndarray, width: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The larger of the powers ``offset`` bins away along axis 0 and along axis 1, per bin of a
    half spectrum (columns past its edges are the Hermitian mirrors, as in the full spectrum)."""
    along_0 = np.maximum(np.roll(power, offset, axis=0), np.roll(power, -offset, axis=0))
    h, n_half = power.shape
    flip = (-np.arange(h)) % h
    cols = np.arange(n_half)
    along_1 = np.zeros_like(power)
    for shift in (offset, -offset):
        c = cols + shift
        mirrored = (c < 0) | (c > width // 2)
        source = np.where(c < 0, -c, np.where(c > width // 2, width - c, c))
        source = np.clip(source, 0, n_half - 1)
        values = power[:, source]
        values[:, mirrored] = power[flip][:, source[mirrored]]
        along_1 = np.maximum(along_1, values)
    return along_0, along_1


def input_spots(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The frequencies where ``reference`` shows a clearly visible, isolated peak (a Bragg spot).

    Parameters
    ----------
    reference : numpy.ndarray
        (H, W) frame [any units].

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray) or None
        Over the half spectrum (H, W // 2 + 1) of the frame's periodic component: a bool mask of
        the spot bins (each peak and its 8 neighbours where they stand at least 2× over the
        background; none within :data:`AXIS_BINS` of the spectrum's axes), the input's 9-bin
        power and the local background [units²]; ``None`` for a frame under :data:`MIN_SIDE_PX` along a side.
    """
    x = np.asarray(reference)
    if x.ndim != 2 or min(x.shape) < MIN_SIDE_PX:
        return None
    return _spots_in(_periodic_spectrum(x)[0], x.shape)


def _spots_in(x_hat: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`input_spots` from the half spectrum ``x_hat`` of a frame of ``shape``'s periodic component."""
    h, w = shape
    p_in = averaged_power(x_hat, w)
    background = _background(p_in)
    along_0, along_1 = _axial_neighbours(p_in, w, PEAK_OFFSET_BINS)
    fy = np.fft.fftfreq(h)[:, None] * h
    fx = np.arange(p_in.shape[1])[None, :] * (h / w)
    far = (np.hypot(fy, fx) >= MIN_SPOT_RADIUS_BINS) & (np.abs(fy) > AXIS_BINS) & (np.arange(p_in.shape[1]) > AXIS_BINS)
    peaks = ((p_in >= SPOT_EVIDENCE * background) & (p_in >= PEAK_CONTRAST * along_0)
             & (p_in >= PEAK_CONTRAST * along_1) & far)
    if not peaks.any():
        return np.zeros(p_in.shape, bool), p_in, background
    grown = ndimage.binary_dilation(peaks, np.ones((3, 3), bool))
    spots = grown & (p_in >= 2.0 * background) & far
    return spots, p_in, background


def _on_input_lattice(spots: np.ndarray, signal: np.ndarray, strength: np.ndarray, width: int) -> np.ndarray:
    """The bins of the spot groups (8-connected) of a half spectrum whose peaks lie on one reciprocal lattice."""
    h = spots.shape[0]
    labels, n = ndimage.label(spots, np.ones((3, 3), bool))
    peaks = np.array(ndimage.maximum_position(signal, labels, np.arange(1, n + 1)), np.float64).reshape(-1, 2)
    rows, cols = peaks[:, 0].astype(int), peaks[:, 1].astype(int)
    k = np.stack([np.where(peaks[:, 0] < h // 2, peaks[:, 0], peaks[:, 0] - h), peaks[:, 1] * (h / width)], axis=1)
    lattice = on_lattice(k, strength[rows, cols])
    return np.isin(labels, np.flatnonzero(lattice) + 1)


def keep_input_spots(reference: np.ndarray, restored: np.ndarray, scanned: bool = False) -> np.ndarray:
    """``restored`` with the Bragg spots the input clearly shows put back where it removed them.

    The counterpart of :func:`cap_spectral_gain`. Where the input shows a clearly visible,
    isolated peak (:func:`input_spots`), its power ``P`` over the local background ``B`` is
    evidence of signal: the expected frame holds about ``P − B`` there. Where the restoration
    holds less than :data:`KEPT_SHARE` of that, it removed signal the data supports; its Fourier
    components there are replaced by the input's, Wiener-weighted by ``(P − B) / P`` (the
    least-squares linear estimate of the signal at that frequency from the input alone). Every
    other frequency is left exactly as restored.

    A scanned frame's spectrum also holds isolated peaks the expected frame lacks: satellites
    of the lattice spots from periodic scan jitter, and spots displaced by drift, which the
    network is right to remove or move. With ``scanned=True`` a spot is put back only where it
    lies on the reciprocal lattice of the input's spots
    (:func:`emrestore.reciprocal_lattice.on_lattice`: satellites sit off its nodes) and the
    restoration holds less than :data:`KEPT_SHARE` of its power everywhere within
    :data:`MOVED_BINS` (a moved spot was not removed).

    Parameters
    ----------
    reference : numpy.ndarray
        (H, W) frame the network was given [input units].
    restored : numpy.ndarray
        (H, W) its restoration [input units].
    scanned : bool
        The frame was scanned (STEM, SEM): apply the lattice and moved-spot rules above.

    Returns
    -------
    numpy.ndarray
        The restoration, ``restored``'s dtype; ``restored`` itself where no spot was removed or
        the frame is under :data:`MIN_SIDE_PX` along a side.

    Examples
    --------
    A restoration that flattened a fine oblique lattice the noisy input clearly shows gets it back; one
    that kept it is returned unchanged:

    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[:128, :128]
    >>> lattice = 3 * np.cos(2 * np.pi * (xx / 3.2 + yy / 8.0))
    >>> noisy = 100 + lattice + rng.normal(0, 5, (128, 128))
    >>> flat = np.full((128, 128), 100.0)
    >>> kept = keep_input_spots(noisy, flat)
    >>> bool(np.corrcoef((kept - 100).ravel(), lattice.ravel())[0, 1] > 0.9)
    True
    >>> sharp = 100 + lattice
    >>> keep_input_spots(noisy, sharp) is sharp
    True
    """
    x, y = np.asarray(reference), np.asarray(restored)
    _check_pair(x, y)
    if min(x.shape) < MIN_SIDE_PX:
        return restored
    x_hat = _periodic_spectrum(x)[0]
    spots, p_in, background = _spots_in(x_hat, x.shape)
    if not spots.any():
        return restored
    w = y.shape[1]
    y_hat, y_smooth = _periodic_spectrum(y)
    signal = np.maximum(p_in - background, 0.0)
    p_out = averaged_power(y_hat, w)
    removed = spots & (p_out < KEPT_SHARE * signal)
    if scanned and removed.any():
        # rows of the half spectrum wrap around (negative frequencies at the end); columns do not
        nearby = ndimage.maximum_filter(p_out, size=2 * MOVED_BINS + 1, mode=("wrap", "nearest"))
        removed &= (nearby < KEPT_SHARE * signal) & _on_input_lattice(spots, signal, p_in / background, w)
    if not removed.any():
        return restored
    gain = signal[removed] / np.maximum(p_in[removed], np.finfo(np.float64).tiny)
    y_hat[removed] = x_hat[removed] * gain.astype(np.float32)
    kept = sfft.irfft2(y_hat, s=y.shape) + y_smooth
    return kept.astype(y.dtype, copy=False)


__all__ = ["AXIS_BINS", "KEPT_SHARE", "MAX_GAIN", "MOVED_BINS", "MIN_SIDE_PX", "SPOT_EVIDENCE", "averaged_power", "cap_spectral_gain", "capped_share",
           "input_spots", "keep_input_spots", "periodic_component"]

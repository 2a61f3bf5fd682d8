"""Spectral check of a restoration without ground truth: did it add power anywhere?

A denoiser removes power (the noise's, spread over all frequencies) and should add none: a
restored frame whose power spectrum exceeds the input's at some frequency has gained
structure there that the input did not hold — invented periodicity, ringing, or a painted
lattice. :func:`spectral_gain` measures that on real micrographs, where no truth exists.
Correcting scan distortions can legitimately sharpen smeared Bragg spots (a gain of a few
there); a gain spread over many frequencies, or far above a few, is the warning sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter

from ..errors import ParameterError

#: Box smoothing of the power spectra before comparing them [frequency bins]: single bins
#: of a periodogram scatter by a factor of ~e; 5×5 bins average that out.
SMOOTH_BINS = 5
#: Frequencies within this radius of zero [bins] are not compared (the window's leakage of
#: the mean and of slow shading dominates there).
LOW_FREQUENCY_BINS = 3


def power_spectrum(image: np.ndarray) -> np.ndarray:
    """Centred power spectrum of the central square of ``image`` (mean removed, Hann window).

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) image, any intensity units.

    Returns
    -------
    numpy.ndarray
        (N, N) float64, N = min(H, W), zero frequency at (N // 2, N // 2) [units²].
    """
    data = np.asarray(image, np.float64)
    n = min(data.shape)
    y, x = (data.shape[0] - n) // 2, (data.shape[1] - n) // 2
    square = data[y:y + n, x:x + n]
    window = np.hanning(n)[:, None] * np.hanning(n)[None, :]
    return np.abs(np.fft.fftshift(np.fft.fft2((square - square.mean()) * window))) ** 2


@dataclass
class SpectralGain:
    """How the restored frame's power spectrum compares with the input's.

    Attributes
    ----------
    max_gain : float
        Largest ratio restored / input of the smoothed spectra over all frequencies outside
        the lowest ones (1 = nowhere more power than the input; a denoiser stays near 1).
    share_doubled : float
        Share of those frequencies where the restored frame holds more than twice the
        input's power (0 for a denoiser).
    power_ratio : float
        Restored over input power summed over those frequencies (< 1: power removed).
    """

    max_gain: float
    share_doubled: float
    power_ratio: float


def spectral_gain(before: np.ndarray, after: np.ndarray) -> SpectralGain:
    """Compare the power spectra of an input and its restoration (same shape).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noisy = rng.normal(size=(64, 64))
    >>> spectral_gain(noisy, noisy).max_gain
    1.0
    """
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape:
        raise ParameterError(f"Input {before.shape} and restored {after.shape} differ in shape.",
                             "Compare a frame with its own restoration (same shape).")
    p_in = uniform_filter(power_spectrum(before), SMOOTH_BINS)
    p_out = uniform_filter(power_spectrum(after), SMOOTH_BINS)
    n = p_in.shape[0]
    yy, xx = np.mgrid[:n, :n]
    outside = np.hypot(yy - n // 2, xx - n // 2) > LOW_FREQUENCY_BINS
    floor = 1e-12 * max(float(p_in.max()), 1e-300)
    ratio = p_out[outside] / np.maximum(p_in[outside], floor)
    return SpectralGain(float(ratio.max()), float(np.mean(ratio > 2.0)),
                        float(p_out[outside].sum() / max(float(p_in[outside].sum()), floor)))


def spectrum_display(spectrum: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """log10 of a power spectrum scaled to [0, 1] with the reference spectrum's log range."""
    log_ref = np.log10(reference + 1e-300)
    lo, hi = np.percentile(log_ref, [50, 99.95])
    return np.clip((np.log10(spectrum + 1e-300) - lo) / max(hi - lo, 1e-12), 0, 1)

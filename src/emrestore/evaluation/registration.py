"""Rigid registration of the frames of a real series (subpixel, drift of many pixels).

A series of one field drifts by a few pixels from frame to frame. :func:`register_series`
measures each frame's shift against the first with scikit-image's phase correlation (an
upsampled cross-correlation peak: 1/20 px; Hann-apodised, re-measured after moving the frame
by the estimate, so the window's pull towards zero shift does not bias it), resamples every frame onto the first one's
grid (Fourier shift, so no interpolation blur) and crops the region that every frame
covers, where no wrapped-around pixels are left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

#: Subpixel precision of the registration: 1 / UPSAMPLE px.
UPSAMPLE = 20
#: Re-measurements of each shift on the frame moved by the current estimate (removes the bias
#: the fixed apodisation window puts on the correlation peak).
REFINEMENTS = 3


@dataclass
class RegisteredSeries:
    """Frames resampled onto the first frame's grid.

    Attributes
    ----------
    frames : numpy.ndarray
        (N, h, w) float64, the registered frames cropped to the region all of them cover.
    shifts_px : numpy.ndarray
        (N, 2) shift (rows, columns) [px] applied to each frame (frame 0: (0, 0)).
    crop : tuple of slice
        Rows and columns of the first frame's grid that ``frames`` covers.
    """

    frames: np.ndarray
    shifts_px: np.ndarray
    crop: tuple[slice, slice]

    def others_mean(self, k: int) -> np.ndarray:
        """Mean of every registered frame except frame ``k``: the reference of frame ``k``."""
        keep = [i for i in range(len(self.frames)) if i != k]
        return self.frames[keep].mean(axis=0)

    def align(self, image: np.ndarray, k: int) -> np.ndarray:
        """An image on frame ``k``'s own grid (e.g. frame ``k`` restored) moved like frame ``k`` and cropped."""
        return _shift(np.asarray(image, np.float64), self.shifts_px[k])[self.crop]


def _shift(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    from scipy.ndimage import fourier_shift

    if not np.any(shift):
        return image.astype(np.float64, copy=True)
    return np.real(np.fft.ifft2(fourier_shift(np.fft.fft2(image), shift)))


def register_series(frames: np.ndarray, max_shift_fraction: float = 0.25) -> RegisteredSeries:
    """Register the frames of a series of one field onto its first frame.

    Parameters
    ----------
    frames : numpy.ndarray
        (N, H, W) with N ≥ 2, frames of the same field.
    max_shift_fraction : float
        Largest drift accepted, as a fraction of each side (default ¼): beyond it the frames
        do not show one field and :class:`ParameterError` is raised.

    Returns
    -------
    RegisteredSeries

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> base = rng.random((64, 64))
    >>> series = np.stack([base, np.roll(base, (3, -2), axis=(0, 1))])
    >>> reg = register_series(series)
    >>> reg.shifts_px[1].round(2).tolist()
    [-3.0, 2.0]
    """
    from skimage.registration import phase_cross_correlation

    data = np.asarray(frames, np.float64)
    if data.ndim != 3 or len(data) < 2:
        raise ParameterError(f"Registration needs a series (N ≥ 2, H, W); got shape {data.shape}.",
                             "Pass the frames of one field as a 3-D array.")
    h, w = data.shape[1:]
    # a Hann window keeps the frame edges (which wrap around in the FFT) out of the correlation
    window = np.outer(np.hanning(h), np.hanning(w))
    reference = (data[0] - data[0].mean()) * window
    shifts = np.zeros((len(data), 2))
    for i in range(1, len(data)):
        # the fixed window pulls the peak towards zero shift; re-measuring on the frame moved by
        # the estimate leaves a residual where that pull vanishes
        for _ in range(1 + REFINEMENTS):
            moved = _shift(data[i], shifts[i])
            residual, _, _ = phase_cross_correlation(reference, (moved - moved.mean()) * window,
                                                     upsample_factor=UPSAMPLE, normalization=None)
            shifts[i] += residual
            if np.all(np.abs(residual) < 0.5 / UPSAMPLE):
                break
    if np.any(np.abs(shifts) > max_shift_fraction * np.array([h, w])):
        raise ParameterError(
            f"The frames drift by up to {np.abs(shifts).max():.1f} px, more than {max_shift_fraction:.0%} of a "
            "side: they do not look like one field.",
            "Pass frames of one field (a series), or crop them to the common region first.")
    top = int(np.ceil(max(shifts[:, 0].max(), 0)))
    bottom = int(np.ceil(max(-shifts[:, 0].min(), 0)))
    left = int(np.ceil(max(shifts[:, 1].max(), 0)))
    right = int(np.ceil(max(-shifts[:, 1].min(), 0)))
    crop = (slice(top, h - bottom), slice(left, w - right))
    registered = np.stack([_shift(frame, shift)[crop] for frame, shift in zip(data, shifts)])
    return RegisteredSeries(registered, shifts, crop)


def difference_noise_variance(series: RegisteredSeries) -> float:
    """Variance of the noise of one frame, from the differences of consecutive registered frames.

    For independent noise of variance σ² in each frame, ``var(f_i − f_j) = 2 σ²``; the mean
    over consecutive pairs is returned. Content that changes between frames (e.g. a FIB-SEM
    surface) inflates it, so it is an upper bound.
    """
    diffs = np.diff(series.frames, axis=0)
    return float(np.mean([np.var(d) for d in diffs]) / 2.0)

"""Statistics that compare simulated frames with real micrographs (issue 16).

The functions work on any frame or series, real or simulated, so the same numbers can be
put side by side:

* :func:`radial_power_spectrum` and :func:`power_share_below_period` — how the power of a
  frame is spread over spatial frequencies [cycles/px]: a frame sampled finely holds almost
  no power at periods of a few pixels, a coarsely sampled (or noisy) one a lot;
* :func:`noise_curve` — noise of a registered series: variance of frame differences
  against mean intensity (binned), a Poisson–Gaussian fit ``var = gain · mean + offset``
  and the noise's lag-1 spatial autocorrelation in x and y;
* :func:`row_displacements` and :func:`scan_noise` — scan noise of two frames of a scanned
  series: each row of frame 1 registered against the same row of frame 0 by 1-D subpixel
  cross-correlation, the RMS of those displacements and their spectrum over rows;
* :func:`simulated_series` — frames of one clean image of a tag at a chosen pixel size,
  degraded by the tag's distortion chain with one parameter draw and independent noise per
  frame (a "series" the functions above measure exactly as they measure a real one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from .registration import RegisteredSeries, register_series

#: Period below which :func:`power_share_below_period` counts power by default [px].
DEFAULT_PERIOD_PX = 8.0


# --------------------------------------------------------------------------- spectra
def _check_frame(image: np.ndarray, name: str = "image") -> np.ndarray:
    data = np.asarray(image, np.float64)
    if data.ndim != 2 or min(data.shape) < 8:
        raise ParameterError(f"The {name} must be a 2-D frame of at least 8 × 8 px; got shape {data.shape}.",
                             "Pass one frame (select it from a series first).")
    if not np.isfinite(data).all():
        raise ParameterError(f"The {name} holds NaN or infinite pixels.", "Replace them first (numpy.nan_to_num).")
    return data


def windowed_power(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D power spectrum of a Hann-windowed frame and the radial frequency of each bin.

    The window-weighted mean is subtracted before windowing, so the DC bin is exactly 0 and
    no mean-level leakage reaches low frequencies.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) frame, any units.

    Returns
    -------
    power : numpy.ndarray
        (H, W) ``|FFT|²`` [units² · px²], FFT order.
    radius : numpy.ndarray
        (H, W) radial spatial frequency of each bin [cycles/px] (0 … 0.707).
    """
    data = _check_frame(image)
    h, w = data.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    mean = float((data * window).sum() / window.sum())
    power = np.abs(np.fft.fft2((data - mean) * window)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    return power, np.sqrt(fx * fx + fy * fy)


def radial_power_spectrum(image: np.ndarray, n_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a Hann-windowed frame.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) frame.
    n_bins : int, optional
        Number of radial bins between 0 and 0.5 cycles/px (default ``min(H, W) // 2``).

    Returns
    -------
    frequency : numpy.ndarray
        (n_bins,) bin centres [cycles/px].
    power : numpy.ndarray
        (n_bins,) mean power per bin (DC excluded), normalised so that it sums to 1 over
        the bins (a shape, independent of the frame's units and size).
    """
    power, radius = windowed_power(image)
    n = int(n_bins or min(power.shape) // 2)
    if n < 2:
        raise ParameterError(f"n_bins must be ≥ 2, got {n}.", "Pass n_bins ≥ 2 or a larger frame.")
    edges = np.linspace(0.0, 0.5, n + 1)
    keep = (radius > 0) & (radius <= 0.5)
    idx = np.clip(np.digitize(radius[keep], edges) - 1, 0, n - 1)
    total = np.bincount(idx, power[keep], n)
    count = np.bincount(idx, minlength=n)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    norm = mean.sum()
    return 0.5 * (edges[1:] + edges[:-1]), (mean / norm if norm > 0 else mean)


def power_share_below_period(image: np.ndarray, period_px: float = DEFAULT_PERIOD_PX) -> float:
    """Share of the non-DC power at periods shorter than ``period_px``.

    Counts every 2-D frequency bin with ``|k| > 1/period_px`` (the corners of the spectrum
    beyond 0.5 cycles/px included) against all non-DC bins of the Hann-windowed frame.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) frame.
    period_px : float
        Period threshold [px] (default 8: frequencies above 0.125 cycles/px).

    Returns
    -------
    float
        Share in [0, 1] (0 for a constant frame).
    """
    if not period_px > 2:
        raise ParameterError(f"period_px must be > 2 px (Nyquist), got {period_px}.", "Pass e.g. period_px=8.")
    power, radius = windowed_power(image)
    total = float(power[radius > 0].sum())
    if total <= 0:
        return 0.0
    return float(power[radius > 1.0 / period_px].sum() / total)


def white_noise_fraction(image: np.ndarray, k_min: float = 0.4) -> float:
    """Share of a frame's variance that is white noise, from the flat tail of its spectrum.

    The mean power density at ``|k| > k_min`` (where a finely sampled, band-limited frame
    holds noise only) extended over all non-DC frequencies, over the total non-DC power.
    For frames whose signal reaches ``k_min`` (coarse sampling, aliasing) it is an upper
    bound.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) frame.
    k_min : float
        Frequency above which the spectrum is taken as the noise floor [cycles/px], < 0.7.

    Returns
    -------
    float
        Noise share of the variance in [0, 1] (1: noise only).
    """
    if not 0 < k_min < 0.7:
        raise ParameterError(f"k_min must be in (0, 0.7) cycles/px, got {k_min}.", "Pass e.g. k_min=0.4.")
    power, radius = windowed_power(image)
    nonzero = radius > 0
    total = float(power[nonzero].sum())
    if total <= 0:
        return 0.0
    floor = float(power[radius > k_min].mean())
    return float(min(1.0, floor * nonzero.sum() / total))


def background_texture(image: np.ndarray, quantile: float = 0.4, smooth_px: float = 2.0) -> float:
    """How much the dark background of a frame varies, relative to the frame's contrast.

    The frame is smoothed (Gaussian σ = ``smooth_px``, which suppresses pixel noise), the
    pixels below its ``quantile`` are the background (vacuum or support film in a HAADF
    frame), and the result is the standard deviation of the smoothed background over the
    1–99 % percentile range of the smoothed frame. A flat background with noise only gives
    a small value (the noise left after smoothing); mass-thickness texture of a support film
    or contamination gives larger ones.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) frame (HAADF-like: background dark).
    quantile : float
        Share of the darkest smoothed pixels taken as background, in (0, 1).
    smooth_px : float
        Gaussian σ of the smoothing [px].

    Returns
    -------
    float
        Background variation / contrast range [-].
    """
    from scipy.ndimage import gaussian_filter

    if not 0 < quantile < 1:
        raise ParameterError(f"quantile must be in (0, 1), got {quantile}.", "Pass e.g. quantile=0.4.")
    data = gaussian_filter(_check_frame(image), smooth_px, mode="reflect")
    lo, hi = np.percentile(data, [1.0, 99.0])
    if not hi > lo:
        return 0.0
    background = data[data <= np.quantile(data, quantile)]
    return float(background.std() / (hi - lo))


# ----------------------------------------------------------------------------- noise
@dataclass
class NoiseCurve:
    """Noise of a registered series against intensity.

    Attributes
    ----------
    mean : numpy.ndarray
        (B,) mean intensity of each bin [image units].
    variance : numpy.ndarray
        (B,) noise variance of one frame in each bin [image units²] (half the variance of
        the consecutive-frame differences).
    count : numpy.ndarray
        (B,) pixels in each bin (summed over the frame pairs).
    gain : float
        Slope of ``var = gain · mean + offset`` [image units] (Poisson part; for a TEM camera
        in ADU the conversion gain in ADU/e⁻ when no bias is left in).
    offset : float
        Intercept [image units²] (Gaussian read/electronic noise minus ``gain × bias``).
    corr_x, corr_y : float
        Lag-1 autocorrelation of the difference images along x (within a row) and y [-]
        (0 for white noise; detector blur or a slow scan response makes them positive).
    image_mean : float
        Mean intensity of the series [image units].
    relative_noise : float
        ``sqrt(variance) / mean`` at the image mean from the fit [-] (unit-free).
    """

    mean: np.ndarray
    variance: np.ndarray
    count: np.ndarray
    gain: float
    offset: float
    corr_x: float
    corr_y: float
    image_mean: float
    relative_noise: float

    def summary(self) -> dict[str, float]:
        """The scalar results as plain floats (for tables and JSON)."""
        return {"gain": self.gain, "offset": self.offset, "corr_x": self.corr_x, "corr_y": self.corr_y,
                "image_mean": self.image_mean, "relative_noise": self.relative_noise}


def lag1_correlation(image: np.ndarray) -> tuple[float, float]:
    """Lag-1 autocorrelation of a (zero-mean) noise image along x and y.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) noise image, e.g. the difference of two registered frames.

    Returns
    -------
    corr_x, corr_y : float
        Pearson correlation of horizontally / vertically adjacent pixels [-].
    """
    d = _check_frame(image, "noise image")
    d = d - d.mean()
    var = float(np.mean(d * d))
    if var <= 0:
        return 0.0, 0.0
    cx = float(np.mean(d[:, 1:] * d[:, :-1]) / var)
    cy = float(np.mean(d[1:, :] * d[:-1, :]) / var)
    return cx, cy


def fit_poisson_gaussian(mean: np.ndarray, variance: np.ndarray, count: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares fit of ``variance = gain · mean + offset``.

    Each bin is weighted by ``count / variance²`` (the inverse variance of a sample-variance
    estimate), so sparse, noisy bins count little.

    Returns
    -------
    gain, offset : float
        Slope [image units] and intercept [image units²].
    """
    m = np.asarray(mean, float)
    v = np.asarray(variance, float)
    c = np.asarray(count, float)
    ok = np.isfinite(m) & np.isfinite(v) & (c > 0) & (v > 0)
    if ok.sum() < 2 or np.ptp(m[ok]) <= 0:
        raise ParameterError("The noise fit needs at least two intensity bins with data.",
                             "Use frames with a range of intensities, or fewer bins.")
    weights = np.sqrt(c[ok]) / v[ok]  # polyfit squares the weights
    gain, offset = np.polyfit(m[ok], v[ok], 1, w=weights)
    return float(gain), float(offset)


def noise_curve(series: np.ndarray | RegisteredSeries, n_bins: int = 12, register: bool = True,
                smooth_px: float = 1.0, min_count: int = 50, highpass_px: float | None = None) -> NoiseCurve:
    """Noise variance against mean intensity, Poisson–Gaussian fit and noise correlation.

    For every pair of consecutive registered frames the difference ``f_i − f_(i+1)`` holds
    only noise (of variance ``2 σ²(μ)`` for independent frames); its pixels are binned by the
    local intensity — the mean of the other frames when there are ≥ 3 (independent of the
    pair's noise), else the pair's mean — smoothed by ``smooth_px``, and each bin's intensity
    is the mean of the pair's own pixels in it.

    Parameters
    ----------
    series : numpy.ndarray or RegisteredSeries
        (N, H, W) frames of one field, N ≥ 2, or an already registered series.
    n_bins : int
        Intensity bins (equal-count quantile bins over the mean image).
    register : bool
        Register raw frames with :func:`~emrestore.evaluation.registration.register_series`
        first (False: frames are already aligned, e.g. simulated frames).
    smooth_px : float
        Gaussian σ of the smoothing of the local mean [px] (0: none).
    min_count : int
        Bins with fewer pixels are dropped.
    highpass_px : float, optional
        Subtract a Gaussian (σ = ``highpass_px`` [px]) smoothing from each difference image
        first: content that changed between the frames (a FIB-SEM surface, slow drift
        residuals) is smooth and would otherwise dominate variance and correlation. White
        noise loses only ≈ 1/(4π σ²) of its variance (0.5 % at σ = 4 px).

    Returns
    -------
    NoiseCurve
    """
    from scipy.ndimage import gaussian_filter

    if isinstance(series, RegisteredSeries):
        frames = series.frames
    else:
        data = np.asarray(series, np.float64)
        if data.ndim != 3 or len(data) < 2:
            raise ParameterError(f"A noise curve needs a series (N ≥ 2, H, W); got shape {data.shape}.",
                                 "Pass the frames of one field as a 3-D array.")
        frames = register_series(data).frames if register else data
    if n_bins < 2:
        raise ParameterError(f"n_bins must be ≥ 2, got {n_bins}.", "Pass e.g. n_bins=12.")
    diffs = np.diff(frames, axis=0)
    if highpass_px is not None:
        diffs = np.stack([d - gaussian_filter(d, highpass_px, mode="reflect") for d in diffs])
    pair_mean = 0.5 * (frames[1:] + frames[:-1])
    n_frames = len(frames)
    if n_frames >= 3:
        # bin by the mean of the *other* frames: its noise is independent of the pair's, so
        # selecting pixels by it does not bias the pair's mean intensity in a bin (a noisy
        # binning variable would flatten the fit: regression dilution)
        total = frames.sum(axis=0)
        selector = np.stack([(total - frames[i] - frames[i + 1]) / (n_frames - 2) for i in range(n_frames - 1)])
    else:
        selector = pair_mean.copy()
    if smooth_px > 0:
        selector = np.stack([gaussian_filter(f, smooth_px, mode="reflect") for f in selector])
    edges = np.unique(np.quantile(selector, np.linspace(0, 1, n_bins + 1)))
    if len(edges) < 3:
        raise ParameterError("The series is (nearly) flat: no intensity range to bin.",
                             "Use frames with some contrast.")
    idx = np.clip(np.digitize(selector.ravel(), edges) - 1, 0, len(edges) - 2)
    d = diffs.ravel()
    nb = len(edges) - 1
    count = np.bincount(idx, minlength=nb)
    s1 = np.bincount(idx, d, nb)
    s2 = np.bincount(idx, d * d, nb)
    sm = np.bincount(idx, pair_mean.ravel(), nb)
    keep = count >= min_count
    n = np.maximum(count, 1)
    mean = sm / n
    variance = (s2 / n - (s1 / n) ** 2) / 2.0
    mean, variance, count = mean[keep], variance[keep], count[keep]
    gain, offset = fit_poisson_gaussian(mean, variance, count)
    corr = np.array([lag1_correlation(x) for x in diffs])
    image_mean = float(frames.mean())
    var_at_mean = gain * image_mean + offset
    relative = float(np.sqrt(max(var_at_mean, 0.0)) / abs(image_mean)) if image_mean else float("nan")
    return NoiseCurve(mean, variance, count, gain, offset, float(corr[:, 0].mean()), float(corr[:, 1].mean()),
                      image_mean, relative)


# ------------------------------------------------------------------------ scan noise
def row_displacements(frame0: np.ndarray, frame1: np.ndarray, upsample: int = 20,
                      rows_per_band: int = 1) -> np.ndarray:
    """Displacement along x of each row of ``frame1`` against the same row of ``frame0``.

    Each row (or band of ``rows_per_band`` rows, averaged, to beat noise) is mean-subtracted,
    Hann-windowed and registered by 1-D cross-correlation upsampled ``upsample`` times
    (:func:`skimage.registration.phase_cross_correlation`). Register the frames globally
    first when they drift by more than a pixel or two in y (rows must show the same line).

    Parameters
    ----------
    frame0, frame1 : numpy.ndarray
        (H, W) frames of one field.
    upsample : int
        Subpixel precision 1/upsample [px].
    rows_per_band : int
        Rows averaged per estimate (1 = every row).

    Returns
    -------
    numpy.ndarray
        (H // rows_per_band,) shift [px] that moves each row of ``frame1`` onto ``frame0``
        (positive: ``frame1``'s row content sits to the left).
    """
    from skimage.registration import phase_cross_correlation

    a = _check_frame(frame0, "frame 0")
    b = _check_frame(frame1, "frame 1")
    if a.shape != b.shape:
        raise ParameterError(f"The frames differ in shape: {a.shape} vs {b.shape}.", "Crop them to one shape.")
    if rows_per_band < 1 or rows_per_band > a.shape[0] // 2:
        raise ParameterError(f"rows_per_band={rows_per_band} must be in [1, H/2].", "Pass e.g. rows_per_band=1.")
    nb = a.shape[0] // rows_per_band
    a = a[: nb * rows_per_band].reshape(nb, rows_per_band, -1).mean(axis=1)
    b = b[: nb * rows_per_band].reshape(nb, rows_per_band, -1).mean(axis=1)
    window = np.hanning(a.shape[1])
    shifts = np.zeros(nb)
    for i in range(nb):
        ra = (a[i] - a[i].mean()) * window
        rb = (b[i] - b[i].mean()) * window
        if not (np.any(ra) and np.any(rb)):
            continue
        shift, _, _ = phase_cross_correlation(ra, rb, upsample_factor=upsample, normalization=None)
        shifts[i] = float(shift[0])
    return shifts


@dataclass
class ScanNoise:
    """Row-to-row displacement between two frames of a scanned series.

    Attributes
    ----------
    shifts_px : numpy.ndarray
        (R,) displacement of each row (band) [px], mean and linear trend (slow drift) removed.
    rms_px : float
        RMS of ``shifts_px`` [px].
    frequency : numpy.ndarray
        (R//2,) frequencies of the spectrum [cycles/row].
    spectrum : numpy.ndarray
        (R//2,) power spectrum of the shifts [px² per frequency bin], sums to ``rms_px²``
        over the positive frequencies (one-sided, DC excluded).
    lag1 : float
        Lag-1 autocorrelation of consecutive row shifts [-] (0: white jitter; near 1: slow
        wander or a low-frequency interference).
    """

    shifts_px: np.ndarray
    rms_px: float
    frequency: np.ndarray
    spectrum: np.ndarray
    lag1: float

    def rms_above(self, cutoff: float) -> float:
        """RMS of the displacement at frequencies ≥ ``cutoff`` [cycles/row] [px]: the line
        jitter, without the slow wander (drift differences) below the cutoff."""
        return float(np.sqrt(self.spectrum[self.frequency >= cutoff].sum()))

    def low_frequency_share(self, cutoff: float = 0.05) -> float:
        """Share of the displacement power below ``cutoff`` [cycles/row]."""
        total = float(self.spectrum.sum())
        return float(self.spectrum[self.frequency < cutoff].sum() / total) if total > 0 else 0.0


def scan_noise(frame0: np.ndarray, frame1: np.ndarray, upsample: int = 20, rows_per_band: int = 1,
               clip_px: float | None = 5.0) -> ScanNoise:
    """RMS and spectrum over rows of the row displacements of two frames.

    Parameters
    ----------
    frame0, frame1 : numpy.ndarray
        (H, W) frames of one field (globally registered).
    upsample, rows_per_band
        See :func:`row_displacements`.
    clip_px : float, optional
        Row shifts farther than this from the median are failed correlations (rows without
        structure) and are replaced by the median before the statistics (None: keep all).

    Returns
    -------
    ScanNoise
    """
    shifts = row_displacements(frame0, frame1, upsample, rows_per_band)
    if clip_px is not None:
        med = float(np.median(shifts))
        bad = np.abs(shifts - med) > clip_px
        shifts = np.where(bad, med, shifts)
    rows = np.arange(len(shifts), dtype=float)
    trend = np.polyval(np.polyfit(rows, shifts, 1), rows)
    resid = shifts - trend
    spec = np.abs(np.fft.rfft(resid)) ** 2 / len(resid) ** 2
    spec = 2 * spec[1: len(resid) // 2 + 1]
    freq = np.fft.rfftfreq(len(resid))[1: len(resid) // 2 + 1]
    var = float(np.mean(resid * resid))
    lag1 = float(np.mean(resid[1:] * resid[:-1]) / var) if var > 0 else 0.0
    return ScanNoise(resid, float(np.sqrt(var)), freq, spec, lag1)


# ----------------------------------------------------------------------- simulation
@dataclass
class SimulatedSeries:
    """Frames of one clean image degraded with one parameter draw and independent noise.

    Attributes
    ----------
    clean : numpy.ndarray
        (H, W) clean image (mean 1).
    frames : numpy.ndarray
        (N, H, W) degraded frames [chain output units].
    target : numpy.ndarray
        (H, W) expected signal of the frames [chain output units].
    pixel_size_nm : float
        Pixel size of the clean image [nm].
    params : dict
        ``{"clean": ..., "distortion": ...}`` parameters of the draw.
    """

    clean: np.ndarray
    frames: np.ndarray
    target: np.ndarray
    pixel_size_nm: float
    params: dict[str, Any]


def simulated_series(tag: str, pixel_size_nm: float | None, size: int, seed: int, n_frames: int = 2,
                     distort_params: dict[str, Any] | None = None,
                     clean_overrides: dict[str, Any] | None = None, pixel_aware: bool = True) -> SimulatedSeries:
    """Render one clean image of ``tag`` and degrade it ``n_frames`` times.

    The distortion parameters are drawn once (from the generator of ``seed``) and fixed, so
    the frames differ only by the noise and by the per-acquisition random scan jitter —
    like consecutive frames of one acquisition setting. No frame is a clean pair.

    Parameters
    ----------
    tag : str
        Model tag.
    pixel_size_nm : float or None
        Pixel size to render at [nm] (None: drawn from the tag's range).
    size : int
        Frame side [px].
    seed : int
        Seed of the clean image, the parameter draw and the noise of frame ``k`` (``seed``
        spawned with key ``k``).
    n_frames : int
        Number of frames (≥ 1).
    distort_params : dict, optional
        Distortion parameters to fix (e.g. ``{"display_applied": False}``).
    clean_overrides : dict, optional
        Renderer overrides besides the pixel size (e.g. ``{"kind": "particles"}``).
    pixel_aware : bool
        Pass the pixel size to the chain (scan-noise amplitudes scaled with it, as in the
        banks); False draws them as if the pixel size were unknown (the previous behaviour).

    Returns
    -------
    SimulatedSeries
    """
    from ..datasets.registry import get_renderer
    from ..distortions import distort

    if n_frames < 1:
        raise ParameterError(f"n_frames must be ≥ 1, got {n_frames}.", "Pass n_frames ≥ 1.")
    overrides = dict(clean_overrides or {})
    if pixel_size_nm is not None:
        overrides["pixel_size_nm"] = float(pixel_size_nm)
    root = np.random.SeedSequence(int(seed))
    clean_ss, param_ss, *noise_ss = root.spawn(2 + n_frames)
    clean = get_renderer(tag)(size, np.random.default_rng(clean_ss), **overrides)
    fixed = dict(distort_params or {})
    _, _, params = distort(clean.image, clean.modality, seed=np.random.default_rng(param_ss),
                           pixel_size_nm=clean.pixel_size_nm if pixel_aware else None, **fixed)
    params = {k: v for k, v in params.items() if k != "modality"}
    frames, target = [], None
    for ss in noise_ss:
        degraded, target, _ = distort(clean.image, clean.modality, seed=np.random.default_rng(ss), **params)
        frames.append(np.asarray(degraded, np.float64))
    return SimulatedSeries(np.asarray(clean.image), np.stack(frames), np.asarray(target, np.float64),
                           float(clean.pixel_size_nm), {"clean": clean.params, "distortion": params})


__all__ = [
    "DEFAULT_PERIOD_PX", "NoiseCurve", "background_texture", "ScanNoise", "SimulatedSeries", "fit_poisson_gaussian", "lag1_correlation",
    "noise_curve", "power_share_below_period", "radial_power_spectrum", "row_displacements", "scan_noise",
    "simulated_series", "white_noise_fraction", "windowed_power",
]

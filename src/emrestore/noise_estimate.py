"""A noise model read from one frame: ``estimate_noise(image) -> NoiseEstimate``.

What it measures (units in brackets; see ``docs/noise.md`` for the method, the validation
against the forward model of :mod:`emrestore.distortions` and the limits):

* the **variance–mean relation** of flat patches, ``var = gain·(mean − offset) + read²``
  (Poisson–Gaussian), fitted robustly over patches: ``gain`` [ADU per noise-equivalent
  event], the intercept ``read² − gain·offset`` [ADU²];
* the **offset** [ADU] from the third cumulant of the patches, which for shot noise is
  ``∝ (mean − offset)`` and zero for Gaussian read noise (this separates offset and read
  noise, which the variance alone cannot), or given by the caller; then ``read_noise``
  [ADU] and the implied ``dose_per_px`` [noise-equivalent e⁻/px];
* the density of **outliers** (X-ray hits, hot pixels) [per px] from a 3 × 3 median
  residual against the fitted noise model;
* for scanned images (STEM, SEM) the **row-to-row jitter** along x [px RMS] and its
  spectrum over rows, from sub-pixel cross-correlation of adjacent rows, done separately
  on the left and right halves so that the estimation noise (independent in the halves)
  drops out of their cross-spectrum and only the shift common to a whole line remains.

Uncertainties are bootstrap standard deviations over patches (noise model) and the
standard error over row segments (jitter). Every random step is seeded.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import NonFiniteDataError, NotAnImageError, ParameterError
from .image import MODALITIES, SCANNED_MODALITIES

__all__ = ["NoiseEstimate", "SPECTRAL_LOW_CUT", "estimate_noise", "shot_noise_variance", "spectral_noise_variance"]

#: Scanned modalities: the row-jitter estimate is made for these.
#: Lower edge of the jitter band [cycles/row]. The shifts are measured between adjacent
#: rows (differences of the line positions); turning them into positions divides their
#: power by 4·sin²(πf), which amplifies the estimation noise at low f (26× at 1/32), so
#: the band starts at 1/8 cycles/row (at most 1.7×). Slow wander below it is not measured.
JITTER_CUTOFF = 1.0 / 8.0
#: A pixel is an outlier when it exceeds the 3 × 3 median by this many noise σ.
OUTLIER_SIGMA = 6.0
#: Smallest frame side [px] and number of patches the fit accepts.
MIN_SIDE = 32
MIN_PATCHES = 16


@dataclass(frozen=True)
class NoiseEstimate:
    """The noise model of one frame, in detector units, with 1-σ uncertainties.

    ``None`` marks a quantity that this frame cannot tell (see ``notes``).

    Attributes
    ----------
    modality : str or None
        ``"tem"``, ``"stem"``, ``"sem"`` or unknown.
    shape : (int, int)
        Shape of the analysed frame [px].
    gain, gain_err : float
        Slope of the patch variance against the patch mean [ADU per noise-equivalent
        event]: the conversion gain for a counting or pure Poisson detector, ``g·(1 + 1/k)``
        for a Swank-spread gain ``Gamma(k, g/k)``, lowered by detector blur (per-pixel
        variance) — see ``noise_correlation``.
    variance_intercept, variance_intercept_err : float
        ``read² − gain·offset`` [ADU²]: the fitted variance at mean 0.
    offset, offset_err : float or None
        Signal level of zero events [ADU], from the third cumulant (``offset_source
        = "skewness"``) or given (``"given"``); ``None`` where the skewness is too weak.
    offset_source : str or None
        ``"skewness"``, ``"given"`` or ``None``.
    read_noise, read_noise_err : float or None
        Signal-independent noise σ [ADU] (read noise + ADC quantisation), ``None`` without
        an offset.
    dose_per_px, dose_per_px_err : float or None
        ``(mean − offset)/gain`` [noise-equivalent e⁻/px] (the true dose for a
        counting camera, ``dose/(1 + 1/k)`` with a Swank spread); ``None`` without an offset.
    mean_adu : float
        Mean of the frame [ADU].
    noise_correlation : (float, float)
        Lag-1 correlation of the noise in flat patches along (y, x) [-] (0: white; a
        blurring detector or afterglow make it positive and lower the per-pixel variance).
    outlier_density : float
        Outlier pixels (X-ray hits, hot pixels) per pixel [1/px].
    outlier_events_per_px : float
        Connected outlier clusters per pixel [events/px] (compare with an X-ray rate).
    outlier_count : int
        Number of outlier pixels.
    n_patches, patch_size : int
        Flat patches used in the fit, and their side [px].
    row_jitter_px, row_jitter_px_err : float or None
        RMS row-to-row displacement along x at row frequencies in ``row_jitter_band``
        [px] (scanned images only).
    row_jitter_band : (float, float) or None
        The band [cycles/row].
    row_jitter_spectrum : tuple of (float, float)
        (frequency [cycles/row], one-sided power [px² per cycle/row]) of the line shifts.
    row_jitter_lag1 : float or None
        Lag-1 correlation of the line shifts implied by the spectrum [-].
    method : str
        One line on how it was measured.
    notes : tuple of str
        What could not be measured and why, and caveats met on this frame.
    seed : int or None
        Seed of the bootstrap.
    """

    modality: str | None
    shape: tuple[int, int]
    gain: float
    gain_err: float
    variance_intercept: float
    variance_intercept_err: float
    offset: float | None
    offset_err: float | None
    offset_source: str | None
    read_noise: float | None
    read_noise_err: float | None
    dose_per_px: float | None
    dose_per_px_err: float | None
    mean_adu: float
    noise_correlation: tuple[float, float]
    outlier_density: float
    outlier_events_per_px: float
    outlier_count: int
    n_patches: int
    patch_size: int
    row_jitter_px: float | None = None
    row_jitter_px_err: float | None = None
    row_jitter_band: tuple[float, float] | None = None
    row_jitter_spectrum: tuple[tuple[float, float], ...] = ()
    row_jitter_lag1: float | None = None
    method: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists, NaN/inf as ``None``)."""

        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return value if math.isfinite(value) else None
            if isinstance(value, (tuple, list)):
                return [clean(v) for v in value]
            return value

        return {key: clean(value) for key, value in asdict(self).items()}

    def summary(self) -> str:
        """One line of text: gain, offset, read noise, dose, outliers, jitter."""

        def pm(value: float | None, err: float | None, fmt: str = ".3g") -> str:
            if value is None:
                return "n/a"
            return f"{value:{fmt}} ± {err:{fmt}}" if err is not None else f"{value:{fmt}}"

        parts = [f"gain {pm(self.gain, self.gain_err)} ADU/e",
                 f"offset {pm(self.offset, self.offset_err)} ADU",
                 f"read noise {pm(self.read_noise, self.read_noise_err)} ADU",
                 f"dose {pm(self.dose_per_px, self.dose_per_px_err)} e/px",
                 f"outliers {self.outlier_density:.2g}/px"]
        if self.row_jitter_px is not None:
            parts.append(f"row jitter {pm(self.row_jitter_px, self.row_jitter_px_err, '.2f')} px RMS")
        return "noise: " + ", ".join(parts)


# --------------------------------------------------------------------------- input


def _as_frame(image: Any, modality: str | None, frame: int) -> tuple[np.ndarray, str | None]:
    from .image import EMImage

    if isinstance(image, EMImage):
        modality = modality if modality is not None else image.modality
        data = np.asarray(image.data)
    else:
        data = np.asarray(image)
    if modality is not None and modality not in MODALITIES:
        raise ParameterError(f"Unknown modality {modality!r}.", "Pass 'tem', 'stem', 'sem' or None.")
    if data.dtype.kind not in "biuf":
        raise NotAnImageError(f"The image has dtype {data.dtype}, not real numbers.",
                              "Pass a real-valued 2-D array or a series (frames, H, W).")
    if data.ndim == 3:
        if not -data.shape[0] <= frame < data.shape[0]:
            raise ParameterError(f"frame={frame} is outside the series of {data.shape[0]} frames.",
                                 f"Pass frame in 0…{data.shape[0] - 1}.")
        data = data[frame]
    if data.ndim != 2:
        raise NotAnImageError(f"The image has {data.ndim} dimensions, not 2 (or 3 for a series).",
                              "Pass one frame (H, W) or a series (frames, H, W).")
    frame_data = data.astype(np.float64)
    if not np.all(np.isfinite(frame_data)):
        raise NonFiniteDataError("The image holds NaN or infinite pixels.",
                                 "Replace them (e.g. with the median) or crop them away first.")
    if min(frame_data.shape) < MIN_SIDE:
        raise ParameterError(f"The frame is {frame_data.shape[0]}×{frame_data.shape[1]} px; the noise "
                             f"estimate needs at least {MIN_SIDE} px on each side.",
                             "Pass a larger frame (≥ 64×64 px gives usable uncertainties).")
    if float(np.ptp(frame_data)) == 0.0:
        raise ParameterError("The frame is constant: it holds no noise to measure.",
                             "Pass a recorded frame, not a blank or saturated one.")
    return frame_data, modality


# --------------------------------------------------------------------------- patches


@dataclass
class _Patches:
    mean: np.ndarray      # (P,) patch mean of the estimation pixels [ADU]
    var: np.ndarray       # (P,) detrended variance of the estimation pixels [ADU²]
    k3: np.ndarray        # (P,) third central moment of the same residuals [ADU³]
    score: np.ndarray     # (P,) detrended variance of the other (checkerboard) pixels [ADU²]
    n: int                # estimation pixels per patch
    n_k3: int             # pixels per patch behind k3
    lag1: np.ndarray      # (P, 2) residual products at lag 1 along y and x, / var
    index: np.ndarray     # (P, 2) patch row, column


def _patches(frame: np.ndarray, size: int, bad: np.ndarray | None) -> _Patches:
    """Plane-detrended statistics of non-overlapping ``size``² patches, on a checkerboard:
    black pixels give mean, variance and third moment; white pixels the structure score
    (their noise is independent of the black pixels', so selecting on it does not bias
    the variance)."""
    rows, cols = frame.shape[0] // size, frame.shape[1] // size
    tiles = frame[: rows * size, : cols * size].reshape(rows, size, cols, size).transpose(0, 2, 1, 3)
    tiles = tiles.reshape(rows * cols, size, size)
    yy, xx = np.mgrid[0:size, 0:size]
    black = ((yy + xx) % 2 == 0).ravel()
    design = np.stack([np.ones(size * size), yy.ravel() - (size - 1) / 2, xx.ravel() - (size - 1) / 2], 1)
    flat = tiles.reshape(len(tiles), -1)

    def detrended(mask: np.ndarray) -> np.ndarray:
        a = design[mask]
        coef, *_ = np.linalg.lstsq(a, flat[:, mask].T, rcond=None)
        return flat[:, mask] - (a @ coef).T

    rb, rw = detrended(black), detrended(~black)
    dof = black.sum() - 3
    var = (rb ** 2).sum(1) / dof
    score = (rw ** 2).sum(1) / ((~black).sum() - 3)
    # third moment and lag-1 correlation from the full plane-detrended residual
    full = flat - (design @ np.linalg.lstsq(design, flat.T, rcond=None)[0]).T
    k3 = (full ** 3).sum(1) / (size * size - 3)
    full = full.reshape(-1, size, size)
    denom = (full ** 2).mean((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        lag_y = (full[:, 1:, :] * full[:, :-1, :]).mean((1, 2)) / denom
        lag_x = (full[:, :, 1:] * full[:, :, :-1]).mean((1, 2)) / denom
    index = np.stack(np.divmod(np.arange(rows * cols), cols), 1)
    keep = np.ones(len(tiles), bool)
    if bad is not None:
        bad_tiles = bad[: rows * size, : cols * size].reshape(rows, size, cols, size).any((1, 3)).ravel()
        keep &= ~bad_tiles
    return _Patches(flat[:, black].mean(1)[keep], var[keep], k3[keep], score[keep], int(black.sum()),
                    size * size,
                    np.stack([lag_y, lag_x], 1)[keep], index[keep])


def _wls_huber(x: np.ndarray, y: np.ndarray, sd: np.ndarray, iterations: int = 8, c: float = 2.0
               ) -> tuple[float, float]:
    """Straight line ``y = a·x + b`` by iteratively reweighted least squares with Huber
    weights on residuals scaled by ``sd`` (the expected spread of each y)."""
    w0 = 1.0 / np.maximum(sd, 1e-300) ** 2
    w = w0.copy()
    a = b = 0.0
    for _ in range(iterations):
        sw = w.sum()
        xm, ym = (w * x).sum() / sw, (w * y).sum() / sw
        sxx = (w * (x - xm) ** 2).sum()
        a = (w * (x - xm) * (y - ym)).sum() / sxx if sxx > 0 else 0.0
        b = ym - a * xm
        z = np.abs(y - a * x - b) / np.maximum(sd, 1e-300)
        w = w0 * np.minimum(1.0, c / np.maximum(z, 1e-12))
    return float(a), float(b)


def _select(p: _Patches, quantile: float = 0.5, bins: int = 12) -> np.ndarray:
    """First selection: in each band of patch means, the patches with the lowest score."""
    edges = np.unique(np.quantile(p.mean, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p.mean, side="right") - 1, 0, max(len(edges) - 2, 0))
    keep = np.zeros(p.mean.size, bool)
    for b in np.unique(which):
        members = which == b
        keep |= members & (p.score <= np.quantile(p.score[members], quantile))
    return keep


def _fit_variance(p: _Patches) -> tuple[float, float, np.ndarray]:
    """Variance–mean line over patches consistent with it; returns (gain, intercept, used)."""
    keep = _select(p)
    floor = max(np.median(p.var) * 1e-3, 1e-12)
    a, b = 0.0, float(np.median(p.var[keep]))
    for _ in range(4):
        pred = np.maximum(a * p.mean + b, floor) if a or b else np.full(p.mean.size, b)
        sd = pred * math.sqrt(2.0 / (p.n - 3))
        if _ > 0:  # keep patches whose independent score agrees with the noise model
            keep = p.score <= pred * (1.0 + 3.0 * math.sqrt(2.0 / (p.n - 3)))
            if keep.sum() < MIN_PATCHES // 2:
                keep = _select(p)
        a, b = _wls_huber(p.mean[keep], p.var[keep], sd[keep])
    return a, b, keep


@dataclass
class _VarianceLine:
    patches: _Patches
    gain: float           # slope of the patch variance against the patch mean [ADU]
    intercept: float      # variance at mean 0 [ADU²]
    keep: np.ndarray      # patches consistent with the line
    median: np.ndarray    # 3×3 median of the frame [ADU]
    outliers: np.ndarray  # pixels far above the median (X-ray hits, hot pixels)
    model_var: np.ndarray  # the line's per-pixel variance at the median [ADU²]


def _variance_line(data: np.ndarray, patch_size: int) -> _VarianceLine:
    """The variance–mean line of ``data``'s flat patches, fitted twice: the second time without
    the patches that hold outliers above the first fit's noise."""
    from scipy import ndimage

    median = ndimage.median_filter(data, size=3, mode="reflect")
    residual = data - median
    bad = None
    for _pass in range(2):  # second pass: patches with outliers left out
        p = _patches(data, patch_size, bad)
        if p.mean.size < MIN_PATCHES:
            raise ParameterError(f"Only {p.mean.size} patches of {patch_size} px could be used "
                                 f"(at least {MIN_PATCHES} are needed).",
                                 "Pass a larger frame or a smaller patch_size.")
        gain, intercept, keep = _fit_variance(p)
        model_var = np.maximum(gain * median + intercept, max(float(np.median(p.var[keep])) * 1e-2, 1e-12))
        # the median of 9 noisy values has its own spread: residual variance ≈ 1.3 var
        # plus 2 events: the shot-noise tail at a few events per pixel is not Gaussian
        outliers = residual > OUTLIER_SIGMA * np.sqrt(1.3 * model_var) + 2.0 * max(gain, 0.0)
        bad = ndimage.binary_dilation(outliers, iterations=1)
    return _VarianceLine(p, float(gain), float(intercept), keep, median, outliers, model_var)


def shot_noise_variance(frame: np.ndarray, patch_size: int = 8) -> float | None:
    """Per-pixel noise variance [ADU²] from the variance–mean line of the frame's flat patches.

    The fit of :func:`estimate_noise` (checkerboard-split, plane-detrended patches; outliers
    left out), evaluated at the mean of the frame's non-outlier pixels: ``gain·mean +
    intercept``. Shot noise follows that line and specimen texture does not (flat patches are
    selected by an independent score), so unlike :func:`spectral_noise_variance` it does not
    read fine texture or sharp edges as noise.

    Parameters
    ----------
    frame : numpy.ndarray
        (H, W) frame [ADU]; at least 4·``patch_size`` px on each side.
    patch_size : int
        Side of the patches [px] (even, ≥ 4).

    Returns
    -------
    float or None
        The variance, or None where the frame cannot tell it: too few usable patches, fewer
        than half of :data:`MIN_PATCHES` consistent with a line, or a line that is not positive
        at the frame's mean.

    Examples
    --------
    Sharp-edged grains of 20 px at about 1,000 counts (Poisson: variance = mean):

    >>> rng = np.random.default_rng(0)
    >>> clean = np.kron(rng.uniform(500, 1500, (40, 40)), np.ones((20, 20)))[5:261, 3:259]
    >>> frame = rng.poisson(clean).astype(float)
    >>> round(shot_noise_variance(frame) / float(clean.mean()), 1)
    1.0
    >>> round(spectral_noise_variance(frame) / float(clean.mean()), 1)   # edges read as noise
    3.5

    It fails the other way on texture with no flat patch at all (fine periodic stripes, a
    lattice filling the frame), which the spectral floor ignores.
    """
    data = np.asarray(frame, np.float64)
    if min(data.shape) < 4 * patch_size:
        return None
    try:
        line = _variance_line(data, patch_size)
    except ParameterError:
        return None
    if int(line.keep.sum()) < MIN_PATCHES // 2:
        return None
    variance = line.gain * float(data[~line.outliers].mean()) + line.intercept
    return float(variance) if variance > 0 and math.isfinite(variance) else None


def _fit_offset(mean: np.ndarray, var_pred: np.ndarray, k3: np.ndarray, n: int) -> tuple[float, float]:
    """Third cumulant against the mean, ``k3 = c·(mean − offset)``; returns (c, offset)."""
    sd = np.sqrt(6.0 / n) * np.maximum(var_pred, 1e-300) ** 1.5
    c, d = _wls_huber(mean, k3, sd)
    return c, (-d / c if c != 0 else math.nan)


# --------------------------------------------------------------------------- row jitter


def _row_shifts(rows: np.ndarray, noise_var: np.ndarray | None = None, max_shift: float = 4.0,
                iterations: int = 4) -> np.ndarray:
    """Sub-pixel shift ``d_i`` with ``row_{i+1}(x) ≈ row_i(x − d_i)`` [px] for each pair of
    adjacent rows: iterative least-squares (Lucas–Kanade) registration of the lightly
    smoothed rows, Hann-weighted along the row, cubic-spline resampling
    (:func:`scipy.ndimage.map_coordinates`). Linear in the noise (no failed peak searches);
    shifts beyond the features' width are underestimated. ``noise_var`` (the fitted noise
    variance of each pixel [ADU²]) removes the noise power from the squared gradient, which
    would otherwise bias the shifts towards 0 (errors in variables)."""
    from scipy import ndimage

    centred = rows - rows.mean(1, keepdims=True)
    count, n = centred.shape[0] - 1, centred.shape[1]
    weight = np.hanning(n)[None, :]
    x = np.arange(n, dtype=np.float64)[None, :]
    r = np.arange(count, dtype=np.float64)[:, None] * np.ones((1, n))
    d = np.zeros(count)
    for scale in (3.0, 1.0):  # coarse to fine: a wider capture range, then the detail
        smooth = ndimage.gaussian_filter1d(centred, scale, axis=1)
        a, b = smooth[:-1], smooth[1:]
        impulse = np.zeros(64)
        impulse[32] = 1.0
        gain_g = float((np.gradient(ndimage.gaussian_filter1d(impulse, scale)) ** 2).sum())
        noise_g = 0.0 if noise_var is None else (weight * noise_var[1:] * gain_g).sum(1)
        for _ in range(iterations):
            shifted = ndimage.map_coordinates(b, [r, x + d[:, None]], order=3, mode="nearest")
            grad = np.gradient(shifted, axis=1)
            raw = (weight * grad ** 2).sum(1)
            den = np.maximum(raw - noise_g, 0.3 * raw)
            step = -(weight * (shifted - a) * grad).sum(1) / np.where(den > 0, den, np.inf)
            d = np.clip(d + step, -max_shift, max_shift)
    return d


def _row_jitter(frame: np.ndarray, noise_var: np.ndarray, segment: int = 64) -> dict[str, Any]:
    """Jitter spectrum from the cross-spectrum of the shift differences of the two halves."""
    half = frame.shape[1] // 2
    d_left = _row_shifts(frame[:, :half], noise_var[:, :half])
    d_right = _row_shifts(frame[:, half: 2 * half], noise_var[:, half: 2 * half])
    # failed correlations (flat rows) hit the search limit: clip to a robust range
    for d in (d_left, d_right):
        med = np.median(d)
        mad = 1.4826 * np.median(np.abs(d - med)) + 1e-3
        np.clip(d, med - 5 * mad, med + 5 * mad, out=d)
    count = d_left.size
    segment = int(min(segment, 2 ** int(math.log2(max(count // 2, 8)))))
    step = segment // 2
    starts = list(range(0, count - segment + 1, step))
    window = np.hanning(segment)
    norm = (window ** 2).sum()
    freq = np.fft.rfftfreq(segment)
    per_seg = []
    for s in starts:
        a = d_left[s: s + segment]
        b = d_right[s: s + segment]
        fa = np.fft.rfft((a - a.mean()) * window)
        fb = np.fft.rfft((b - b.mean()) * window)
        per_seg.append(np.real(np.conj(fa) * fb) / norm)  # [px² per bin of 1/segment]
    cross = np.array(per_seg)  # (S, F): periodogram of the common difference signal
    with np.errstate(divide="ignore"):
        transfer = 4.0 * np.sin(np.pi * freq) ** 2  # |1 − e^{−2πif}|²: difference → shift
    shift_power = np.where(freq > 0, cross / np.where(transfer > 0, transfer, 1.0), 0.0)
    onesided = shift_power * np.where((freq > 0) & (freq < 0.5), 2.0, 1.0)  # [px² per 1/segment]
    band = freq >= JITTER_CUTOFF
    band_var = onesided[:, band].sum(1) / segment  # per segment [px²]
    mean_var = float(band_var.mean())
    # overlapping Hann segments at half steps are nearly independent (≈ 1.1 inflation)
    err_var = float(band_var.std(ddof=1) / math.sqrt(len(starts)) * 1.1) if len(starts) > 1 else math.inf
    rms = math.sqrt(max(mean_var, 0.0))
    rms_err = err_var / (2 * rms) if rms > 0 else math.sqrt(max(err_var, 0.0))
    mean_psd = onesided.mean(0)  # px² per cycle/row (bin width 1/segment: sum/segment = variance)
    positive = np.clip(mean_psd[band], 0.0, None)
    total = float(positive.sum())
    lag1 = float((positive * np.cos(2 * np.pi * freq[band])).sum() / total) if total > 0 else None
    return {
        "row_jitter_px": rms,
        "row_jitter_px_err": min(rms_err, 1e6),
        "row_jitter_band": (JITTER_CUTOFF, 0.5),
        "row_jitter_spectrum": tuple((float(f), float(p)) for f, p in zip(freq[1:], mean_psd[1:])),
        "row_jitter_lag1": lag1,
    }


# --------------------------------------------------------------------------- main


def estimate_noise(image: Any, *, modality: str | None = None, offset: float | None = None,
                   patch_size: int | None = None, frame: int = 0, seed: int | np.random.Generator | None = 0,
                   bootstrap: int = 200) -> NoiseEstimate:
    """Estimate gain, offset, read noise, outliers and (scanned images) row jitter from one frame.

    Parameters
    ----------
    image : EMImage or numpy.ndarray
        A frame (H, W) or a series (frames, H, W) [ADU, as recorded]. For a series one
        frame is analysed (``frame``); run it per frame to compare frames. An
        :class:`~emrestore.image.EMImage` gives its modality.
    modality : {"tem", "stem", "sem"}, optional
        Overrides the image's modality. The row jitter is measured for ``"stem"`` and
        ``"sem"`` only.
    offset : float, optional
        Known signal of zero events [ADU] (e.g. 0 for a counting camera, or a dark
        reference's level). Without it the offset comes from the patches' third cumulant.
    patch_size : int, optional
        Side of the patches [px] (even, ≥ 4). Default 8, 16 for frames ≥ 1024 px on both sides.
    frame : int
        Frame of a series to analyse (default the first).
    seed : int, numpy.random.Generator or None
        Seed of the bootstrap over patches (default 0: reproducible).
    bootstrap : int
        Bootstrap resamples for the uncertainties (≥ 20).

    Returns
    -------
    NoiseEstimate
        The noise model with 1-σ uncertainties; ``to_dict()`` gives JSON.

    Raises
    ------
    NotAnImageError
        Not a 2-D frame or 3-D series of real numbers.
    NonFiniteDataError
        NaN or infinite pixels.
    ParameterError
        A side below 32 px, a constant frame, too few usable patches, bad options.
    """
    data, modality = _as_frame(image, modality, frame)
    if patch_size is None:
        patch_size = 16 if min(data.shape) >= 1024 else 8
    if patch_size < 4 or patch_size % 2 or patch_size > min(data.shape) // 4:
        raise ParameterError(f"patch_size={patch_size} must be even, ≥ 4 and ≤ a quarter of the frame side.",
                             "Leave it at the default or pass e.g. 8.")
    if bootstrap < 20:
        raise ParameterError(f"bootstrap={bootstrap} is too few resamples for an uncertainty.",
                             "Pass bootstrap ≥ 20 (default 200).")
    if offset is not None and not math.isfinite(float(offset)):
        raise ParameterError(f"offset={offset} is not a finite number.", "Pass the offset in ADU, or None.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    seed_value = seed if isinstance(seed, int) else None
    notes: list[str] = []

    from scipy import ndimage

    line = _variance_line(data, patch_size)
    p, gain, intercept, keep = line.patches, line.gain, line.intercept, line.keep
    median, outliers, model_var = line.median, line.outliers, line.model_var
    if keep.sum() < MIN_PATCHES // 2:
        notes.append(f"only {int(keep.sum())} patches agree with a variance–mean line: the frame has "
                     "little flat area, the fit is weak")
    pm, pv, pk = p.mean[keep], p.var[keep], p.k3[keep]
    spread = float(np.ptp(pm))
    if spread < 3.0 * math.sqrt(max(float(np.median(pv)), 1e-300) / p.n):
        notes.append("the flat patches span almost no range of means: gain and intercept are degenerate")

    # third cumulant → offset
    pred = np.maximum(gain * pm + intercept, 1e-12)
    c3, off_hat = _fit_offset(pm, pred, pk, p.n_k3)

    # bootstrap over patches
    boot = np.empty((bootstrap, 4))
    idx_all = np.arange(pm.size)
    for i in range(bootstrap):
        idx = rng.choice(idx_all, idx_all.size, replace=True)
        sd = pred[idx] * math.sqrt(2.0 / (p.n - 3))
        a, b = _wls_huber(pm[idx], pv[idx], sd)
        c, o = _fit_offset(pm[idx], np.maximum(a * pm[idx] + b, 1e-12), pk[idx], p.n_k3)
        boot[i] = (a, b, c, o)
    gain_err = float(np.std(boot[:, 0], ddof=1))
    intercept_err = float(np.std(boot[:, 1], ddof=1))
    c3_err = float(np.std(boot[:, 2], ddof=1))

    mean_adu = float(data.mean())
    off: float | None
    off_err: float | None
    source: str | None
    if offset is not None:
        off, off_err, source = float(offset), 0.0, "given"
        boot_off = np.full(bootstrap, float(offset))
    elif gain > 0 and c3 > 3.0 * c3_err and math.isfinite(off_hat):
        boot_off = boot[:, 3]
        off, source = float(off_hat), "skewness"
        lo, hi = np.nanpercentile(boot_off, [15.87, 84.13])
        off_err = float((hi - lo) / 2)
    else:
        off = off_err = source = None
        boot_off = None
        notes.append("the patches show no significant shot-noise skewness: offset and read noise "
                     "cannot be told apart (only read² − gain·offset is known); pass offset= if known")

    read = read_err = dose = dose_err = None
    if off is not None and boot_off is not None:
        r2 = intercept + gain * off
        r2_boot = boot[:, 1] + boot[:, 0] * boot_off
        read = math.sqrt(max(r2, 0.0))
        rb = np.sqrt(np.clip(r2_boot[np.isfinite(r2_boot)], 0.0, None))
        read_err = float(np.std(rb, ddof=1)) if rb.size > 1 else None
        if gain > 0:
            dose = (mean_adu - off) / gain
            dboot = (mean_adu - boot_off) / boot[:, 0]
            lo, hi = np.nanpercentile(dboot, [15.87, 84.13])
            dose_err = float((hi - lo) / 2)
        if r2 < 0:
            notes.append(f"read² = intercept + gain·offset = {r2:.3g} ADU² < 0: read noise set to 0")
    if gain <= 0:
        notes.append("the patch variance does not grow with the mean: no shot noise visible "
                     "(processed, display-stretched or near-noiseless frame?)")

    lag = p.lag1[keep]
    corr = (float(np.nanmedian(lag[:, 0])), float(np.nanmedian(lag[:, 1])))
    if max(corr) > 0.15:
        notes.append(f"noise is correlated between neighbours (lag-1 y {corr[0]:.2f}, x {corr[1]:.2f}): "
                     "blur or afterglow lower the per-pixel variance, so the gain reads low and the dose high")

    # an event's pixels need not all pass the threshold: clusters 1 px apart are one event
    _, n_events = ndimage.label(ndimage.binary_dilation(outliers, structure=np.ones((3, 3)), iterations=1))
    count = int(outliers.sum())
    npx = data.size

    jitter: dict[str, Any] = {}
    if modality in SCANNED_MODALITIES:
        if data.shape[1] < 2 * MIN_SIDE or data.shape[0] < 64:
            notes.append("row jitter needs ≥ 64 rows and ≥ 64 columns")
        else:
            jitter = _row_jitter(np.where(outliers, median, data), model_var)
            notes.append("row jitter: x only, and periodic specimen structure along y adds "
                         "peaks at its row frequency")
    method = (f"variance–mean (Huber IRLS) and third-cumulant fits over {int(keep.sum())} flat "
              f"{patch_size}×{patch_size} patches (checkerboard-split, plane-detrended), "
              f"{bootstrap} bootstrap resamples; outliers > {OUTLIER_SIGMA:g} σ above the 3×3 median"
              + ("; row jitter from left/right cross-spectrum of adjacent-row shifts" if jitter else ""))
    return NoiseEstimate(
        modality=modality, shape=(int(data.shape[0]), int(data.shape[1])),
        gain=float(gain), gain_err=gain_err,
        variance_intercept=float(intercept), variance_intercept_err=intercept_err,
        offset=off, offset_err=off_err, offset_source=source,
        read_noise=read, read_noise_err=read_err,
        dose_per_px=dose, dose_per_px_err=dose_err, mean_adu=mean_adu,
        noise_correlation=corr,
        outlier_density=count / npx, outlier_events_per_px=n_events / npx, outlier_count=count,
        n_patches=int(keep.sum()), patch_size=int(patch_size),
        method=method, notes=tuple(notes), seed=seed_value, **jitter,
    )


#: Spatial frequencies [cycles/px] below this hold the image's content; the noise floor is
#: read above it (and carried flat below it).
SPECTRAL_LOW_CUT = 0.12


def spectral_noise_variance(frame: np.ndarray) -> float:
    """Per-pixel noise variance [ADU²] from the floor of the frame's power spectrum.

    The periodogram of the Hann-windowed frame is, for noise, exponentially distributed
    about the noise spectrum: the median over each ring of radius ≥ :data:`SPECTRAL_LOW_CUT`
    cycles/px, divided by ln 2, is the noise power there (lattice spots, sparse in each ring,
    barely move a median). The per-pixel variance is the mean of that spectrum over the
    whole frequency plane, the rings below the cut taking the value of the first ring above
    it (so correlated, blurred noise is integrated, not assumed white).
    """
    data = frame.astype(np.float64) - float(np.mean(frame))
    h, w = data.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(data * window)) ** 2 / float(np.sum(window ** 2))
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    radius = np.hypot(fy, fx)
    edges = np.arange(SPECTRAL_LOW_CUT, 0.5 + 1e-9, 0.02)
    levels = []
    for lo, hi in itertools.pairwise(edges):
        ring = (radius >= lo) & (radius < hi)
        levels.append(np.median(power[ring]) / np.log(2.0) if ring.sum() >= 32 else np.nan)
    levels_a = np.array(levels)
    if not np.isfinite(levels_a).any():
        return float(np.var(data))
    first = levels_a[np.isfinite(levels_a)][0]
    index = np.clip(np.searchsorted(edges, radius, side="right") - 1, 0, len(levels_a) - 1)
    spectrum = np.where(radius < SPECTRAL_LOW_CUT, first, levels_a[index])
    spectrum = np.where(np.isfinite(spectrum), spectrum, first)
    return float(np.mean(spectrum))

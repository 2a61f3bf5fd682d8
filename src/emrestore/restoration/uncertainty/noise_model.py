"""The noise variance a frame's detector predicts at each intensity: ``var = gain·I + c``.

The physics check of the uncertainty map compares the residual ``input − restored`` with
this prediction. It comes from :func:`emrestore.estimate_noise` (flat patches) when that
fit is usable; otherwise (frames without flat patches, e.g. a lattice everywhere, where the
patch fit returns a non-positive gain) from a robust estimate on the input itself that does
not use the restoration: its level from the noise floor of the input's power spectrum
(:func:`spectral_noise_variance`: lattice spots and low-frequency content are sparse in
frequency, the noise covers all of it) and its dependence on intensity from the median
of the squared 4-neighbour high-pass in bins of intensity, scaled to that level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import EMRestoreError
from ...noise_estimate import spectral_noise_variance

#: For white noise of variance σ², ``x − mean(4 neighbours)`` has variance 1.25 σ².
HIGHPASS_GAIN = 1.25
#: Median of χ²₁ (median(z²) for a standard normal z): turns a median of squares into a variance.
MEDIAN_CHI2_1 = 0.4549364
#: estimate_noise is used when its mean variance over the frame and the spectral noise floor
#: agree within this factor (two independent reads of the same noise); else the fallback.
AGREEMENT = 2.0
#: Intensity bins of the fallback fit.
FALLBACK_BINS = 16


@dataclass(frozen=True)
class NoiseVariance:
    """``variance(I) = gain·I + intercept`` [ADU²] at intensity ``I`` [ADU].

    Attributes
    ----------
    gain : float
        Slope [ADU] (≥ 0).
    intercept : float
        Variance at intensity 0 [ADU²].
    floor : float
        Smallest variance returned [ADU²] (keeps ratios finite in dark regions).
    correlation : (float, float)
        Lag-1 correlation of the noise along (y, x) [-] (0 where unknown).
    source : str
        ``"estimate_noise"`` (flat-patch fit) or ``"spectral fallback"``.
    note : str
        Why the fallback was used, if it was.
    """

    gain: float
    intercept: float
    floor: float
    correlation: tuple[float, float] = (0.0, 0.0)
    source: str = "estimate_noise"
    note: str = ""

    def __call__(self, intensity: np.ndarray) -> np.ndarray:
        """Predicted per-pixel noise variance [ADU²] at ``intensity`` [ADU]."""
        return np.maximum(self.gain * np.asarray(intensity, np.float64) + self.intercept, self.floor)

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"gain": float(self.gain), "intercept": float(self.intercept), "floor": float(self.floor),
                "correlation": [float(c) for c in self.correlation], "source": self.source,
                "note": self.note}


def _highpass(frame: np.ndarray) -> np.ndarray:
    """``x − mean of its 4 neighbours`` (reflecting edges)."""
    p = np.pad(frame, 1, mode="reflect")
    return frame - 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])


def fallback_variance(frame: np.ndarray, intensity: np.ndarray, note: str = "") -> NoiseVariance:
    """Robust ``var = gain·I + c``: shape from the input's high-pass binned by ``intensity``,
    level from :func:`spectral_noise_variance`.

    Parameters
    ----------
    frame : numpy.ndarray
        (H, W) input [ADU].
    intensity : numpy.ndarray
        (H, W) intensity to bin by [ADU] (the restoration: the noise-free level).
    note : str
        Why the fallback is used (recorded).

    Notes
    -----
    Structure finer than two pixels leaks into the high-pass; the median over each bin keeps
    it from dominating while it covers under half the pixels. Correlated noise (detector
    blur) lowers the high-pass variance, so this estimate is then low.
    """
    h2 = _highpass(frame.astype(np.float64)) ** 2
    level = intensity.astype(np.float64).ravel()
    edges = np.unique(np.quantile(level, np.linspace(0, 1, FALLBACK_BINS + 1)))
    which = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, max(len(edges) - 2, 0))
    means, variances, weights = [], [], []
    for b in range(max(len(edges) - 1, 1)):
        sel = which == b
        if sel.sum() < 16:
            continue
        means.append(level[sel].mean())
        variances.append(np.median(h2.ravel()[sel]) / MEDIAN_CHI2_1 / HIGHPASS_GAIN)
        weights.append(sel.sum())
    means_a, var_a = np.array(means), np.array(variances)
    if len(means_a) >= 2 and np.ptp(means_a) > 0:
        gain, intercept = np.polyfit(means_a, var_a, 1, w=np.sqrt(weights))
    else:
        gain, intercept = 0.0, float(np.mean(var_a)) if len(var_a) else float(np.var(frame))
    if gain < 0:  # a variance falling with intensity is not a detector: use the level
        gain, intercept = 0.0, float(np.average(var_a, weights=weights))
    # the level from the spectrum's floor (the high-pass also holds fine structure)
    scale = spectral_noise_variance(frame) / max(float(np.mean(gain * level + intercept)), 1e-12)
    gain, intercept = gain * scale, intercept * scale
    floor = max(float(np.min(var_a)) * 0.25 * scale if len(var_a) else 0.0, 1e-12)
    return NoiseVariance(float(gain), float(intercept), floor, (0.0, 0.0), "spectral fallback", note)


def noise_variance(frame: np.ndarray, intensity: np.ndarray, modality: str | None = None,
                   seed: int = 0) -> NoiseVariance:
    """The frame's noise model: :func:`emrestore.estimate_noise` if usable, else the fallback.

    Parameters
    ----------
    frame : numpy.ndarray
        (H, W) input [ADU].
    intensity : numpy.ndarray
        (H, W) restoration [ADU] (used to check the fit's range and by the fallback).
    modality : {"tem", "stem", "sem"}, optional
    seed : int
        Seed of the estimate's bootstrap.

    Returns
    -------
    NoiseVariance
        Usable means: a gain not below 0 by more than 2 of its σ (a gain within its error
        of 0 is set to 0), a positive variance over the restored frame's 1–99 % range, and a
        mean variance within :data:`AGREEMENT`× of :func:`spectral_noise_variance`.
    """
    from ...noise_estimate import estimate_noise

    try:
        est = estimate_noise(frame, modality=modality, seed=seed, bootstrap=20)
    except EMRestoreError as error:
        return fallback_variance(frame, intensity, f"estimate_noise failed: {error}")
    lo, hi = np.percentile(intensity, [1, 99])
    low_var = est.gain * lo + est.variance_intercept
    high_var = est.gain * hi + est.variance_intercept
    if not (est.gain > -2 * est.gain_err and low_var > 0 and high_var > 0):
        return fallback_variance(frame, intensity,
                                 f"estimate_noise fit not usable (gain {est.gain:.3g} ± {est.gain_err:.3g}, "
                                 f"variance {low_var:.3g}…{high_var:.3g} ADU² over the frame)")
    gain, intercept = float(est.gain), float(est.variance_intercept)
    if gain < 0:  # within its error of 0 (a flat frame cannot tell the slope): the level only
        gain, intercept = 0.0, gain * float(est.mean_adu) + intercept
    mean_var = float(np.mean(np.maximum(gain * intensity.astype(np.float64) + intercept, 0.0)))
    floor_var = spectral_noise_variance(frame)
    if not 1.0 / AGREEMENT <= mean_var / max(floor_var, 1e-300) <= AGREEMENT:
        # patches that hold structure (a lattice everywhere) inflate the patch variances
        return fallback_variance(frame, intensity,
                                 f"estimate_noise ({mean_var:.3g} ADU² on average) and the spectral noise "
                                 f"floor ({floor_var:.3g} ADU²) disagree by more than {AGREEMENT:g}×")
    floor = 0.25 * min(low_var, high_var)
    return NoiseVariance(gain, intercept, float(floor),
                         tuple(float(c) for c in est.noise_correlation), "estimate_noise")

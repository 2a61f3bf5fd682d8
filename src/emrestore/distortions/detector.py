"""STEM/SEM detector and electronics (spec §2b and §3), in raster time order.

STEM: :class:`~emrestore.distortions.camera.Dose` + :class:`~emrestore.distortions.camera.ShotNoise`
→ :class:`ScintillatorGain` → :class:`Afterglow` → :class:`ElectronicNoise` →
:class:`BrightnessContrast` → :class:`LineIntensityNoise` → ADC.
SEM replaces dose and shot noise by :class:`SecondaryEmission` and may average several
acquisitions (:class:`Integration`). The scintillator/PMT gain ``g`` is absorbed in the
contrast: signals are in detected electrons until :class:`BrightnessContrast` maps them
to ADU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .adc import full_scale
from .parameters import ChainState, Param, Stage, as_float_image
from .sampling import add_gaussian_noise, ar1, poisson_constant

__all__ = [
    "SecondaryEmission",
    "ScintillatorGain",
    "Afterglow",
    "ElectronicNoise",
    "BrightnessContrast",
    "LineIntensityNoise",
    "Integration",
    "brightness_contrast_for",
]


@dataclass(frozen=True)
class SecondaryEmission(Stage):
    """SEM emission statistics: a compound (two-stage) Poisson process.

    Primary electrons ``N_pe ~ Poisson(D_pe)``; secondary electrons
    ``N_se ~ Poisson(N_pe·η·δ₀·c(r))``. The mean is ``D_pe·η·δ₀·c``; the variance is
    larger, ``mean·(1 + η·δ₀·c)``, as in a real SEM. Like shot noise, this stage has
    no neutral setting.

    Parameters
    ----------
    dose_pe_per_px : float
        Primary-electron dose ``D_pe`` [e⁻/px]; default logU[5, 5000], with p = 0.05
        logU[5000, 10⁵] instead (near-clean frames).
    se_yield_delta0 : float
        Secondary-electron yield scale ``δ₀`` (``δ(r) = δ₀·c(r)``) [SE/PE]; default U[0.1, 1].
    collection_efficiency : float
        Detector collection efficiency ``η`` [-]; default U[0.2, 0.8].
    """

    NAME: ClassVar[str] = "secondary emission"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("dose_pe_per_px", "float", "primary-electron dose [e⁻/px]", neutral=100.0,
              low=5.0, high=5000.0, log=True, minimum=1e-9, maximum=1e12, tail_high=1e5, tail_p=0.05),
        Param("se_yield_delta0", "float", "secondary-electron yield scale δ₀ [SE/PE]",
              neutral=1.0, low=0.1, high=1.0, minimum=1e-9, maximum=100.0),
        Param("collection_efficiency", "float", "SE collection efficiency η [-]", neutral=1.0,
              low=0.2, high=0.8, minimum=1e-9, maximum=1.0),
    )

    dose_pe_per_px: float = 100.0
    se_yield_delta0: float = 1.0
    collection_efficiency: float = 1.0

    @property
    def mean_se_per_pe(self) -> float:
        """Detected SE per primary electron for ``c = 1``, ``η·δ₀`` [-]."""
        return self.collection_efficiency * self.se_yield_delta0

    def expected(self, image: np.ndarray) -> np.ndarray:
        """Expected detected secondary electrons per pixel, ``D_pe·η·δ₀·c`` (float32)."""
        return as_float_image(image) * np.float32(self.dose_pe_per_px * self.mean_se_per_pe)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        image = np.maximum(np.asarray(image, dtype=np.float64), 0.0)
        primaries = poisson_constant(self.dose_pe_per_px, image.shape, rng)
        return rng.poisson(primaries * (self.mean_se_per_pe * image)).astype(np.float32)


@dataclass(frozen=True)
class ScintillatorGain(Stage):
    """Scintillator + photomultiplier gain spread: ``S = Gamma(N·k, 1/k)`` (``g`` = 1).

    Parameters
    ----------
    scintillator_k : float or None
        Shape factor ``k`` of the per-electron pulse height [-] (variance ``N/k``);
        default U[1, 20]. Neutral: ``None`` (no spread).
    """

    NAME: ClassVar[str] = "scintillator gain"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("scintillator_k", "float", "pulse-height shape factor k of scintillator + PMT [-]",
              neutral=None, low=1.0, high=20.0, minimum=1e-3, allow_none=True),
    )

    scintillator_k: float | None = None

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.scintillator_k is None:
            return as_float_image(image).copy()
        counts = np.maximum(np.asarray(image, dtype=np.float32), np.float32(0.0))
        signal = rng.standard_gamma(counts * np.float32(self.scintillator_k), dtype=np.float32)
        signal *= np.float32(1.0 / self.scintillator_k)
        return signal


@dataclass(frozen=True)
class Afterglow(Stage):
    """Detector response: causal exponential filter along the raster sequence.

    ``y_n = a·y_{n−1} + (1 − a)·s_n`` with ``a = exp(−τ/τ_det)``; across a line
    fly-back the state decays by ``exp(−τ_fb/τ_det)``. Computed row-wise with
    :func:`scipy.signal.lfilter` plus an exact carry of the state between rows.

    Parameters
    ----------
    afterglow_tau_dwells : float
        Detector decay time in dwell times, ``τ_det/τ`` [-]; default U[0, 3] (STEM),
        U[0, 6] (SEM, Everhart–Thornley). Neutral: 0.
    dwell_time_us, flyback_time_us : float
        Scan timing (shared with :class:`~emrestore.distortions.scan.DwellBlur`).
    """

    NAME: ClassVar[str] = "afterglow"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("afterglow_tau_dwells", "float", "detector decay time τ_det/τ [dwell times]",
              neutral=0.0, low=0.0, high=3.0, minimum=0.0, maximum=1e6),
    )
    SHARED: ClassVar[tuple[str, ...]] = ("dwell_time_us", "flyback_time_us")

    afterglow_tau_dwells: float = 0.0
    dwell_time_us: float = 10.0
    flyback_time_us: float = 100.0

    @property
    def pixel_decay(self) -> float:
        """Decay factor per dwell ``a = exp(−τ/τ_det)`` (0 without afterglow)."""
        if self.afterglow_tau_dwells == 0:
            return 0.0
        return math.exp(-1.0 / self.afterglow_tau_dwells)

    @property
    def flyback_decay(self) -> float:
        """Decay factor over one line fly-back ``exp(−τ_fb/τ_det)``."""
        if self.afterglow_tau_dwells == 0:
            return 0.0
        return math.exp(-self.flyback_time_us / (self.dwell_time_us * self.afterglow_tau_dwells))

    def expected(self, image: np.ndarray) -> np.ndarray:
        """The decay applied to the noise-free signal (the same in every frame: a target keeps it)."""
        return self(image)

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        image = as_float_image(image)
        a = self.pixel_decay
        if a == 0.0:
            return image.copy()
        # imported on first use: scipy.signal is slow to import
        from scipy.signal import lfilter

        height, width = image.shape
        rows = lfilter([1.0 - a], [1.0, -a], image, axis=1)  # zero state at every line start
        # State entering line i: c_i = b·Y_{i−1,last}; Y_i = rows_i + c_i·a^(j+1).
        b = self.flyback_decay
        carry_gain = b * a**width
        entering = np.zeros(height)
        if height > 1:
            entering[1:] = lfilter([b], [1.0, -carry_gain], rows[:-1, -1])
        powers = a ** np.arange(1, width + 1, dtype=np.float64)
        out = rows + entering[:, None] * powers[None, :]
        return out.astype(np.float32)


@dataclass(frozen=True)
class ElectronicNoise(Stage):
    """Amplifier noise of the detector electronics: add ``N(0, σ_e·g)`` (``g`` = 1).

    Parameters
    ----------
    electronic_sigma_e : float
        σ in units of one detected electron's mean signal [e⁻]; default U[0, 0.5].
        Neutral: 0.
    """

    NAME: ClassVar[str] = "electronic noise"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("electronic_sigma_e", "float", "electronic noise σ [e⁻-equivalent]", neutral=0.0,
              low=0.0, high=0.5, minimum=0.0),
    )

    electronic_sigma_e: float = 0.0

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return add_gaussian_noise(image, self.electronic_sigma_e, rng)


def brightness_contrast_for(
    expected: np.ndarray,
    black_level_fraction: float,
    signal_span_fraction: float,
    adc_bits: int | None,
) -> tuple[float, float]:
    """Offset and contrast an operator would set for an expected signal.

    The clean signal's 1st…99th percentiles are mapped onto a window of
    ``signal_span_fraction`` of the ADC range, placed at ``black_level_fraction`` of
    the free room inside [2 %, 98 %] of the range (so ≤ 2 % of clean pixels clip).

    Parameters
    ----------
    expected : numpy.ndarray
        Expected (noise-free) signal [e⁻/px].
    black_level_fraction : float
        Position of the window in the free room, 0 (bottom) … 1 (top) [-].
    signal_span_fraction : float
        Fraction of the ADC range spanned by the clean signal [-].
    adc_bits : int or None
        ADC bit depth (None: 16-bit range).

    Returns
    -------
    (float, float)
        ``offset_adu`` [ADU] and ``contrast_adu_per_e`` [ADU/e⁻].
    """
    sub = expected[:: max(1, expected.shape[0] // 128), :: max(1, expected.shape[1] // 128)]
    low, high = (float(v) for v in np.percentile(sub, [1.0, 99.0]))
    fs = full_scale(adc_bits)
    span = min(max(signal_span_fraction, 1e-3), 0.96)
    bottom = 0.02 + black_level_fraction * (0.96 - span)
    spread = high - low
    if spread <= 1e-6 * max(abs(high), 1e-12):  # flat image: put its level mid-window
        level = max(high, 1e-12)
        contrast = 0.5 * span * fs / level
        return float((bottom + 0.5 * span) * fs - contrast * level), float(contrast)
    contrast = span * fs / spread
    return float(bottom * fs - contrast * low), float(contrast)


@dataclass(frozen=True)
class BrightnessContrast(Stage):
    """Operator's brightness and contrast: ``o + c·S``.

    In the chains ``offset_adu`` and ``contrast_adu_per_e`` are derived from the clean
    expected signal with :func:`brightness_contrast_for` unless fixed; alone, a
    ``None`` value is derived from the input image itself.

    Parameters
    ----------
    black_level_fraction : float
        Position of the clean-signal window in the ADC range [-]; default U[0, 1].
    signal_span_fraction : float
        Fraction of the ADC range spanned by the clean signal [-]; default U[0.1, 0.9].
    offset_adu : float or None
        Offset ``o`` [ADU]. Neutral: 0.
    contrast_adu_per_e : float or None
        Contrast ``c`` [ADU per detected electron]. Neutral: 1.
    adc_bits : int or None
        Shared with the ADC (range for derived values).
    """

    NAME: ClassVar[str] = "brightness / contrast"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("black_level_fraction", "float", "position of the signal window in the range [-]",
              neutral=0.5, low=0.0, high=1.0, minimum=0.0, maximum=1.0),
        Param("signal_span_fraction", "float", "fraction of the ADC range the clean signal spans [-]",
              neutral=0.5, low=0.1, high=0.9, minimum=0.001, maximum=0.96),
        Param("offset_adu", "float", "brightness offset o [ADU]", neutral=0.0,
              allow_none=True, derived=True),
        Param("contrast_adu_per_e", "float", "contrast c [ADU/e⁻]", neutral=1.0,
              minimum=0.0, allow_none=True, derived=True),
    )
    SHARED: ClassVar[tuple[str, ...]] = ("adc_bits",)

    black_level_fraction: float = 0.5
    signal_span_fraction: float = 0.5
    offset_adu: float | None = 0.0
    contrast_adu_per_e: float | None = 1.0
    adc_bits: int | None = None

    def resolved(self, expected: np.ndarray) -> "BrightnessContrast":
        """A copy with ``None`` offset/contrast derived from the expected signal."""
        if self.offset_adu is not None and self.contrast_adu_per_e is not None:
            return self
        offset, contrast = brightness_contrast_for(
            expected, self.black_level_fraction, self.signal_span_fraction, self.adc_bits)
        return BrightnessContrast(
            self.black_level_fraction, self.signal_span_fraction,
            offset if self.offset_adu is None else self.offset_adu,
            contrast if self.contrast_adu_per_e is None else self.contrast_adu_per_e,
            self.adc_bits,
        )

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        image = as_float_image(image)
        stage = self.resolved(image)
        return np.float32(stage.offset_adu) + np.float32(stage.contrast_adu_per_e) * image


@dataclass(frozen=True)
class LineIntensityNoise(Stage):
    """Probe-current fluctuation per scan line: the signal of row ``i`` times ``1 + ε_i``.

    ``ε`` is AR(1) along the rows. The brightness offset is not scaled (it does not
    depend on the beam current).

    Parameters
    ----------
    line_noise_sigma : float
        σ of ε [-]; default U[0, 0.05]. Neutral: 0.
    line_noise_phi : float
        Lag-1 correlation of ε [-]; default U[0, 0.9].
    offset_adu : float or None
        Shared with :class:`BrightnessContrast`.
    """

    NAME: ClassVar[str] = "line intensity noise"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("line_noise_sigma", "float", "relative probe-current fluctuation per line σ [-]",
              neutral=0.0, low=0.0, high=0.05, minimum=0.0, maximum=1.0),
        Param("line_noise_phi", "float", "lag-1 correlation of the line fluctuation [-]",
              neutral=0.0, low=0.0, high=0.9, minimum=0.0, maximum=0.999),
    )
    SHARED: ClassVar[tuple[str, ...]] = ("offset_adu",)

    line_noise_sigma: float = 0.0
    line_noise_phi: float = 0.0
    offset_adu: float | None = 0.0

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        image = as_float_image(image)
        if self.line_noise_sigma == 0:
            return image.copy()
        eps = ar1(image.shape[0], self.line_noise_sigma, self.line_noise_phi, rng)
        offset = np.float32(self.offset_adu or 0.0)
        return (image - offset) * (1.0 + eps.astype(np.float32))[:, None] + offset


@dataclass(frozen=True)
class Integration(Stage):
    """SEM line or frame integration: the image is the mean of ``n`` acquisitions.

    Each acquisition has its own noise and jitter; in ``"frame"`` mode they are ``n``
    consecutive frames (drift accumulates), in ``"line"`` mode each line is scanned
    ``n`` times in a row. Calling the stage averages a stack of acquisitions.

    Parameters
    ----------
    integration_frames : {1, 2, 4, 8}
        Number of acquisitions averaged; default {2, 4, 8} with p = 0.3, else 1.
    integration_mode : {"line", "frame"}
        Line or frame integration; default either with p = 0.5.
    """

    NAME: ClassVar[str] = "integration"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("integration_frames", "choice", "number of acquisitions averaged [-]", neutral=1,
              choices=(2, 4, 8), p_active=0.3),
        Param("integration_mode", "choice", "line or frame integration", neutral="frame",
              choices=("line", "frame")),
    )

    integration_frames: int = 1
    integration_mode: str = "frame"

    def row_starts_us(self, height: int, line_time_us: float, acquisition: int) -> np.ndarray:
        """Start times [µs] of the rows of acquisition ``acquisition`` (0-based)."""
        rows = np.arange(height, dtype=np.float64)
        n = self.integration_frames
        if self.integration_mode == "line":
            return (rows * n + acquisition) * line_time_us
        return (acquisition * height + rows) * line_time_us

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        stack = np.asarray(image, dtype=np.float32)
        return stack.mean(axis=0) if stack.ndim == 3 else stack.copy()

    def apply(self, state: ChainState, rng: np.random.Generator) -> None:
        """In a chain: nothing within one acquisition (the chain makes
        ``integration_frames`` acquisitions with :meth:`row_starts_us` and averages them)."""

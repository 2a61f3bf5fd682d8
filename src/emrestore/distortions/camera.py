"""TEM camera stages (spec §1): parallel acquisition of the whole frame on a camera.

Order in the TEM chain: :class:`Dose` → :class:`ShotNoise` → :class:`ConversionGain` →
:class:`DetectorBlur` → :class:`DarkCurrent` → :class:`FixedPattern` →
:class:`ReadoutNoise` → :class:`Bias` → :class:`XRayHits` → :class:`DeadHotPixels` →
:class:`~emrestore.distortions.adc.ADC`. Intensities are in electrons after the dose
stage and in ADU (analog-to-digital units, "counts") after the conversion gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .adc import full_scale
from .parameters import Param, Stage, as_float_image
from .sampling import add_gaussian_noise, poisson_constant

__all__ = [
    "Dose",
    "ShotNoise",
    "ConversionGain",
    "DetectorBlur",
    "DarkCurrent",
    "FixedPattern",
    "ReadoutNoise",
    "Bias",
    "XRayHits",
    "DeadHotPixels",
    "gaussian_mtf",
]

#: Dose: valid and default range (TEM). STEM and SEM chains override the range.
#: The tail (p = 0.05, up to 2·10⁵ e⁻/px) holds near-clean frames: a network trained on it
#: leaves an almost noise-free input alone (docs/realism.md).
DOSE_PARAM = Param(
    "dose_e_per_px", "float", "electron dose per pixel [e⁻/px]", neutral=1.0,
    low=0.5, high=5000.0, log=True, minimum=1e-9, maximum=1e12, tail_high=2e5, tail_p=0.05,
)


@dataclass(frozen=True)
class Dose(Stage):
    """Expected number of detected electrons per pixel: ``λ = D·c``.

    Parameters
    ----------
    dose_e_per_px : float
        Dose ``D`` [e⁻/px] (mean electrons per pixel for a clean image of mean 1);
        default range logU[0.5, 5000], with p = 0.05 logU[5000, 2·10⁵]
        instead (near-clean frames). Neutral: 1.
    """

    NAME: ClassVar[str] = "dose"
    PARAMS: ClassVar[tuple[Param, ...]] = (DOSE_PARAM,)

    dose_e_per_px: float = 1.0

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return as_float_image(image) * np.float32(self.dose_e_per_px)


@dataclass(frozen=True)
class ShotNoise(Stage):
    """Counting statistics of electrons: ``N ~ Poisson(λ)``.

    No parameters: the noise level is set by the dose. (The only stage without a
    neutral setting; it is the identity only in the limit of infinite dose.)
    """

    NAME: ClassVar[str] = "shot noise"

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lam = np.maximum(np.asarray(image, dtype=np.float64), 0.0)
        return rng.poisson(lam).astype(np.float32)


@dataclass(frozen=True)
class ConversionGain(Stage):
    """Scintillator/CCD conversion: each electron gives a random number of counts.

    ``S = Gamma(shape=N·k, scale=g/k)`` (``S = 0`` where ``N = 0``): mean ``N·g``,
    variance ``N·g²/k`` (Swank spread). A counting camera has ``g = 1`` and no spread.

    Parameters
    ----------
    gain_adu_per_e : float
        Conversion gain ``g`` [ADU/e⁻]; default U[0.5, 30]. Neutral: 1.
    swank_k : float
        Swank shape factor ``k`` [-] (larger = less spread); default U[1.5, 10].
    counting_camera : bool
        Electron-counting camera: ``g = 1``, no spread, no bias (default p = 0.2).
        Neutral: True (the stage is then the identity).
    """

    NAME: ClassVar[str] = "conversion gain"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("gain_adu_per_e", "float", "conversion gain g [ADU/e⁻]", neutral=1.0,
              low=0.5, high=30.0, minimum=1e-6),
        Param("swank_k", "float", "Swank shape factor k of the per-electron gain [-]",
              neutral=4.0, low=1.5, high=10.0, minimum=1e-3),
        Param("counting_camera", "bool", "electron-counting camera (g = 1, no spread, no bias)",
              neutral=True, p_active=0.2),
    )

    gain_adu_per_e: float = 1.0
    swank_k: float = 4.0
    counting_camera: bool = True

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        counts = np.maximum(np.asarray(image, dtype=np.float32), np.float32(0.0))
        if self.counting_camera:
            return counts
        k = np.float32(self.swank_k)
        signal = rng.standard_gamma(counts * k, dtype=np.float32)  # Gamma(0) = 0
        signal *= np.float32(self.gain_adu_per_e / self.swank_k)
        return signal


def gaussian_mtf(shape: tuple[int, int], sigma_px: float, tail_weight: float,
                 tail_sigma_px: float) -> np.ndarray:
    """Modulation transfer function of the two-Gaussian PSF on an ``rfft2`` grid.

    Parameters
    ----------
    shape : (int, int)
        Real-space shape of the (padded) image.
    sigma_px, tail_sigma_px : float
        Standard deviations [px] of the core and the long-tail Gaussian.
    tail_weight : float
        Fraction of the PSF in the tail [-].

    Returns
    -------
    numpy.ndarray
        MTF of shape ``(shape[0], shape[1] // 2 + 1)``, 1 at zero frequency.
    """
    import scipy.fft as sfft

    fy = sfft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = sfft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    f2 = fy * fy + fx * fx
    mtf = (1.0 - tail_weight) * np.exp(np.float32(-2.0 * math.pi**2 * sigma_px**2) * f2)
    if tail_weight > 0:
        mtf = mtf + tail_weight * np.exp(np.float32(-2.0 * math.pi**2 * tail_sigma_px**2) * f2)
    return mtf


@dataclass(frozen=True)
class DetectorBlur(Stage):
    """Light spread in the scintillator: blurs signal *and* noise (correlated noise).

    PSF = ``(1 − w)·G(σ) + w·G(σ_tail)`` (unit sum), applied by FFT on the
    reflect-padded image, so the noise power spectrum of a flat field follows |MTF|².

    Parameters
    ----------
    psf_sigma_px : float
        Core Gaussian σ [px]; default U[0, 1.5]. Neutral: 0.
    psf_tail_weight : float
        Weight ``w`` of the long tail [-]; default U[0, 0.2]. Neutral: 0.
    psf_tail_sigma_px : float
        Tail Gaussian σ [px]; default U[2, 8].
    """

    NAME: ClassVar[str] = "detector blur"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("psf_sigma_px", "float", "detector PSF core σ [px]", neutral=0.0,
              low=0.0, high=1.5, minimum=0.0, maximum=50.0),
        Param("psf_tail_weight", "float", "weight of the PSF long tail [-]", neutral=0.0,
              low=0.0, high=0.2, minimum=0.0, maximum=1.0),
        Param("psf_tail_sigma_px", "float", "PSF long-tail σ [px]", neutral=4.0,
              low=2.0, high=8.0, minimum=0.0, maximum=100.0),
    )

    psf_sigma_px: float = 0.0
    psf_tail_weight: float = 0.0
    psf_tail_sigma_px: float = 4.0

    def mtf(self, shape: tuple[int, int]) -> np.ndarray:
        """MTF on the ``rfft2`` grid of an image of ``shape`` (see :func:`gaussian_mtf`)."""
        return gaussian_mtf(shape, self.psf_sigma_px, self.psf_tail_weight, self.psf_tail_sigma_px)

    def expected(self, image: np.ndarray) -> np.ndarray:
        """The blur of the noise-free image (the PSF is the same in every frame: a target keeps it)."""
        return self(image)

    def padding_px(self, height: int, width: int) -> int | None:
        """Reflect padding [px] of an image of ``height × width`` before the FFT (None: no blur)."""
        widest = max(self.psf_sigma_px, self.psf_tail_sigma_px if self.psf_tail_weight > 0 else 0.0)
        if widest == 0.0:
            return None
        return min(int(math.ceil(3.5 * widest)) + 1, max(height, width) - 1)

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        import scipy.fft as sfft  # imported on first use

        image = as_float_image(image)
        height, width = image.shape
        pad = self.padding_px(height, width)
        if pad is None:
            return image.copy()
        padded = np.pad(image, pad, mode="reflect") if pad > 0 else image
        shape = (sfft.next_fast_len(padded.shape[0], real=True),
                 sfft.next_fast_len(padded.shape[1], real=True))
        spectrum = sfft.rfft2(padded, s=shape, workers=1)
        spectrum *= self.mtf(shape)
        blurred = sfft.irfft2(spectrum, s=shape, workers=1)
        return blurred[pad:pad + height, pad:pad + width].astype(np.float32)


@dataclass(frozen=True)
class DarkCurrent(Stage):
    """Thermally generated charge: add ``g·Poisson(λ_dark)``; optionally subtract its mean.

    Parameters
    ----------
    dark_e_per_px : float
        Mean dark signal ``λ_dark`` [e⁻-equivalent/px]; default U[0, 20]. Neutral: 0.
    dark_subtracted : bool
        A dark reference (dark mean and bias) was subtracted (default p = 0.5).
    gain_adu_per_e : float
        Conversion gain [ADU/e⁻] (shared with :class:`ConversionGain`).
    """

    NAME: ClassVar[str] = "dark current"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("dark_e_per_px", "float", "mean dark signal [e⁻-equivalent/px]", neutral=0.0,
              low=0.0, high=20.0, minimum=0.0),
        Param("dark_subtracted", "bool", "a dark reference (dark mean and bias) was subtracted",
              neutral=False, p_active=0.5),
    )
    SHARED: ClassVar[tuple[str, ...]] = ("gain_adu_per_e",)

    dark_e_per_px: float = 0.0
    dark_subtracted: bool = False
    gain_adu_per_e: float = 1.0

    @property
    def kept_adu(self) -> float:
        """Mean dark signal left in the image [ADU]: ``g·λ_dark`` unless it was subtracted."""
        return 0.0 if self.dark_subtracted else float(self.gain_adu_per_e * self.dark_e_per_px)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        image = as_float_image(image)
        if self.dark_e_per_px == 0:
            return image.copy()
        dark = poisson_constant(self.dark_e_per_px, image.shape, rng).astype(np.float32)
        if self.dark_subtracted:
            dark -= np.float32(self.dark_e_per_px)
        return image + np.float32(self.gain_adu_per_e) * dark


@dataclass(frozen=True)
class FixedPattern(Stage):
    """Residual pixel-gain non-uniformity and CMOS row/column offsets.

    ``x·(1 + ε_ij) + r_i + c_j`` with ``ε ~ N(0, σ_fp)``, ``r, c ~ N(0, σ_band)``.

    Parameters
    ----------
    gain_nonuniformity_sigma : float
        σ_fp of the relative pixel gain [-]; default U[0, 0.02]. Neutral: 0.
    band_sigma_adu : float
        σ_band of the per-row and per-column offsets [ADU]; default U[0, 2]. Neutral: 0.
    """

    NAME: ClassVar[str] = "fixed pattern"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("gain_nonuniformity_sigma", "float", "relative pixel-gain non-uniformity σ [-]",
              neutral=0.0, low=0.0, high=0.02, minimum=0.0, maximum=1.0),
        Param("band_sigma_adu", "float", "row/column offset σ [ADU]", neutral=0.0,
              low=0.0, high=2.0, minimum=0.0),
    )

    gain_nonuniformity_sigma: float = 0.0
    band_sigma_adu: float = 0.0

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        image = as_float_image(image)
        out = image.copy()
        height, width = image.shape
        if self.gain_nonuniformity_sigma > 0:
            eps = rng.standard_normal(image.shape, dtype=np.float32)
            out *= 1.0 + np.float32(self.gain_nonuniformity_sigma) * eps
        if self.band_sigma_adu > 0:
            rows = rng.standard_normal((height, 1), dtype=np.float32)
            cols = rng.standard_normal((1, width), dtype=np.float32)
            out += np.float32(self.band_sigma_adu) * (rows + cols)
        return out


@dataclass(frozen=True)
class ReadoutNoise(Stage):
    """Amplifier and ADC electronics: add ``N(0, σ_read)``.

    Parameters
    ----------
    read_sigma_adu : float
        Read-noise σ [ADU]; default U[0, 10]. Neutral: 0.
    """

    NAME: ClassVar[str] = "readout noise"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("read_sigma_adu", "float", "read-noise σ [ADU]", neutral=0.0,
              low=0.0, high=10.0, minimum=0.0),
    )

    read_sigma_adu: float = 0.0

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return add_gaussian_noise(image, self.read_sigma_adu, rng)


@dataclass(frozen=True)
class Bias(Stage):
    """Camera offset: add ``b`` (not where a dark reference, which holds it, was subtracted).

    Parameters
    ----------
    bias_adu : float
        Offset ``b`` [ADU]; default U[0, 200] (0 for counting cameras). Neutral: 0.
    dark_subtracted : bool
        Shared with :class:`DarkCurrent`: the bias was subtracted with the dark reference.
    """

    NAME: ClassVar[str] = "bias"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("bias_adu", "float", "camera offset [ADU]", neutral=0.0, low=0.0, high=200.0,
              minimum=0.0),
    )
    SHARED: ClassVar[tuple[str, ...]] = ("dark_subtracted",)

    bias_adu: float = 0.0
    dark_subtracted: bool = False

    @property
    def kept_adu(self) -> float:
        """The offset left in the image [ADU]: ``b``, or 0 after dark subtraction."""
        return 0.0 if self.dark_subtracted else float(self.bias_adu)

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return as_float_image(image) + np.float32(self.kept_adu)


@dataclass(frozen=True)
class XRayEvent:
    """One stray X-ray hit: the pixels it covers and what it does to them."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    saturates: bool


@dataclass(frozen=True)
class XRayHits(Stage):
    """Stray X-rays deposit a large charge in one or a few neighbouring pixels.

    ``K ~ Poisson(ρ·H·W)`` events. Each is a blob of 1–12 px (a random-walk cluster,
    p = 0.7) or a short straight track of 2–15 px at a random angle. With p = 0.3 the
    event saturates its pixels (value ``2^bits − 1``); otherwise it adds
    ``U[5, 50]×mean(S)`` (times U[0.5, 1] per pixel).

    Parameters
    ----------
    xray_rate_per_px : float
        Event rate ρ [events/px]; default logU[1e-6, 3e-4]. Neutral: 0.
    adc_bits : int or None
        Shared with :class:`~emrestore.distortions.adc.ADC` (saturation level).
    """

    NAME: ClassVar[str] = "X-ray hits"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("xray_rate_per_px", "float", "X-ray event rate [events/px]", neutral=0.0,
              low=1e-6, high=3e-4, log=True, minimum=0.0, maximum=0.1),
    )
    SHARED: ClassVar[tuple[str, ...]] = ("adc_bits",)

    #: Probability that an event is a blob (else a track).
    P_BLOB: ClassVar[float] = 0.7
    #: Probability that an event saturates its pixels (else it adds a high value).
    P_SATURATE: ClassVar[float] = 0.3

    xray_rate_per_px: float = 0.0
    adc_bits: int | None = None

    def events(self, shape: tuple[int, int], mean_signal: float,
               rng: np.random.Generator) -> list[XRayEvent]:
        """Draw the events hitting an image of ``shape``.

        Parameters
        ----------
        shape : (int, int)
            Image shape (H, W).
        mean_signal : float
            Mean of the image before the hits [ADU] (sets the added values).
        rng : numpy.random.Generator
            Source of randomness.
        """
        height, width = shape
        count = int(rng.poisson(self.xray_rate_per_px * height * width))
        events = []
        level = max(float(mean_signal), 1.0)
        for _ in range(count):  # a handful of events, each vectorised
            r0, c0 = rng.integers(0, height), rng.integers(0, width)
            if rng.random() < self.P_BLOB:
                size = int(rng.integers(1, 13))
                steps = np.array([[0, 1], [0, -1], [1, 0], [-1, 0]])[rng.integers(0, 4, size - 1)]
                path = np.vstack([[0, 0], np.cumsum(steps, axis=0)])
                rows, cols = r0 + path[:, 0], c0 + path[:, 1]
            else:
                length = int(rng.integers(2, 16))
                angle = rng.uniform(0.0, math.pi)
                t = np.arange(length)
                rows = np.rint(r0 + t * math.sin(angle)).astype(int)
                cols = np.rint(c0 + t * math.cos(angle)).astype(int)
            inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
            rows, cols = rows[inside], cols[inside]
            saturates = bool(rng.random() < self.P_SATURATE) and self.adc_bits is not None
            values = rng.uniform(5.0, 50.0) * level * rng.uniform(0.5, 1.0, rows.size)
            events.append(XRayEvent(rows, cols, values.astype(np.float32), saturates))
        return events

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = as_float_image(image).copy()
        if self.xray_rate_per_px == 0:
            return out
        for event in self.events(out.shape, float(out.mean()), rng):
            if event.saturates:
                out[event.rows, event.cols] = np.float32(full_scale(self.adc_bits))
            else:
                np.add.at(out, (event.rows, event.cols), event.values)
        return out


@dataclass(frozen=True)
class DeadHotPixels(Stage):
    """Damaged sensor pixels: dead ones read the kept offset, hot ones read high.

    A fraction ``f_dead`` of pixels (exactly ``Binomial(H·W, f_dead)`` of them) is set
    to the kept bias (0 after dark subtraction); a fraction ``f_hot`` is set to
    U[0.3, 1]× full scale (or U[5, 50]× the mean without an ADC); with ``dead_segment``
    a dead row or column segment (10–100 % of the side) is added.

    Parameters
    ----------
    dead_fraction : float
        f_dead [-]; default logU[1e-6, 5e-4]. Neutral: 0.
    hot_fraction : float
        f_hot [-]; default logU[1e-6, 2e-4]. Neutral: 0.
    dead_segment : bool
        Add a dead row or column segment (default p = 0.1). Neutral: False.
    bias_adu, dark_subtracted, adc_bits
        Shared with :class:`Bias`, :class:`DarkCurrent` and the ADC.
    """

    NAME: ClassVar[str] = "dead / hot pixels"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("dead_fraction", "float", "fraction of dead pixels [-]", neutral=0.0,
              low=1e-6, high=5e-4, log=True, minimum=0.0, maximum=1.0),
        Param("hot_fraction", "float", "fraction of hot pixels [-]", neutral=0.0,
              low=1e-6, high=2e-4, log=True, minimum=0.0, maximum=1.0),
        Param("dead_segment", "bool", "a dead row or column segment", neutral=False,
              p_active=0.1),
    )
    SHARED: ClassVar[tuple[str, ...]] = ("bias_adu", "dark_subtracted", "adc_bits")

    dead_fraction: float = 0.0
    hot_fraction: float = 0.0
    dead_segment: bool = False
    bias_adu: float = 0.0
    dark_subtracted: bool = False
    adc_bits: int | None = None

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = as_float_image(image).copy()
        height, width = out.shape
        flat = out.reshape(-1)
        dead_value = np.float32(0.0 if self.dark_subtracted else self.bias_adu)
        if self.hot_fraction > 0:
            n_hot = int(rng.binomial(flat.size, self.hot_fraction))
            where = rng.choice(flat.size, n_hot, replace=False)
            if self.adc_bits is None:
                level = rng.uniform(5.0, 50.0, n_hot) * max(float(out.mean()), 1.0)
            else:
                level = rng.uniform(0.3, 1.0, n_hot) * full_scale(self.adc_bits)
            flat[where] = level.astype(np.float32)
        if self.dead_fraction > 0:
            n_dead = int(rng.binomial(flat.size, self.dead_fraction))
            flat[rng.choice(flat.size, n_dead, replace=False)] = dead_value
        if self.dead_segment:
            if rng.random() < 0.5:  # part of a row
                row = rng.integers(0, height)
                length = max(1, int(rng.uniform(0.1, 1.0) * width))
                start = rng.integers(0, width - length + 1)
                out[row, start:start + length] = dead_value
            else:  # part of a column
                col = rng.integers(0, width)
                length = max(1, int(rng.uniform(0.1, 1.0) * height))
                start = rng.integers(0, height - length + 1)
                out[start:start + length, col] = dead_value
        return out

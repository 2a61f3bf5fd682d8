"""Degradation chains for TEM, STEM and SEM, and the public :func:`distort`.

A chain is declared once, as an ordered list of stage classes: the stages of one
acquisition, then the stages on the final image. :meth:`Chain.sample_parameters` draws
every parameter of every stage in that order (always all of them, from a generator of
its own, so fixing some parameters never changes the draws of the others), replaces the
fixed ones, and resolves the couplings between stages (counting camera, exposure
control, brightness/contrast). :meth:`Chain.run` applies the same stages, in the same
order, with a second, independent generator: each stage takes part through
:meth:`Stage.apply <emrestore.distortions.parameters.Stage.apply>`, so no stage can be
drawn and recorded without being applied. Hence ``distort(image, m, seed=s, **params)``
with the returned ``params`` reproduces the output exactly.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NonFiniteDataError, NotAnImageError, ParameterError
from ..image import EMImage
from . import camera, detector, scan
from .adc import ADC, full_scale
from .display import Display
from .parameters import ChainState, Param, Stage, Value, stage_fields

__all__ = ["Chain", "CHAINS", "SCAN_NOISE_REF_NM", "distort", "normalise_clean", "parameter_names", "tem", "stem", "sem"]

#: Smallest image side the chains accept [px].
MIN_SIDE_PX = 4

#: Fraction of the ADC range the expected TEM signal may reach (exposure control).
TEM_EXPOSURE_HEADROOM = 0.9

#: Pixel size up to which the scan-noise amplitudes are drawn as given in px [nm]. Line
#: jitter, interference and fast probe jitter come from stray fields and deflection noise of
#: a fixed amplitude in nm, so at coarser sampling their drawn px amplitudes shrink by
#: ``SCAN_NOISE_REF_NM / pixel size`` (measured: docs/realism.md, real SEM pair at 12.3 nm/px).
SCAN_NOISE_REF_NM = 0.5

#: Drawn parameters scaled with the pixel size (when it is known and they are not fixed).
SCAN_NOISE_PARAMS = ("jitter_sigma_x_px", "jitter_sigma_y_px", "fast_jitter_sigma_px",
                     *(f"interference_amp_{axis}_px_{k}" for k in (1, 2, 3) for axis in ("x", "y")))

#: Parameters :func:`distort` no longer takes, with the fix its error names.
MOVED_PARAMETERS = {
    "clean_pair": "distort always degrades; training mixes in clean pairs itself "
                  "(emrestore.training.dataset.CLEAN_PAIR_FRACTION): drop clean_pair.",
}


def normalise_clean(image: np.ndarray) -> np.ndarray:
    """Validate a clean image and scale it to mean 1 (float32).

    Parameters
    ----------
    image : numpy.ndarray
        Clean image (H, W), ≥ 0, any scale. Tiny negative values (down to −1 % of the
        maximum, e.g. ringing of a simulation) are clipped to 0.

    Raises
    ------
    NotAnImageError
        Not a real-valued 2-D array of at least 4 × 4 pixels.
    NonFiniteDataError
        NaN or infinite pixels.
    ParameterError
        Clearly negative values, or a mean of zero.
    """
    data = np.asarray(image)
    if data.dtype.kind not in "biuf":
        raise NotAnImageError(
            f"The clean image has dtype {data.dtype}, not a real number type.",
            "Pass a real-valued 2-D array.",
        )
    if data.ndim != 2:
        raise NotAnImageError(
            f"The clean image has {data.ndim} dimension(s) {data.shape}; distort needs one "
            "2-D image (H, W).",
            "Pass a single image; loop over a series yourself.",
        )
    if min(data.shape) < MIN_SIDE_PX:
        raise NotAnImageError(
            f"The clean image {data.shape} is too small; each side needs ≥ {MIN_SIDE_PX} px.",
            "Pass a larger image.",
        )
    data = data.astype(np.float32)
    if not np.isfinite(data).all():
        raise NonFiniteDataError(
            "The clean image holds NaN or infinite pixels.",
            "Replace them first (e.g. numpy.nan_to_num).",
        )
    peak = float(data.max())
    lowest = float(data.min())
    if lowest < 0:
        if lowest < -0.01 * max(peak, 0.0):
            raise ParameterError(
                f"The clean image has negative values (minimum {lowest:g}); it must be a "
                "non-negative intensity.",
                "Pass an intensity image (e.g. subtract the minimum or clip at 0).",
            )
        data = np.maximum(data, 0.0)
    mean = float(data.mean(dtype=np.float64))
    if not mean > 0:
        raise ParameterError(
            "The clean image is zero everywhere; its mean cannot be normalised to 1.",
            "Pass an image with some signal.",
        )
    data *= np.float32(1.0 / mean)
    return data


def as_generator(seed: None | int | np.random.Generator) -> np.random.Generator:
    """A generator from ``None``, an int (≥ 0) or a :class:`numpy.random.Generator`."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ParameterError(
        f"seed must be None, a non-negative int or a numpy Generator, got {seed!r}.",
        "Pass e.g. seed=0.",
    )


def split_generator(rng: np.random.Generator) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent child generators: one for parameters, one for noise."""
    try:
        children = rng.spawn(2)
    except (TypeError, AttributeError, ValueError):  # bit generator without a seed sequence
        entropy = [int(v) for v in rng.integers(0, 2**63, size=4)]
        children = [np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(2)]
    return children[0], children[1]


@dataclass(frozen=True)
class Chain:
    """The ordered list of stages of one modality, and how to draw and run them.

    Running the chain makes ``integration_frames`` acquisitions (the chain's
    :class:`~emrestore.distortions.detector.Integration` stage; one without it), each
    through the ``acquisition`` stages in order, averages them, sets the target, and
    applies the ``image`` stages in order. Parameters are drawn in the same order.

    Parameters
    ----------
    modality : {"tem", "stem", "sem"}
        The modality.
    acquisition : tuple of Stage subclasses
        The stages of one acquisition, in the order the spec lists them.
    image : tuple of Stage subclasses
        The stages on the final (averaged) image and its target, in order.
    ranges : tuple of (str, Param)
        Per-modality replacements of default sampling ranges, by parameter name.
    response : tuple of Stage subclasses
        Acquisition stages that are the instrument's deterministic, frame-constant response
        (detector PSF; nominal dwell blur and afterglow of a scan). The target keeps them:
        it is the expected frame, what the average of many acquisitions of the same field
        shows, so a restorer removes noise and artefacts but does not deconvolve a response
        it cannot know from one frame (``docs/distortions.md``, "The target"). Each must
        have an ``expected(image)`` method, the stage's noise-free action on the nominal grid.

    Raises
    ------
    ValueError
        A scan displacement stage is not followed by a
        :class:`~emrestore.distortions.scan.DwellBlur` that renders it.
    """

    modality: str
    acquisition: tuple[type[Stage], ...]
    image: tuple[type[Stage], ...]
    ranges: tuple[tuple[str, Param], ...] = ()
    response: tuple[type[Stage], ...] = ()

    def __post_init__(self) -> None:
        stray = [s.__name__ for s in self.response if s not in self.acquisition or not hasattr(s, "expected")]
        if stray:
            raise ValueError(f"Chain {self.modality}: response stage(s) {', '.join(stray)} are not "
                             "acquisition stages with an expected(image) method.")
        pending = []
        for stage in self.acquisition:
            if issubclass(stage, scan.DisplacementStage):
                pending.append(stage.__name__)
            elif issubclass(stage, scan.DwellBlur):
                pending = []
        misplaced = pending + [s.__name__ for s in self.image if issubclass(s, scan.DisplacementStage)]
        if misplaced:
            raise ValueError(f"Chain {self.modality}: {', '.join(misplaced)} would be drawn but never "
                             "applied; list a DwellBlur after the displacement stages of an acquisition.")

    @property
    def stages(self) -> tuple[type[Stage], ...]:
        """Every stage, in the order of drawing and applying."""
        return self.acquisition + self.image

    # ------------------------------------------------------------- parameters
    def specs(self) -> dict[str, Param]:
        """Every parameter of the chain (with this chain's default ranges), in order."""
        ranges = dict(self.ranges)
        return {spec.name: ranges.get(spec.name, spec)
                for stage in self.stages for spec in stage.PARAMS}

    def parameter_names(self) -> tuple[str, ...]:
        """Names :func:`distort` accepts for this modality."""
        return tuple(self.specs())

    def check_fixed(self, fixed: dict[str, Any]) -> dict[str, Value]:
        """Validate caller-fixed parameters; raise :class:`ParameterError` on bad names/values."""
        specs = self.specs()
        unknown = sorted(set(fixed) - set(specs))
        if unknown:
            moved = " ".join(MOVED_PARAMETERS[name] for name in unknown if name in MOVED_PARAMETERS)
            raise ParameterError(
                f"Unknown parameter(s) for modality {self.modality}: {', '.join(unknown)}.",
                (moved + " " if moved else "") + f"Valid names: {', '.join(specs)}.",
            )
        owners = {spec.name: spec for stage in self.stages for spec in stage.PARAMS}
        return {name: owners[name].check(value) for name, value in fixed.items()}

    def sample_parameters(self, rng: np.random.Generator, clean: np.ndarray,
                          fixed: dict[str, Any] | None = None, *,
                          validate: bool = True, pixel_size_nm: float | None = None) -> dict[str, Value]:
        """Draw all parameters, apply the fixed ones, resolve couplings.

        Parameters
        ----------
        rng : numpy.random.Generator
            Generator used only for parameters.
        clean : numpy.ndarray
            The normalised clean image (for exposure and brightness/contrast).
        fixed : dict, optional
            Caller-fixed parameters (always validated).
        validate : bool
            Also check the combination by building the stages (:meth:`run` does so
            anyway; :func:`distort` skips it here to build only once).
        pixel_size_nm : float, optional
            Pixel size of the image [nm]; scanned chains scale the drawn scan-noise
            amplitudes with it (:data:`SCAN_NOISE_REF_NM`). None: no scaling.
        """
        fixed = self.check_fixed(fixed or {})
        ranges = dict(self.ranges)
        values: dict[str, Value] = {}
        for stage in self.stages:
            values.update(stage.draw_parameters(rng, ranges))
        values.update(fixed)
        self.resolve(values, fixed, clean)
        if pixel_size_nm is not None:
            self.scale_to_pixel(values, fixed, pixel_size_nm)
        if validate:
            self.build(values)  # validates the combination
        return values

    def resolve(self, values: dict[str, Value], fixed: dict[str, Value],
                clean: np.ndarray) -> None:
        """Apply couplings between stages in place (overridden per modality)."""

    def scale_to_pixel(self, values: dict[str, Value], fixed: dict[str, Value], pixel_size_nm: float) -> None:
        """Scale drawn, pixel-size-dependent parameters in place (none for a camera chain)."""

    def build(self, values: dict[str, Value]) -> dict[type[Stage], Stage]:
        """Instantiate every stage from a flat parameter dict (in chain order)."""
        built = {}
        for stage in self.stages:
            kwargs = {name: values[name] for name in stage_fields(stage) if name in values}
            built[stage] = stage(**kwargs)
        return built

    def target_terms(self, values: dict[str, Value],
                     built: dict[type[Stage], Stage]) -> tuple[float, float, float]:
        """``(offset, contrast, scale)`` of the target ``offset + contrast·(response(clean)·scale)``.

        The one definition of the target, used by :meth:`target` and by the batched
        chains (:mod:`emrestore.distortions.batched`).
        """
        raise NotImplementedError

    def expected_response(self, clean: np.ndarray, built: dict[type[Stage], Stage]) -> np.ndarray:
        """``clean`` through the chain's :attr:`response` stages, in chain order (noise-free)."""
        response = clean
        for stage in self.acquisition:
            if stage in self.response:
                response = built[stage].expected(response)  # type: ignore[attr-defined]
        return response

    def target(self, clean: np.ndarray, values: dict[str, Value],
               built: dict[type[Stage], Stage]) -> np.ndarray:
        """The expected frame (before the image stages): ``offset + contrast·(response(clean)·scale)``.

        No noise, no scan displacement, no events, no clipping; the instrument's
        deterministic :attr:`response` kept.
        """
        offset, contrast, scale = self.target_terms(values, built)
        response = self.expected_response(clean, built)
        return np.float32(offset) + np.float32(contrast) * (response * np.float32(scale))

    # ------------------------------------------------------------------- run
    def __call__(
        self,
        image: np.ndarray | EMImage,
        *,
        seed: None | int | np.random.Generator = None,
        **fixed_params: Any,
    ) -> tuple[np.ndarray | EMImage, np.ndarray | EMImage, dict[str, Value]]:
        """Apply the chain: ``chain(image, seed=s, **fixed)`` is ``distort(image, modality, ...)``.

        Returns
        -------
        degraded, target, params
            See :func:`distort`.
        """
        return distort(image, self.modality, seed=seed, **fixed_params)

    def run(self, clean: np.ndarray, values: dict[str, Value],
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Apply every stage to a normalised clean image; return ``(degraded, target)`` (float32)."""
        built = self.build(values)
        integration = built.get(detector.Integration, detector.Integration())
        assert isinstance(integration, detector.Integration)
        frames = integration.integration_frames
        static: dict = {}  # fly-back and scan-speed warp: the same in every acquisition
        total = np.zeros(clean.shape, dtype=np.float32) if frames > 1 else None
        signal = clean
        for index in range(frames):  # ≤ 8 acquisitions
            starts = functools.partial(integration.row_starts_us, clean.shape[0], acquisition=index)
            state = ChainState(clean, clean, row_start_us=starts, static=static)
            for stage in self.acquisition:
                built[stage].apply(state, rng)
            if total is None:
                signal = state.signal
            else:
                total += state.signal
        if total is not None:
            signal = total / np.float32(frames)
        state = ChainState(clean, signal, target=self.target(clean, values, built))
        for stage in self.image:
            built[stage].apply(state, rng)
        assert state.target is not None
        return state.signal.astype(np.float32, copy=False), state.target.astype(np.float32, copy=False)


class TEMChain(Chain):
    """TEM (spec §1): dose → shot noise → gain → blur → dark → fixed pattern → read → bias
    → X-rays → dead/hot → ADC, then display."""

    def resolve(self, values: dict[str, Value], fixed: dict[str, Value],
                clean: np.ndarray) -> None:
        if values["counting_camera"] and "counting_camera" not in fixed and any(
                name in fixed and fixed[name] != neutral
                for name, neutral in (("gain_adu_per_e", 1.0), ("bias_adu", 0.0))):
            values["counting_camera"] = False  # a fixed gain or bias implies a charge-integrating camera
        if values["counting_camera"]:
            for name, neutral in (("gain_adu_per_e", 1.0), ("bias_adu", 0.0)):
                if name in fixed and fixed[name] != neutral:
                    raise ParameterError(
                        f"{name}={fixed[name]} contradicts counting_camera=True "
                        f"(a counting camera has {name}={neutral}).",
                        f"Drop {name} or set counting_camera=false.",
                    )
                values[name] = neutral
            if "adc_bits" not in fixed and values["adc_bits"] is not None:
                # A counting camera sums its counts in a wide integer: at high dose (the
                # near-clean tail) it is stored without a clipping ADC rather than saturated.
                peak = float(values["dose_e_per_px"]) * float(clean.max()) + float(
                    values["dark_e_per_px"])  # type: ignore[arg-type]
                if peak > TEM_EXPOSURE_HEADROOM * full_scale(values["adc_bits"]):  # type: ignore[arg-type]
                    values["adc_bits"] = None
        elif "gain_adu_per_e" not in fixed and values["adc_bits"] is not None:
            # Exposure control: an operator does not record a saturated image.
            kept = 0.0 if values["dark_subtracted"] else float(values["bias_adu"])  # type: ignore[arg-type]
            expected_peak = float(values["dose_e_per_px"]) * float(clean.max()) + float(
                values["dark_e_per_px"])  # type: ignore[arg-type]
            room = TEM_EXPOSURE_HEADROOM * full_scale(values["adc_bits"]) - kept  # type: ignore[arg-type]
            limit = max(room, 1.0) / max(expected_peak, 1e-12)
            if float(values["gain_adu_per_e"]) > limit:  # type: ignore[arg-type]
                values["gain_adu_per_e"] = float(max(limit, 1e-6))

    def target_terms(self, values: dict[str, Value],
                     built: dict[type[Stage], Stage]) -> tuple[float, float, float]:
        """``g·D·c`` plus the offsets the camera leaves in [ADU]."""
        bias, gain, dark = built[camera.Bias], built[camera.ConversionGain], built[camera.DarkCurrent]
        assert isinstance(bias, camera.Bias) and isinstance(gain, camera.ConversionGain)
        assert isinstance(dark, camera.DarkCurrent)
        dose = float(values["dose_e_per_px"])  # type: ignore[arg-type]
        # The expected signal keeps the offsets the camera leaves in: the bias and, when no
        # dark reference was subtracted, the mean dark signal (a restorer cannot know either).
        return float(bias.kept_adu + dark.kept_adu), gain.gain_adu_per_e * dose, 1.0


class ScanChain(Chain):
    """STEM and SEM: scan model, detector and electronics, then display."""

    def signal_scale(self, values: dict[str, Value]) -> float:
        """Expected detected electrons per pixel of a clean pixel of value 1 [e⁻/px]."""
        raise NotImplementedError

    def expected_signal(self, clean: np.ndarray, values: dict[str, Value]) -> np.ndarray:
        """Expected detected electrons per pixel on the nominal grid [e⁻/px]."""
        return clean * np.float32(self.signal_scale(values))

    def resolve(self, values: dict[str, Value], fixed: dict[str, Value],
                clean: np.ndarray) -> None:
        if values["offset_adu"] is None or values["contrast_adu_per_e"] is None:
            offset, contrast = detector.brightness_contrast_for(
                self.expected_signal(clean, values), float(values["black_level_fraction"]),  # type: ignore[arg-type]
                float(values["signal_span_fraction"]), values["adc_bits"])  # type: ignore[arg-type]
            if values["offset_adu"] is None:
                values["offset_adu"] = offset
            if values["contrast_adu_per_e"] is None:
                values["contrast_adu_per_e"] = contrast

    def scale_to_pixel(self, values: dict[str, Value], fixed: dict[str, Value], pixel_size_nm: float) -> None:
        """Shrink the drawn line-jitter, interference and fast-jitter amplitudes [px] by
        ``min(1, SCAN_NOISE_REF_NM / pixel_size_nm)`` (fixed ones are kept)."""
        factor = min(1.0, SCAN_NOISE_REF_NM / float(pixel_size_nm))
        if factor < 1.0:
            for name in SCAN_NOISE_PARAMS:
                if name in values and name not in fixed:
                    values[name] = float(values[name]) * factor  # type: ignore[arg-type]

    def target_terms(self, values: dict[str, Value],
                     built: dict[type[Stage], Stage]) -> tuple[float, float, float]:
        """``o + c·(expected signal)`` on the nominal grid [ADU]."""
        return (float(values["offset_adu"]), float(values["contrast_adu_per_e"]),  # type: ignore[arg-type]
                self.signal_scale(values))


class STEMChain(ScanChain):
    """STEM (spec §2): scan → dose + shot noise → scintillator → afterglow → electronic
    noise → brightness/contrast → line noise → ADC, then display."""

    def signal_scale(self, values: dict[str, Value]) -> float:
        return float(values["dose_e_per_px"])  # type: ignore[arg-type]


class SEMChain(ScanChain):
    """SEM (spec §3): as STEM with secondary-electron emission statistics and optional
    line/frame integration (each acquisition with its own jitter and noise)."""

    def signal_scale(self, values: dict[str, Value]) -> float:
        return (float(values["dose_pe_per_px"]) * float(values["se_yield_delta0"])  # type: ignore[arg-type]
                * float(values["collection_efficiency"]))  # type: ignore[arg-type]


#: The scan of one acquisition: the displacement effects, rendered by the dwell blur.
_SCAN = (scan.Drift, scan.LineJitter, scan.Interference, scan.FastJitter, scan.FlybackSettling,
         scan.ScanSpeedWarp, scan.DwellBlur)
#: The scintillator detector of one acquisition (after the electrons are counted).
_SCINTILLATOR = (detector.ScintillatorGain, detector.Afterglow, detector.ElectronicNoise)
#: The electronics on the scanned image, then its display.
_SCAN_IMAGE = (detector.BrightnessContrast, detector.LineIntensityNoise, ADC, Display)

#: The TEM chain (spec §1 + §4).
tem = TEMChain(
    "tem",
    acquisition=(camera.Dose, camera.ShotNoise, camera.ConversionGain, camera.DetectorBlur,
                 camera.DarkCurrent, camera.FixedPattern, camera.ReadoutNoise, camera.Bias,
                 camera.XRayHits, camera.DeadHotPixels, ADC),
    image=(Display,),
    ranges=(("adc_bits", ADC.PARAMS[0].with_range(choices=(12, 14, 16))),),
    response=(camera.DetectorBlur,),
)

#: The STEM chain (spec §2 + §4).
stem = STEMChain(
    "stem",
    acquisition=(*_SCAN, camera.Dose, camera.ShotNoise, *_SCINTILLATOR),
    image=_SCAN_IMAGE,
    ranges=(
        ("dose_e_per_px", camera.DOSE_PARAM.with_range(low=0.1, high=2000.0, tail_high=2e5, tail_p=0.05)),
        ("adc_bits", ADC.PARAMS[0].with_range(choices=(8, 12, 16))),
    ),
    response=(scan.DwellBlur, detector.Afterglow),
)

#: The SEM chain (spec §3 + §4).
sem = SEMChain(
    "sem",
    acquisition=(*_SCAN, detector.SecondaryEmission, detector.Integration, *_SCINTILLATOR),
    image=_SCAN_IMAGE,
    ranges=(
        ("adc_bits", ADC.PARAMS[0].with_range(choices=(8, 12, 16))),
        ("afterglow_tau_dwells", detector.Afterglow.PARAMS[0].with_range(high=6.0)),
    ),
    response=(scan.DwellBlur, detector.Afterglow),
)

#: The chains by modality.
CHAINS: dict[str, Chain] = {"tem": tem, "stem": stem, "sem": sem}


def get_chain(modality: str) -> Chain:
    """The chain of a modality; :class:`ParameterError` for an unknown one."""
    key = str(modality).lower() if isinstance(modality, str) else modality
    if key not in CHAINS:
        raise ParameterError(
            f"Unknown modality {modality!r}.", f"Use one of {', '.join(CHAINS)}.")
    return CHAINS[key]


def parameter_names(modality: str) -> tuple[str, ...]:
    """Parameter names :func:`distort` accepts for ``modality`` (chain order)."""
    return get_chain(modality).parameter_names()


def distort(
    image: np.ndarray | EMImage,
    modality: str,
    *,
    seed: None | int | np.random.Generator = None,
    pixel_size_nm: float | None = None,
    **fixed_params: Any,
) -> tuple[np.ndarray | EMImage, np.ndarray | EMImage, dict[str, Value]]:
    """Degrade a clean image as a microscope would; return the pair and the parameters.

    Parameters
    ----------
    image : numpy.ndarray or EMImage
        Clean image (H, W), ≥ 0, any scale (normalised internally to mean 1).
    modality : {"tem", "stem", "sem"}
        Which chain to apply.
    seed : None, int or numpy.random.Generator, optional
        Randomness for parameters and noise (two independent child streams).
    pixel_size_nm : float, optional
        Pixel size of the image [nm] (default: the EMImage's calibration, else unknown).
        Scanned chains draw line jitter, interference and fast jitter in px for pixels up
        to :data:`SCAN_NOISE_REF_NM` and smaller in px at coarser sampling (a fixed
        amplitude in nm); parameters fixed by the caller are never rescaled.
    **fixed_params
        Parameters to fix (by name, e.g. ``dose_e_per_px=50``); the rest are drawn from
        the default ranges. See :func:`parameter_names`.

    Returns
    -------
    degraded, target : numpy.ndarray or EMImage
        float32 (H, W), in the same units (detector ADU, or 0…255 after the display
        stage). ``target`` is the expected, noise- and artefact-free signal. EMImage in,
        EMImage out (same calibration and modality).
    params : dict
        Flat, JSON-serialisable: ``modality`` and every parameter of the chain.
        ``distort(image, modality, seed=seed, **{k: v for k, v in params.items()
        if k != "modality"})`` reproduces the same output.

    Raises
    ------
    NotAnImageError, NonFiniteDataError, ParameterError
        Not a 2-D image; NaN/inf pixels; unknown modality or parameter name, or a value
        out of its valid range.

    Examples
    --------
    >>> import numpy as np
    >>> clean = np.ones((64, 64))
    >>> noisy, target, params = distort(clean, "tem", seed=1, dose_e_per_px=20.0)
    >>> noisy.shape, noisy.dtype, params["dose_e_per_px"]
    ((64, 64), dtype('float32'), 20.0)
    """
    chain = get_chain(modality)
    template = image if isinstance(image, EMImage) else None
    if template is not None:
        if template.is_series:
            raise NotAnImageError(
                f"The EMImage is a series of {template.frames} frames; distort needs one image.",
                "Select one frame, e.g. image.with_data(image.data[0]).",
            )
        data = template.data
    else:
        data = image  # type: ignore[assignment]
    clean = normalise_clean(data)
    if pixel_size_nm is None and template is not None:
        pixel_size_nm = template.pixel_size_nm
    if pixel_size_nm is not None and not (np.isfinite(float(pixel_size_nm)) and float(pixel_size_nm) > 0):
        raise ParameterError(f"pixel_size_nm must be a positive number, got {pixel_size_nm!r}.",
                             "Pass the pixel size in nm, or None when it is unknown.")
    param_rng, noise_rng = split_generator(as_generator(seed))
    values = chain.sample_parameters(param_rng, clean, fixed_params, validate=False, pixel_size_nm=pixel_size_nm)
    degraded, target = chain.run(clean, values, noise_rng)
    params: dict[str, Value] = {"modality": chain.modality, **values}
    if template is not None:
        record = json.dumps(params)
        return (template.with_data(degraded, distortion_params=record),
                template.with_data(target, distortion_params=record, distortion_target=True),
                params)
    return degraded, target, params

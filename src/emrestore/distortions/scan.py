"""Scan model for STEM and SEM (spec §2a): where the probe really was.

Pixel (row ``i``, column ``j``) is recorded during ``[t_ij, t_ij + τ]`` with
``t_ij = i·(W·τ + τ_fb) + j·τ`` (dwell ``τ``, line fly-back ``τ_fb``). The probe
position is the nominal grid plus a displacement field, the sum of the effects below,
each evaluated in raster time. :class:`DwellBlur` renders the scanned image: the
detector integrates the object along the probe path during the dwell (average of
``K ≤ 4`` samples), sampled with Catmull-Rom cubic interpolation with reflection at
the borders.

Each displacement effect is a stage on its own (``effect(image, rng)`` warps an image
with that effect alone); in a chain (:meth:`DisplacementStage.apply`) they are collected
and summed into one field by the next :class:`DwellBlur`, which samples the clean image
once. The displacement is evaluated on the dwell *boundaries* (``H × (W + 1)`` times),
and the probe moves linearly between them during a dwell; the sampling numerics are in
:mod:`emrestore.distortions.resampling`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .parameters import ChainState, Param, Stage, Value, as_float_image
from .resampling import DwellPath, dwell_samples, sample_separable
from .sampling import ar1

__all__ = [
    "Raster",
    "DisplacementStage",
    "Drift",
    "LineJitter",
    "Interference",
    "FastJitter",
    "FlybackSettling",
    "ScanSpeedWarp",
    "DwellBlur",
    "MAINS_FREQUENCIES_HZ",
]

#: Mains and mechanical-resonance frequencies drawn with p = 0.5 for interference [Hz].
MAINS_FREQUENCIES_HZ = (50.0, 60.0, 100.0, 120.0, 150.0, 180.0)

#: The draw that replaces an interference frequency by a mains one (with p = 0.5).
MAINS_FREQUENCY = Param("interference_mains_hz", "choice", "mains or resonance frequency [Hz]",
                        neutral=None, choices=MAINS_FREQUENCIES_HZ, p_active=0.5, allow_none=True)

@dataclass(frozen=True)
class Raster:
    """Timing of a raster scan.

    Parameters
    ----------
    height, width : int
        Image shape [px].
    dwell_time_us : float
        Dwell time per pixel τ [µs].
    flyback_time_us : float
        Line fly-back time τ_fb [µs].
    row_start_us : numpy.ndarray, optional
        Start time of each row [µs]; default ``i·(W·τ + τ_fb)`` (one frame from t = 0).
    """

    height: int
    width: int
    dwell_time_us: float
    flyback_time_us: float
    row_start_us: np.ndarray | None = None

    @property
    def line_time_us(self) -> float:
        """Time from one line start to the next, ``W·τ + τ_fb`` [µs]."""
        return self.width * self.dwell_time_us + self.flyback_time_us

    @property
    def frame_time_us(self) -> float:
        """Duration of one frame, ``H·(W·τ + τ_fb)`` [µs]."""
        return self.height * self.line_time_us

    def row_starts(self) -> np.ndarray:
        """Start time of every row [µs], shape (H,)."""
        if self.row_start_us is not None:
            return np.asarray(self.row_start_us, dtype=np.float64)
        return np.arange(self.height) * self.line_time_us

    def boundary_times(self) -> np.ndarray:
        """Times [µs] of the dwell boundaries ``t_ij``, ``j = 0 … W``; shape (H, W + 1)."""
        return self.row_starts()[:, None] + np.arange(self.width + 1)[None, :] * self.dwell_time_us


class DisplacementStage(Stage):
    """A scan effect that displaces the probe: ``displacement(raster, rng) -> (dx, dy)``.

    ``dx`` and ``dy`` [px] broadcast to the dwell-boundary grid (H, W + 1), or to the
    pixel grid (H, W) when ``PER_PIXEL`` is true. Calling the stage on an image
    renders the image scanned with this effect alone (no dwell blur).
    """

    PER_PIXEL: ClassVar[bool] = False
    #: The displacement is a property of the scan generator, the same in every
    #: acquisition of an image (drawn once when several acquisitions are averaged).
    STATIC: ClassVar[bool] = False
    SHARED: ClassVar[tuple[str, ...]] = ("dwell_time_us", "flyback_time_us")

    @property
    def active(self) -> bool:
        """False when the effect's amplitudes are all zero (the stage is then the identity)."""
        return True

    def displacement(self, raster: Raster, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def apply(self, state: ChainState, rng: np.random.Generator) -> None:
        """In a chain: join the effects the next :class:`DwellBlur` renders together."""
        state.effects.append(self)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        image = as_float_image(image)
        timing = DwellBlur(dwell_time_us=self.dwell_time_us,  # type: ignore[attr-defined]
                           flyback_time_us=self.flyback_time_us)  # type: ignore[attr-defined]
        return timing.render(image, rng, (self,))


_TIMING_DEFAULTS = dict(dwell_time_us=10.0, flyback_time_us=100.0)


@dataclass(frozen=True)
class Drift(DisplacementStage):
    """Specimen/stage drift during the frame: ``d(u) = D·(u + q·(u² − u))``, ``u = t/T_frame``.

    Parameters
    ----------
    drift_px : float
        Total displacement over one frame [px]; default U[0, 3]. Neutral: 0.
    drift_angle_deg : float
        Direction of the drift [deg] (0 = +x, 90 = +y); default U[0, 360].
    drift_quadratic_fraction : float
        Quadratic term ``q`` (acceleration; the path stays monotone) [-]; default
        U[−0.3, 0.3].
    dwell_time_us, flyback_time_us : float
        Scan timing (shared with :class:`DwellBlur`).
    """

    NAME: ClassVar[str] = "drift"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("drift_px", "float", "drift displacement over one frame [px]", neutral=0.0,
              low=0.0, high=3.0, minimum=0.0),
        Param("drift_angle_deg", "float", "drift direction [deg]", neutral=0.0,
              low=0.0, high=360.0),
        Param("drift_quadratic_fraction", "float", "quadratic (acceleration) term of the drift [-]",
              neutral=0.0, low=-0.3, high=0.3, minimum=-0.99, maximum=0.99),
    )

    drift_px: float = 0.0
    drift_angle_deg: float = 0.0
    drift_quadratic_fraction: float = 0.0
    dwell_time_us: float = _TIMING_DEFAULTS["dwell_time_us"]
    flyback_time_us: float = _TIMING_DEFAULTS["flyback_time_us"]

    @property
    def active(self) -> bool:
        return bool(self.drift_px > 0)

    def displacement(self, raster: Raster, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        u = (raster.boundary_times() / raster.frame_time_us).astype(np.float32)
        q = np.float32(self.drift_quadratic_fraction)
        path = u * (np.float32(1.0) - q + q * u) if q else u
        angle = math.radians(self.drift_angle_deg)
        return (path * np.float32(self.drift_px * math.cos(angle)),
                path * np.float32(self.drift_px * math.sin(angle)))


@dataclass(frozen=True)
class LineJitter(DisplacementStage):
    """Each scan line lands displaced: per-row AR(1) shifts, separately in x and y.

    ``δ_i = φ·δ_{i−1} + σ·√(1 − φ²)·n_i``.

    Parameters
    ----------
    jitter_sigma_x_px : float
        σ of the x shifts [px]; default U[0, 1.5]. Neutral: 0.
    jitter_sigma_y_px : float
        σ of the y shifts [px]; default U[0, 0.5]. Neutral: 0.
    jitter_phi : float
        Lag-1 correlation φ of successive lines [-]; default U[0, 0.9].
    """

    NAME: ClassVar[str] = "line jitter"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("jitter_sigma_x_px", "float", "line-jitter σ along x [px]", neutral=0.0,
              low=0.0, high=1.5, minimum=0.0),
        Param("jitter_sigma_y_px", "float", "line-jitter σ along y [px]", neutral=0.0,
              low=0.0, high=0.5, minimum=0.0),
        Param("jitter_phi", "float", "lag-1 correlation of line shifts [-]", neutral=0.0,
              low=0.0, high=0.9, minimum=0.0, maximum=0.999),
    )

    jitter_sigma_x_px: float = 0.0
    jitter_sigma_y_px: float = 0.0
    jitter_phi: float = 0.0
    dwell_time_us: float = _TIMING_DEFAULTS["dwell_time_us"]
    flyback_time_us: float = _TIMING_DEFAULTS["flyback_time_us"]

    def row_shifts(self, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The x and y shift of each of ``rows`` lines [px], each shape (rows,)."""
        dx = ar1(rows, self.jitter_sigma_x_px, self.jitter_phi, rng)
        dy = ar1(rows, self.jitter_sigma_y_px, self.jitter_phi, rng)
        return dx, dy

    @property
    def active(self) -> bool:
        return bool(self.jitter_sigma_x_px > 0 or self.jitter_sigma_y_px > 0)

    def displacement(self, raster: Raster, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = self.row_shifts(raster.height, rng)
        return dx[:, None], dy[:, None]


def _interference_params() -> tuple[Param, ...]:
    specs = [Param("interference_terms", "int", "number of interference terms [-]", neutral=0,
                   low=1, high=3, minimum=0, maximum=3)]
    for k in (1, 2, 3):
        specs += [
            Param(f"interference_freq_hz_{k}", "float",
                  f"frequency of interference term {k} [Hz]", neutral=50.0,
                  low=10.0, high=500.0, minimum=0.0, maximum=1e7),
            Param(f"interference_amp_x_px_{k}", "float",
                  f"x amplitude of interference term {k} [px]", neutral=0.0,
                  low=0.0, high=0.7, minimum=0.0),
            Param(f"interference_amp_y_px_{k}", "float",
                  f"y amplitude of interference term {k} [px]", neutral=0.0,
                  low=0.0, high=0.7, minimum=0.0),
        ]
    return tuple(specs)


@dataclass(frozen=True)
class Interference(DisplacementStage):
    """Mains pickup and mechanical resonances: ``Σ_k A_k·sin(2π f_k t + ϕ_k)`` in x and y.

    The first ``interference_terms`` of three terms are active. Frequencies are drawn
    with p = 0.5 from {50, 60, 100, 120, 150, 180} Hz, else U[10, 500] Hz. Phases are
    random per image (drawn from the noise generator).

    Parameters
    ----------
    interference_terms : int
        Number of active terms; default U{1, 2, 3}. Neutral: 0.
    interference_freq_hz_k : float
        Frequency of term k [Hz].
    interference_amp_x_px_k, interference_amp_y_px_k : float
        Amplitudes of term k in x and y [px]; default U[0, 0.7].
    """

    NAME: ClassVar[str] = "interference"
    PARAMS: ClassVar[tuple[Param, ...]] = _interference_params()

    interference_terms: int = 0
    interference_freq_hz_1: float = 50.0
    interference_amp_x_px_1: float = 0.0
    interference_amp_y_px_1: float = 0.0
    interference_freq_hz_2: float = 50.0
    interference_amp_x_px_2: float = 0.0
    interference_amp_y_px_2: float = 0.0
    interference_freq_hz_3: float = 50.0
    interference_amp_x_px_3: float = 0.0
    interference_amp_y_px_3: float = 0.0
    dwell_time_us: float = _TIMING_DEFAULTS["dwell_time_us"]
    flyback_time_us: float = _TIMING_DEFAULTS["flyback_time_us"]

    @classmethod
    def draw_parameters(cls, rng: np.random.Generator,
                        ranges: dict[str, Param] | None = None) -> dict[str, Value]:
        values = super().draw_parameters(rng, ranges)
        for k in (1, 2, 3):
            mains = MAINS_FREQUENCY.draw(rng)
            if mains is not None:
                values[f"interference_freq_hz_{k}"] = mains
        return values

    def terms(self) -> list[tuple[float, float, float]]:
        """Active terms as ``(frequency_hz, amp_x_px, amp_y_px)``."""
        return [
            (getattr(self, f"interference_freq_hz_{k}"), getattr(self, f"interference_amp_x_px_{k}"),
             getattr(self, f"interference_amp_y_px_{k}"))
            for k in range(1, self.interference_terms + 1)
        ]

    @property
    def active(self) -> bool:
        return bool(any(ax > 0 or ay > 0 for _, ax, ay in self.terms()))

    def displacement(self, raster: Raster, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        rows = raster.row_starts()
        cols = np.arange(raster.width + 1) * raster.dwell_time_us
        # A·sin(ω(t_i + τ_j) + ϕ) = A·sin(ω t_i + ϕ)·cos(ω τ_j) + A·cos(ω t_i + ϕ)·sin(ω τ_j):
        # for all terms at once, a (H × 2T)·(2T × (W+1)) matrix product per axis
        terms = self.terms()
        omegas = np.array([2e-6 * math.pi * f for f, _, _ in terms])  # [rad/µs]
        phases = rng.uniform(0.0, 2.0 * math.pi, (len(terms), 2))
        col_basis = np.concatenate([np.cos(np.outer(omegas, cols)),
                                    np.sin(np.outer(omegas, cols))]).astype(np.float32)
        out = []
        for axis in (0, 1):
            amps = np.array([term[1 + axis] for term in terms])
            angle = np.outer(rows, omegas) + phases[:, axis]
            row_basis = np.concatenate([amps * np.sin(angle), amps * np.cos(angle)], axis=1)
            out.append(row_basis.astype(np.float32) @ col_basis)
        return out[0], out[1]


@dataclass(frozen=True)
class FastJitter(DisplacementStage):
    """High-frequency probe noise: white Gaussian displacement per pixel, x and y.

    Parameters
    ----------
    fast_jitter_sigma_px : float
        σ [px]; default U[0, 0.2]. Neutral: 0.
    """

    NAME: ClassVar[str] = "fast jitter"
    PER_PIXEL: ClassVar[bool] = True
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("fast_jitter_sigma_px", "float", "per-pixel probe jitter σ [px]", neutral=0.0,
              low=0.0, high=0.2, minimum=0.0),
    )

    fast_jitter_sigma_px: float = 0.0
    dwell_time_us: float = _TIMING_DEFAULTS["dwell_time_us"]
    flyback_time_us: float = _TIMING_DEFAULTS["flyback_time_us"]

    @property
    def active(self) -> bool:
        return bool(self.fast_jitter_sigma_px > 0)

    def displacement(self, raster: Raster, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        noise = rng.standard_normal((2, raster.height, raster.width), dtype=np.float32)
        noise *= np.float32(self.fast_jitter_sigma_px)
        return noise[0], noise[1]


@dataclass(frozen=True)
class FlybackSettling(DisplacementStage):
    """Deflection overshoot after the line fly-back: ``δx_j = −A·exp(−j/L)``, same every row.

    Parameters
    ----------
    flyback_amplitude_px : float
        Overshoot ``A`` at the line start [px]; default U[0, 6]. Neutral: 0.
    flyback_decay_px : float
        Settling length ``L`` [px]; default U[2, 60].
    flyback_y_fraction : float
        y part of the overshoot as a fraction of the x part [-]; default U[−0.2, 0.2].
    """

    STATIC: ClassVar[bool] = True
    NAME: ClassVar[str] = "fly-back settling"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("flyback_amplitude_px", "float", "fly-back overshoot at the line start [px]",
              neutral=0.0, low=0.0, high=6.0, minimum=0.0),
        Param("flyback_decay_px", "float", "fly-back settling length [px]", neutral=10.0,
              low=2.0, high=60.0, minimum=1e-3),
        Param("flyback_y_fraction", "float", "y part of the fly-back overshoot [-]", neutral=0.0,
              low=-0.2, high=0.2, minimum=-1.0, maximum=1.0),
    )

    flyback_amplitude_px: float = 0.0
    flyback_decay_px: float = 10.0
    flyback_y_fraction: float = 0.0
    dwell_time_us: float = _TIMING_DEFAULTS["dwell_time_us"]
    flyback_time_us: float = _TIMING_DEFAULTS["flyback_time_us"]

    @property
    def active(self) -> bool:
        return bool(self.flyback_amplitude_px > 0)

    def displacement(self, raster: Raster, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        j = np.arange(raster.width + 1, dtype=np.float64)
        dx = -self.flyback_amplitude_px * np.exp(-j / self.flyback_decay_px)
        return dx[None, :], self.flyback_y_fraction * dx[None, :]


@dataclass(frozen=True)
class ScanSpeedWarp(DisplacementStage):
    """Non-linear fast-scan ramp: a smooth monotone warp of the column coordinate.

    ``δx(j) = w·s(j/W)``, with ``s`` a random combination of ``sin(mπu)``, m = 1…3
    (fixed line ends), scaled so ``max|s| = 1``. ``w`` is lowered where needed so that
    the warp stays monotone (slope of ``δx`` at most 0.5 px/px).

    Parameters
    ----------
    scan_warp_px : float
        Largest deviation of the column coordinate [px]; default U[0, 2]. Neutral: 0.
    """

    STATIC: ClassVar[bool] = True
    NAME: ClassVar[str] = "scan-speed warp"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("scan_warp_px", "float", "largest deviation of the fast-scan ramp [px]",
              neutral=0.0, low=0.0, high=2.0, minimum=0.0),
    )

    scan_warp_px: float = 0.0
    dwell_time_us: float = _TIMING_DEFAULTS["dwell_time_us"]
    flyback_time_us: float = _TIMING_DEFAULTS["flyback_time_us"]

    @property
    def active(self) -> bool:
        return bool(self.scan_warp_px > 0)

    def displacement(self, raster: Raster, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        coeffs = rng.standard_normal(3) / np.arange(1, 4)
        u = np.arange(raster.width + 1) / max(raster.width, 1)
        shape = sum(c * np.sin((m + 1) * math.pi * u) for m, c in enumerate(coeffs))
        peak = np.abs(shape).max()
        if self.scan_warp_px == 0 or peak == 0:
            return np.zeros((1, raster.width + 1)), np.zeros((1, 1))
        warp = self.scan_warp_px * shape / peak
        slope = np.abs(np.diff(warp)).max()
        if slope > 0.5:
            warp *= 0.5 / slope
        return warp[None, :], np.zeros((1, 1))


@dataclass(frozen=True)
class DwellBlur(Stage):
    """Render a scanned image: the detector integrates along the probe path during a dwell.

    The probe's nominal path during one dwell spans ``dwell_blur_px`` along the fast
    scan (0: stepped digital scan; 1: continuous analog ramp), plus the motion of the
    displacement field during the dwell. The recorded value is the average of K cubic
    samples at the midpoints of K equal parts of that path; K = 2…4 so that samples
    are ≤ 0.5 px apart (K = 1 when the probe moves < 0.05 px), see :func:`dwell_samples`.

    Parameters
    ----------
    dwell_time_us : float
        Dwell time per pixel τ [µs]; default logU[0.5, 50].
    flyback_time_us : float
        Line fly-back time τ_fb [µs]; default U[20, 500].
    dwell_blur_px : float
        Nominal probe travel during one dwell [px]; default U[0, 1]. Neutral: 0.
    """

    NAME: ClassVar[str] = "dwell blur"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("dwell_time_us", "float", "dwell time per pixel [µs]", neutral=10.0,
              low=0.5, high=50.0, log=True, minimum=1e-6),
        Param("flyback_time_us", "float", "line fly-back time [µs]", neutral=100.0,
              low=20.0, high=500.0, minimum=0.0),
        Param("dwell_blur_px", "float", "nominal probe travel during one dwell [px]",
              neutral=0.0, low=0.0, high=1.0, minimum=0.0, maximum=10.0),
    )

    dwell_time_us: float = 10.0
    flyback_time_us: float = 100.0
    dwell_blur_px: float = 0.0

    def raster(self, shape: tuple[int, int], row_start_us: np.ndarray | None = None) -> Raster:
        """The :class:`Raster` timing of an image of ``shape``."""
        return Raster(shape[0], shape[1], self.dwell_time_us, self.flyback_time_us, row_start_us)

    def probe_positions(
        self,
        shape: tuple[int, int],
        rng: np.random.Generator,
        effects: tuple[DisplacementStage, ...] = (),
        row_start_us: np.ndarray | None = None,
        static: dict[type, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probe positions: ``y`` (H, W) at mid-dwell and ``x`` (K × (H, W)) along the dwell [px].

        ``x`` is a (1, H, W) array when the probe does not move during a dwell, else a
        :class:`~emrestore.distortions.resampling.DwellPath` (a lazy sequence of K (H, W)
        arrays).

        Parameters
        ----------
        shape : (int, int)
            Image shape (H, W).
        rng : numpy.random.Generator
            Source of randomness for the effects.
        effects : tuple of DisplacementStage
            Displacement effects to sum (their own timing fields are ignored; this
            stage's timing is used).
        row_start_us : numpy.ndarray, optional
            Start time of every row [µs] (for repeated acquisitions).
        static : dict, optional
            Cache of the displacements of ``STATIC`` effects; pass the same dict for
            all acquisitions of one image so they share them.
        """
        height, width = shape
        raster = self.raster(shape, row_start_us)
        dx_b = np.zeros((1, 1), dtype=np.float32)
        dy_b = np.zeros((1, 1), dtype=np.float32)
        dx_p = np.zeros((1, 1), dtype=np.float32)
        dy_p = np.zeros((1, 1), dtype=np.float32)
        for effect in effects:
            if not effect.active:
                continue
            if effect.STATIC and static is not None and type(effect) in static:
                ex, ey = static[type(effect)]
            else:
                ex, ey = effect.displacement(raster, rng)
                if effect.STATIC and static is not None:
                    static[type(effect)] = (ex, ey)
            if effect.PER_PIXEL:
                dx_p = dx_p + ex.astype(np.float32, copy=False)
                dy_p = dy_p + ey.astype(np.float32, copy=False)
            else:
                dx_b = dx_b + ex.astype(np.float32, copy=False)
                dy_b = dy_b + ey.astype(np.float32, copy=False)
        dx_b = np.broadcast_to(dx_b, (height, width + 1))
        dy_b = np.broadcast_to(dy_b, (height, width + 1))
        start = dx_b[:, :-1]
        step = dx_b[:, 1:] - start
        blur = np.float32(self.dwell_blur_px)
        travel = step + blur
        samples = dwell_samples(float(np.abs(travel).max(initial=0.0)))
        cols = np.arange(width, dtype=np.float32)[None, :] + start + dx_p
        if samples > 1:
            # x_k = col + start + fast + step·s_k + blur·(s_k − ½), built lazily per k
            x: DwellPath | np.ndarray = DwellPath(cols - np.float32(0.5) * blur, travel, samples)
        else:
            x = np.broadcast_to(cols, (height, width))[None, :, :]
        y = np.arange(height, dtype=np.float32)[:, None] + np.float32(0.5) * (
            dy_b[:, :-1] + dy_b[:, 1:]) + dy_p
        return np.broadcast_to(y, (height, width)), x

    def render(
        self,
        image: np.ndarray,
        rng: np.random.Generator,
        effects: tuple[DisplacementStage, ...] = (),
        row_start_us: np.ndarray | None = None,
        static: dict[type, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Sample ``image`` along the displaced, dwell-blurred probe path.

        Parameters
        ----------
        image : numpy.ndarray
            Clean image (H, W).
        rng : numpy.random.Generator
            Source of randomness for the effects.
        effects : tuple of DisplacementStage
            Displacement effects to apply together.
        row_start_us : numpy.ndarray, optional
            Start time of every row [µs].
        static : dict, optional
            Shared displacements of ``STATIC`` effects (see :meth:`probe_positions`).

        Returns
        -------
        numpy.ndarray
            float32 (H, W): the image as the scanning probe saw it.
        """
        image = as_float_image(image)
        y, x = self.probe_positions(image.shape, rng, effects, row_start_us, static)
        return sample_separable(image, y, x)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.render(image, rng)

    def expected(self, image: np.ndarray) -> np.ndarray:
        """The image scanned along the nominal path: the dwell blur ``dwell_blur_px`` without
        any displacement (the same in every frame: a target keeps it)."""
        return self.render(image, np.random.default_rng(0))  # no effect: the generator is unused

    def apply(self, state: ChainState, rng: np.random.Generator) -> None:
        """In a chain: scan the clean image with the effects met so far in this acquisition."""
        starts = None
        if state.row_start_us is not None:
            starts = state.row_start_us(self.raster(state.clean.shape).line_time_us)
        state.signal = self.render(state.clean, rng, tuple(state.effects), starts, state.static)
        state.effects.clear()



"""The scan model on a batch (STEM and SEM): where the probe really was, and what it saw.

The torch counterpart of :mod:`emrestore.distortions.scan`. Every displacement stage
(:class:`~emrestore.distortions.scan.Drift`, :class:`~emrestore.distortions.scan.LineJitter`,
...) only joins ``state.effects``; the next :class:`~emrestore.distortions.scan.DwellBlur`
draws their displacement fields for the whole batch (each sample with its own stage
parameters and its own raster timing), sums them in chain order, and samples the clean
images along the probe paths (:func:`~emrestore.distortions.batched.resampling.sample_separable`).

Each effect is split into its random inputs (:attr:`Effect.noise`: the AR(1) drive of the
line jitter, the phases of the interference terms, ...) and a deterministic field made of
them (:attr:`Effect.field`), the numpy formula on tensors. Given the random inputs the
numpy stage drew, the field is the numpy field (up to float rounding), and so is the
rendered image; the random inputs have numpy's distributions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import scan
from ..parameters import Stage
from ..resampling import dwell_samples
from .core import BatchState, column, implements
from .resampling import ProbePath, sample_separable

__all__ = ["EFFECTS", "BatchRaster", "Effect", "Fields", "ar1_filter", "effect_fields",
           "probe_positions", "render"]

#: Displacement fields (dx_b, dy_b, dx_p, dy_p) [px]: on the dwell boundaries (broadcast to
#: (B, H, W + 1)) and per pixel (broadcast to (B, H, W)).
Fields = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class BatchRaster:
    """Raster timing of every sample of a batch (:class:`~emrestore.distortions.scan.Raster`).

    Parameters
    ----------
    height, width : int
        Image shape [px].
    dwell_time_us : torch.Tensor
        Dwell time per pixel τ of every sample [µs], (B,) float64.
    frame_time_us : torch.Tensor
        Duration of one frame ``H·(W·τ + τ_fb)`` [µs], (B,) float64.
    row_start_us : torch.Tensor
        Start time of every row [µs], (B, H) float64.
    """

    height: int
    width: int
    dwell_time_us: torch.Tensor
    frame_time_us: torch.Tensor
    row_start_us: torch.Tensor

    @classmethod
    def of(cls, stages: Sequence[scan.DwellBlur], shape: tuple[int, int],
           row_start_us: Callable[[int, float], np.ndarray] | None,
           device: torch.device | str) -> BatchRaster:
        """The timing of the samples' :class:`~emrestore.distortions.scan.DwellBlur` stages.

        Parameters
        ----------
        stages : sequence of DwellBlur
            Every sample's dwell-blur stage (its timing is the raster's).
        shape : (int, int)
            Image shape (H, W).
        row_start_us : callable, optional
            ``row_start_us(i, line_time_us)``: row start times of sample ``i`` [µs]
            (:attr:`BatchState.row_start_us`); None: one frame from t = 0.
        device : torch.device or str
            Device of the tensors.
        """
        rasters = []
        for i, stage in enumerate(stages):  # per-sample set-up: H start times each
            raster = stage.raster(shape)
            if row_start_us is not None:
                raster = stage.raster(shape, row_start_us(i, raster.line_time_us))
            rasters.append(raster)

        def gathered(values: list[float] | np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=np.float64), device=device)

        return cls(shape[0], shape[1], gathered([r.dwell_time_us for r in rasters]),
                   gathered([r.frame_time_us for r in rasters]),
                   gathered(np.stack([r.row_starts() for r in rasters]) if rasters
                            else np.zeros((0, shape[0]))))

    @property
    def batch(self) -> int:
        """Number of samples B."""
        return int(self.dwell_time_us.shape[0])

    @property
    def device(self) -> torch.device:
        """The tensors' device."""
        return self.dwell_time_us.device

    def boundary_times(self) -> torch.Tensor:
        """Times [µs] of the dwell boundaries ``t_ij``, ``j = 0 … W``: (B, H, W + 1) float64."""
        j = torch.arange(self.width + 1, dtype=torch.float64, device=self.device)
        return self.row_start_us[:, :, None] + j[None, None, :] * self.dwell_time_us[:, None, None]


@dataclass(frozen=True)
class Effect:
    """How a batch draws one displacement effect.

    Parameters
    ----------
    noise : callable
        ``noise(raster, generator)``: the effect's random inputs for the batch (a tensor),
        or None for a deterministic effect.
    field : callable
        ``field(stages, raster, noise) -> (dx, dy)``: the displacement [px] (float32),
        broadcastable to (B, H, W + 1), or to (B, H, W) for a ``PER_PIXEL`` effect.
    """

    noise: Callable[[BatchRaster, torch.Generator], torch.Tensor | None]
    field: Callable[[Sequence[Stage], BatchRaster, torch.Tensor | None],
                    tuple[torch.Tensor, torch.Tensor]]


def _no_noise(raster: BatchRaster, generator: torch.Generator) -> None:
    return None


def _per_sample(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1) float32 tensor of per-sample scalars, each rounded from float64 as numpy does."""
    return torch.tensor(list(values), dtype=torch.float32, device=like.device)[:, None, None]


# ---------------------------------------------------------------------------- drift
def drift_field(stages: Sequence[scan.Drift], raster: BatchRaster, noise: None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``D·u·(1 − q + q·u)`` along the drift direction, ``u = t/T_frame``: (B, H, W + 1) each."""
    u = (raster.boundary_times() / raster.frame_time_us[:, None, None]).to(torch.float32)
    q = column(stages, "drift_quadratic_fraction", raster.device)[:, None, None]
    path = u * ((1.0 - q) + q * u)  # = u where q = 0
    angles = [math.radians(s.drift_angle_deg) for s in stages]
    along_x = _per_sample([s.drift_px * math.cos(a) for s, a in zip(stages, angles)], path)
    along_y = _per_sample([s.drift_px * math.sin(a) for s, a in zip(stages, angles)], path)
    return path * along_x, path * along_y


# ------------------------------------------------------------------------ line jitter
def ar1_filter(drive: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """``δ_i = φ·δ_{i−1} + drive_i`` along the last axis (``δ_0 = drive_0``), by doubling.

    ``log2(n)`` vectorised steps instead of ``n`` sequential ones (what
    :func:`scipy.signal.lfilter` computes, in another order of the sums).

    Parameters
    ----------
    drive : torch.Tensor
        (..., n) innovations (float64 recommended).
    phi : torch.Tensor
        Lag-1 coefficient φ, broadcastable to ``drive[..., :1]``.
    """
    out = drive.clone()
    n = int(drive.shape[-1])
    power = phi.to(drive.dtype).expand_as(out[..., :1]).clone()
    step = 1
    while step < n:
        # after this step out_i = Σ_{k = i−2·step+1 … i} φ^{i−k}·drive_k
        out[..., step:] = out[..., step:] + power * out[..., :-step]
        power = power * power
        step *= 2
    return out


def line_jitter_noise(raster: BatchRaster, generator: torch.Generator) -> torch.Tensor:
    """Standard normal drive of the x and y shifts of every line: (B, 2, H) float64."""
    return torch.randn((raster.batch, 2, raster.height), generator=generator, dtype=torch.float64,
                       device=raster.device)


def line_jitter_field(stages: Sequence[scan.LineJitter], raster: BatchRaster, noise: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Stationary AR(1) row shifts (:func:`emrestore.distortions.sampling.ar1`): (B, H, 1) each."""
    device = raster.device
    sigma = torch.stack([column(stages, "jitter_sigma_x_px", device, torch.float64),
                         column(stages, "jitter_sigma_y_px", device, torch.float64)], dim=1)[:, :, None]
    phi = column(stages, "jitter_phi", device, torch.float64)[:, None, None]
    drive = sigma * torch.sqrt(1.0 - phi * phi) * noise
    drive[:, :, 0] = sigma[:, :, 0] * noise[:, :, 0]  # start in the stationary distribution
    shifts = ar1_filter(drive, phi).to(torch.float32)
    return shifts[:, 0, :, None], shifts[:, 1, :, None]


# ----------------------------------------------------------------------- interference
#: Terms of the interference stage (``interference_terms ≤ 3``).
INTERFERENCE_TERMS = 3


def interference_noise(raster: BatchRaster, generator: torch.Generator) -> torch.Tensor:
    """Phases U[0, 2π) of every term in x and y: (B, 3, 2) float64."""
    uniform = torch.rand((raster.batch, INTERFERENCE_TERMS, 2), generator=generator,
                         dtype=torch.float64, device=raster.device)
    return 2.0 * math.pi * uniform


def interference_field(stages: Sequence[scan.Interference], raster: BatchRaster, noise: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``Σ_k A_k·sin(2π f_k t + ϕ_k)`` on the dwell boundaries: (B, H, W + 1) each.

    As numpy: ``sin(ω(t_i + τ_j) + ϕ)`` split into a row and a column factor, summed
    over the terms in float32 (the terms past ``interference_terms`` have amplitude 0).
    """
    device = raster.device
    padding = [(0.0, 0.0, 0.0)] * INTERFERENCE_TERMS
    terms = torch.tensor([(s.terms() + padding)[:INTERFERENCE_TERMS] for s in stages],
                         dtype=torch.float64, device=device).reshape(-1, INTERFERENCE_TERMS, 3)
    omegas = 2e-6 * math.pi * terms[:, :, 0]  # [rad/µs], (B, 3)
    cols = torch.arange(raster.width + 1, dtype=torch.float64, device=device)[None, :] * \
        raster.dwell_time_us[:, None]
    angle_cols = omegas[:, :, None] * cols[:, None, :]
    col_basis = torch.cat([torch.cos(angle_cols), torch.sin(angle_cols)], dim=1).to(torch.float32)
    out = []
    for axis in (0, 1):
        amps = terms[:, None, :, 1 + axis]
        angle = raster.row_start_us[:, :, None] * omegas[:, None, :] + noise[:, None, :, axis]
        row_basis = torch.cat([amps * torch.sin(angle), amps * torch.cos(angle)], dim=2)
        row_basis = row_basis.to(torch.float32)
        # the (H × 6)·(6 × (W + 1)) product as 6 float32 multiply-adds: a matmul could run
        # in TF32 on a GPU (torch.backends.cuda.matmul.allow_tf32)
        field = row_basis[:, :, 0, None] * col_basis[:, None, 0, :]
        for k in range(1, 2 * INTERFERENCE_TERMS):
            field += row_basis[:, :, k, None] * col_basis[:, None, k, :]
        out.append(field)
    return out[0], out[1]


# ------------------------------------------------------------------------ fast jitter
def fast_jitter_noise(raster: BatchRaster, generator: torch.Generator) -> torch.Tensor:
    """Standard normal x and y noise per pixel: (B, 2, H, W) float32."""
    return torch.randn((raster.batch, 2, raster.height, raster.width), generator=generator,
                       dtype=torch.float32, device=raster.device)


def fast_jitter_field(stages: Sequence[scan.FastJitter], raster: BatchRaster, noise: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """White Gaussian displacement per pixel, σ of every sample: (B, H, W) each."""
    scaled = noise * column(stages, "fast_jitter_sigma_px", raster.device)[:, None, None, None]
    return scaled[:, 0], scaled[:, 1]


# ------------------------------------------------------------------- fly-back settling
def flyback_field(stages: Sequence[scan.FlybackSettling], raster: BatchRaster, noise: None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``δx_j = −A·exp(−j/L)``, ``δy = f_y·δx``, the same on every row: (B, 1, W + 1) each."""
    device = raster.device
    j = torch.arange(raster.width + 1, dtype=torch.float64, device=device)[None, :]
    amplitude = column(stages, "flyback_amplitude_px", device, torch.float64)[:, None]
    decay = column(stages, "flyback_decay_px", device, torch.float64)[:, None]
    fraction = column(stages, "flyback_y_fraction", device, torch.float64)[:, None]
    dx = -amplitude * torch.exp(-j / decay)
    return dx.to(torch.float32)[:, None, :], (fraction * dx).to(torch.float32)[:, None, :]


# --------------------------------------------------------------------- scan-speed warp
def scan_warp_noise(raster: BatchRaster, generator: torch.Generator) -> torch.Tensor:
    """Standard normal weights of the three sine modes: (B, 3) float64."""
    return torch.randn((raster.batch, 3), generator=generator, dtype=torch.float64, device=raster.device)


def scan_warp_field(stages: Sequence[scan.ScanSpeedWarp], raster: BatchRaster, noise: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``w·s(j/W)``, ``s = Σ_m c_m sin(mπu)/max|s|``, slope ≤ 0.5 px/px: (B, 1, W + 1), (B, 1, 1)."""
    device = raster.device
    width = raster.width
    coeffs = noise / torch.arange(1, 4, dtype=torch.float64, device=device)
    u = torch.arange(width + 1, dtype=torch.float64, device=device) / max(width, 1)
    shape = torch.zeros((raster.batch, width + 1), dtype=torch.float64, device=device)
    for m in range(3):
        shape = shape + coeffs[:, m:m + 1] * torch.sin((m + 1) * math.pi * u)[None, :]
    peak = shape.abs().amax(dim=1, keepdim=True)
    warp_px = column(stages, "scan_warp_px", device, torch.float64)[:, None]
    drawn = (warp_px != 0) & (peak != 0)
    warp = warp_px * shape / torch.where(drawn, peak, torch.ones_like(peak))
    slope = (warp[:, 1:] - warp[:, :-1]).abs().amax(dim=1, keepdim=True)
    warp = torch.where(slope > 0.5, warp * (0.5 / torch.where(slope > 0.5, slope, 1.0)), warp)
    warp = torch.where(drawn, warp, torch.zeros_like(warp))
    return warp.to(torch.float32)[:, None, :], torch.zeros((raster.batch, 1, 1), device=device)


#: The batched draw of every displacement stage of the chains.
EFFECTS: dict[type[scan.DisplacementStage], Effect] = {
    scan.Drift: Effect(_no_noise, drift_field),
    scan.LineJitter: Effect(line_jitter_noise, line_jitter_field),
    scan.Interference: Effect(interference_noise, interference_field),
    scan.FastJitter: Effect(fast_jitter_noise, fast_jitter_field),
    scan.FlybackSettling: Effect(_no_noise, flyback_field),
    scan.ScanSpeedWarp: Effect(scan_warp_noise, scan_warp_field),
}


def effect_fields(effects: Sequence[type[scan.DisplacementStage]],
                  built: dict[type[Stage], list[Stage]], raster: BatchRaster,
                  generator: torch.Generator, static: dict | None = None,
                  noise: Mapping[type[scan.DisplacementStage], torch.Tensor | None] | None = None
                  ) -> Fields:
    """The summed displacement fields of ``effects`` (in their order), as numpy sums them.

    An effect is zero for the samples where its stage is inactive, and not drawn at all
    when it is inactive for all of them. A ``STATIC`` effect is drawn once per ``static``
    dict (pass the same one for all acquisitions of a batch).

    Parameters
    ----------
    effects : sequence of DisplacementStage classes
        The effects met so far in the acquisition (:attr:`BatchState.effects`).
    built : dict
        Stage class → the B stages of the samples.
    raster : BatchRaster
        The batch's raster timing.
    generator : torch.Generator
        Source of the random inputs.
    static : dict, optional
        Displacements of the ``STATIC`` effects, shared across acquisitions.
    noise : mapping, optional
        Random inputs of some effects (in the format of their :attr:`Effect.noise`) to
        use instead of drawing them, e.g. those a numpy stage drew.

    Returns
    -------
    Fields
        ``(dx_b, dy_b, dx_p, dy_p)`` [px], float32.
    """
    zero = torch.zeros((raster.batch, 1, 1), dtype=torch.float32, device=raster.device)
    sums = {False: [zero, zero], True: [zero, zero]}  # PER_PIXEL → (dx, dy)
    for effect in effects:
        stages = built[effect]
        active = [bool(s.active) for s in stages]
        if not any(active):
            continue
        if effect.STATIC and static is not None and effect in static:
            ex, ey = static[effect]
        else:
            recipe = EFFECTS[effect]
            if noise is not None and effect in noise:
                inputs = noise[effect]
            else:
                inputs = recipe.noise(raster, generator)
            ex, ey = recipe.field(stages, raster, inputs)
            mask = torch.tensor(active, device=raster.device)[:, None, None]
            ex = torch.where(mask, ex, torch.zeros_like(ex))
            ey = torch.where(mask, ey, torch.zeros_like(ey))
            if effect.STATIC and static is not None:
                static[effect] = (ex, ey)
        pair = sums[effect.PER_PIXEL]
        pair[0] = pair[0] + ex
        pair[1] = pair[1] + ey
    return sums[False][0], sums[False][1], sums[True][0], sums[True][1]


def probe_positions(height: int, width: int, blur_px: torch.Tensor, fields: Fields
                    ) -> tuple[torch.Tensor, ProbePath]:
    """Probe positions of a batch: ``y`` (B, H, W) at mid-dwell and the dwell paths along x [px].

    :meth:`DwellBlur.probe_positions <emrestore.distortions.scan.DwellBlur.probe_positions>`
    for every sample, with its own number of dwell samples ``K_b``
    (:func:`~emrestore.distortions.resampling.dwell_samples` of its largest travel).

    Parameters
    ----------
    height, width : int
        Image shape [px].
    blur_px : torch.Tensor
        Nominal probe travel during one dwell of every sample [px], (B,) float32.
    fields : Fields
        Displacements ``(dx_b, dy_b, dx_p, dy_p)`` (:func:`effect_fields`).
    """
    dx_b, dy_b, dx_p, dy_p = fields
    batch = int(blur_px.shape[0])
    device = blur_px.device
    dx_b = dx_b.expand(batch, height, width + 1)
    dy_b = dy_b.expand(batch, height, width + 1)
    blur = blur_px.to(torch.float32)[:, None, None]
    start = dx_b[:, :, :-1]
    travel = (dx_b[:, :, 1:] - start) + blur
    counts = [dwell_samples(t) for t in travel.abs().amax(dim=(1, 2)).tolist()]
    cols = (torch.arange(width, dtype=torch.float32, device=device)[None, None, :] + start) + dx_p
    cols = cols.expand(batch, height, width)
    path = ProbePath(cols, cols - 0.5 * blur, travel, counts)
    rows = torch.arange(height, dtype=torch.float32, device=device)[None, :, None]
    y = (rows + 0.5 * (dy_b[:, :, :-1] + dy_b[:, :, 1:])) + dy_p
    return y.expand(batch, height, width), path


def render(clean: torch.Tensor, blur_px: torch.Tensor, fields: Fields) -> torch.Tensor:
    """Sample ``clean`` (B, H, W) along the displaced, dwell-blurred probe paths (float32)."""
    y, path = probe_positions(int(clean.shape[1]), int(clean.shape[2]), blur_px, fields)
    return sample_separable(clean, y.contiguous(), path)


def _joins(effect: type[scan.DisplacementStage]) -> Callable[[BatchState, Sequence[Stage]], None]:
    def join(state: BatchState, stages: Sequence[Stage]) -> None:
        """In a chain: join the effects the next dwell blur renders together."""
        state.effects.append(effect)
    join.__name__ = f"join_{effect.__name__}"
    return join


for _effect in EFFECTS:
    implements(_effect)(_joins(_effect))


@implements(scan.DwellBlur)
def dwell_blur(state: BatchState, stages: Sequence[scan.DwellBlur]) -> None:
    """Scan the clean images with the effects met so far in this acquisition (then forget them)."""
    height, width = int(state.clean.shape[1]), int(state.clean.shape[2])
    raster = BatchRaster.of(stages, (height, width), state.row_start_us, state.device)
    fields = effect_fields(state.effects, state.built, raster, state.generator, state.static)
    state.signal = render(state.clean, column(stages, "dwell_blur_px", state.device), fields)
    state.effects.clear()

"""Batched TEM camera stages and the ADC (:mod:`emrestore.distortions.camera`, :mod:`~emrestore.distortions.adc`).

Each function reproduces the ``__call__`` of its numpy stage on a ``(B, H, W)`` float32
batch, with every sample's parameters read from its own stage object. Samples whose
stage is neutral are left unchanged: either they are skipped (index subsets) or the
arithmetic is the exact identity for them (``x·1``, ``x + 0``).

Which samples a stage acts on is decided from the stage objects on the host; the only
device synchronisations are the number of X-ray events of a batch (their pixels are drawn
as one tensor) and, in :func:`poisson`, the check for means above
:data:`GAUSSIAN_POISSON_MIN`. The detector blur makes one batched FFT per distinct
padding (a loop over ≲ 30 groups, not over samples).

Deviations that do not change the distributions:

* Poisson means above :data:`GAUSSIAN_POISSON_MIN` are drawn as ``rint(λ + √λ·n)``
  (numpy draws exact Poisson variates; at these means the two agree to far below
  float32 resolution, and CUDA's ``torch.poisson`` would overflow its 32-bit result
  above ~4.3·10⁹). On CUDA, ``torch.poisson`` itself already uses a rounded normal
  approximation above λ = 4000 (cuRAND).
* Dead and hot pixels are chosen by one Bernoulli draw per pixel. That gives exactly
  the numpy law: a ``Binomial(H·W, f)`` count and, given the count, a uniformly random
  set of distinct pixels. The hot level reuses the same uniform (``u/f`` is uniform
  given ``u < f``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..adc import ADC, full_scale
from ..camera import (
    Bias,
    ConversionGain,
    DarkCurrent,
    DeadHotPixels,
    DetectorBlur,
    Dose,
    FixedPattern,
    ReadoutNoise,
    ShotNoise,
    XRayHits,
)
from ..sampling import _TABLE_MAX_MEAN, poisson_table
from .core import BatchState, column, implements

__all__ = ["GAUSSIAN_POISSON_MIN", "XRayEvents", "apply_xray_events", "draw_xray_events", "poisson", "poisson_constant"]

#: Poisson means [counts] above which a rounded normal variate is drawn instead.
GAUSSIAN_POISSON_MIN = 1e7


def _per_sample(values: Sequence[float], like: torch.Tensor,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A ``(B, 1, 1)`` tensor of per-sample Python numbers on ``like``'s device.

    A Python float cast to float32 here is ``numpy.float32(value)``, as the numpy stages
    cast their parameters.
    """
    return torch.tensor([float(v) for v in values], dtype=dtype, device=like.device)[:, None, None]


def _mask(values: Sequence[bool], like: torch.Tensor) -> torch.Tensor:
    """A ``(B,)`` bool tensor on ``like``'s device."""
    return torch.tensor([bool(v) for v in values], dtype=torch.bool, device=like.device)


def poisson(rate: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Poisson counts of the (≥ 0) means ``rate``, float32, any shape.

    Means above :data:`GAUSSIAN_POISSON_MIN` get ``max(rint(λ + √λ·n), 0)`` (see the
    module notes).

    Parameters
    ----------
    rate : torch.Tensor
        Means λ ≥ 0 [counts], float32 or float64.
    generator : torch.Generator
        Source of randomness, on ``rate``'s device.
    """
    rate = rate.clamp_min(0.0)
    high = rate > GAUSSIAN_POISSON_MIN
    if not bool(high.any()):
        return torch.poisson(rate, generator=generator).to(torch.float32)
    low_counts = torch.poisson(torch.where(high, torch.zeros_like(rate), rate), generator=generator)
    lam = rate.to(torch.float64)
    normal = torch.randn(rate.shape, generator=generator, device=rate.device, dtype=torch.float64)
    approx = torch.round(lam + lam.sqrt() * normal).clamp_min(0.0)
    return torch.where(high, approx, low_counts.to(torch.float64)).to(torch.float32)


def poisson_constant(means: Sequence[float], shape: torch.Size | tuple[int, ...],
                     generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """Poisson counts of one mean per image, float32 ``shape`` = (N, H, W).

    Means up to :data:`~emrestore.distortions.sampling._TABLE_MAX_MEAN` invert the CDF
    table of :func:`~emrestore.distortions.sampling.poisson_table` (one float64 uniform
    per value, as the numpy :func:`~emrestore.distortions.sampling.poisson_constant`);
    larger ones use :func:`poisson`.

    Parameters
    ----------
    means : sequence of float
        The N means λ > 0 [counts].
    shape : tuple of int
        (N, H, W).
    generator : torch.Generator
        Source of randomness, on ``device``.
    device : torch.device or str
        Where the counts are made.
    """
    count = int(shape[0])
    tabulated = [i for i, m in enumerate(means) if m <= _TABLE_MAX_MEAN]
    counts = torch.empty(tuple(shape), dtype=torch.float32, device=device)
    if len(tabulated) < count:
        rest = [i for i in range(count) if i not in set(tabulated)]
        rate = torch.tensor([float(means[i]) for i in rest], dtype=torch.float32, device=device)
        rows = torch.tensor(rest, device=device)
        counts[rows] = poisson(rate[:, None, None].expand(len(rest), *shape[1:]), generator)
    if tabulated:
        tables = [poisson_table(float(means[i])) for i in tabulated]
        width = max(cdf.size for _, cdf in tables)
        cdf = np.full((len(tables), width), np.inf)
        for row, (_, table) in enumerate(tables):
            cdf[row, :table.size] = table
        low = torch.tensor([float(start) for start, _ in tables], dtype=torch.float32, device=device)
        u = torch.rand((len(tabulated), int(np.prod(shape[1:]))), generator=generator, device=device,
                       dtype=torch.float64)
        index = torch.searchsorted(torch.as_tensor(cdf, device=device), u, right=True)
        drawn = (index.to(torch.float32) + low[:, None]).view(len(tabulated), *shape[1:])
        counts[torch.tensor(tabulated, device=device)] = drawn
    return counts


@implements(Dose)
def dose(state: BatchState, stages: Sequence[Dose]) -> None:
    """``λ = D·c`` per sample."""
    state.signal = state.signal * column(stages, "dose_e_per_px", state.device)[:, None, None]


@implements(ShotNoise)
def shot_noise(state: BatchState, stages: Sequence[ShotNoise]) -> None:
    """``N ~ Poisson(max(λ, 0))`` per pixel."""
    state.signal = poisson(state.signal, state.generator)


@implements(ConversionGain)
def conversion_gain(state: BatchState, stages: Sequence[ConversionGain]) -> None:
    """``Gamma(N·k, g/k)`` per pixel for charge-integrating samples; counts kept otherwise."""
    counts = state.signal.clamp_min(0.0)
    active = [i for i, s in enumerate(stages) if not s.counting_camera]
    if active:
        index = torch.tensor(active, device=counts.device)
        picked = [stages[i] for i in active]
        shape = counts[index] * _per_sample([s.swank_k for s in picked], counts)
        drawn = torch._standard_gamma(shape, generator=state.generator)
        drawn = torch.where(shape > 0, drawn, torch.zeros_like(drawn))  # Gamma(0) = 0
        drawn = drawn * _per_sample([s.gain_adu_per_e / s.swank_k for s in picked], counts)
        counts = counts.index_copy(0, index, drawn)
    state.signal = counts


def _reflect_rows(size: int, pad: int) -> np.ndarray:
    """Indices of ``numpy.pad(x, pad, mode="reflect")`` along an axis of ``size``."""
    return np.pad(np.arange(size), pad, mode="reflect")


@implements(DetectorBlur)
def detector_blur(state: BatchState, stages: Sequence[DetectorBlur]) -> None:
    """The two-Gaussian PSF by FFT on the reflect-padded images, as the numpy stage.

    Samples are grouped by their padding (:meth:`DetectorBlur.padding_px`; one batched
    FFT per distinct padding: ≲ 30 groups); each sample's MTF comes from
    :meth:`DetectorBlur.mtf`.
    """
    import scipy.fft as sfft

    image = state.signal
    height, width = int(image.shape[1]), int(image.shape[2])
    pads = [s.padding_px(height, width) for s in stages]
    out = image.clone()
    for pad in sorted({p for p in pads if p is not None}):
        members = [i for i, p in enumerate(pads) if p == pad]
        index = torch.tensor(members, device=image.device)
        rows = torch.as_tensor(_reflect_rows(height, pad), device=image.device)
        cols = torch.as_tensor(_reflect_rows(width, pad), device=image.device)
        padded = image[index][:, rows][:, :, cols]
        shape = (sfft.next_fast_len(int(padded.shape[1]), real=True),
                 sfft.next_fast_len(int(padded.shape[2]), real=True))
        mtf = torch.from_numpy(np.stack([stages[i].mtf(shape) for i in members]).astype(np.float32))
        spectrum = torch.fft.rfft2(padded, s=shape) * mtf.to(image.device)
        blurred = torch.fft.irfft2(spectrum, s=shape)
        out[index] = blurred[:, pad:pad + height, pad:pad + width].to(torch.float32)
    state.signal = out


@implements(DarkCurrent)
def dark_current(state: BatchState, stages: Sequence[DarkCurrent]) -> None:
    """Add ``g·Poisson(λ_dark)`` (minus ``λ_dark`` where it was subtracted)."""
    active = [i for i, s in enumerate(stages) if s.dark_e_per_px != 0]
    if not active:
        return
    picked = [stages[i] for i in active]
    index = torch.tensor(active, device=state.device)
    image = state.signal[index]
    mean = _per_sample([s.dark_e_per_px for s in picked], image)
    dark = poisson_constant([s.dark_e_per_px for s in picked], image.shape, state.generator,
                            image.device)
    dark = dark - mean * _per_sample([s.dark_subtracted for s in picked], image)
    shifted = image + _per_sample([s.gain_adu_per_e for s in picked], image) * dark
    state.signal = state.signal.index_copy(0, index, shifted)


@implements(FixedPattern)
def fixed_pattern(state: BatchState, stages: Sequence[FixedPattern]) -> None:
    """``x·(1 + σ_fp·ε) + σ_band·(r_i + c_j)``, a fresh pattern per sample."""
    out = state.signal
    batch, height, width = out.shape
    if any(s.gain_nonuniformity_sigma > 0 for s in stages):
        sigma = column(stages, "gain_nonuniformity_sigma", state.device)[:, None, None]
        eps = torch.randn(out.shape, generator=state.generator, device=state.device)
        out = out * (1.0 + sigma * eps)  # exactly x·1 where σ = 0
    if any(s.band_sigma_adu > 0 for s in stages):
        band = column(stages, "band_sigma_adu", state.device)[:, None, None]
        rows = torch.randn((batch, height, 1), generator=state.generator, device=state.device)
        cols = torch.randn((batch, 1, width), generator=state.generator, device=state.device)
        out = out + band * (rows + cols)
    state.signal = out


@implements(ReadoutNoise)
def readout_noise(state: BatchState, stages: Sequence[ReadoutNoise]) -> None:
    """Add ``N(0, σ_read)`` per pixel."""
    if any(s.read_sigma_adu > 0 for s in stages):
        sigma = column(stages, "read_sigma_adu", state.device)[:, None, None]
        noise = torch.randn(state.signal.shape, generator=state.generator, device=state.device)
        state.signal = state.signal + sigma * noise


@implements(Bias)
def bias(state: BatchState, stages: Sequence[Bias]) -> None:
    """Add the kept offset :attr:`Bias.kept_adu`."""
    state.signal = state.signal + column(stages, "kept_adu", state.device)[:, None, None]


#: Unit steps of an X-ray blob's random walk (row, column), as in :meth:`XRayHits.events`.
_BLOB_STEPS = ((0, 1), (0, -1), (1, 0), (-1, 0))
#: Largest blob size and track length [px] (``integers(1, 13)``, ``integers(2, 16)``).
_BLOB_MAX, _TRACK_MAX = 12, 15


def _event_pixels(events: int, height: int, width: int, generator: torch.Generator,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows, columns and validity (E, 15) of the pixels of ``events`` X-ray events.

    Each event is a blob (p = :attr:`XRayHits.P_BLOB`: a random walk of 1–12 px) or a
    straight track of 2–15 px at an angle U[0, π), from a uniform start pixel; pixels
    outside the image are invalid.
    """
    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=device, dtype=torch.float64)

    def integers(low: int, high: int, *shape: int) -> torch.Tensor:
        return torch.randint(low, high, shape, generator=generator, device=device)

    r0, c0 = integers(0, height, events), integers(0, width, events)
    blob = uniform(events) < XRayHits.P_BLOB
    steps = torch.tensor(_BLOB_STEPS, device=device)[integers(0, 4, events, _BLOB_MAX - 1)]
    walk = torch.cat([torch.zeros((events, 1, 2), dtype=steps.dtype, device=device),
                      steps.cumsum(dim=1)], dim=1)
    walk = torch.nn.functional.pad(walk, (0, 0, 0, _TRACK_MAX - _BLOB_MAX))
    size = integers(1, _BLOB_MAX + 1, events)
    length = integers(2, _TRACK_MAX + 1, events)
    angle = uniform(events) * math.pi
    t = torch.arange(_TRACK_MAX, device=device, dtype=torch.float64)
    track_rows = torch.round(r0[:, None] + t * torch.sin(angle)[:, None]).long()
    track_cols = torch.round(c0[:, None] + t * torch.cos(angle)[:, None]).long()
    step = torch.arange(_TRACK_MAX, device=device)
    rows = torch.where(blob[:, None], r0[:, None] + walk[..., 0], track_rows)
    cols = torch.where(blob[:, None], c0[:, None] + walk[..., 1], track_cols)
    valid = torch.where(blob[:, None], step < size[:, None], step < length[:, None])
    valid &= (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return rows, cols, valid


@dataclass(frozen=True)
class XRayEvents:
    """The X-ray events of a batch, in event order (sample by sample).

    ``rows``, ``cols``, ``valid`` and ``values`` are (E, 15): the pixels of every event
    (invalid entries outside the event or the image) and the value each adds [ADU];
    ``sample`` and ``saturates`` are (E,).
    """

    sample: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    valid: torch.Tensor
    values: torch.Tensor
    saturates: torch.Tensor


def draw_xray_events(counts: torch.Tensor, shape: tuple[int, int], level: torch.Tensor,
                     saturable: torch.Tensor, generator: torch.Generator) -> XRayEvents:
    """Draw the events of :meth:`XRayHits.events` for every sample at once.

    Parameters
    ----------
    counts : torch.Tensor
        (B,) int64 number of events of every sample.
    shape : (int, int)
        Image shape (H, W).
    level : torch.Tensor
        (B,) float64 ``max(mean, 1)`` of every image [ADU] (scale of the added values).
    saturable : torch.Tensor
        (B,) bool: the sample has an ADC, so an event may saturate.
    generator : torch.Generator
        Source of randomness, on ``counts``' device.
    """
    device = counts.device
    height, width = shape
    events = int(counts.sum().item())
    sample = torch.repeat_interleave(torch.arange(int(counts.shape[0]), device=device), counts)
    rows, cols, valid = _event_pixels(events, height, width, generator, device)
    saturates = (torch.rand(events, generator=generator, device=device, dtype=torch.float64)
                 < XRayHits.P_SATURATE) & saturable[sample]
    amplitude = 5.0 + 45.0 * torch.rand(events, generator=generator, device=device, dtype=torch.float64)
    spread = 0.5 + 0.5 * torch.rand((events, _TRACK_MAX), generator=generator, device=device,
                                    dtype=torch.float64)
    values = ((amplitude * level[sample])[:, None] * spread).to(torch.float32)
    return XRayEvents(sample, rows, cols, valid, values, saturates)


@implements(XRayHits)
def xray_hits(state: BatchState, stages: Sequence[XRayHits]) -> None:
    """``Poisson(ρ·H·W)`` events per sample, each saturating (p = 0.3, with an ADC) or
    adding ``U[5, 50]·max(mean, 1)·U[0.5, 1]``; applied in event order as numpy does (a
    saturating event overwrites what earlier events added, later ones add on top)."""
    if all(s.xray_rate_per_px == 0 for s in stages):
        return
    image = state.signal
    batch, height, width = image.shape
    device = state.device
    rate = torch.tensor([s.xray_rate_per_px for s in stages], dtype=torch.float64, device=device)
    counts = torch.poisson(rate * (height * width), generator=state.generator).long()
    if int(counts.sum().item()) == 0:
        return
    level = image.mean(dim=(1, 2), dtype=torch.float64).clamp_min(1.0)
    hits = draw_xray_events(counts, (height, width), level,
                            _mask([s.adc_bits is not None for s in stages], image), state.generator)
    state.signal = apply_xray_events(image, hits,
                                     _per_sample([full_scale(s.adc_bits) for s in stages], image))


def apply_xray_events(image: torch.Tensor, hits: XRayEvents, saturation: torch.Tensor) -> torch.Tensor:
    """Apply events in their order, as :meth:`XRayHits.__call__` does.

    A saturating event sets its pixels to ``saturation`` (overwriting what earlier
    events added); an adding event adds its values (repeated pixels add repeatedly).

    Parameters
    ----------
    image : torch.Tensor
        (B, H, W) float32 images before the hits.
    hits : XRayEvents
        The events (:func:`draw_xray_events`).
    saturation : torch.Tensor
        (B, 1, 1) float32 saturation value of every sample [ADU].
    """
    batch, height, width = image.shape
    size = batch * height * width
    pixel = ((hits.sample[:, None] * height + hits.rows) * width + hits.cols).clamp(0, size - 1)
    order = torch.arange(int(pixel.shape[0]), device=image.device)[:, None].expand_as(pixel)
    hit_sat = hits.valid & hits.saturates[:, None]
    last_saturation = torch.full((size,), -1, dtype=torch.long, device=image.device)
    last_saturation.scatter_reduce_(0, pixel[hit_sat], order[hit_sat], reduce="amax")
    adds = hits.valid & ~hits.saturates[:, None] & (order > last_saturation[pixel])
    added = torch.zeros(size, dtype=torch.float32, device=image.device)
    added.index_add_(0, pixel[adds], hits.values[adds])
    saturated = (last_saturation >= 0).view(batch, height, width)
    return torch.where(saturated, saturation, image) + added.view(batch, height, width)


@implements(DeadHotPixels)
def dead_hot_pixels(state: BatchState, stages: Sequence[DeadHotPixels]) -> None:
    """Hot pixels (U[0.3, 1]× full scale, or U[5, 50]× the mean without an ADC), then
    dead pixels and the optional dead row/column segment at the kept offset."""
    out = state.signal
    height, width = int(out.shape[1]), int(out.shape[2])
    device, generator = state.device, state.generator
    dead_value = _per_sample([0.0 if s.dark_subtracted else s.bias_adu for s in stages], out)
    if any(s.hot_fraction > 0 for s in stages):
        hot = _per_sample([s.hot_fraction for s in stages], out, torch.float64)
        u = torch.rand(out.shape, generator=generator, device=device, dtype=torch.float64)
        is_hot = u < hot
        # U[0, 1) given u < f_hot: the level needs no draw of its own
        within = (u / torch.where(hot > 0, hot, torch.ones_like(hot))).to(torch.float32)
        mean = out.mean(dim=(1, 2), dtype=torch.float64).clamp_min(1.0).to(torch.float32)
        with_adc = [s.adc_bits is not None for s in stages]
        low = _per_sample([0.3 * full_scale(s.adc_bits) if a else 5.0 for s, a in zip(stages, with_adc)], out)
        span = _per_sample([0.7 * full_scale(s.adc_bits) if a else 45.0 for s, a in zip(stages, with_adc)], out)
        span_scale = torch.where(_mask(with_adc, out)[:, None, None], 1.0, mean[:, None, None])
        out = torch.where(is_hot, (low + span * within) * span_scale, out)
    if any(s.dead_fraction > 0 for s in stages):
        dead = _per_sample([s.dead_fraction for s in stages], out, torch.float64)
        u = torch.rand(out.shape, generator=generator, device=device, dtype=torch.float64)
        out = torch.where(u < dead, dead_value, out)
    if any(s.dead_segment for s in stages):
        segment = _mask([s.dead_segment for s in stages], out)
        out = torch.where(_segments(segment, height, width, generator), dead_value, out)
    state.signal = out


def _segments(active: torch.Tensor, height: int, width: int,
              generator: torch.Generator) -> torch.Tensor:
    """(B, H, W) mask of one dead row or column segment per active sample.

    With p = 0.5 a row (else a column) at a uniform position; its length is
    ``max(1, int(U[0.1, 1)·side))`` and its start uniform among the positions that fit.
    """
    device = active.device
    batch = int(active.shape[0])
    u = torch.rand((batch, 4), generator=generator, device=device, dtype=torch.float64)
    along_row = u[:, 0] < 0.5
    side = torch.where(along_row, float(width), float(height))
    across = torch.where(along_row, float(height), float(width))
    line = torch.floor(u[:, 1] * across).long()
    length = torch.floor((0.1 + 0.9 * u[:, 2]) * side).clamp_min(1.0)
    start = torch.floor(u[:, 3] * (side - length + 1.0)).long()
    stop = start + length.long()
    r = torch.arange(height, device=device)[None, :, None]
    c = torch.arange(width, device=device)[None, None, :]
    def a(t: torch.Tensor) -> torch.Tensor:
        return t[:, None, None]

    in_row = (r == a(line)) & (c >= a(start)) & (c < a(stop))
    in_col = (c == a(line)) & (r >= a(start)) & (r < a(stop))
    return a(active) & torch.where(a(along_row), in_row, in_col)


@implements(ADC)
def adc(state: BatchState, stages: Sequence[ADC]) -> None:
    """Clip to ``[0, 2^bits − 1]`` and round (half to even) where a sample has an ADC."""
    if all(s.adc_bits is None for s in stages):
        return
    with_adc = _mask([s.adc_bits is not None for s in stages], state.signal)
    top = _per_sample([full_scale(s.adc_bits) for s in stages], state.signal)
    digitised = torch.round(torch.minimum(state.signal.clamp_min(0.0), top))
    state.signal = torch.where(with_adc[:, None, None], digitised, state.signal)

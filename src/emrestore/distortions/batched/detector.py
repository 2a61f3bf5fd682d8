"""Batched STEM/SEM detector and electronics stages (:mod:`emrestore.distortions.detector`).

Every function here applies one numpy stage class to a whole batch, with each sample's
parameters read from its own stage object (as :meth:`Chain.build
<emrestore.distortions.chains.Chain.build>` made it), so the physics and the parameter
values have one definition: the numpy stage.

* :class:`~emrestore.distortions.detector.SecondaryEmission`: compound Poisson,
  ``N_se ~ Poisson(N_pe·η·δ₀·c)`` with ``N_pe ~ Poisson(D_pe)`` per pixel.
* :class:`~emrestore.distortions.detector.Integration`: nothing within one acquisition
  (:func:`~emrestore.distortions.batched.run_batch` makes and averages the acquisitions).
* :class:`~emrestore.distortions.detector.ScintillatorGain`: ``Gamma(N·k, 1)/k``.
* :class:`~emrestore.distortions.detector.Afterglow`: the causal exponential filter along
  the raster, with the fly-back decay between rows: a blocked matrix product within the
  rows and a log-depth parallel scan for the carries between blocks and rows.
* :class:`~emrestore.distortions.detector.ElectronicNoise`: white ``N(0, σ_e)`` per pixel.
* :class:`~emrestore.distortions.detector.BrightnessContrast`: ``o + c·S`` [ADU].
* :class:`~emrestore.distortions.detector.LineIntensityNoise`: rows times ``1 + ε_i`` with
  a stationary AR(1) ``ε`` (the offset not scaled).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..detector import (
    Afterglow,
    BrightnessContrast,
    ElectronicNoise,
    Integration,
    LineIntensityNoise,
    ScintillatorGain,
    SecondaryEmission,
)
from .core import BatchState, column, implements

__all__ = ["afterglow", "brightness_contrast", "causal_scan", "decay_powers", "electronic_noise",
           "filter_rows", "integration", "line_intensity_noise", "scintillator_gain",
           "secondary_emission"]


def causal_scan(drive: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """First-order causal recursion ``y_n = g·y_{n−1} + x_n`` (``y_{−1} = 0``) along the last axis.

    Computed in ``⌈log₂ n⌉`` vectorised steps (Hillis–Steele scan): after the step with
    shift ``s`` every ``y_n`` holds ``Σ_{m=n−2s+1}^{n} g^{n−m}·x_m``. This is
    :func:`scipy.signal.lfilter` ``([1], [1, −g], x)`` with a gain per row of ``x``.

    Parameters
    ----------
    drive : torch.Tensor
        The input ``x`` (..., N).
    gain : torch.Tensor
        The gain ``g`` per sequence, broadcastable to ``drive[..., :1]`` (e.g. (B, 1) or
        (B, 1, 1)); same dtype as ``drive``.

    Returns
    -------
    torch.Tensor
        ``y``, the shape of ``drive``.

    Examples
    --------
    >>> causal_scan(torch.tensor([[1.0, 0.0, 0.0, 2.0]]), torch.tensor([[0.5]]))
    tensor([[1.0000, 0.5000, 0.2500, 2.1250]])
    """
    out = drive
    length = int(drive.shape[-1])
    factor = gain
    shift = 1
    while shift < length:
        out = torch.cat([out[..., :shift], out[..., shift:] + factor * out[..., :-shift]], dim=-1)
        factor = factor * factor
        shift *= 2
    return out


@implements(SecondaryEmission)
def secondary_emission(state: BatchState, stages: Sequence[SecondaryEmission]) -> None:
    """SEM emission: ``N_pe ~ Poisson(D_pe)``, then ``N_se ~ Poisson(N_pe·η·δ₀·max(c, 0))`` [SE/px].

    As :meth:`SecondaryEmission.__call__ <emrestore.distortions.detector.SecondaryEmission.__call__>`
    per sample (the stage has no neutral setting: every sample is drawn).
    """
    device = state.device
    dose = column(stages, "dose_pe_per_px", device)[:, None, None]
    se_per_pe = column(stages, "mean_se_per_pe", device)[:, None, None]
    image = state.signal.clamp_min(0.0)
    primaries = torch.poisson(dose.expand_as(image).contiguous(), generator=state.generator)
    state.signal = torch.poisson(primaries * (se_per_pe * image), generator=state.generator)


@implements(Integration)
def integration(state: BatchState, stages: Sequence[Integration]) -> None:
    """Within one acquisition, integration changes nothing (as the numpy ``Integration.apply``).

    :func:`~emrestore.distortions.batched.run_batch` makes ``integration_frames``
    acquisitions of every sample (row times from :meth:`Integration.row_starts_us
    <emrestore.distortions.detector.Integration.row_starts_us>`) and averages them, as
    :meth:`Chain.run <emrestore.distortions.chains.Chain.run>` does.
    """


@implements(ScintillatorGain)
def scintillator_gain(state: BatchState, stages: Sequence[ScintillatorGain]) -> None:
    """Pulse-height spread: ``Gamma(N·k, 1)/k`` per pixel (mean ``N``, variance ``N/k``) [e⁻].

    Samples with ``scintillator_k = None`` are left unchanged; negative counts are taken
    as 0, and a pixel of 0 counts stays exactly 0 (as numpy's ``standard_gamma(0)``).
    """
    active = [i for i, stage in enumerate(stages) if stage.scintillator_k is not None]
    if not active:
        return
    chosen = [stages[i] for i in active]
    shape_k = column(chosen, "scintillator_k", state.device)[:, None, None]
    inverse_k = torch.tensor([1.0 / s.scintillator_k for s in chosen],  # as numpy: float32(1/k)
                             dtype=torch.float32, device=state.device)[:, None, None]
    whole = len(active) == len(stages)
    index = None if whole else torch.tensor(active, dtype=torch.long, device=state.device)
    counts = (state.signal if index is None else state.signal[index]).clamp_min(0.0)
    alpha = counts * shape_k
    pulses = torch._standard_gamma(alpha, generator=state.generator)
    # torch returns the smallest normal float for a shape of 0; numpy (and physics) 0
    pulses = torch.where(alpha > 0, pulses, torch.zeros_like(pulses)) * inverse_k
    if index is None:
        state.signal = pulses
    else:
        state.signal = state.signal.index_copy(0, index, pulses)


#: Pixels per block of the within-row afterglow filter (one matrix product per block).
ROW_BLOCK_PX = 64


def decay_powers(decay: torch.Tensor, count: int) -> torch.Tensor:
    """``a^1 … a^count`` of every sample's decay factor ``a`` (B,): (B, count), in ``decay``'s dtype."""
    exponents = torch.arange(1, count + 1, dtype=decay.dtype, device=decay.device)
    return decay[:, None] ** exponents[None, :]


def filter_rows(signal: torch.Tensor, decay: torch.Tensor, block_px: int = ROW_BLOCK_PX) -> torch.Tensor:
    """Every row filtered from a zero state: ``r_j = a·r_{j−1} + (1 − a)·s_j`` (float32).

    Each row is cut into blocks of ``block_px`` pixels, filtered within the block by a
    product with the lower-triangular kernel ``(1 − a)·a^{j−m}`` (``m ≤ j``; built in
    float64), and the blocks are joined by carrying each block's last value into the
    next (``+ c_k·a^{j+1}``, ``c_k = a^L·c_{k−1} + r_{k−1, last}``).

    Parameters
    ----------
    signal : torch.Tensor
        Images (B, H, W), float32.
    decay : torch.Tensor
        Decay per pixel ``a`` of every sample (B,), float64.
    block_px : int
        Block length [px].
    """
    batch, height, width = signal.shape
    size = min(width, block_px)
    blocks = -(-width // size)
    padded = torch.nn.functional.pad(signal, (0, blocks * size - width))  # causal: padding is harmless
    lag = torch.arange(size, dtype=torch.float64, device=signal.device)
    lags = lag[:, None] - lag[None, :]  # j − m
    taps = (1.0 - decay)[:, None, None] * decay[:, None, None] ** lags.clamp_min(0.0)[None]
    kernel = torch.where(lags[None] >= 0, taps, torch.zeros_like(taps)).to(torch.float32)
    pieces = torch.matmul(padded.reshape(batch, height * blocks, size), kernel.transpose(1, 2))
    pieces = pieces.reshape(batch, height, blocks, size)
    if blocks > 1:
        block_gain = (decay**size).to(torch.float32)[:, None, None]
        entering = torch.zeros(pieces.shape[:3], dtype=torch.float32, device=signal.device)
        entering[..., 1:] = causal_scan(pieces[..., :-1, -1], block_gain)
        powers = decay_powers(decay, size).to(torch.float32)
        pieces = pieces + entering[..., None] * powers[:, None, None, :]
    return pieces.reshape(batch, height, blocks * size)[..., :width]


@implements(Afterglow)
def afterglow(state: BatchState, stages: Sequence[Afterglow]) -> None:
    """Causal exponential decay along the raster: ``y_n = a·y_{n−1} + (1 − a)·s_n``.

    Within a row the state decays by ``a`` per dwell; over the fly-back before the next
    row by ``b``; so row ``i`` starts from ``c_i = b·y_{i−1, last}`` and
    ``y_{i,j} = r_{i,j} + c_i·a^{j+1}``, where ``r`` is the row filtered from a zero
    state (:func:`filter_rows`), exactly the decomposition of the numpy stage. ``a`` and
    ``b`` are the stage's ``pixel_decay`` and ``flyback_decay``; samples with ``a = 0``
    are left unchanged.

    The within-row filter is a float32 matrix product: with TF32 matrix products enabled
    on CUDA (``torch.backends.cuda.matmul.allow_tf32``) it is accurate to ~1e-3 only.
    """
    if all(stage.pixel_decay == 0.0 for stage in stages):
        return
    device = state.device
    a64 = column(stages, "pixel_decay", device, torch.float64)
    b64 = column(stages, "flyback_decay", device, torch.float64)
    signal = state.signal
    width = int(signal.shape[2])
    rows = filter_rows(signal, a64)
    carry_gain = (b64 * a64**width).to(torch.float32)[:, None]
    entering = torch.zeros(signal.shape[:2], dtype=torch.float32, device=device)
    if signal.shape[1] > 1:
        entering[:, 1:] = causal_scan(b64.to(torch.float32)[:, None] * rows[:, :-1, -1], carry_gain)
    powers = decay_powers(a64, width).to(torch.float32)
    out = rows + entering[:, :, None] * powers[:, None, :]
    state.signal = torch.where((a64 > 0)[:, None, None], out, signal)


@implements(ElectronicNoise)
def electronic_noise(state: BatchState, stages: Sequence[ElectronicNoise]) -> None:
    """Add white Gaussian amplifier noise ``N(0, σ_e)`` per pixel [e⁻]; ``σ_e = 0``: unchanged."""
    if all(stage.electronic_sigma_e == 0 for stage in stages):
        return
    sigma = column(stages, "electronic_sigma_e", state.device)
    noise = torch.randn(state.signal.shape, generator=state.generator, dtype=torch.float32,
                        device=state.device)
    noisy = state.signal + sigma[:, None, None] * noise
    state.signal = torch.where((sigma > 0)[:, None, None], noisy, state.signal)


def _offset_contrast(state: BatchState,
                     stages: Sequence[BrightnessContrast]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sample's offset [ADU] and contrast [ADU/e⁻], (B,) float32.

    In the chains both are set by the sampler; a ``None`` left in is derived from the
    sample's own input image by :meth:`BrightnessContrast.resolved
    <emrestore.distortions.detector.BrightnessContrast.resolved>` (numpy, on the CPU),
    as the numpy stage does.
    """
    resolved = []
    for index, stage in enumerate(stages):
        if stage.offset_adu is None or stage.contrast_adu_per_e is None:
            stage = stage.resolved(state.signal[index].detach().cpu().numpy())
        resolved.append(stage)
    return (column(resolved, "offset_adu", state.device),
            column(resolved, "contrast_adu_per_e", state.device))


@implements(BrightnessContrast)
def brightness_contrast(state: BatchState, stages: Sequence[BrightnessContrast]) -> None:
    """Map detected electrons to ADU: ``o + c·S`` per sample (the target is set by the runner
    from the same ``o`` and ``c``; this stage, like the numpy one, changes only the signal)."""
    offset, contrast = _offset_contrast(state, stages)
    state.signal = offset[:, None, None] + contrast[:, None, None] * state.signal


@implements(LineIntensityNoise)
def line_intensity_noise(state: BatchState, stages: Sequence[LineIntensityNoise]) -> None:
    """Probe-current fluctuation: row ``i`` becomes ``(S − o)·(1 + ε_i) + o`` [ADU].

    ``ε`` is a stationary AR(1) along the rows per sample (σ, φ from the stage; the first
    row drawn from the stationary distribution, as :func:`~emrestore.distortions.sampling.ar1`);
    ``o`` is the shared brightness offset (``None``: 0). Samples with ``σ = 0`` are left
    unchanged.
    """
    device = state.device
    if all(stage.line_noise_sigma == 0 for stage in stages):
        return
    sigma = column(stages, "line_noise_sigma", device)
    phi = column(stages, "line_noise_phi", device)
    offset = torch.nan_to_num(column(stages, "offset_adu", device), nan=0.0)[:, None, None]
    height = int(state.signal.shape[1])
    noise = torch.randn((state.batch, height), generator=state.generator, dtype=torch.float32,
                        device=device)
    innovation = (sigma * torch.sqrt(1.0 - phi * phi))[:, None]
    drive = torch.cat([sigma[:, None] * noise[:, :1], innovation * noise[:, 1:]], dim=1)
    eps = causal_scan(drive, phi[:, None])
    noisy = (state.signal - offset) * (1.0 + eps)[:, :, None] + offset
    state.signal = torch.where((sigma > 0)[:, None, None], noisy, state.signal)

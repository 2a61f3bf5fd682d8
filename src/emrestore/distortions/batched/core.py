"""The batched chain runner: per-sample parameters and stages, one tensor per batch.

A stage's batched implementation is a function ``fn(state, stages) -> None`` registered
with :func:`implements`: ``stages[i]`` is the stage of sample ``i`` as the numpy chain
builds it (:meth:`Chain.build <emrestore.distortions.chains.Chain.build>`), so the
implementation reads its parameters and derived properties from the same object the
numpy chain uses (:func:`column` gathers one of them into a ``(B,)`` tensor). It updates
``state.signal`` (and, for the image stages, ``state.target``) in place of the numpy
:meth:`Stage.apply <emrestore.distortions.parameters.Stage.apply>`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ...errors import ParameterError
from ..chains import Chain, get_chain, normalise_clean, split_generator
from ..detector import Integration
from ..parameters import Stage, Value

__all__ = ["IMPLEMENTATIONS", "BatchState", "StageFn", "column", "expected_response", "implements",
           "missing_implementations", "run_batch", "sample_batch"]

#: The modules that register the batched stages (imported on first use).
STAGE_MODULES = ("camera", "detector", "scan", "display")


@dataclass
class BatchState:
    """What the batched stages of a running chain read and write.

    Parameters
    ----------
    clean : torch.Tensor
        The normalised clean images (B, H, W), float32, each of mean 1.
    signal : torch.Tensor
        The images so far (B, H, W), float32, in the unit of the last stage applied.
    built : dict
        Stage class → the B stages of the samples (as :meth:`Chain.build` made them).
    generator : torch.Generator
        Source of all the noise, on the tensors' device.
    target : torch.Tensor, optional
        The expected, noise-free signals (B, H, W); set before the image stages.
    acquisition : int
        Index of the acquisition being made (0-based; SEM integration makes several).
    row_start_us : callable, optional
        ``row_start_us(i, line_time_us)``: start times [µs] of the rows of sample ``i`` in
        this acquisition (numpy (H,)); ``None``: one frame from t = 0.
    effects : list of Stage classes
        Displacement stages met so far in this acquisition; the next scan renderer
        applies them together.
    static : dict
        Shared state of ``STATIC`` scan effects across the acquisitions of one batch (the
        scan implementation decides what it keeps there).
    """

    clean: torch.Tensor
    signal: torch.Tensor
    built: dict[type[Stage], list[Stage]]
    generator: torch.Generator
    target: torch.Tensor | None = None
    acquisition: int = 0
    row_start_us: Callable[[int, float], np.ndarray] | None = None
    effects: list[type[Stage]] = field(default_factory=list)
    static: dict = field(default_factory=dict)

    @property
    def batch(self) -> int:
        """Number of samples B."""
        return int(self.clean.shape[0])

    @property
    def device(self) -> torch.device:
        """The tensors' device."""
        return self.clean.device


#: ``fn(state, stages)``: apply one stage class to the batch.
StageFn = Callable[[BatchState, Sequence[Any]], None]

#: Stage class → its batched implementation.
IMPLEMENTATIONS: dict[type[Stage], StageFn] = {}


def implements(stage: type[Stage]) -> Callable[[StageFn], StageFn]:
    """Register ``fn`` as the batched implementation of ``stage`` (a decorator)."""
    def register(fn: StageFn) -> StageFn:
        if stage in IMPLEMENTATIONS and IMPLEMENTATIONS[stage] is not fn:
            raise ValueError(f"{stage.__name__} has two batched implementations.")
        IMPLEMENTATIONS[stage] = fn
        return fn
    return register


def _load_implementations() -> None:
    for name in STAGE_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def missing_implementations(chain: Chain | None = None) -> list[str]:
    """Names of the stages of ``chain`` (default: every chain) that have no batched version."""
    from ..chains import CHAINS

    _load_implementations()
    chains = [chain] if chain is not None else list(CHAINS.values())
    names = []
    for each in chains:
        names += [f"{each.modality}:{s.__name__}" for s in each.stages if s not in IMPLEMENTATIONS]
    return names


def column(stages: Sequence[Any], name: str, device: torch.device | str = "cpu",
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One attribute of every sample's stage as a ``(B,)`` tensor (``None`` → NaN).

    Examples
    --------
    >>> from emrestore.distortions.camera import Dose
    >>> column([Dose(dose_e_per_px=2.0), Dose(dose_e_per_px=5.0)], "dose_e_per_px")
    tensor([2., 5.])
    """
    values = [getattr(stage, name) for stage in stages]
    return torch.tensor([float("nan") if v is None else float(v) for v in values],
                        dtype=dtype, device=device)


def sample_batch(chain: Chain | str, clean: np.ndarray | torch.Tensor,
                 rngs: Sequence[np.random.Generator], *,
                 pixel_size_nm: Sequence[float | None] | None = None,
                 fixed: dict[str, Any] | None = None) -> list[dict[str, Value]]:
    """Draw every sample's parameters with the numpy chain's own sampler.

    Sample ``i`` draws with the parameter stream of ``rngs[i]`` exactly as
    :func:`~emrestore.distortions.distort` does (:func:`split_generator`, then
    :meth:`Chain.sample_parameters`), so its parameters are those ``distort(clean[i],
    seed=rngs[i])`` would draw.

    Parameters
    ----------
    chain : Chain or str
        The chain or its modality.
    clean : numpy.ndarray or torch.Tensor
        Clean images (B, H, W), any scale (normalised here, as :func:`distort` does).
    rngs : sequence of numpy.random.Generator
        One generator per sample.
    pixel_size_nm : sequence of float or None, optional
        Pixel size of every sample [nm] (scan noise scales with it).
    fixed : dict, optional
        Parameters fixed for every sample.
    """
    chain = get_chain(chain) if isinstance(chain, str) else chain
    images = clean.detach().cpu().numpy() if isinstance(clean, torch.Tensor) else np.asarray(clean)
    if images.ndim != 3 or len(rngs) != images.shape[0]:
        raise ParameterError(f"sample_batch needs (B, H, W) images and B generators, got {images.shape} "
                             f"and {len(rngs)}.", "Pass one generator per image.")
    sizes = list(pixel_size_nm) if pixel_size_nm is not None else [None] * len(rngs)
    values = []
    for image, rng, size in zip(images, rngs, sizes):
        param_rng, _ = split_generator(rng)
        values.append(chain.sample_parameters(param_rng, normalise_clean(image), fixed or {},
                                              validate=False, pixel_size_nm=size))
    return values


def _normalised(clean: torch.Tensor) -> torch.Tensor:
    if clean.ndim != 3:
        raise ParameterError(f"run_batch needs clean images (B, H, W), got shape {tuple(clean.shape)}.",
                             "Stack the crops into one (B, H, W) tensor.")
    clean = clean.to(torch.float32).clamp_min(0.0)
    mean = clean.mean(dim=(1, 2), keepdim=True, dtype=torch.float64)
    if not bool((mean > 0).all()):
        raise ParameterError("A clean image of the batch is zero everywhere; it cannot be normalised.",
                             "Draw crops with some signal.")
    return clean * (1.0 / mean).to(torch.float32)  # as normalise_clean: times float32(1 / mean)


def expected_response(chain: Chain, clean: torch.Tensor, built: dict[type[Stage], list[Stage]],
                      generator: torch.Generator) -> torch.Tensor:
    """The normalised clean batch through the chain's response stages (as
    :meth:`Chain.expected_response`): their batched implementations on a state without
    noise stages or displacement effects, so none of them draws from ``generator``."""
    _load_implementations()
    state = BatchState(clean, clean, built, generator)
    for stage in chain.acquisition:
        if stage in chain.response:
            IMPLEMENTATIONS[stage](state, built[stage])
    return state.signal


def run_batch(chain: Chain | str, clean: torch.Tensor, values: Sequence[dict[str, Value]],
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply a chain to a batch: ``(degraded, target)``, each (B, H, W) float32.

    Parameters
    ----------
    chain : Chain or str
        The chain or its modality.
    clean : torch.Tensor
        Clean images (B, H, W), ≥ 0, any scale (each normalised to mean 1, as
        :func:`~emrestore.distortions.distort` does).
    values : sequence of dict
        Every sample's parameters (:func:`sample_batch`, or the ``params`` of a
        :func:`distort` call without ``modality``).
    generator : torch.Generator
        Source of the noise, on ``clean``'s device.

    Raises
    ------
    NotImplementedError
        A stage of the chain has no batched implementation.
    """
    chain = get_chain(chain) if isinstance(chain, str) else chain
    clean = _normalised(clean)
    if len(values) != clean.shape[0]:
        raise ParameterError(f"{len(values)} parameter sets for {clean.shape[0]} images.",
                             "Pass one parameter dict per image.")
    missing = missing_implementations(chain)
    if missing:
        raise NotImplementedError(f"No batched implementation of {', '.join(missing)}.")
    builds = [chain.build(dict(v)) for v in values]
    built = {stage: [b[stage] for b in builds] for stage in chain.stages}
    integrations = built.get(Integration) or [Integration()] * len(builds)
    counts = [int(i.integration_frames) for i in integrations]
    frames = torch.tensor(counts, dtype=torch.float32, device=clean.device)
    static: dict = {}  # STATIC scan effects: drawn in acquisition 0, which every sample makes
    total = torch.zeros_like(clean)
    height = int(clean.shape[1])
    for index in range(max(counts)):  # ≤ 8 acquisitions, each by the samples that make it
        members = [j for j, n in enumerate(counts) if n > index]

        def starts(i: int, line_time_us: float, _a: int = index, _m: list[int] = members) -> np.ndarray:
            return integrations[_m[i]].row_starts_us(height, line_time_us, acquisition=_a)

        if len(members) == len(counts):
            part, part_built, part_static = clean, built, static
        else:
            rows = torch.tensor(members, device=clean.device)
            part = clean.index_select(0, rows)
            part_built = {stage: [stages[j] for j in members] for stage, stages in built.items()}
            part_static = {key: tuple(t.index_select(0, rows) if t.shape[0] == len(counts) else t
                                      for t in value) for key, value in static.items()}
        state = BatchState(part, part, part_built, generator, acquisition=index,
                           row_start_us=starts, static=part_static)
        for stage in chain.acquisition:
            IMPLEMENTATIONS[stage](state, part_built[stage])
        if part is clean:
            total = total + state.signal
        else:
            total = total.index_add(0, rows, state.signal)
    signal = total / frames[:, None, None]
    terms = torch.tensor([chain.target_terms(v, b) for v, b in zip(values, builds)],
                         dtype=torch.float32, device=clean.device)
    offset, contrast, scale = (terms[:, k, None, None] for k in range(3))
    response = expected_response(chain, clean, built, generator)
    state = BatchState(clean, signal, built, generator, target=offset + contrast * (response * scale))
    for stage in chain.image:
        IMPLEMENTATIONS[stage](state, built[stage])
    assert state.target is not None
    return state.signal, state.target

"""The uncertainty map of a restoration: one estimated local error scale plus its parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ...errors import ParameterError
from .calibration import DEFAULT_CALIBRATION, METHOD_VERSION, MapCalibration
from .dihedral import check_size, dihedral_spread
from .noise_model import NoiseVariance, noise_variance
from .renoise import renoise_spread
from .residual import COMPONENTS, residual_components

#: Default Gaussian window σ [px] of the physics check: a few lattice periods of HR frames
#: (2–10 px), about 800 px of samples (⟨r²⟩ to ≈ 5 %).
DEFAULT_WINDOW = 8.0


@dataclass
class UncertaintyMap:
    """Where a restoration may be wrong, in the input's intensity units.

    Attributes
    ----------
    total : numpy.ndarray
        (H, W) or (N, H, W) float32 [input units]: the estimated local RMS error of the
        restoration, ``sqrt(c²·(a²·structure² + removed·sqrt(structure² + removed²))
        + dihedral² + renoise²)`` (:func:`combine`) with ``removed`` the significant part of
        the non-noise residual (:mod:`~emrestore.restoration.uncertainty.residual`),
        ``structure`` the restoration's local RMS detail, ``a`` and ``c`` the model's
        calibration (:mod:`~emrestore.restoration.uncertainty.calibration`) and
        ``dihedral``/``renoise`` only when computed. An *estimate* from the input alone,
        scaled so that on the model's simulated frames the true error is at the map's value
        in the median; see ``docs/uncertainty.md`` for how well it ranks the true error.
    components : dict of str to numpy.ndarray
        The parts, same shape and units: ``excess``, ``followed_noise`` (not in the total:
        on simulated frames it ranks the error inversely), ``neighbour_structure``,
        ``along_restored`` (signed), ``removed`` from :mod:`~emrestore.restoration.uncertainty.residual`;
        ``structure`` (:func:`local_structure`);
        ``dihedral`` (spread under flips/rotations) and ``renoise`` (spread under fresh
        noise, :mod:`~emrestore.restoration.uncertainty.renoise`) when asked for.
    noise : list of dict
        The noise model used for each frame (:meth:`NoiseVariance.to_dict`).
    window_px : float
        Gaussian window σ [px].
    dihedral : int
        Dihedral copies restored (0: none; ``dihedral − 1`` extra restorations).
    renoise : int
        Re-noised copies restored (0: none; that many extra restorations).
    calibration : MapCalibration
        The detail weight and scale the total was made with.
    """

    total: np.ndarray
    components: dict[str, np.ndarray]
    noise: list[dict[str, Any]] = field(default_factory=list)
    window_px: float = DEFAULT_WINDOW
    dihedral: int = 0
    renoise: int = 0
    calibration: MapCalibration = DEFAULT_CALIBRATION

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`total`."""
        return self.total.shape

    def record(self) -> dict[str, Any]:
        """JSON-ready description (no pixel data): method, window, noise models, summary."""
        return {"method": METHOD_VERSION, "units": "input intensity units (RMS error estimate)",
                "total": "sqrt(scale^2*(detail_weight^2*structure^2 + removed*sqrt(structure^2 + removed^2))"
                         + (" + dihedral^2" if self.dihedral else "") + (" + renoise^2" if self.renoise else "")
                         + "), removed = significant non-noise residual",
                "calibration": self.calibration.to_dict(),
                "window_sigma_px": float(self.window_px), "dihedral_copies": int(self.dihedral),
                "renoise_copies": int(self.renoise),
                "components": sorted(self.components), "noise_model": self.noise,
                "median": float(np.median(self.total)), "p99": float(np.percentile(self.total, 99))}

    def as_image(self, like: Any, component: str | None = None) -> Any:
        """The map (or one component) as an :class:`~emrestore.image.EMImage` calibrated like ``like``.

        ``metadata["uncertainty"]`` holds :meth:`record`; ``metadata["uncertainty_component"]``
        names what the pixels are.
        """
        data = self.total if component is None else self.components[component]
        out = like.with_data(np.asarray(data, np.float32))
        out.metadata.pop("restoration", None)
        out.metadata["uncertainty"] = self.record()
        out.metadata["uncertainty_component"] = component or "total"
        return out


def local_structure(restored: np.ndarray, window: float) -> np.ndarray:
    """The restoration's local RMS detail ``sqrt(⟨h²⟩)``, ``h = restored − ⟨restored⟩`` [input units].

    ``⟨·⟩`` is the Gaussian window mean of σ ``window`` px. Where the restoration holds detail
    (columns, edges, particles) there is more to get wrong than in a flat region: on the
    simulated design frames the true error grows with it (docs/uncertainty.md).

    Parameters
    ----------
    restored : numpy.ndarray
        (H, W) restoration [input units].
    window : float
        Gaussian window σ [px].

    Returns
    -------
    numpy.ndarray
        (H, W) float32 [input units].
    """
    y = np.asarray(restored, np.float64)
    h = y - ndimage.gaussian_filter(y, window, mode="reflect")
    return np.sqrt(ndimage.gaussian_filter(h * h, window, mode="reflect")).astype(np.float32)


def combine(removed: np.ndarray, structure: np.ndarray, spreads: list[np.ndarray] | tuple = (),
            calibration: MapCalibration | None = None) -> np.ndarray:
    """The total: ``sqrt(c²·(a²·structure² + removed·sqrt(structure² + removed²)) + Σ spread²)`` [input units].

    ``a`` (detail weight) and ``c`` (scale) are the model's :class:`MapCalibration`
    (``None``: a = 0, c = 1, the uncalibrated form ``uncertainty-2`` used). ``a·structure``
    is the error a restoration typically makes where there is detail and the residual shows
    nothing beyond the noise (most of the time: a denoiser's error is usually far below the
    noise, where no residual test can see it).

    ``removed·sqrt(structure² + removed²)`` is the geometric mean (squared) of the non-noise
    residual and the local detail of the truth as the input shows it (the restored detail
    plus what was removed, in quadrature): large only where the residual says something was
    removed or invented *and* there is detail there; where the restoration is flat it is
    ``removed²`` (a lattice erased to a flat background keeps its full amplitude). The
    spreads (dihedral, re-noise) are variance terms and add in quadrature.

    Parameters
    ----------
    removed : numpy.ndarray
        The significant non-noise residual (component ``removed``) [input units].
    structure : numpy.ndarray
        :func:`local_structure` of the restoration, same shape [input units].
    spreads : sequence of numpy.ndarray
        Dihedral and/or re-noise spreads, same shape [input units]; may be empty.
    calibration : MapCalibration, optional
        Detail weight and scale.

    Returns
    -------
    numpy.ndarray
        The total, float32 [input units].
    """
    r = np.asarray(removed, np.float64)
    s = np.asarray(structure, np.float64)
    weight, scale = (0.0, 1.0) if calibration is None else (calibration.detail_weight, calibration.scale)
    squares = scale * scale * ((weight * s) ** 2 + r * np.sqrt(s * s + r * r))
    for spread in spreads:
        squares = squares + np.asarray(spread, np.float64) ** 2
    return np.sqrt(squares).astype(np.float32)


def _frame_map(frame: np.ndarray, restored: np.ndarray, restore: Callable[[np.ndarray], np.ndarray] | None,
               dihedral: int, renoise: int, window: float, modality: str | None, seed: int
               ) -> tuple[dict[str, np.ndarray], NoiseVariance]:
    noise = noise_variance(frame, restored, modality=modality, seed=seed)
    parts = residual_components(frame, restored, noise, window)
    parts["structure"] = local_structure(restored, window)
    if dihedral:
        parts["dihedral"] = dihedral_spread(frame, restore, dihedral, restored=restored)
    if renoise:
        parts["renoise"] = renoise_spread(restored, restore, noise, renoise, window, seed=seed)
    return parts, noise


def uncertainty_map(data: np.ndarray, restored: np.ndarray, *,
                    restore: Callable[[np.ndarray], np.ndarray] | None = None, dihedral: int = 0,
                    renoise: int = 0, window: float = DEFAULT_WINDOW, modality: str | None = None, seed: int = 0,
                    progress: bool = False, calibration: MapCalibration | None = None) -> UncertaintyMap:
    """The uncertainty map of ``restored`` given the input ``data``.

    Parameters
    ----------
    data, restored : numpy.ndarray
        (H, W) frame or (N, H, W) series [ADU] and its restoration (same shape, same units).
    restore : callable, optional
        The restorer, (H, W) → (H, W); needed for ``dihedral`` > 0.
    dihedral : {0, 4, 8}
        Dihedral copies for the spread (0: none; 4: flips and 180°, 4× the restoration time;
        8: the whole group, 8×).
    renoise : int
        Re-noised copies for the spread under fresh noise (0: none; each is one more
        restoration).
    window : float
        Gaussian window σ [px] of the physics check (default 8).
    modality : {"tem", "stem", "sem"}, optional
        Passed to :func:`emrestore.estimate_noise`.
    seed : int
        Seed of the noise estimate's bootstrap and of the re-noising.
    progress : bool
        Progress bar over the frames of a series.
    calibration : MapCalibration, optional
        The restoring model's calibration (``Restorer.uncertainty`` passes its card's);
        default :data:`~emrestore.restoration.uncertainty.calibration.DEFAULT_CALIBRATION`.

    Returns
    -------
    UncertaintyMap
    """
    x = np.asarray(data, np.float32)
    y = np.asarray(restored, np.float32)
    if x.shape != y.shape or x.ndim not in (2, 3):
        raise ParameterError(f"Input {x.shape} and restoration {y.shape} must have the same (H, W) or "
                             "(N, H, W) shape.", "Pass the image and its own restoration.")
    dihedral = check_size(dihedral)
    renoise = int(renoise)
    if renoise < 0:
        raise ParameterError(f"renoise={renoise} must be ≥ 0.", "Pass 0 (none) or a few copies, e.g. 2.")
    if (dihedral or renoise) and restore is None:
        raise ParameterError("The dihedral and re-noise spreads need the restorer.",
                             "Pass restore=..., or dihedral=0 and renoise=0.")
    if not float(window) > 0:
        raise ParameterError(f"window={window} px must be > 0.", f"Use the default, {DEFAULT_WINDOW:g} px.")
    from tqdm.auto import tqdm

    frames_x = x[None] if x.ndim == 2 else x
    frames_y = y[None] if y.ndim == 2 else y
    per_frame, noises = [], []
    for i in tqdm(range(len(frames_x)), desc="uncertainty", unit="frame", leave=False,
                  disable=not progress or len(frames_x) < 2):
        parts, noise = _frame_map(frames_x[i], frames_y[i], restore, dihedral, renoise, float(window),
                                  modality, seed + i)
        per_frame.append(parts)
        noises.append(noise.to_dict())
    names = (list(COMPONENTS) + ["structure"] + (["dihedral"] if dihedral else [])
             + (["renoise"] if renoise else []))
    stacked = {name: np.stack([p[name] for p in per_frame]) for name in names}
    calibration = DEFAULT_CALIBRATION if calibration is None else calibration
    total = combine(stacked["removed"], stacked["structure"],
                    [stacked[n] for n in ("dihedral", "renoise") if n in stacked], calibration)
    if x.ndim == 2:
        total = total[0]
        stacked = {name: value[0] for name, value in stacked.items()}
    return UncertaintyMap(total, stacked, noises, float(window), dihedral, renoise, calibration)

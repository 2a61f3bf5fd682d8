"""Consistency / uncertainty map of a restoration: where it may have removed or invented signal.

:func:`uncertainty_map` combines

* a **physics check** (:mod:`.residual`): the residual ``input − restored``, window by
  window, against the variance the frame's noise model (:mod:`.noise_model`, from
  :func:`emrestore.estimate_noise`) predicts at the restored intensity;
* optionally the **dihedral spread** (:mod:`.dihedral`): how much the restoration changes
  when the input is flipped/rotated (4× or 8× the restoration time).
* optionally the **re-noise spread** (:mod:`.renoise`): how much it changes under fresh
  noise drawn from the noise model (one restoration per copy);
* the restoration's **local detail** (:func:`.map.local_structure`), which weights the
  physics check (:func:`.map.combine`): there is more to get wrong where there is detail;
* the model's **calibration** (:mod:`.calibration`, from its card): the error per unit of
  detail and the scale that make the map's median match the true error on simulated frames.

The result, :class:`UncertaintyMap`, is an estimated local RMS error in the input's
intensity units plus its components. What it means and what it cannot see: ``docs/uncertainty.md``.
"""

from __future__ import annotations

from .calibration import DEFAULT_CALIBRATION, MapCalibration
from .dihedral import dihedral_spread
from .map import (
    DEFAULT_WINDOW,
    UncertaintyMap,
    combine,
    local_structure,
    uncertainty_map,
)
from .noise_model import NoiseVariance, noise_variance
from .renoise import renoise_spread
from .residual import COMPONENTS, residual_components

__all__ = [
    "COMPONENTS",
    "DEFAULT_CALIBRATION",
    "DEFAULT_WINDOW",
    "MapCalibration",
    "NoiseVariance",
    "UncertaintyMap",
    "combine",
    "dihedral_spread",
    "local_structure",
    "noise_variance",
    "renoise_spread",
    "residual_components",
    "uncertainty_map",
]

"""How a model's uncertainty map is scaled: its calibration, read from the model card.

The map's total (:func:`emrestore.restoration.uncertainty.map.combine`) is

``sqrt(scale² · (detail_weight² · structure² + removed · sqrt(structure² + removed²)) + spreads²)``

``detail_weight`` is the model's typical error per unit of restored local detail (the median
of ``true error / structure`` over the pixels of its simulated evaluation frames): where the
residual shows nothing beyond the noise, the error of a restoration still grows with the
detail there is to get wrong. ``scale`` makes the median of ``true error / total`` 1 on the same
frames. Both are measured per shipped model (``tools/calibrate_uncertainty.py``, frames 0–27
of each tag's evaluation set) and stored in its card's ``uncertainty`` section::

    "uncertainty": {"method": "uncertainty-3", "detail_weight": 1.1, "scale": 0.7,
                    "fitted_on": "...", "date": "..."}

A model without that section (an exported or older model), or whose section was fitted for
another version of the map (its ``method`` is not :data:`METHOD_VERSION`; a warning says so),
gets :data:`DEFAULT_CALIBRATION`, the median of the shipped models' values; a fine-tuned model
keeps its base model's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from ...errors import ParameterError

#: The card section that holds a model's calibration.
CARD_SECTION = "uncertainty"
#: Version of the map's definition (recorded with every map and with every fitted calibration:
#: a calibration fitted for another version does not scale this map).
METHOD_VERSION = "uncertainty-3"


@dataclass(frozen=True)
class MapCalibration:
    """The two numbers that scale a model's uncertainty map (see the module docstring).

    Parameters
    ----------
    detail_weight : float
        Typical true error per unit of restored local detail [-], ≥ 0.
    scale : float
        Overall factor making the median of true error / map 1 on simulated frames [-], > 0.
    source : str
        Where the numbers come from (recorded with every map).
    """

    detail_weight: float
    scale: float
    source: str = "given"

    def __post_init__(self) -> None:
        for name, low, strict in (("detail_weight", 0.0, False), ("scale", 0.0, True)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                and (value > low if strict else value >= low)
            if not ok:
                raise ParameterError(f"Uncertainty calibration {name}={value!r} is not a finite number "
                                     f"{'>' if strict else '≥'} {low:g}.",
                                     "Re-run tools/calibrate_uncertainty.py, or drop the card's "
                                     "'uncertainty' section to use the default.")

    def to_dict(self) -> dict[str, Any]:
        return {"detail_weight": float(self.detail_weight), "scale": float(self.scale), "source": self.source}

    @classmethod
    def from_card(cls, card: Any, name: str = "the model") -> MapCalibration:
        """The calibration in a :class:`~emrestore.model.card.ModelCard`'s ``uncertainty`` section,
        or :data:`DEFAULT_CALIBRATION` where there is none or it was fitted for another map version."""
        section = getattr(card, CARD_SECTION, None)
        if section is None:
            return DEFAULT_CALIBRATION
        if not isinstance(section, dict):
            raise ParameterError(f"The card of {name} has an 'uncertainty' section that is not a JSON object.",
                                 "Re-run tools/calibrate_uncertainty.py or delete the section.")
        method = section.get("method", METHOD_VERSION)
        if method != METHOD_VERSION:
            warnings.warn(f"The uncertainty calibration in the card of {name} was fitted for map {method!r}, "
                          f"not {METHOD_VERSION!r}; the default calibration is used. Re-run "
                          "tools/calibrate_uncertainty.py to fit it for this version.", stacklevel=2)
            return DEFAULT_CALIBRATION
        try:
            weight, scale = section["detail_weight"], section["scale"]
        except KeyError as missing:
            raise ParameterError(f"The card of {name} has an 'uncertainty' section without {missing}.",
                                 "Re-run tools/calibrate_uncertainty.py or delete the section.") from None
        return cls(weight, scale, f"model card of {name} ({section.get('fitted_on', 'fit not described')})")


#: For models whose card holds no calibration: the median of the six shipped models' values
#: (docs/uncertainty.md, uncertainty-3).
DEFAULT_CALIBRATION = MapCalibration(0.83, 0.66, "default (median of the shipped models)")

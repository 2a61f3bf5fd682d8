"""The receptive field as part of a model's contract: how much context a tile needs.

A tile's output near an interior tile edge differs from the whole-frame output, because the
network sees its zero padding where the frame goes on. The **theoretical** radius
(:func:`theoretical_radius`) is where an input pixel stops being able to influence an output
pixel at all; the **effective** radius, recorded in the model card as ``receptive_field_px``
with the ``receptive_field`` section (:func:`card_entry`), is the context beyond which cutting
the frame changes the output by less than a tolerance. It is measured on the exported model
by :mod:`emrestore.restoration.receptive`; the restore engine derives its tile overlap from it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ReceptiveField", "theoretical_radius", "card_entry", "DEFAULT_TOLERANCE", "SAFETY_PX"]

#: Largest tile-vs-whole difference accepted at the context a model records [fraction of the
#: frame's std]. The engine's requirement is 1e-3; a tolerance four times stricter leaves room
#: for frames whose content reaches farther than the probe frames.
DEFAULT_TOLERANCE = 2.5e-4
#: Pixels added to the measured radius (rounded up to the model's grid afterwards).
SAFETY_PX = 4


@dataclass
class ReceptiveField:
    """The measured receptive field of one model.

    Parameters
    ----------
    theoretical_px : int or None
        Radius beyond which an input pixel cannot influence an output pixel (None: unknown
        architecture).
    effective_px : int
        Context [px] a tile needs beyond each output pixel for the tile to agree with the
        whole frame within ``tolerance`` × the frame's std: ``radius_px + safety_px``
        rounded up to the model's grid, at most the theoretical radius.
    radius_px : int
        Smallest distance from which on the measured difference stays below ``tolerance``.
    tolerance : float
        Fraction of the frame's std.
    profile : numpy.ndarray
        ``profile[d]``: largest |tile − whole| / std over all probe frames and crops, at
        the pixels whose distance to the nearest interior crop edge is ``d`` px or more.
    frames : list of str
        What the probe frames were.
    safety_px : int
        Added to ``radius_px``.
    converged : bool
        False if the difference was still above ``tolerance`` at the largest distance
        probed (``effective_px`` is then the theoretical radius).
    """

    theoretical_px: int | None
    effective_px: int
    radius_px: int
    tolerance: float
    profile: np.ndarray
    frames: list[str] = field(default_factory=list)
    safety_px: int = SAFETY_PX
    converged: bool = True

    def error_at(self, distance: int) -> float:
        """Largest |tile − whole| / std with at least ``distance`` px of context."""
        return float(self.profile[min(max(int(distance), 0), len(self.profile) - 1)])


def theoretical_radius(config: Any) -> int:
    """Radius [px] of the CGRDN's theoretical receptive field.

    The longest path from input to output runs through the 3×3 stem, every one of the
    ``groups × blocks × layers`` 3×3 convolutions of the body (at 1/f resolution, f the
    down-sampling factor) and the 3×3 output convolution. Each body convolution reaches one
    low-resolution pixel (f px) farther; the stem, the output convolution and the f×f grid
    of the down/up-sampling add 5 px for both f = 2 and f = 4 (worst output phase).

    Parameters
    ----------
    config : str, dict or GeneratorConfig
        Generator sizes (a preset name such as ``"fast"``).

    Returns
    -------
    int
        ``f · G · B · L + 5``: 149 px for `fast`, 69 px for `tiny`, 261 px for `paper`; a
        full-resolution refinement head (``refine``) adds its three 3×3 convolutions, 3 px.
    """
    from ..nn.configs import generator_config

    c = generator_config(config)
    return c.downsample * c.groups * c.blocks * c.layers + 5 + (3 if c.refine else 0)


def card_entry(field_: ReceptiveField, *, checkpoints: Sequence[int] = (8, 16, 24, 32, 48, 64, 96, 128)
               ) -> dict[str, Any]:
    """The ``receptive_field`` section of a model card for a measurement."""
    from .. import __version__

    return {
        "description": (
            "receptive_field_px: context [px] a tile needs beyond each output pixel so that tiled and "
            "whole-frame restorations agree within tolerance_of_std x the frame's std; the restore "
            "engine derives its default tile overlap from it. Measured by restoring crops of probe "
            "frames (with the whole frame's normalisation) and comparing them with the whole-frame "
            "result against the distance to the nearest interior crop edge "
            "(emrestore.restoration.receptive)."),
        "theoretical_px": field_.theoretical_px,
        "effective_px": field_.effective_px,
        "measured_radius_px": field_.radius_px,
        "tolerance_of_std": field_.tolerance,
        "safety_px": field_.safety_px,
        "converged": field_.converged,
        "max_error_of_std_beyond_px": {str(d): float(f"{field_.error_at(d):.3g}")
                                       for d in checkpoints if d < len(field_.profile)},
        "probe_frames": list(field_.frames),
        "emrestore_version": __version__,
        "measured_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }

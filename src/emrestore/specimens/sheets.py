"""Two-dimensional sheets (graphene, hBN, MoS2 and related TMDs), built with ASE.

Sheets are viewed along their normal. Multilayers are stacked with the natural
interlayer spacing, either Bernal/2H-like (each layer shifted by (a1 + a2)/3) or
twisted by a random angle.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import graphene, mx2

from ..errors import ParameterError
from .slab import AtomSet, oriented_slab

#: name -> (builder, interlayer spacing [Å])
SHEETS = {
    "graphene": (lambda: graphene(formula="C2", a=2.460, vacuum=None), 3.35),
    "hBN": (lambda: graphene(formula="BN", a=2.504, vacuum=None), 3.33),
    "MoS2": (lambda: mx2("MoS2", kind="2H", a=3.16, thickness=3.17), 6.15),
    "WS2": (lambda: mx2("WS2", kind="2H", a=3.153, thickness=3.14), 6.16),
    "MoSe2": (lambda: mx2("MoSe2", kind="2H", a=3.288, thickness=3.34), 6.46),
}


def sheet_cell(name: str) -> tuple[Atoms, float]:
    """One layer with a 3-D cell whose c vector is the interlayer spacing [Å]."""
    if name not in SHEETS:
        raise ParameterError(f"Unknown 2D material {name!r}.", f"Use one of {', '.join(SHEETS)}.")
    build, spacing = SHEETS[name]
    layer = build()
    cell = np.array(layer.cell)
    cell[2] = [0.0, 0.0, spacing]
    layer.set_cell(cell)
    layer.positions[:, 2] -= layer.positions[:, 2].min()
    return layer, spacing


def stacked_sheets(
    name: str,
    n_layers: int,
    box: tuple[float, float, float, float],
    inplane_deg: float,
    twist_deg: float | None,
    shift_frac: tuple[float, float],
    z_offset: float = 0.0,
) -> AtomSet:
    """Stack ``n_layers`` sheets over the lateral ``box`` [Å].

    Parameters
    ----------
    twist_deg : float or None
        Rotation [°] of each layer relative to the one below; ``None`` for aligned
        (Bernal-like) stacking.
    shift_frac : tuple of float
        In-plane origin shift of the first layer (fractions of a1, a2).
    """
    if n_layers < 1:
        raise ParameterError(f"Need at least one layer, got {n_layers}.", "Pass n_layers >= 1.")
    layer, spacing = sheet_cell(name)
    parts = []
    for k in range(n_layers):
        angle = inplane_deg + (k * twist_deg if twist_deg is not None else 0.0)
        stack = (k / 3.0) if twist_deg is None else 0.0
        shift = (shift_frac[0] + stack, shift_frac[1] + stack, 0.0)
        # thickness = one spacing and no z shift: exactly one layer per slab
        s = oriented_slab(layer, (0, 0, 1), box, spacing * 0.999, angle, shift, z_offset + k * spacing)
        parts.append(s.with_grain(k))
    return AtomSet.concat(parts)


__all__ = ["SHEETS", "sheet_cell", "stacked_sheets"]

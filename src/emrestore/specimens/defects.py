"""Point defects and specimen geometry: vacancies, substitutions, half-planes for grain
boundaries and interfaces, inclusions, thickness terraces and edges to vacuum.

All functions are deterministic given their arguments, except those that take a
``numpy.random.Generator``. Lengths in Å, angles in degrees.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers, chemical_symbols
from scipy.spatial import cKDTree

from ..errors import ParameterError
from .slab import AtomSet

#: Common substitutional dopants per host element (chemically plausible replacements).
DOPANTS: dict[str, tuple[str, ...]] = {
    "Al": ("Ga", "Mg", "Cu"), "Ni": ("Co", "Fe", "Cu"), "Cu": ("Ni", "Zn", "Ag"),
    "Ag": ("Au", "Pd", "Cu"), "Pd": ("Pt", "Ag", "Au"), "Pt": ("Pd", "Au", "Ir"), "Au": ("Ag", "Pt", "Cu"),
    "Fe": ("Cr", "Ni", "Mn"), "Mo": ("W", "Nb", "Re"), "W": ("Mo", "Re", "Ta"), "Nb": ("Ta", "Mo", "Zr"),
    "Mg": ("Zn", "Al", "Ni"), "Ti": ("Zr", "V", "Nb"), "Zn": ("Cd", "Mg", "Co"), "Co": ("Ni", "Fe", "Mn"),
    "C": ("N", "B", "Si"), "Si": ("Ge", "As", "Sb", "Bi"), "Ge": ("Si", "Sn"),
    "Na": ("K", "Li"), "Cl": ("Br", "I"), "Pb": ("Sn", "Bi"), "Te": ("Se", "Sb"),
    "Ga": ("Al", "In"), "As": ("P", "Sb"), "In": ("Ga", "Al"), "P": ("As",), "Cd": ("Zn", "Hg"),
    "N": ("O",), "O": ("N", "F", "S"), "Sr": ("La", "Ba", "Ca"), "Ba": ("Sr", "La"),
    "La": ("Sr", "Ce", "Nd"), "Ce": ("Gd", "Zr", "Pr"), "S": ("Se",), "Se": ("S", "Te"),
    "B": ("C",),
}


def vacancies(atoms: AtomSet, fraction: float, rng: np.random.Generator, crystalline_only: bool = True) -> AtomSet:
    """Remove a random ``fraction`` (0–1) of the (crystalline) atoms."""
    if not 0 <= fraction < 1:
        raise ParameterError(f"Vacancy fraction must be in [0, 1), got {fraction}.", "Pass 0 <= fraction < 1 (0.05 = 5 %).")
    eligible = atoms.column >= 0 if crystalline_only else np.ones(len(atoms), bool)
    drop = eligible & (rng.random(len(atoms)) < fraction)
    return atoms.select(~drop)


def substitutions(
    atoms: AtomSet, fraction: float, rng: np.random.Generator, host: str | None = None, dopant: str | None = None
) -> tuple[AtomSet, dict]:
    """Replace a random ``fraction`` of the ``host`` atoms by ``dopant``.

    When not given, the host is a random species of the crystal and the dopant a common
    substituent of it (:data:`DOPANTS`).

    Returns
    -------
    AtomSet, dict
        The modified atoms and ``{"host", "dopant", "fraction", "n"}``.
    """
    if not 0 <= fraction < 1:
        raise ParameterError(f"Substitution fraction must be in [0, 1), got {fraction}.", "Pass 0 <= fraction < 1.")
    crystal_z = np.unique(atoms.numbers[atoms.column >= 0])
    if host is None:
        candidates = [chemical_symbols[z] for z in crystal_z if chemical_symbols[z] in DOPANTS]
        if not candidates:
            return atoms, {"fraction": 0.0, "n": 0}
        host = str(rng.choice(candidates))
    if dopant is None:
        dopant = str(rng.choice(DOPANTS.get(host, ("Ga",))))
    zh, zd = atomic_numbers[host], atomic_numbers[dopant]
    hit = (atoms.numbers == zh) & (atoms.column >= 0) & (rng.random(len(atoms)) < fraction)
    numbers = atoms.numbers.copy()
    numbers[hit] = zd
    out = AtomSet(atoms.positions, numbers, atoms.column, atoms.grain, atoms.info)
    return out, {"host": host, "dopant": dopant, "fraction": float(fraction), "n": int(hit.sum())}


def side_of_line(xy: np.ndarray, point: np.ndarray, angle_deg: float) -> np.ndarray:
    """Signed distance [Å] of points ``xy`` from the line through ``point`` at ``angle_deg``."""
    n = np.array([-np.sin(np.radians(angle_deg)), np.cos(np.radians(angle_deg))])
    return (xy - point) @ n


def join_halves(a: AtomSet, b: AtomSet, point: np.ndarray, angle_deg: float, min_distance: float) -> AtomSet:
    """Keep ``a`` on the negative and ``b`` on the positive side of a line; drop atoms of
    ``b`` closer than ``min_distance`` [Å] to an atom of ``a`` (no overlapping atoms at the
    boundary)."""
    a = a.select(side_of_line(a.positions[:, :2], point, angle_deg) < 0)
    b = b.select(side_of_line(b.positions[:, :2], point, angle_deg) >= 0)
    if len(a) and len(b):
        near = np.abs(side_of_line(b.positions[:, :2], point, angle_deg)) < 3 * min_distance
        idx = np.nonzero(near)[0]
        if len(idx):
            d, _ = cKDTree(a.positions).query(b.positions[idx], k=1, distance_upper_bound=min_distance)
            drop = np.zeros(len(b), bool)
            drop[idx[np.isfinite(d)]] = True
            b = b.select(~drop)
    return AtomSet.concat([a, b])


def embed(host: AtomSet, guest: AtomSet, center: np.ndarray, radii: np.ndarray, min_distance: float) -> AtomSet:
    """Replace the host inside an ellipsoid (``center``, semi-axes ``radii`` [Å]) by the guest."""
    def inside(p: np.ndarray) -> np.ndarray:
        return (((p - center) / radii) ** 2).sum(1) < 1.0

    host = host.select(~inside(host.positions))
    guest = guest.select(inside(guest.positions))
    if len(host) and len(guest):
        d, _ = cKDTree(host.positions).query(guest.positions, k=1, distance_upper_bound=min_distance)
        guest = guest.select(~np.isfinite(d))
    return AtomSet.concat([host, guest])


def thickness_terraces(
    atoms: AtomSet, rng: np.random.Generator, thickness: float, n_steps: int, z_offset: float = 0.0
) -> tuple[AtomSet, list[dict]]:
    """Cut surface steps: each of ``n_steps`` random lines lowers the exit surface on one side.

    Returns
    -------
    AtomSet, list of dict
        Atoms and, per step, ``{"point_A", "angle_deg", "height_nm"}``.
    """
    xy = atoms.positions[:, :2]
    top = np.full(len(atoms), z_offset + thickness)
    lo, hi = xy.min(0), xy.max(0)
    steps = []
    for _ in range(n_steps):
        point = rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo))
        angle = float(rng.uniform(0, 360))
        height = float(rng.uniform(0.1, 0.45)) * thickness
        top = np.where(side_of_line(xy, point, angle) > 0, top - height, top)
        steps.append({"point_A": point.round(3).tolist(), "angle_deg": angle, "height_nm": height / 10})
    keep = atoms.positions[:, 2] < np.maximum(top, z_offset + 2.0)
    return atoms.select(keep), steps


def vacuum_edge(
    atoms: AtomSet, point: np.ndarray, angle_deg: float, wedge_deg: float, thickness: float, z_offset: float = 0.0
) -> AtomSet:
    """Remove everything beyond a straight edge; within the specimen the thickness grows
    from zero at the edge with the wedge angle ``wedge_deg`` [°] (90 = vertical wall)."""
    s = side_of_line(atoms.positions[:, :2], point, angle_deg)
    if wedge_deg >= 89.9:
        keep = s < 0
    else:
        local = np.minimum(thickness, -s * np.tan(np.radians(wedge_deg)))
        keep = (s < 0) & (atoms.positions[:, 2] - z_offset < local)
    return atoms.select(keep)


__all__ = [
    "DOPANTS", "vacancies", "substitutions", "side_of_line", "join_halves", "embed",
    "thickness_terraces", "vacuum_edge",
]

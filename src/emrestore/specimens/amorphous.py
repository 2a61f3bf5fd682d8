"""Amorphous films: random atoms at the right density with a minimum distance.

Atoms are drawn uniformly in the film, then pushed apart pair by pair (soft-sphere
relaxation with a k-d tree) until (almost) no pair is closer than the minimum distance.
The result has no long-range order: its diffraction pattern is a set of diffuse rings,
which is what gives HR-TEM images of amorphous films their speckle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.data import atomic_masses, atomic_numbers
from scipy.spatial import cKDTree

from ..errors import ParameterError
from .slab import AtomSet


@dataclass(frozen=True)
class AmorphousSpec:
    """An amorphous material.

    Parameters
    ----------
    name : str
        Name (``"C"``, ``"Si"``, ``"SiO2"``, ``"Al2O3"``).
    species : dict
        Element -> atoms per formula unit.
    density_g_cm3 : float
        Mass density [g/cm³].
    min_distance_A : float
        Closest approach of two atoms [Å] (about 0.85 × the shortest bond).
    """

    name: str
    species: dict
    density_g_cm3: float
    min_distance_A: float

    def number_density(self) -> float:
        """Atoms per Å³."""
        mass = sum(atomic_masses[atomic_numbers[e]] * n for e, n in self.species.items())  # g/mol per f.u.
        atoms = sum(self.species.values())
        return self.density_g_cm3 / mass * 6.02214076e23 * atoms * 1e-24


#: Amorphous materials (densities of evaporated / thermally grown films).
AMORPHOUS: dict[str, AmorphousSpec] = {
    "C": AmorphousSpec("C", {"C": 1}, 2.0, 1.25),
    "Si": AmorphousSpec("Si", {"Si": 1}, 2.28, 2.05),
    "SiO2": AmorphousSpec("SiO2", {"Si": 1, "O": 2}, 2.2, 1.40),
    "Al2O3": AmorphousSpec("Al2O3", {"Al": 2, "O": 3}, 3.1, 1.55),
}


def amorphous_block(
    material: str,
    box: tuple[float, float, float, float],
    z_range: tuple[float, float],
    rng: np.random.Generator,
    iterations: int = 12,
    tolerance: float = 0.9,
) -> AtomSet:
    """Fill a box with an amorphous material.

    Parameters
    ----------
    material : str
        Key of :data:`AMORPHOUS`.
    box : tuple of float
        ``(x0, x1, y0, y1)`` lateral extent [Å].
    z_range : tuple of float
        ``(z0, z1)`` depth range [Å].
    rng : numpy.random.Generator
        Source of randomness.
    iterations : int
        Maximum relaxation sweeps.
    tolerance : float
        Relaxation stops once no pair is closer than ``tolerance`` × the minimum distance.

    Returns
    -------
    AtomSet
        Atoms with ``column`` and ``grain`` set to −1.
    """
    if material not in AMORPHOUS:
        raise ParameterError(f"Unknown amorphous material {material!r}.", f"Use one of {', '.join(AMORPHOUS)}.")
    spec = AMORPHOUS[material]
    x0, x1, y0, y1 = box
    z0, z1 = z_range
    if x1 <= x0 or y1 <= y0 or z1 <= z0:
        raise ParameterError("Amorphous block has an empty extent.", "Pass x1 > x0, y1 > y0 and z1 > z0 [Å].")
    lo = np.array([x0, y0, z0])
    size = np.array([x1 - x0, y1 - y0, z1 - z0])
    n = int(rng.poisson(spec.number_density() * float(np.prod(size))))
    p = rng.uniform(0.0, 1.0, (n, 3)) * size
    dmin = spec.min_distance_A
    for _ in range(iterations):
        tree = cKDTree(p, boxsize=np.r_[size[:2], size[2] * 4])
        pairs = tree.query_pairs(dmin, output_type="ndarray")
        if len(pairs) == 0:
            break
        v = p[pairs[:, 1]] - p[pairs[:, 0]]
        v[:, :2] -= np.round(v[:, :2] / size[:2]) * size[:2]
        r = np.maximum(np.linalg.norm(v, axis=1), 1e-6)
        if r.min() > tolerance * dmin:
            break
        push = (0.5 * 1.05 * (dmin - r) / r)[:, None] * v
        for axis in range(3):
            p[:, axis] += np.bincount(pairs[:, 1], push[:, axis], n) - np.bincount(pairs[:, 0], push[:, axis], n)
        p[:, :2] %= size[:2]
        p[:, 2] = np.clip(p[:, 2], 0.0, size[2])
    elements = list(spec.species)
    weights = np.array([spec.species[e] for e in elements], float)
    z = np.array([atomic_numbers[e] for e in elements])[rng.choice(len(elements), n, p=weights / weights.sum())]
    minus = -np.ones(n, np.int64)
    return AtomSet(p + lo, z.astype(np.int64), minus, minus.copy())


__all__ = ["AMORPHOUS", "AmorphousSpec", "amorphous_block"]

"""Library of real crystal structures, built with ASE.

Every structure is the conventional unit cell that ASE builds from a lattice type
(:func:`ase.build.bulk`) or from a space group plus Wyckoff positions
(:func:`ase.spacegroup.crystal`); lattice constants are room-temperature literature
values [Å]. Zone-axis indices ``[u, v, w]`` refer to these conventional cells (three-index
notation for the hexagonal ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.spacegroup import crystal

from ..errors import ParameterError


@dataclass(frozen=True)
class CrystalSpec:
    """How to build one structure of the library.

    Parameters
    ----------
    name : str
        Name used in parameters and descriptions (e.g. ``"SrTiO3"``).
    family : str
        Structure type (``"fcc"``, ``"perovskite"``, ...).
    build : callable
        Returns the conventional unit cell as :class:`ase.Atoms`.
    """

    name: str
    family: str
    build: Callable[[], Atoms]


def _bulk(name: str, structure: str | None = None, cubic: bool = True, **kw: float) -> Callable[[], Atoms]:
    def build() -> Atoms:
        return bulk(name, structure, cubic=cubic, **kw) if structure else bulk(name, cubic=cubic, **kw)

    return build


def _perovskite(a_site: str, b_site: str, a: float) -> Callable[[], Atoms]:
    # Cubic Pm-3m: A at 1a, B at 1b, O at 3c.
    def build() -> Atoms:
        return crystal(
            [a_site, b_site, "O"],
            basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0.0)],
            spacegroup=221,
            cellpar=[a, a, a, 90, 90, 90],
        )

    return build


def _batio3() -> Atoms:
    # Tetragonal P4mm room-temperature phase (Kwei et al., J. Phys. Chem. 97, 1993).
    return crystal(
        ["Ba", "Ti", "O", "O"],
        basis=[(0, 0, 0), (0.5, 0.5, 0.5224), (0.5, 0.5, -0.0244), (0.5, 0.0, 0.4895)],
        spacegroup=99,
        cellpar=[3.9920, 3.9920, 4.0361, 90, 90, 90],
    )


def _fluorite(cation: str, anion: str, a: float) -> Callable[[], Atoms]:
    def build() -> Atoms:
        return crystal([cation, anion], basis=[(0, 0, 0), (0.25, 0.25, 0.25)], spacegroup=225, cellpar=a)

    return build


def _rutile() -> Atoms:
    # P4_2/mnm, O at 4f (u, u, 0) with u = 0.3048.
    return crystal(
        ["Ti", "O"], basis=[(0, 0, 0), (0.3048, 0.3048, 0)], spacegroup=136,
        cellpar=[4.594, 4.594, 2.959, 90, 90, 90],
    )


def _spinel() -> Atoms:
    # Fd-3m origin choice 2: Mg 8a, Al 16d, O 32e (u = 0.2624).
    return crystal(
        ["Mg", "Al", "O"],
        basis=[(0.125, 0.125, 0.125), (0.5, 0.5, 0.5), (0.2624, 0.2624, 0.2624)],
        spacegroup=227, setting=2, cellpar=8.083,
    )


#: The crystal library (name -> spec). 2D sheets live in :mod:`.sheets`.
CRYSTALS: dict[str, CrystalSpec] = {}


def _add(name: str, family: str, build: Callable[[], Atoms]) -> None:
    CRYSTALS[name] = CrystalSpec(name, family, build)


for _el in ("Al", "Ni", "Cu", "Ag", "Pd", "Pt", "Au"):
    _add(_el, "fcc", _bulk(_el))
for _el in ("Fe", "Mo", "W", "Nb"):
    _add(_el, "bcc", _bulk(_el))
for _el in ("Mg", "Ti", "Zn", "Co"):
    _add(_el, "hcp", _bulk(_el, cubic=False))
_add("C", "diamond", _bulk("C", "diamond", a=3.567))
_add("Si", "diamond", _bulk("Si", "diamond", a=5.431))
_add("Ge", "diamond", _bulk("Ge", "diamond", a=5.658))
_add("MgO", "rocksalt", _bulk("MgO", "rocksalt", a=4.212))
_add("NaCl", "rocksalt", _bulk("NaCl", "rocksalt", a=5.640))
_add("PbTe", "rocksalt", _bulk("PbTe", "rocksalt", a=6.462))
_add("GaAs", "zincblende", _bulk("GaAs", "zincblende", a=5.653))
_add("InP", "zincblende", _bulk("InP", "zincblende", a=5.869))
_add("CdTe", "zincblende", _bulk("CdTe", "zincblende", a=6.481))
_add("GaN", "wurtzite", _bulk("GaN", "wurtzite", cubic=False, a=3.189, c=5.185))
_add("ZnO", "wurtzite", _bulk("ZnO", "wurtzite", cubic=False, a=3.250, c=5.207))
_add("SrTiO3", "perovskite", _perovskite("Sr", "Ti", 3.905))
_add("BaTiO3", "perovskite", _batio3)
# LaAlO3 is rhombohedral (R-3c) with a pseudocubic a = 3.79 Å; the octahedral tilts
# (< 6°) are below what the cation columns show, so the pseudocubic cell is used.
_add("LaAlO3", "perovskite", _perovskite("La", "Al", 3.790))
_add("CeO2", "fluorite", _fluorite("Ce", "O", 5.411))
_add("TiO2", "rutile", _rutile)
_add("MgAl2O4", "spinel", _spinel)


@lru_cache(maxsize=None)
def _unit_cell_cached(name: str) -> Atoms:
    return CRYSTALS[name].build()


def unit_cell(name: str) -> Atoms:
    """Return a copy of the conventional unit cell of ``name``.

    Raises
    ------
    ParameterError
        If ``name`` is not in :data:`CRYSTALS`.
    """
    if name not in CRYSTALS:
        raise ParameterError(
            f"Unknown crystal structure {name!r}.", f"Use one of {', '.join(CRYSTALS)}."
        )
    return _unit_cell_cached(name).copy()


@lru_cache(maxsize=None)
def nearest_neighbour_distance(name: str) -> float:
    """Shortest interatomic distance [Å] in structure ``name``."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", unit_cell(name), 4.0)
    return float(d.min())


def _primitive_directions(limit: int = 2) -> np.ndarray:
    r = np.arange(-limit, limit + 1)
    uvw = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    uvw = uvw[np.any(uvw != 0, axis=1)]
    g = np.gcd.reduce(np.abs(uvw), axis=1)
    uvw = uvw[g == 1]
    # canonical sign: first non-zero index positive (u,v,w and -u,-v,-w project alike)
    first = uvw[np.arange(len(uvw)), np.argmax(uvw != 0, axis=1)]
    return uvw[first > 0]


def zone_axis_candidates(name: str, limit: int = 2, power: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Low-index zone axes of a structure and their drawing probabilities.

    Parameters
    ----------
    name : str
        Structure name.
    limit : int
        Largest |u|, |v|, |w|.
    power : float
        Probabilities fall off as ``|d|**-power`` with ``|d|`` the repeat length [Å] along
        the axis, which favours the axes microscopists use (short repeat = resolvable
        columns).

    Returns
    -------
    uvw : numpy.ndarray
        (M, 3) integer directions.
    p : numpy.ndarray
        (M,) probabilities.
    """
    cell = np.asarray(unit_cell(name).cell)
    uvw = _primitive_directions(limit)
    length = np.linalg.norm(uvw @ cell, axis=1)
    w = length ** (-power)
    return uvw, w / w.sum()


def random_zone_axis(name: str, rng: np.random.Generator, limit: int = 2) -> tuple[int, int, int]:
    """Draw a low-index zone axis ``[u, v, w]`` (|u|, |v|, |w| ≤ ``limit``) for ``name``."""
    uvw, p = zone_axis_candidates(name, limit)
    u = uvw[rng.choice(len(uvw), p=p)]
    return int(u[0]), int(u[1]), int(u[2])


@lru_cache(maxsize=None)
def column_basis(cell_key: tuple[float, ...], uvw: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Integer vectors ``b1, b2`` completing ``uvw`` to a unimodular lattice basis.

    The projections of ``b1 @ cell`` and ``b2 @ cell`` on the plane normal to the zone
    axis then span the 2-D lattice of projected atomic columns; the pair with the shortest
    projections is returned.

    Parameters
    ----------
    cell_key : tuple of float
        The 3×3 cell [Å], flattened (hashable for caching).
    uvw : tuple of int
        Primitive zone-axis direction.
    """
    cell = np.asarray(cell_key, dtype=float).reshape(3, 3)
    d = np.asarray(uvw, dtype=np.int64)
    r = np.arange(-3, 4)
    cand = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    cand = cand[np.any(cand != 0, axis=1)]
    dc = d @ cell
    e3 = dc / np.linalg.norm(dc)
    full = cand @ cell
    axial = np.abs(full @ e3)
    proj = full - np.outer(full @ e3, e3)
    plen = np.einsum("ij,ij->i", proj, proj)
    cross = np.cross(d[None, :], cand)  # d x b1
    det = cross @ cand.T  # (d x b1) . b2
    i, j = np.nonzero(np.abs(det) == 1)
    if len(i) == 0:
        raise ParameterError(
            f"Cannot build a column basis for zone axis {list(uvw)}.",
            "Use a primitive zone axis with |u|, |v|, |w| <= 2.",
        )
    cos = np.abs(np.einsum("ij,ij->i", proj[i], proj[j])) / np.sqrt(plen[i] * plen[j])
    score = plen[i] + plen[j] + 1e-3 * cos + 1e-4 * (axial[i] + axial[j])
    k = int(np.argmin(score))
    return cand[i[k]].copy(), cand[j[k]].copy()


__all__ = [
    "CRYSTALS",
    "CrystalSpec",
    "unit_cell",
    "zone_axis_candidates",
    "random_zone_axis",
    "column_basis",
    "nearest_neighbour_distance",
]

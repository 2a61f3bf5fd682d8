"""Metal nanoparticles built with :mod:`ase.cluster`.

Shapes: (truncated) octahedra (single crystals), Ino/Marks decahedra (five twinned
tetrahedra sharing a ⟨110⟩ five-fold axis) and Mackay icosahedra. Columns are found by
grouping atoms whose projections coincide (within ``tol``) in the viewing direction.
"""

from __future__ import annotations

import numpy as np
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.data import atomic_numbers, reference_states
from scipy.spatial import cKDTree
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import ParameterError
from .crystals import unit_cell, random_zone_axis
from .slab import AtomSet, zone_frame

#: fcc metals used for particles.
PARTICLE_METALS = ("Au", "Pt", "Pd", "Ag", "Cu", "Ni")

SHAPES = ("octahedron", "truncated_octahedron", "cuboctahedron", "decahedron", "icosahedron")


def group_columns(xy: np.ndarray, tol: float = 0.1) -> np.ndarray:
    """Label atoms whose projected positions ``xy`` [Å] lie within ``tol`` [Å] of each other.

    Returns
    -------
    numpy.ndarray
        (N,) column labels 0..K−1.
    """
    if len(xy) == 0:
        return np.zeros(0, np.int64)
    key = np.round(xy / (tol / 4)).astype(np.int64)
    uk, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    pairs = cKDTree(uk * (tol / 4)).query_pairs(tol, output_type="ndarray")
    n = len(uk)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else coo_matrix((n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[inv].astype(np.int64)


def _lattice_constant(metal: str) -> float:
    return float(reference_states[atomic_numbers[metal]]["a"])


def make_particle(metal: str, shape: str, diameter_A: float):
    """Build a particle of about ``diameter_A`` [Å] with :mod:`ase.cluster`.

    Returns
    -------
    ase.Atoms
        The cluster, centred at the origin, in its natural (cubic or five-fold) frame.
    """
    if metal not in PARTICLE_METALS:
        raise ParameterError(f"Unknown particle metal {metal!r}.", f"Use one of {', '.join(PARTICLE_METALS)}.")
    if diameter_A <= 0:
        raise ParameterError(f"Particle diameter must be positive, got {diameter_A} Å.", "Pass a diameter > 0 Å.")
    a = _lattice_constant(metal)
    dnn = a / np.sqrt(2)
    if shape in ("octahedron", "truncated_octahedron", "cuboctahedron"):
        # an octahedron of L layers along an edge spans about L * dnn corner to corner
        length = max(3, int(round(diameter_A / dnn)) + 1)
        if shape == "octahedron":
            cutoff = 0
        elif shape == "cuboctahedron":
            cutoff = (length - 1) // 2
            length = 2 * cutoff + 1
        else:
            cutoff = max(1, (length - 1) // 3)
        atoms = Octahedron(metal, length, cutoff, latticeconstant=a)
    elif shape == "icosahedron":
        atoms = Icosahedron(metal, max(2, int(round(diameter_A / (2 * dnn))) + 1), latticeconstant=a)
    elif shape == "decahedron":
        p = max(2, int(round(diameter_A / (2 * dnn))) + 1)
        atoms = Decahedron(metal, p, max(1, p // 2), min(2, p // 3), latticeconstant=a)
    else:
        raise ParameterError(f"Unknown particle shape {shape!r}.", f"Use one of {', '.join(SHAPES)}.")
    atoms.positions -= atoms.positions.mean(0)
    return atoms


def particle_frame(metal: str, shape: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Viewing rotation for a particle: a zone axis for single crystals, the five-fold axis
    (or a random direction) for multiply twinned ones.

    Returns
    -------
    rot : numpy.ndarray
        3×3 rotation (rows = image x, y, beam z in the cluster frame).
    info : dict
        How the direction was chosen.
    """
    inplane = float(rng.uniform(0, 360))
    if shape in ("octahedron", "truncated_octahedron", "cuboctahedron"):
        uvw = random_zone_axis(metal, rng)
        return zone_frame(np.asarray(unit_cell(metal).cell), uvw, inplane), {
            "view": "zone_axis", "zone_axis": list(uvw), "inplane_rotation_deg": inplane}
    if shape == "decahedron" and rng.random() < 0.6:
        t = np.radians(inplane)
        rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1.0]])
        return rot, {"view": "five_fold_axis", "inplane_rotation_deg": inplane}
    # random orientation (uniform on the sphere)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    return rot, {"view": "random", "quaternion": q.tolist()}


def oriented_particle(metal: str, shape: str, diameter_A: float, rng: np.random.Generator) -> tuple[AtomSet, dict]:
    """A particle rotated into the viewing frame and centred at the origin, with columns.

    Returns
    -------
    AtomSet, dict
        Atoms (grain 0) and a description.
    """
    atoms = make_particle(metal, shape, diameter_A)
    rot, info = particle_frame(metal, shape, rng)
    p = atoms.positions @ rot.T
    n = len(p)
    # columns exist on a zone axis or along the five-fold axis; a randomly oriented
    # (multiply twinned) particle has no atom rows parallel to the beam
    col = group_columns(p[:, :2], tol=0.1) if info["view"] != "random" else -np.ones(n, np.int64)
    extent = float(np.ptp(p[:, 0]) if n else 0.0)
    desc = {"metal": metal, "shape": shape, "n_atoms": n, "diameter_nm": round(extent / 10, 3), **info}
    return AtomSet(p, atoms.numbers.astype(np.int64), col, np.zeros(n, np.int64)), desc


__all__ = ["PARTICLE_METALS", "SHAPES", "group_columns", "make_particle", "oriented_particle", "particle_frame"]

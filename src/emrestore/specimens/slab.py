"""Crystal slabs cut on a zone axis, and the atom container the specimens share.

Coordinates [Å]: the beam travels along +z and enters the specimen at z = 0; x and y are
the image axes. A slab is generated column by column: the zone-axis repeat ``d`` is
completed to a unimodular lattice basis ``(d, b1, b2)`` (:func:`.crystals.column_basis`),
so the projected structure is a 2-D lattice of columns and every atom of a column is a
translate of one basis atom by a multiple of ``d``. Column membership is therefore exact,
not guessed from positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from ..errors import ParameterError
from .crystals import column_basis


@dataclass
class AtomSet:
    """Atoms of a specimen under construction.

    Parameters
    ----------
    positions : numpy.ndarray
        (N, 3) positions [Å].
    numbers : numpy.ndarray
        (N,) atomic numbers.
    column : numpy.ndarray
        (N,) column id (atoms sharing an id form one atomic column along the beam);
        −1 for atoms in no column (amorphous material).
    grain : numpy.ndarray
        (N,) id of the crystal (grain, particle, layer) an atom belongs to; −1 for
        amorphous material.
    """

    positions: np.ndarray
    numbers: np.ndarray
    column: np.ndarray
    grain: np.ndarray
    info: dict = field(default_factory=dict)

    @classmethod
    def empty(cls) -> "AtomSet":
        return cls(np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.numbers)

    def select(self, mask: np.ndarray) -> "AtomSet":
        """Atoms where ``mask`` is true."""
        return AtomSet(self.positions[mask], self.numbers[mask], self.column[mask], self.grain[mask], self.info)

    def with_grain(self, grain: int) -> "AtomSet":
        """The same atoms labelled as grain ``grain`` (amorphous atoms stay −1)."""
        g = np.where(self.grain >= 0, grain, -1)
        return AtomSet(self.positions, self.numbers, self.column, g, self.info)

    @staticmethod
    def concat(parts: list["AtomSet"]) -> "AtomSet":
        """Join atom sets; column ids are renumbered so that they stay distinct."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return AtomSet.empty()
        cols, offset = [], 0
        for p in parts:
            c = p.column.copy()
            has = c >= 0
            if has.any():
                _, inv = np.unique(c[has], return_inverse=True)
                c[has] = inv + offset
                offset += int(inv.max()) + 1
            cols.append(c)
        return AtomSet(
            np.concatenate([p.positions for p in parts]),
            np.concatenate([p.numbers for p in parts]),
            np.concatenate(cols),
            np.concatenate([p.grain for p in parts]),
        )

    def to_atoms(self, box: tuple[float, float, float]) -> Atoms:
        """Return :class:`ase.Atoms` with arrays ``"column"`` and ``"grain"``; cell = ``box`` [Å]."""
        atoms = Atoms(numbers=self.numbers, positions=self.positions, cell=np.diag(box), pbc=False)
        atoms.set_array("column", self.column.astype(np.int64))
        atoms.set_array("grain", self.grain.astype(np.int64))
        return atoms


def _rotation_2d(deg: float) -> np.ndarray:
    t = np.radians(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def zone_frame(cell: np.ndarray, uvw: tuple[int, int, int], inplane_deg: float = 0.0) -> np.ndarray:
    """Rotation (3×3, rows = new x, y, z axes in crystal Cartesian coordinates).

    The new z axis is the zone axis ``uvw``; the new x axis is the projection of the first
    column-lattice vector, then turned by ``inplane_deg`` [°] about z.
    """
    cell = np.asarray(cell, dtype=float)
    b1, _ = column_basis(tuple(np.round(cell.ravel(), 10)), tuple(int(i) for i in uvw))
    d = np.asarray(uvw, float) @ cell
    e3 = d / np.linalg.norm(d)
    p1 = b1 @ cell
    p1 = p1 - (p1 @ e3) * e3
    e1 = p1 / np.linalg.norm(p1)
    e2 = np.cross(e3, e1)
    r2 = _rotation_2d(inplane_deg)
    ex = r2[0, 0] * e1 + r2[0, 1] * e2
    ey = r2[1, 0] * e1 + r2[1, 1] * e2
    return np.stack([ex, ey, e3])


def oriented_slab(
    cell_atoms: Atoms,
    uvw: tuple[int, int, int],
    box: tuple[float, float, float, float],
    thickness: float,
    inplane_deg: float = 0.0,
    shift_frac: tuple[float, float, float] = (0.0, 0.0, 0.0),
    z_offset: float = 0.0,
) -> AtomSet:
    """Cut a crystal slab viewed exactly along a zone axis.

    Parameters
    ----------
    cell_atoms : ase.Atoms
        Unit cell (any cell; the zone axis is in its lattice-vector basis).
    uvw : tuple of int
        Primitive zone-axis direction ``[u, v, w]``.
    box : tuple of float
        ``(x0, x1, y0, y1)`` lateral extent to fill [Å].
    thickness : float
        Slab thickness along the beam [Å]; atoms fill ``z_offset <= z < z_offset + thickness``.
    inplane_deg : float
        Rotation of the crystal about the beam [°].
    shift_frac : tuple of float
        Translation of the crystal origin in fractional cell coordinates (sets where the
        columns fall and which planes terminate the surfaces).
    z_offset : float
        Depth of the entrance surface [Å].

    Returns
    -------
    AtomSet
        Atoms with exact column ids (one id per projected column).
    """
    if thickness <= 0:
        raise ParameterError(f"Slab thickness must be positive, got {thickness} Å.", "Pass a thickness > 0 Å.")
    uvw = tuple(int(i) for i in uvw)
    if np.gcd.reduce(np.abs(uvw)) != 1:
        raise ParameterError(f"Zone axis {list(uvw)} is not primitive.", "Divide it by the common factor.")
    cell = np.asarray(cell_atoms.cell, dtype=float)
    b1, b2 = column_basis(tuple(np.round(cell.ravel(), 10)), uvw)
    rot = zone_frame(cell, uvw, inplane_deg)
    d = np.asarray(uvw, float) @ cell
    repeat = float(np.linalg.norm(d))
    B = np.stack([b1 @ cell, b2 @ cell])  # (2, 3)
    Q = (B @ rot[:2].T).T  # 2x2, columns = projected b1, b2
    beta = B @ rot[2]
    r = cell_atoms.positions + np.asarray(shift_frac, float) @ cell
    q = r @ rot[:2].T
    z = r @ rot[2]
    f = np.linalg.solve(Q, q.T).T
    F = np.floor(f + 1e-9)
    phi = f - F
    key = np.round(phi * 1e6).astype(np.int64) % 1_000_000
    classes, cls = np.unique(key, axis=0, return_inverse=True)
    cls = cls.ravel()
    phi_c = classes / 1e6
    x0, x1, y0, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]])
    fc = np.linalg.solve(Q, corners.T).T
    lo = np.floor(fc.min(0)).astype(int) - 1
    hi = np.ceil(fc.max(0)).astype(int) + 1
    N = np.stack(
        np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij"), -1
    ).reshape(-1, 2)
    reps = int(np.ceil(thickness / repeat)) + 1
    m = np.arange(reps) * repeat
    pos_list, num_list, col_list = [], [], []
    col_offset = 0
    for c in range(len(classes)):
        xy = (Q @ (phi_c[c][:, None] + N.T)).T
        inside = (xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)
        Nc, xyc = N[inside], xy[inside]
        ids = np.arange(len(Nc)) + col_offset
        col_offset += len(Nc)
        for j in np.nonzero(cls == c)[0]:
            n = Nc - F[j]
            z0 = np.mod(z[j] + n @ beta, repeat)
            z0[z0 > repeat - 1e-6] -= repeat  # rounding: keep atoms on the entrance plane
            zz = z0[:, None] + m[None, :]
            keep = zz < thickness
            cnt = keep.sum(1)
            pos = np.empty((int(cnt.sum()), 3))
            pos[:, 0] = np.repeat(xyc[:, 0], cnt)
            pos[:, 1] = np.repeat(xyc[:, 1], cnt)
            pos[:, 2] = zz[keep] + z_offset
            pos_list.append(pos)
            num_list.append(np.full(len(pos), cell_atoms.numbers[j], np.int64))
            col_list.append(np.repeat(ids, cnt))
    if not pos_list:
        return AtomSet.empty()
    out = AtomSet(
        np.concatenate(pos_list), np.concatenate(num_list), np.concatenate(col_list),
        np.zeros(sum(len(p) for p in pos_list), np.int64),
    )
    out.info = {"repeat_A": repeat, "column_lattice_A": Q.T.tolist()}
    return out


def tilt(atoms: AtomSet, angle_deg: float, azimuth_deg: float, center: np.ndarray) -> AtomSet:
    """Rotate atoms by ``angle_deg`` [°] about an in-plane axis at ``azimuth_deg`` [°] through ``center`` [Å]."""
    if angle_deg == 0 or len(atoms) == 0:
        return atoms
    k = np.array([np.cos(np.radians(azimuth_deg)), np.sin(np.radians(azimuth_deg)), 0.0])
    t = np.radians(angle_deg)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    R = np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K
    p = (atoms.positions - center) @ R.T + center
    return AtomSet(p, atoms.numbers, atoms.column, atoms.grain, atoms.info)


__all__ = ["AtomSet", "oriented_slab", "zone_frame", "tilt"]

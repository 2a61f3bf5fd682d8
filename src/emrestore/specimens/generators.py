"""Random specimens for atomic-resolution images.

Every generator has the signature ``generator(rng, extent, **overrides) -> (atoms,
description)``: ``rng`` is a :class:`numpy.random.Generator`, ``extent = (Lx, Ly)`` the
lateral size [Å] to fill (the box ``[0, Lx] × [0, Ly]``), ``atoms`` an
:class:`ase.Atoms` with per-atom arrays ``"column"`` (column id, −1 = none) and
``"grain"`` (crystal id, −1 = amorphous), and ``description`` a JSON-serialisable dict of
every random choice. The beam travels along +z; the entrance surface is z = 0.

Keyword overrides fix a choice instead of drawing it (e.g. ``structure="SrTiO3",
zone_axis=(0, 0, 1), thickness_nm=5, mistilt_deg=0, defects=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms

from ..errors import ParameterError
from .amorphous import AMORPHOUS, amorphous_block
from .crystals import CRYSTALS, nearest_neighbour_distance, random_zone_axis, unit_cell
from .defects import (
    embed, join_halves, substitutions, thickness_terraces, vacancies, vacuum_edge,
)
from .nanoparticles import PARTICLE_METALS, SHAPES, oriented_particle
from .sheets import SHEETS, stacked_sheets
from .slab import AtomSet, oriented_slab, tilt

#: Thickness range of crystalline specimens [nm].
THICKNESS_RANGE_NM = (1.0, 40.0)
#: Largest mistilt from the zone axis [°].
MAX_MISTILT_DEG = 1.0

#: Epitaxial pairs for hetero-interfaces (same lattice type, a few % misfit).
EPITAXIAL_PAIRS = (
    ("SrTiO3", "LaAlO3"), ("SrTiO3", "BaTiO3"), ("Si", "Ge"), ("GaAs", "InP"), ("Si", "GaAs"),
    ("GaN", "ZnO"), ("Au", "Ag"), ("Cu", "Ni"), ("Pt", "Pd"), ("Si", "CeO2"),
)


def _check_extent(extent: tuple[float, float]) -> tuple[float, float]:
    lx, ly = (float(v) for v in extent)
    if not (lx > 0 and ly > 0):
        raise ParameterError(f"Specimen extent must be positive, got {extent} Å.", "Pass (Lx, Ly) > 0 in Å.")
    return lx, ly


def _thickness(rng: np.random.Generator, value: float | None) -> float:
    if value is None:
        lo, hi = THICKNESS_RANGE_NM
        value = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if value <= 0:
        raise ParameterError(f"Thickness must be positive, got {value} nm.", "Pass thickness_nm > 0.")
    return float(value)


def _structure(rng: np.random.Generator, value: str | None) -> str:
    name = str(rng.choice(list(CRYSTALS))) if value is None else value
    unit_cell(name)  # validates
    return name


def _grain(
    name: str, rng: np.random.Generator, box: tuple[float, float, float, float], thickness_A: float,
    zone_axis: tuple[int, int, int] | None = None, inplane_deg: float | None = None,
    mistilt_deg: float | None = None, z_offset: float = 0.0,
) -> tuple[AtomSet, dict]:
    uvw = tuple(int(v) for v in (zone_axis if zone_axis is not None else random_zone_axis(name, rng)))
    inplane = float(rng.uniform(0, 360)) if inplane_deg is None else float(inplane_deg)
    shift = rng.random(3)
    mistilt = float(MAX_MISTILT_DEG * rng.random() ** 2) if mistilt_deg is None else float(mistilt_deg)
    azimuth = float(rng.uniform(0, 360))
    slab = oriented_slab(unit_cell(name), uvw, box, thickness_A, inplane, tuple(shift), z_offset)
    center = np.array([(box[0] + box[1]) / 2, (box[2] + box[3]) / 2, z_offset + thickness_A / 2])
    slab = tilt(slab, mistilt, azimuth, center)
    return slab, {
        "structure": name, "zone_axis": list(uvw), "inplane_rotation_deg": inplane,
        "mistilt_deg": mistilt, "mistilt_azimuth_deg": azimuth, "origin_shift_frac": shift.round(6).tolist(),
    }


def _point_defects(atoms: AtomSet, rng: np.random.Generator, enabled: bool) -> tuple[AtomSet, dict]:
    desc: dict[str, Any] = {}
    if not enabled:
        return atoms, desc
    if rng.random() < 0.3:
        frac = float(rng.uniform(0, 0.05))
        atoms = vacancies(atoms, frac, rng)
        desc["vacancy_fraction"] = frac
    if rng.random() < 0.3:
        atoms, sub = substitutions(atoms, float(rng.uniform(0, 0.05)), rng)
        desc["substitution"] = sub
    return atoms, desc


def _geometry(atoms: AtomSet, rng: np.random.Generator, thickness_A: float, lx: float, ly: float, enabled: bool) -> tuple[AtomSet, dict]:
    desc: dict[str, Any] = {}
    if not enabled:
        return atoms, desc
    if rng.random() < 0.25 and thickness_A > 20:
        atoms, steps = thickness_terraces(atoms, rng, thickness_A, int(rng.integers(1, 3)))
        desc["terraces"] = steps
    if rng.random() < 0.25:
        point = rng.uniform([0.25 * lx, 0.25 * ly], [0.75 * lx, 0.75 * ly])
        angle = float(rng.uniform(0, 360))
        wedge = 90.0 if rng.random() < 0.4 else float(rng.uniform(10, 60))
        atoms = vacuum_edge(atoms, point, angle, wedge, thickness_A)
        desc["vacuum_edge"] = {"point_A": point.round(3).tolist(), "angle_deg": angle, "wedge_deg": wedge}
    return atoms, desc


def _surface_layers(atoms: AtomSet, rng: np.random.Generator, lx: float, ly: float, enabled: bool,
                    native_oxide: bool = False) -> tuple[AtomSet, list[dict]]:
    """Amorphous contamination (carbon) or native-oxide layers on the surfaces (p = 0.3):
    0.5–2 nm on the entrance and/or exit surface."""
    if not enabled or len(atoms) == 0 or rng.random() >= 0.3:
        return atoms, []
    material = "SiO2" if native_oxide and rng.random() < 0.5 else "C"
    sides = [("entrance", "exit", "both")[int(rng.integers(3))]]
    layers, parts = [], [atoms]
    z0, z1 = float(atoms.positions[:, 2].min()), float(atoms.positions[:, 2].max())
    shift = 0.0
    if sides[0] in ("entrance", "both"):
        t = float(rng.uniform(5.0, 20.0))
        parts.append(amorphous_block(material, (0, lx, 0, ly), (z0 - 1.5 - t, z0 - 1.5), rng, iterations=6))
        layers.append({"side": "entrance", "material": material, "thickness_nm": t / 10})
        shift = t + 1.5
    if sides[0] in ("exit", "both"):
        t = float(rng.uniform(5.0, 20.0))
        parts.append(amorphous_block(material, (0, lx, 0, ly), (z1 + 1.5, z1 + 1.5 + t), rng, iterations=6))
        layers.append({"side": "exit", "material": material, "thickness_nm": t / 10})
    out = AtomSet.concat(parts)
    out.positions[:, 2] += shift - z0 if shift else 0.0
    return out, layers


def _finish(atoms: AtomSet, lx: float, ly: float, desc: dict) -> tuple[Atoms, dict]:
    zmax = float(atoms.positions[:, 2].max()) if len(atoms) else 1.0
    desc["n_atoms"] = len(atoms)
    return atoms.to_atoms((lx, ly, max(zmax, 1.0))), desc


def random_crystal(
    rng: np.random.Generator, extent: tuple[float, float], structure: str | None = None,
    zone_axis: tuple[int, int, int] | None = None, thickness_nm: float | None = None,
    inplane_deg: float | None = None, mistilt_deg: float | None = None, defects: bool = True,
) -> tuple[Atoms, dict]:
    """A single crystal on a low-index zone axis, 1–40 nm thick, with random point defects,
    surface terraces, vacuum edges and amorphous surface layers (when ``defects``)."""
    lx, ly = _check_extent(extent)
    name = _structure(rng, structure)
    t = _thickness(rng, thickness_nm) * 10
    atoms, g = _grain(name, rng, (0, lx, 0, ly), t, zone_axis, inplane_deg, mistilt_deg)
    atoms, pd = _point_defects(atoms, rng, defects)
    atoms, geo = _geometry(atoms, rng, t, lx, ly, defects)
    atoms, layers = _surface_layers(atoms, rng, lx, ly, defects, native_oxide=name in ("Si", "Ge", "GaAs"))
    return _finish(atoms, lx, ly, {"kind": "crystal", "thickness_nm": t / 10, **g, **pd, **geo,
                                   "surface_layers": layers})


def random_grain_boundary(
    rng: np.random.Generator, extent: tuple[float, float], structure: str | None = None,
    thickness_nm: float | None = None, defects: bool = True,
) -> tuple[Atoms, dict]:
    """Two grains of one structure joined along a random line: a tilt boundary about a
    common zone axis (p = 0.7) or a general boundary with a second zone axis."""
    lx, ly = _check_extent(extent)
    name = _structure(rng, structure)
    t = _thickness(rng, thickness_nm) * 10
    box = (0, lx, 0, ly)
    a, ga = _grain(name, rng, box, t)
    same = rng.random() < 0.7
    misorientation = float(rng.uniform(5, 85))
    b, gb = _grain(name, rng, box, t, tuple(ga["zone_axis"]) if same else None,
                   ga["inplane_rotation_deg"] + misorientation if same else None)
    point = rng.uniform([0.3 * lx, 0.3 * ly], [0.7 * lx, 0.7 * ly])
    angle = float(rng.uniform(0, 360))
    # atoms of grain B closer than 0.65 nearest-neighbour distances to grain A would be
    # unphysical overlaps in the boundary core
    atoms = join_halves(a.with_grain(0), b.with_grain(1), point, angle, 0.65 * nearest_neighbour_distance(name))
    atoms, pd = _point_defects(atoms, rng, defects)
    atoms, geo = _geometry(atoms, rng, t, lx, ly, defects)
    atoms, layers = _surface_layers(atoms, rng, lx, ly, defects)
    desc = {"kind": "grain_boundary", "surface_layers": layers, "thickness_nm": t / 10, "grains": [ga, gb], "tilt_boundary": bool(same),
            "misorientation_deg": misorientation if same else None,
            "boundary": {"point_A": point.round(3).tolist(), "angle_deg": angle}, **pd, **geo}
    return _finish(atoms, lx, ly, desc)


def random_interface(
    rng: np.random.Generator, extent: tuple[float, float], pair: tuple[str, str] | None = None,
    thickness_nm: float | None = None, defects: bool = True,
) -> tuple[Atoms, dict]:
    """A hetero-interface seen edge-on: an epitaxial pair with a common zone axis and the
    interface along a lattice row (p = 0.75), or a crystal against an amorphous oxide or
    carbon layer."""
    lx, ly = _check_extent(extent)
    t = _thickness(rng, thickness_nm) * 10
    box = (0, lx, 0, ly)
    point = rng.uniform([0.3 * lx, 0.3 * ly], [0.7 * lx, 0.7 * ly])
    if pair is None and rng.random() < 0.25:
        name = str(rng.choice(["Si", "Ge", "GaAs", "SrTiO3", "Au", "Pt", "TiO2", "CeO2"]))
        a, ga = _grain(name, rng, box, t)
        material = "SiO2" if name in ("Si", "Ge", "GaAs") else str(rng.choice(["C", "SiO2", "Al2O3"]))
        b = amorphous_block(material, box, (0.0, t), rng, iterations=6)
        angle = ga["inplane_rotation_deg"] + (90.0 if rng.random() < 0.5 else 0.0)
        atoms = join_halves(a.with_grain(0), b, point, angle, 1.4)
        desc = {"kind": "interface", "crystal": ga, "amorphous": material}
    else:
        if pair is None:
            pair = EPITAXIAL_PAIRS[int(rng.integers(len(EPITAXIAL_PAIRS)))]
            if rng.random() < 0.5:
                pair = (pair[1], pair[0])
        name_a, name_b = (_structure(rng, p) for p in pair)
        a, ga = _grain(name_a, rng, box, t)
        b, gb = _grain(name_b, rng, box, t, tuple(ga["zone_axis"]), ga["inplane_rotation_deg"],
                       ga["mistilt_deg"])
        angle = ga["inplane_rotation_deg"] + (90.0 if rng.random() < 0.5 else 0.0)
        dmin = 0.65 * min(nearest_neighbour_distance(name_a), nearest_neighbour_distance(name_b))
        atoms = join_halves(a.with_grain(0), b.with_grain(1), point, angle, dmin)
        desc = {"kind": "interface", "grains": [ga, gb]}
    atoms, pd = _point_defects(atoms, rng, defects)
    atoms, desc["surface_layers"] = _surface_layers(atoms, rng, lx, ly, defects)
    desc.update({"thickness_nm": t / 10, "interface": {"point_A": point.round(3).tolist(), "angle_deg": float(angle)}, **pd})
    return _finish(atoms, lx, ly, desc)


def random_precipitate(
    rng: np.random.Generator, extent: tuple[float, float], pair: tuple[str, str] | None = None,
    thickness_nm: float | None = None, defects: bool = True,
) -> tuple[Atoms, dict]:
    """A crystal with an embedded ellipsoidal precipitate of a second structure, either
    cube-on-cube (same zone axis and rotation) or randomly oriented."""
    lx, ly = _check_extent(extent)
    if pair is None:
        pair = EPITAXIAL_PAIRS[int(rng.integers(len(EPITAXIAL_PAIRS)))]
    t = max(_thickness(rng, thickness_nm) * 10, 30.0)
    box = (0, lx, 0, ly)
    a, ga = _grain(pair[0], rng, box, t)
    aligned = rng.random() < 0.7
    b, gb = _grain(pair[1], rng, box, t, tuple(ga["zone_axis"]) if aligned else None,
                   ga["inplane_rotation_deg"] if aligned else None, ga["mistilt_deg"] if aligned else None)
    center = np.array([rng.uniform(0.3, 0.7) * lx, rng.uniform(0.3, 0.7) * ly, t / 2])
    r_xy = min(lx, ly) * rng.uniform(0.1, 0.3)
    radii = np.array([r_xy * rng.uniform(0.7, 1.3), r_xy * rng.uniform(0.7, 1.3), t * rng.uniform(0.25, 0.5)])
    dmin = 0.65 * min(nearest_neighbour_distance(pair[0]), nearest_neighbour_distance(pair[1]))
    atoms = embed(a.with_grain(0), b.with_grain(1), center, radii, dmin)
    atoms, pd = _point_defects(atoms, rng, defects)
    atoms, pd["surface_layers"] = _surface_layers(atoms, rng, lx, ly, defects)
    desc = {"kind": "precipitate", "thickness_nm": t / 10, "matrix": ga, "precipitate": gb, "aligned": bool(aligned),
            "center_A": center.round(3).tolist(), "semi_axes_A": radii.round(3).tolist(), **pd}
    return _finish(atoms, lx, ly, desc)


def random_nanoparticle(
    rng: np.random.Generator, extent: tuple[float, float], metal: str | None = None, shape: str | None = None,
    diameter_nm: float | None = None, support: str | None = None, n_particles: int | None = None,
) -> tuple[Atoms, dict]:
    """One to three ``ase.cluster`` particles (1–10 nm) on an amorphous support film
    (carbon, SiO2 or Al2O3, 2–6 nm thick), particles on the beam-entrance side."""
    lx, ly = _check_extent(extent)
    if support is None:
        support = str(rng.choice(["C", "SiO2", "Al2O3"], p=[0.6, 0.25, 0.15]))
    if support not in AMORPHOUS and support != "none":
        raise ParameterError(f"Unknown support {support!r}.", f"Use one of {', '.join(AMORPHOUS)} or 'none'.")
    n = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])) if n_particles is None else int(n_particles)
    parts, descs, zmax = [], [], 0.0
    fov = min(lx, ly)
    for k in range(n):
        m = str(rng.choice(PARTICLE_METALS)) if metal is None else metal
        s = str(rng.choice(SHAPES)) if shape is None else shape
        if diameter_nm is None:
            hi = min(100.0, 1.2 * fov)
            d = float(np.exp(rng.uniform(np.log(10.0), np.log(max(hi, 12.0)))))
        else:
            d = diameter_nm * 10
        p, pdesc = oriented_particle(m, s, d, rng)
        center = rng.uniform([0.15 * lx, 0.15 * ly], [0.85 * lx, 0.85 * ly])
        shift = np.r_[center, -p.positions[:, 2].min()]
        p = AtomSet(p.positions + shift, p.numbers, p.column, p.grain)
        if pdesc["view"] == "zone_axis":
            mt = float(MAX_MISTILT_DEG * rng.random() ** 2)
            p = tilt(p, mt, float(rng.uniform(0, 360)), p.positions.mean(0))
            pdesc["mistilt_deg"] = mt
        inside = (p.positions[:, 0] >= 0) & (p.positions[:, 0] < lx) & (p.positions[:, 1] >= 0) & (p.positions[:, 1] < ly)
        p = p.select(inside)
        p.positions[:, 2] -= min(0.0, float(p.positions[:, 2].min(initial=0.0)))
        zmax = max(zmax, float(p.positions[:, 2].max(initial=0.0)))
        parts.append(p.with_grain(k))
        descs.append({**pdesc, "center_A": center.round(3).tolist()})
    desc: dict[str, Any] = {"kind": "nanoparticle", "particles": descs, "support": support}
    if support != "none":
        ts = float(rng.uniform(20.0, 60.0))
        parts.append(amorphous_block(support, (0, lx, 0, ly), (zmax + 1.5, zmax + 1.5 + ts), rng, iterations=6))
        desc["support_thickness_nm"] = ts / 10
    return _finish(AtomSet.concat(parts), lx, ly, desc)


def random_sheet(
    rng: np.random.Generator, extent: tuple[float, float], material: str | None = None,
    n_layers: int | None = None, defects: bool = True,
) -> tuple[Atoms, dict]:
    """Graphene, hBN or a transition-metal dichalcogenide, 1–3 layers (aligned or twisted),
    with vacancies, substitutions, holes and edges."""
    lx, ly = _check_extent(extent)
    name = str(rng.choice(list(SHEETS), p=[0.3, 0.2, 0.3, 0.1, 0.1])) if material is None else material
    layers = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])) if n_layers is None else int(n_layers)
    twist = float(rng.uniform(0.5, 30.0)) if (layers > 1 and rng.random() < 0.3) else None
    inplane = float(rng.uniform(0, 360))
    atoms = stacked_sheets(name, layers, (0, lx, 0, ly), inplane, twist, tuple(rng.random(2)))
    desc: dict[str, Any] = {"kind": "sheet", "material": name, "n_layers": layers, "twist_deg": twist,
                            "inplane_rotation_deg": inplane}
    if defects:
        if rng.random() < 0.4:
            frac = float(rng.uniform(0, 0.03))
            atoms = vacancies(atoms, frac, rng)
            desc["vacancy_fraction"] = frac
        if rng.random() < 0.3:
            atoms, desc["substitution"] = substitutions(atoms, float(rng.uniform(0, 0.05)), rng)
        if rng.random() < 0.2:
            c = np.r_[rng.uniform(0.2, 0.8) * lx, rng.uniform(0.2, 0.8) * ly, 0.0]
            r = float(rng.uniform(0.05, 0.2) * min(lx, ly))
            atoms = embed(atoms, AtomSet.empty(), c, np.array([r, r * rng.uniform(0.6, 1.0), 1e3]), 1.0)
            desc["hole"] = {"center_A": c[:2].round(3).tolist(), "radius_A": r}
        if rng.random() < 0.3:
            point = rng.uniform([0.3 * lx, 0.3 * ly], [0.7 * lx, 0.7 * ly])
            angle = float(rng.uniform(0, 360))
            atoms = vacuum_edge(atoms, point, angle, 90.0, 1e3)
            desc["vacuum_edge"] = {"point_A": point.round(3).tolist(), "angle_deg": angle}
    return _finish(atoms, lx, ly, desc)


def random_amorphous_film(
    rng: np.random.Generator, extent: tuple[float, float], material: str | None = None,
    thickness_nm: float | None = None, edge: bool | None = None,
) -> tuple[Atoms, dict]:
    """An amorphous C, Si or SiO2 film (2–8 nm), optionally ending at an edge to vacuum."""
    lx, ly = _check_extent(extent)
    name = str(rng.choice(["C", "Si", "SiO2"], p=[0.5, 0.2, 0.3])) if material is None else material
    t = float(rng.uniform(2.0, 8.0)) if thickness_nm is None else float(thickness_nm)
    atoms = amorphous_block(name, (0, lx, 0, ly), (0.0, t * 10), rng, iterations=6)
    desc: dict[str, Any] = {"kind": "amorphous", "material": name, "thickness_nm": t}
    if edge if edge is not None else rng.random() < 0.4:
        point = rng.uniform([0.3 * lx, 0.3 * ly], [0.7 * lx, 0.7 * ly])
        angle = float(rng.uniform(0, 360))
        atoms = vacuum_edge(atoms, point, angle, 90.0, t * 10)
        desc["vacuum_edge"] = {"point_A": point.round(3).tolist(), "angle_deg": angle}
    return _finish(atoms, lx, ly, desc)


#: Specimen kinds and their default drawing probabilities.
GENERATORS: dict[str, tuple[Callable[..., tuple[Atoms, dict]], float]] = {
    "crystal": (random_crystal, 0.36),
    "grain_boundary": (random_grain_boundary, 0.10),
    "interface": (random_interface, 0.12),
    "precipitate": (random_precipitate, 0.05),
    "nanoparticle": (random_nanoparticle, 0.20),
    "sheet": (random_sheet, 0.11),
    "amorphous": (random_amorphous_film, 0.06),
}


def random_specimen(
    rng: np.random.Generator, extent: tuple[float, float], kind: str | None = None, **overrides: Any
) -> tuple[Atoms, dict]:
    """Draw a specimen kind (or use ``kind``) and build it with its generator.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    extent : tuple of float
        ``(Lx, Ly)`` lateral size [Å].
    kind : str, optional
        One of :data:`GENERATORS`.
    **overrides
        Passed to the generator (e.g. ``structure``, ``zone_axis``, ``thickness_nm``).
    """
    if kind is None:
        names = list(GENERATORS)
        p = np.array([GENERATORS[k][1] for k in names])
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    if kind not in GENERATORS:
        raise ParameterError(f"Unknown specimen kind {kind!r}.", f"Use one of {', '.join(GENERATORS)}.")
    try:
        return GENERATORS[kind][0](rng, extent, **overrides)
    except TypeError as error:
        raise ParameterError(f"Bad override for specimen kind {kind!r}: {error}.",
                             "Check the keyword names in the generator's docstring.") from None


__all__ = [
    "THICKNESS_RANGE_NM", "MAX_MISTILT_DEG", "EPITAXIAL_PAIRS", "GENERATORS",
    "random_crystal", "random_grain_boundary", "random_interface", "random_precipitate",
    "random_nanoparticle", "random_sheet", "random_amorphous_film", "random_specimen",
]

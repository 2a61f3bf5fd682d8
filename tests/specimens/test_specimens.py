"""Specimens: lattice spacings, exact columns, densities, generators."""

import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from emrestore.errors import ParameterError
from emrestore.specimens import (
    AMORPHOUS,
    CRYSTALS,
    GENERATORS,
    amorphous_block,
    oriented_particle,
    oriented_slab,
    random_specimen,
    random_zone_axis,
    stacked_sheets,
    tilt,
    unit_cell,
    zone_axis_candidates,
)
from emrestore.specimens.defects import substitutions, vacancies


def column_xy(slab):
    ids, inv = np.unique(slab.column, return_inverse=True)
    cnt = np.bincount(inv)
    return np.stack([np.bincount(inv, slab.positions[:, 0]), np.bincount(inv, slab.positions[:, 1])], 1) / cnt[:, None]


def nn_distances(xy):
    d, _ = cKDTree(xy).query(xy, k=2)
    return d[:, 1]


def test_si_110_dumbbell_spacing():
    slab = oriented_slab(unit_cell("Si"), (1, 1, 0), (0, 40, 0, 40), 30.0, inplane_deg=23.0, shift_frac=(0.1, 0.3, 0.2))
    d = nn_distances(column_xy(slab))
    expected = 5.431 / 4  # a/4: projected Si-Si distance in a [110] dumbbell
    assert abs(np.median(d) - expected) / expected < 0.01


def test_srtio3_001_column_spacing():
    slab = oriented_slab(unit_cell("SrTiO3"), (0, 0, 1), (0, 40, 0, 40), 20.0, inplane_deg=-11.0)
    xy = column_xy(slab)
    assert abs(np.median(nn_distances(xy)) - 3.905 / 2) / (3.905 / 2) < 0.01
    sr = slab.numbers == 38
    sr_xy = column_xy(type(slab)(slab.positions[sr], slab.numbers[sr], slab.column[sr], slab.grain[sr]))
    assert abs(np.median(nn_distances(sr_xy)) - 3.905) / 3.905 < 0.01


@pytest.mark.parametrize("name", sorted(CRYSTALS))
def test_library_builds_and_slab_density(name):
    cell = unit_cell(name)
    assert len(cell) > 0
    uvw = random_zone_axis(name, np.random.default_rng(1))
    slab = oriented_slab(cell, uvw, (0, 30, 0, 30), 25.0, 10.0, (0.2, 0.1, 0.4))
    density = len(slab) / (30 * 30 * 25.0)
    # a flat slab holds whole repeats plus at most one partial repeat per column
    tolerance = slab.info["repeat_A"] / 25.0 + 0.03
    assert abs(density / (len(cell) / cell.get_volume()) - 1) < tolerance
    # exact columns: all atoms of a column share x, y
    xy = column_xy(slab)
    assert np.abs(slab.positions[:, :2] - xy[slab.column]).max() < 1e-8


def test_spinel_formula_and_known_cells():
    assert unit_cell("MgAl2O4").get_chemical_formula() == "Al16Mg8O32"
    assert len(unit_cell("CeO2")) == 12
    assert np.allclose(unit_cell("TiO2").cell.cellpar()[:3], [4.594, 4.594, 2.959])
    with pytest.raises(ParameterError):
        unit_cell("Unobtainium")


def test_zone_axes_are_low_index_primitive():
    uvw, p = zone_axis_candidates("Au")
    assert np.abs(uvw).max() <= 2
    assert np.all(np.gcd.reduce(np.abs(uvw), axis=1) == 1)
    assert abs(p.sum() - 1) < 1e-12
    assert p[np.argmax(p)] == p[np.all(np.sort(np.abs(uvw), 1) == [0, 0, 1], axis=1)].max()


def test_slab_rejects_bad_input():
    with pytest.raises(ParameterError):
        oriented_slab(unit_cell("Au"), (2, 2, 0), (0, 10, 0, 10), 10.0)
    with pytest.raises(ParameterError):
        oriented_slab(unit_cell("Au"), (1, 0, 0), (0, 10, 0, 10), -1.0)


def test_mistilt_spreads_columns_by_angle():
    slab = oriented_slab(unit_cell("Cu"), (0, 0, 1), (0, 30, 0, 30), 100.0)
    tilted = tilt(slab, 1.0, 30.0, np.array([15, 15, 50.0]))
    xy = column_xy(tilted)
    ptp = np.array([np.ptp(np.linalg.norm(tilted.positions[tilted.column == c, :2] - xy[c], axis=1)) for c in range(5)])
    depth = np.ptp(slab.positions[:, 2])
    assert np.all(ptp < depth * np.sin(np.radians(1.0)) * 0.6)
    assert np.all(ptp > depth * np.sin(np.radians(1.0)) * 0.3)


@pytest.mark.parametrize("material", sorted(AMORPHOUS))
def test_amorphous_density_and_min_distance(material):
    spec = AMORPHOUS[material]
    block = amorphous_block(material, (0, 30, 0, 30), (0, 20), np.random.default_rng(0))
    density = len(block) / (30 * 30 * 20)
    assert abs(density / spec.number_density() - 1) < 0.05
    assert nn_distances(block.positions).min() > 0.85 * spec.min_distance_A
    assert np.all(block.column == -1)


def test_amorphous_has_no_bragg_peaks():
    block = amorphous_block("C", (0, 40, 0, 40), (0, 20), np.random.default_rng(2))
    img, _, _ = np.histogram2d(block.positions[:, 0], block.positions[:, 1], bins=128, range=[[0, 40], [0, 40]])
    power = np.abs(np.fft.fft2(img - img.mean())) ** 2
    power[0, 0] = 0
    assert power.max() < 30 * power.mean()  # crystals give peaks 10^3-10^4 × the mean


def test_octahedron_on_zone_axis_has_columns():
    p, desc = oriented_particle("Au", "octahedron", 30.0, np.random.default_rng(0))
    assert desc["view"] == "zone_axis"
    counts = np.bincount(p.column)
    assert counts.max() >= 5
    assert 2.0 < desc["diameter_nm"] < 4.5


def test_graphene_bond_length():
    s = stacked_sheets("graphene", 1, (0, 30, 0, 30), 12.0, None, (0.1, 0.2))
    assert abs(np.median(nn_distances(s.positions[:, :2])) - 2.46 / np.sqrt(3)) < 0.01
    assert abs(len(s) / 900 - 4 / (np.sqrt(3) * 2.46**2)) < 0.02


def test_point_defects():
    rng = np.random.default_rng(3)
    slab = oriented_slab(unit_cell("GaAs"), (1, 1, 0), (0, 30, 0, 30), 30.0)
    v = vacancies(slab, 0.04, rng)
    assert abs((1 - len(v) / len(slab)) - 0.04) < 0.01
    s, info = substitutions(slab, 0.05, rng, host="Ga", dopant="In")
    assert info["n"] == int((s.numbers == 49).sum()) > 0


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_generators_are_reproducible_and_documented(kind):
    a1, d1 = random_specimen(np.random.default_rng(11), (40.0, 40.0), kind=kind)
    a2, d2 = random_specimen(np.random.default_rng(11), (40.0, 40.0), kind=kind)
    assert d1 == d2 and np.array_equal(a1.positions, a2.positions)
    assert d1["kind"] == kind and len(a1) > 0
    json.dumps(d1)
    assert {"column", "grain"} <= set(a1.arrays)


def test_generator_overrides_and_errors():
    atoms, desc = random_specimen(np.random.default_rng(0), (30, 30), kind="crystal", structure="SrTiO3",
                                  zone_axis=(0, 0, 1), thickness_nm=2.0, mistilt_deg=0.0, defects=False)
    assert desc["structure"] == "SrTiO3" and desc["zone_axis"] == [0, 0, 1]
    assert np.ptp(atoms.positions[:, 2]) < 20.0
    with pytest.raises(ParameterError):
        random_specimen(np.random.default_rng(0), (30, 30), kind="quasicrystal")
    with pytest.raises(ParameterError):
        random_specimen(np.random.default_rng(0), (30, 30), kind="crystal", colour="red")
    with pytest.raises(ParameterError):
        random_specimen(np.random.default_rng(0), (-3, 30))


def test_thick_slab_density_is_exact():
    cell = unit_cell("MgAl2O4")
    slab = oriented_slab(cell, (1, 1, 0), (0, 40, 0, 40), 300.0, 33.0, (0.3, 0.6, 0.1))
    assert abs(len(slab) / (40 * 40 * 300.0) / (len(cell) / cell.get_volume()) - 1) < 0.01


def test_grain_boundary_has_no_overlapping_atoms():
    from emrestore.specimens import random_grain_boundary
    from emrestore.specimens.crystals import nearest_neighbour_distance

    atoms, desc = random_grain_boundary(np.random.default_rng(5), (40.0, 40.0), structure="Cu", thickness_nm=2.0,
                                        defects=False)
    grain = atoms.arrays["grain"]
    assert set(np.unique(grain)) == {0, 1}
    a, b = atoms.positions[grain == 0], atoms.positions[grain == 1]
    d, _ = cKDTree(a).query(b)
    assert d.min() >= 0.65 * nearest_neighbour_distance("Cu") - 1e-9
    assert desc["grains"][0]["structure"] == desc["grains"][1]["structure"] == "Cu"

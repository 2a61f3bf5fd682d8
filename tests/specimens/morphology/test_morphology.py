"""Morphology generators: shapes, physical sizes, determinism, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from emrestore.errors import ParameterError
from emrestore.specimens.morphology import KINDS, Canvas, generate_morphology
from emrestore.specimens.morphology.grains import voronoi
from emrestore.specimens.morphology.holey import add_holey_film
from emrestore.specimens.morphology.membranes import add_membranes
from emrestore.specimens.morphology.particles import add_particles
from emrestore.specimens.morphology.pores import add_pores
from emrestore.specimens.morphology.rods import draw_tube
from emrestore.specimens.morphology.scratches import add_scratches
from emrestore.specimens.morphology.sheets import add_sheets


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_gives_consistent_maps(kind: str, bulk: bool) -> None:
    maps = generate_morphology(kind, 64, 2.0, np.random.default_rng(1), bulk=bulk)
    assert maps.height_nm.shape == (64, 64) and maps.height_nm.dtype == np.float32
    assert maps.thickness_nm.shape == (len(maps.materials), 64, 64)
    assert np.all(np.isfinite(maps.height_nm)) and np.all(np.isfinite(maps.thickness_nm))
    assert maps.thickness_nm.min() >= 0
    assert maps.surface_material.max() < len(maps.materials)
    assert maps.grains.min() >= 0
    assert maps.params["components"][-1]["kind"] in (kind, "holey_film")
    # the specimen is not empty: something varies in height or thickness
    assert np.ptp(maps.height_nm) > 0 or np.ptp(maps.thickness_nm.sum(0)) > 0


@pytest.mark.parametrize("pixel_nm, expected_diameter_px", [(0.5, 10.0), (1.0, 5.0), (0.25, 20.0)])
def test_particle_size_scales_with_pixel_size(pixel_nm: float, expected_diameter_px: float) -> None:
    """A 5 nm sphere spans 5 nm / pixel size pixels and is 5 nm thick at its centre."""
    canvas = Canvas(192, pixel_nm, bulk=False)
    info = add_particles(canvas, np.random.default_rng(0), shape="sphere", diameter_nm=5.0,
                         spread=0.0, coverage=0.05, arrangement="dispersed", material="gold")
    t = canvas.finish().thickness_nm[0]
    labels, n = ndimage.label(t > 0)
    assert info["count"] >= 5 and n >= 3
    diameters, peaks = [], []
    for sl, lab in zip(ndimage.find_objects(labels), range(1, n + 1)):
        touches = sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == 192 or sl[1].stop == 192
        d_px = 2 * np.sqrt((labels[sl] == lab).sum() / np.pi)
        if not touches and d_px < 1.3 * expected_diameter_px:  # isolated, whole particles
            diameters.append(d_px)
            peaks.append(t[sl][labels[sl] == lab].max())
    assert len(diameters) >= 2
    assert np.median(diameters) == pytest.approx(expected_diameter_px, rel=0.12)
    assert np.median(peaks) == pytest.approx(5.0, rel=0.1)  # 5 nm thick through the centre


def test_tube_thickness_is_chord_length() -> None:
    canvas = Canvas(64, 2.0, bulk=False)
    verts = np.array([[32.0, 5.0], [32.0, 60.0]])
    draw_tube(canvas, "silicon", verts, radius_px=5.0, base_nm=0.0, crystalline_label=None)
    t = canvas.finish().thickness_nm[0]
    assert t[32, 30] == pytest.approx(2 * 5.0 * 2.0, rel=1e-3)  # diameter in nm at the axis
    assert t[35, 30] == pytest.approx(2 * np.sqrt(25 - 9) * 2.0, rel=1e-3)
    assert t[38, 30] == 0.0


def test_sub_pixel_tube_is_continuous_and_keeps_its_mass() -> None:
    canvas = Canvas(64, 2.0, bulk=False)
    draw_tube(canvas, "gold", np.array([[20.3, 3.0], [40.7, 60.0]]), radius_px=0.3,
              base_nm=0.0, crystalline_label=None)
    t = canvas.finish().thickness_nm[0]
    columns = t[:, 8:56].sum(axis=0)  # projected thickness summed across the tube [nm px]
    assert np.all(columns > 0)  # no dotted line
    # cross-section π r² (in px², times the pixel size for nm), per unit length along x
    expected = np.pi * 0.3 ** 2 * 2.0 / np.cos(np.arctan2(20.4, 57.0))
    assert columns.mean() == pytest.approx(expected, rel=0.1)


def test_thin_objects_own_their_whole_projection() -> None:
    """On a thin canvas a crystal's label covers all of its footprint, even over a support
    film that is locally thicker than the object is high (labels drive diffraction)."""
    canvas = Canvas(64, 1.0, bulk=False)
    canvas.fill("amorphous_carbon", 10.0, 10.0)
    label = canvas.new_grain()
    draw_tube(canvas, "silicon", np.array([[32.0, 2.0], [32.0, 62.0]]), 3.0, 0.0, label)
    maps = canvas.finish()
    wire = maps.thickness_nm[1] > 0
    assert np.all(maps.grains[wire] == label) and np.all(maps.grains[~wire] == 0)


def test_maps_are_deterministic_by_seed() -> None:
    a = generate_morphology("grains", 64, 5.0, np.random.default_rng(7), bulk=True)
    b = generate_morphology("grains", 64, 5.0, np.random.default_rng(7), bulk=True)
    c = generate_morphology("grains", 64, 5.0, np.random.default_rng(8), bulk=True)
    assert np.array_equal(a.height_nm, b.height_nm) and np.array_equal(a.grains, b.grains)
    assert not np.array_equal(a.height_nm, c.height_nm)


def test_voronoi_boundary_distance_is_exact_for_two_seeds() -> None:
    seeds = np.array([[10.0, 10.0], [10.0, 30.0]])
    labels, dist = voronoi(40, seeds, np.zeros(2), k=2)
    xx = np.arange(40)[None, :].repeat(40, 0)
    assert np.all(labels[:, :20] == 0) and np.all(labels[:, 21:] == 1)
    np.testing.assert_allclose(dist, np.abs(xx - 20.0), atol=1e-4)


def test_fold_doubles_the_sheet_thickness() -> None:
    doubled = 0
    for seed in range(6):
        canvas = Canvas(96, 1.0, bulk=False)
        add_sheets(canvas, np.random.default_rng(seed), lateral_nm=60.0, thickness_nm=2.0,
                   count=1, folds=1, wrinkles=0, material="graphite")
        t = canvas.finish().thickness_nm[0]
        values = set(np.unique(np.round(t[t > 0], 3)).tolist())
        assert values <= {2.0, 4.0}  # one layer, or two where the flap lies on the flake
        doubled += 4.0 in values
    assert doubled >= 4


def test_pores_cut_pits_in_bulk_and_thin_film_in_projection() -> None:
    bulk = Canvas(64, 1.0, bulk=True)
    add_pores(bulk, np.random.default_rng(0), style="voids", pore_nm=10.0, porosity=0.2,
              material="alumina")
    assert bulk.finish().height_nm.min() < -2.0
    thin = Canvas(64, 1.0, bulk=False)
    add_pores(thin, np.random.default_rng(0), style="voids", pore_nm=10.0, porosity=0.2,
              film_nm=30.0, material="alumina")
    t = thin.finish().thickness_nm[0]
    assert t.max() == pytest.approx(30.0) and t.min() < 25.0


def test_regular_holey_film_open_fraction() -> None:
    canvas = Canvas(128, 10.0, bulk=False)
    info = add_holey_film(canvas, np.random.default_rng(2), style="regular", hole_nm=200.0,
                          open_fraction=0.4, thickness_nm=20.0)
    assert info["open_fraction"] == pytest.approx(0.4, abs=0.12)


def test_vesicle_shell_projects_thickest_at_its_rim() -> None:
    canvas = Canvas(128, 1.0, bulk=False)
    add_membranes(canvas, np.random.default_rng(5), style="vesicles", vesicle_nm=60.0,
                  membrane_nm=5.0, coverage=0.01)
    maps = canvas.finish()
    lipid = maps.thickness_nm[[m.name for m in maps.materials].index("lipid")]
    labels, n = ndimage.label(lipid > 0)
    assert n >= 1
    sl = ndimage.find_objects(labels)[0]
    blob = np.where(labels[sl] == 1, lipid[sl], 0.0)
    cy, cx = np.array(ndimage.center_of_mass(blob > 0)).round().astype(int)
    # a spherical shell seen in projection: thin at its centre (2 × bilayer), thick at the rim
    assert blob[cy, cx] == pytest.approx(10.0, rel=0.35)
    assert blob.max() > 2.5 * blob[cy, cx]


def test_cell_section_has_stained_membranes_in_resin() -> None:
    canvas = Canvas(128, 20.0, bulk=False)
    info = add_membranes(canvas, np.random.default_rng(1), style="section", cell_nm=1500.0,
                         section_nm=80.0)
    maps = canvas.finish()
    names = [m.name for m in maps.materials]
    assert {"epoxy_resin", "protein", "stained_membrane"} <= set(names)
    resin = maps.thickness_nm[names.index("epoxy_resin")]
    stain = maps.thickness_nm[names.index("stained_membrane")]
    assert np.allclose(resin, 80.0)
    assert info["cells"] >= 1 and 0.005 < (stain > 1.0).mean() < 0.5  # thin membrane lines


@pytest.mark.parametrize("style", ["regular", "random", "lacey"])
def test_holey_films_have_film_and_vacuum(style: str) -> None:
    canvas = Canvas(128, 5.0, bulk=False)
    info = add_holey_film(canvas, np.random.default_rng(4), style=style, hole_nm=250.0,
                          thickness_nm=20.0)
    t = canvas.finish().thickness_nm[0]
    assert 0.05 < info["open_fraction"] < 0.95
    assert (t == 0).mean() == pytest.approx(info["open_fraction"], abs=0.05)
    assert np.median(t[t > 0]) == pytest.approx(20.0, rel=0.25)  # film thickness (+ rims)


def test_scratches_are_grooves_that_fade_at_their_ends() -> None:
    canvas = Canvas(96, 10.0, bulk=True)
    add_scratches(canvas, np.random.default_rng(0), width_nm=60.0, count=1, spread_deg=0.0,
                  depth_ratio=0.3)
    h = canvas.finish().height_nm
    assert h.min() < -5.0  # a groove ≈ 0.3 × width deep
    assert h.max() < 0.25 * -h.min()  # pile-up is small


@pytest.mark.parametrize("call", [
    lambda c, r: add_particles(c, r, diameter_nm=-1.0),
    lambda c, r: add_particles(c, r, shape="cube"),
    lambda c, r: add_particles(c, r, material="unobtainium"),
    lambda c, r: add_sheets(c, r, thickness_nm=1e6),
])
def test_bad_parameters_raise_parameter_error(call) -> None:
    with pytest.raises(ParameterError) as err:
        call(Canvas(32, 1.0, bulk=False), np.random.default_rng(0))
    assert "Fix:" in str(err.value)


def test_unknown_kind_and_bad_size() -> None:
    with pytest.raises(ParameterError):
        generate_morphology("blobs", 64, 1.0, np.random.default_rng(0), bulk=True)
    with pytest.raises(ParameterError):
        generate_morphology("particles", 8, 1.0, np.random.default_rng(0), bulk=True)
    with pytest.raises(ParameterError):
        generate_morphology("particles", 64, -1.0, np.random.default_rng(0), bulk=True)

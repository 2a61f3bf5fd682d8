"""The hrstem / hrtem renderers: contract, reproducibility, column positions."""

import json

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from emrestore.datasets import CleanSample, available_tags, get_renderer
from emrestore.datasets.atomic import PIXEL_COMMON_NM, PIXEL_RANGE_NM, _pixel_A
from emrestore.errors import ParameterError

TAGS = ("hrstem", "hrtem")

STO_001 = {"kind": "crystal", "structure": "SrTiO3", "zone_axis": (0, 0, 1), "thickness_nm": 2.0,
           "mistilt_deg": 0.0, "defects": False}


def test_registered():
    assert {"hrstem", "hrtem"} <= set(available_tags())


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contract(tag, seed):
    s = get_renderer(tag)(64, np.random.default_rng(seed))
    assert isinstance(s, CleanSample)
    assert s.image.dtype == np.float32 and s.image.shape == (64, 64)
    assert np.isfinite(s.image).all() and s.image.min() >= 0
    assert s.image.mean() == pytest.approx(1.0, rel=1e-4)
    assert s.image.std() > 1e-3
    assert 0.005 <= s.pixel_size_nm <= 0.1
    assert s.modality == {"hrstem": "stem", "hrtem": "tem"}[tag]
    assert s.columns.shape[1] == 2 and len(s.column_info) == len(s.columns)
    if len(s.columns):
        assert s.columns.min() >= -0.5 and s.columns.max() < 63.5
    p = json.loads(json.dumps(s.params))
    assert p["pixel_size_nm"] == pytest.approx(s.pixel_size_nm)
    assert p["specimen"]["kind"] and p["optics"]["energy_kv"] in (60, 80, 120, 200, 300)


@pytest.mark.parametrize("tag", TAGS)
def test_same_seed_same_image(tag):
    a = get_renderer(tag)(48, np.random.default_rng(7))
    b = get_renderer(tag)(48, np.random.default_rng(7))
    c = get_renderer(tag)(48, np.random.default_rng(8))
    assert np.array_equal(a.image, b.image) and a.params == b.params
    assert np.array_equal(a.columns, b.columns)
    assert not np.array_equal(a.image, c.image)


def test_stem_columns_on_atoms_and_spacing():
    pixel = 0.01  # nm
    s = get_renderer("hrstem")(96, np.random.default_rng(3), pixel_size_nm=pixel, specimen=STO_001,
                               aberrations={}, source_sigma_A=0.3, detector="haadf", sublinear_beta=None)
    cols = s.columns
    d, _ = cKDTree(cols).query(cols, k=2)
    assert np.median(d[:, 1]) * pixel * 10 == pytest.approx(3.905 / 2, rel=0.01)
    # every local maximum of the HAADF image sits on a true column (the bright Sr and Ti-O columns)
    img = s.image
    peaks = (img == ndimage.maximum_filter(img, size=9)) & (img > img.mean() * 1.2)
    py, px = np.nonzero(peaks[5:-5, 5:-5])
    dist, _ = cKDTree(cols).query(np.stack([px + 5, py + 5], 1))
    assert len(dist) >= 6 and np.all(dist < 1.0)
    # Sr (Z = 38) columns are brighter than pure O columns
    info = s.column_info
    at = ndimage.map_coordinates(img, [cols[:, 1], cols[:, 0]], order=1)
    sr = np.array(["Sr" in c["elements"] for c in info])
    o = np.array([set(c["elements"]) == {"O"} for c in info])
    assert at[sr].mean() > 2 * at[o].mean()


def test_tem_columns_match_image_extrema():
    s = get_renderer("hrtem")(96, np.random.default_rng(4), pixel_size_nm=0.01, energy_kv=300, specimen=STO_001,
                              aberrations={"defocus_nm": -0.65, "Cs_um": -15.0}, focal_spread_nm=2.0,
                              convergence_mrad=0.1, aperture_mrad=None)
    img, cols = s.image, s.columns
    at = ndimage.map_coordinates(img, [cols[:, 1], cols[:, 0]], order=1)
    sr = np.array(["Sr" in c["elements"] for c in s.column_info])
    # the Sr columns are strong extrema (dark at this focus, as abTEM also gives) ...
    assert abs(at[sr].mean() - img.mean()) > img.std()
    sign = -1.0 if at[sr].mean() < img.mean() else 1.0
    # ... and each sits on its column: the extremum within 0.6 Å is less than 1 px away
    r = 6
    for x, y in cols[sr]:
        cx, cy = int(round(x)), int(round(y))
        if not (r <= cx < 96 - r and r <= cy < 96 - r):
            continue
        win = sign * img[cy - r:cy + r + 1, cx - r:cx + r + 1]
        iy, ix = np.unravel_index(np.argmax(win), win.shape)
        assert np.hypot(cx - r + ix - x, cy - r + iy - y) < 1.0


@pytest.mark.parametrize("tag", TAGS)
def test_bad_overrides(tag):
    r = get_renderer(tag)
    with pytest.raises(ParameterError):
        r(32, np.random.default_rng(0), pixel_size_nm=0.5)
    with pytest.raises(ParameterError):
        r(32, np.random.default_rng(0), colour="red")


def test_stem_abf_has_dark_columns():
    s = get_renderer("hrstem")(64, np.random.default_rng(5), pixel_size_nm=0.012, specimen=STO_001,
                               aberrations={}, source_sigma_A=0.3, detector="abf")
    at = ndimage.map_coordinates(s.image, [s.columns[:, 1], s.columns[:, 0]], order=1)
    assert at.mean() < s.image.mean()
    assert s.params["detector"] == "abf"


@pytest.mark.parametrize("tag", TAGS)
def test_fast_path_without_abtem(tag, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "abtem", None)  # import abtem -> ImportError
    s = get_renderer(tag)(32, np.random.default_rng(3))
    assert np.isfinite(s.image).all()
    if tag == "hrtem":
        assert s.params["object"]["potential"] == "moliere"
        with pytest.raises(ParameterError):
            get_renderer(tag)(32, np.random.default_rng(3), engine="abtem")


@pytest.mark.parametrize("tag", TAGS)
def test_given_atoms_override(tag):
    from emrestore.datasets.atomic import grid_for
    from emrestore.specimens import oriented_slab, unit_cell

    grid = grid_for(tag, 48, 0.02, energy_kv=200.0, alpha_mrad=25.0, source_sigma_A=0.4)
    slab = oriented_slab(unit_cell("GaAs"), (1, 1, 0), (0, grid.extent, 0, grid.extent), 30.0)
    overrides = {"energy_kv": 200.0, "alpha_mrad": 25.0, "source_sigma_A": 0.4} if tag == "hrstem" else {"energy_kv": 200.0}
    s = get_renderer(tag)(48, np.random.default_rng(0), pixel_size_nm=0.02,
                          atoms=slab.to_atoms((grid.extent, grid.extent, 30.0)), **overrides)
    assert s.params["specimen"]["kind"] == "given" and s.params["grid"]["n"] == grid.n
    d, _ = cKDTree(s.columns).query(s.columns, k=2)
    assert np.median(d[:, 1]) * 0.2 == pytest.approx(5.653 / 4, rel=0.01)  # GaAs [110] dumbbell
    assert all(set(c["elements"]) in ({"Ga"}, {"As"}) for c in s.column_info)


def test_pixel_size_distribution():
    """0.05–1.0 Å, most draws (p ≥ 0.7) in the common 0.1–0.6 Å, some coarser than 0.6 Å."""
    assert PIXEL_RANGE_NM == (0.005, 0.1)
    rng = np.random.default_rng(0)
    px = np.array([_pixel_A(rng, {}) for _ in range(4000)]) / 10  # nm
    assert px.min() >= 0.005 and px.max() <= 0.1
    common = (px >= PIXEL_COMMON_NM[0]) & (px <= PIXEL_COMMON_NM[1])
    assert 0.8 < common.mean() < 0.95  # 0.7 + 0.3 × log(6)/log(20) = 0.88
    assert (px > 0.06).mean() > 0.03 and (px < 0.01).mean() > 0.03


def test_coarse_pixel_override_renders():
    s = get_renderer("hrstem")(48, np.random.default_rng(0), pixel_size_nm=0.1, specimen=STO_001)
    assert s.pixel_size_nm == pytest.approx(0.1) and len(s.columns) > 100  # 4.8 nm field, 0.39 nm cell
    with pytest.raises(ParameterError):
        get_renderer("hrstem")(48, np.random.default_rng(0), pixel_size_nm=0.12)

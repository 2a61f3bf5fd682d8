"""Each contrast mechanism does what it claims, on hand-made specimens."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.optics.lowmag_stem import render_lowmag_stem
from emrestore.optics.lowmag_tem import (
    contrast_mean_free_path_nm,
    render_lowmag_tem,
    two_beam_diffracted,
)
from emrestore.optics.sem import (
    backscatter_coefficient,
    kanaya_okayama_range_nm,
    render_sem,
)
from emrestore.specimens.morphology import get_material
from emrestore.specimens.morphology.maps import MorphologyMaps

N = 64
QUIET_SE = dict(detector="se", edge_gain=0.0, se2_edge_gain=0.0, detector_gain=0.0,
                shadow_gain=0.0, channelling=0.0, secant_exponent=1.0)


def _bulk(height: np.ndarray, materials: list[str], surface: np.ndarray | None = None,
          pixel_nm: float = 1.0) -> MorphologyMaps:
    mats = tuple(get_material(m) for m in materials)
    surf = np.zeros(height.shape, np.int16) if surface is None else surface.astype(np.int16)
    return MorphologyMaps(pixel_nm, height.astype(np.float32),
                          np.zeros((len(mats),) + height.shape, np.float32), mats, surf,
                          np.zeros(height.shape, np.int32), True)


def _thin(thickness: dict[str, np.ndarray], pixel_nm: float = 1.0,
          grains: np.ndarray | None = None) -> MorphologyMaps:
    mats = tuple(get_material(m) for m in thickness)
    t = np.stack([thickness[m] for m in thickness]).astype(np.float32)
    shape = t.shape[1:]
    g = np.zeros(shape, np.int32) if grains is None else grains.astype(np.int32)
    return MorphologyMaps(pixel_nm, t.sum(0), t, mats, np.zeros(shape, np.int16), g, False)


def _halves(img: np.ndarray) -> tuple[float, float]:
    """Means of the left and right halves, away from their common border."""
    return float(img[:, 4:N // 2 - 6].mean()), float(img[:, N // 2 + 6:-4].mean())


# -- SEM -------------------------------------------------------------------------------
def test_tilted_facet_is_brighter_than_flat_in_se() -> None:
    xx = np.arange(N, dtype=np.float32)[None, :].repeat(N, 0)
    h = np.where(xx < N // 2, 0.0, (xx - N // 2) * 1.0)  # 45° facet on the right
    img, _ = render_sem(_bulk(h, ["silicon"]), np.random.default_rng(0), **QUIET_SE)
    flat, tilted = _halves(img)
    assert tilted / flat == pytest.approx(np.sqrt(2), rel=0.15)  # sec 45° with SE2 added


def test_se_edge_brightening_and_shadowing() -> None:
    h = np.zeros((N, N), np.float32)
    h[20:44, 20:44] = 10.0  # a 10 nm high plateau
    maps = _bulk(h, ["silicon"], pixel_nm=1.0)
    opts = dict(QUIET_SE, edge_gain=1.0, edge_width_nm=2.0)
    img, _ = render_sem(maps, np.random.default_rng(0), **opts)
    edge = img[30:34, 20].mean()  # on the plateau's edge
    top = img[30:34, 32].mean()
    assert edge > 1.3 * top
    pit = -h  # the same shape as a pit: shadowing darkens its floor
    dark, _ = render_sem(_bulk(pit, ["silicon"]), np.random.default_rng(0),
                         **dict(QUIET_SE, shadow_gain=2.0))
    assert dark[32, 32] < 0.9 * dark[5, 5]


def test_detector_side_facet_is_brighter() -> None:
    xx = np.arange(N, dtype=np.float32)[None, :].repeat(N, 0)
    ridge = 20.0 - np.abs(xx - N / 2) * 0.5  # left facet faces −x, right facet +x
    opts = dict(QUIET_SE, detector_gain=0.5, detector_azimuth_deg=0.0)  # detector at +x
    img, _ = render_sem(_bulk(ridge, ["silicon"]), np.random.default_rng(0), **opts)
    away, towards = _halves(img)
    assert towards > 1.2 * away


def test_bse_material_contrast_follows_z() -> None:
    h = np.zeros((N, N), np.float32)
    surf = np.zeros((N, N), np.int16)
    surf[:, N // 2:] = 1
    maps = _bulk(h, ["amorphous_carbon", "gold"], surf)
    img, params = render_sem(maps, np.random.default_rng(0), detector="bse", channelling=0.0,
                             detector_gain=0.0, shadow_gain=0.0)
    carbon, gold = _halves(img)
    assert params["detector"] == "bse"
    assert gold / carbon == pytest.approx(0.50 / 0.06, rel=0.3)


def test_thin_overlayer_shows_the_substrate_in_se() -> None:
    """A 1 nm silica film on silicon has much less SE contrast than a thick silica layer."""
    surf = np.zeros((N, N), np.int16)
    surf[:, N // 2:] = 1
    contrasts = []
    for t_nm in (1.0, 200.0):
        thick = np.zeros((2, N, N), np.float32)
        thick[1][:, N // 2:] = t_nm
        mats = (get_material("silicon"), get_material("silica"))
        maps = MorphologyMaps(1.0, np.zeros((N, N), np.float32), thick, mats, surf,
                              np.zeros((N, N), np.int32), True)
        img, _ = render_sem(maps, np.random.default_rng(0), **dict(QUIET_SE, se_escape_nm=5.0))
        si, sio2 = _halves(img)
        contrasts.append(sio2 / si - 1.0)
    assert contrasts[1] > 0.5  # insulator brighter than silicon
    assert contrasts[0] < 0.4 * contrasts[1]


def test_backscatter_and_range_against_literature() -> None:
    eta = backscatter_coefficient(np.array([6.0, 29.0, 79.0]))
    np.testing.assert_allclose(eta, [0.06, 0.30, 0.50], atol=0.05)
    assert backscatter_coefficient(29.0, np.cos(np.deg2rad(60))) > eta[1]  # rises with tilt
    al = get_material("aluminium")
    r = kanaya_okayama_range_nm(10.0, al.z_eff, al.a_eff, al.density_g_cm3)
    assert r == pytest.approx(1320.0, rel=0.05)  # ≈ 1.3 µm for Al at 10 kV


# -- LR-TEM ----------------------------------------------------------------------------
def test_thicker_and_heavier_regions_are_darker_in_tem_bright_field() -> None:
    t = np.full((N, N), 20.0, np.float32)
    t[:, N // 2:] = 60.0
    img, _ = render_lowmag_tem(_thin({"amorphous_carbon": t}), np.random.default_rng(0),
                               fresnel_px=0.0, carbon_mfp_nm=150.0)
    thin, thick = _halves(img)
    assert thick < thin
    assert thick / thin == pytest.approx(np.exp(-40.0 / 150.0), rel=1e-3)
    assert contrast_mean_free_path_nm(get_material("gold"), 150.0) < 0.1 * 150.0


def test_two_beam_thickness_fringes_and_bend_contours() -> None:
    xi = np.float32(50.0)
    t = np.linspace(0, 200, 401, dtype=np.float32)
    ig = two_beam_diffracted(t, np.zeros_like(t), xi, np.float32(np.inf))
    np.testing.assert_allclose(ig, np.sin(np.pi * t / xi) ** 2, atol=1e-5)  # Pendellösung
    s = np.linspace(-0.1, 0.1, 201, dtype=np.float32)
    ig_s = two_beam_diffracted(np.full_like(s, 25.0), s, xi, np.float32(np.inf))
    assert np.argmax(ig_s) == 100  # strongest at the Bragg condition: a bend contour
    # a crystal near Bragg is darker than the same thickness of amorphous carbon-like film
    grains = np.zeros((N, N), np.int32)
    grains[:, N // 2:] = 1
    tt = np.full((N, N), 25.0, np.float32)
    maps = _thin({"aluminium": tt}, grains=grains)
    img, _ = render_lowmag_tem(maps, np.random.default_rng(3), fresnel_px=0.0, diffraction=1.0,
                               bend_radius_nm=0.0, orientation_spread=0.05)
    left, right = _halves(img)
    assert right < 0.9 * left


def test_defocus_gives_edge_fringes_only_when_defocused() -> None:
    t = np.zeros((N, N), np.float32)
    t[:, N // 2:] = 20.0
    maps = _thin({"amorphous_carbon": t}, pixel_nm=0.5)
    focus, _ = render_lowmag_tem(maps, np.random.default_rng(0), fresnel_px=0.0, speckle_rad=0)
    defoc, p = render_lowmag_tem(maps, np.random.default_rng(0), fresnel_px=1.0, focus_sign=-1,
                                 speckle_rad=0)
    diff = np.abs(defoc - focus)[N // 2]
    assert diff[N // 2 - 3:N // 2 + 3].max() > 0.05  # a fringe at the edge
    assert diff[:N // 2 - 5].max() < 1e-4 and diff[N // 2 + 5:].max() < 1e-4  # none elsewhere
    assert p["defocus_nm"] < 0


def test_amorphous_speckle_appears_with_defocus_at_high_magnification() -> None:
    t = np.full((N, N), 20.0, np.float32)
    maps = _thin({"amorphous_carbon": t}, pixel_nm=0.3)
    focus, _ = render_lowmag_tem(maps, np.random.default_rng(0), fresnel_px=0.0, speckle_rad=0.2)
    defoc, _ = render_lowmag_tem(maps, np.random.default_rng(0), fresnel_px=0.8, speckle_rad=0.2)
    assert focus.std() < 1e-6  # a phase object is invisible in focus
    assert 0.01 < defoc.std() / defoc.mean() < 0.3


def test_bend_contours_appear_in_a_bent_crystal() -> None:
    grains = np.ones((N, N), np.int32)
    maps = _thin({"aluminium": np.full((N, N), 60.0, np.float32)}, pixel_nm=20.0, grains=grains)
    flat, _ = render_lowmag_tem(maps, np.random.default_rng(1), fresnel_px=0.0,
                                bend_radius_nm=0.0, diffraction=1.0)
    bent, _ = render_lowmag_tem(maps, np.random.default_rng(1), fresnel_px=0.0,
                                bend_radius_nm=1e5, diffraction=1.0)
    assert flat.std() < 1e-6 and bent.std() > 0.02


# -- LR-STEM ---------------------------------------------------------------------------
def test_thicker_and_heavier_regions_are_brighter_in_haadf_and_darker_in_bf() -> None:
    t = np.full((N, N), 20.0, np.float32)
    t[:, N // 2:] = 60.0
    maps = _thin({"amorphous_carbon": t})
    haadf, _ = render_lowmag_stem(maps, np.random.default_rng(0), detector="haadf")
    bf, _ = render_lowmag_stem(maps, np.random.default_rng(0), detector="bf")
    thin, thick = _halves(haadf)
    assert thick > 2.0 * thin
    thin_bf, thick_bf = _halves(bf)
    assert thick_bf < thin_bf
    z = np.zeros((N, N), np.float32)
    half = np.where(np.arange(N)[None, :] < N // 2, 10.0, 0.0).astype(np.float32).repeat(N, 0)
    mixed = _thin({"amorphous_carbon": half, "gold": half[:, ::-1].copy()})
    img, _ = render_lowmag_stem(mixed, np.random.default_rng(0), detector="haadf", gamma=1.7)
    carbon, gold = _halves(img)
    assert gold > 20 * carbon
    vac, _ = render_lowmag_stem(_thin({"amorphous_carbon": z}), np.random.default_rng(0),
                                detector="haadf", saturation_nm=100.0)
    assert vac.max() == 0.0  # vacuum is dark in HAADF

"""Optics: constants, probe, CTF, potentials, grids, multislice."""

import numpy as np
import pytest
import scipy.fft as sfft

from emrestore.errors import ParameterError
from emrestore.optics import (
    Aberrations,
    STEMOptics,
    TEMOptics,
    ctf,
    interaction_constant,
    make_grid,
    moliere_ft,
    multislice_exit_wave,
    probe_wave,
    scherzer_defocus_A,
    splat,
    stem_grid,
    tem_grid,
    to_image,
    wavelength_A,
)
from emrestore.optics.grid import splat_transfer


def test_wavelength_and_interaction_constant():
    assert wavelength_A(300) == pytest.approx(0.019687, rel=1e-4)
    assert wavelength_A(200) == pytest.approx(0.025079, rel=1e-4)
    assert wavelength_A(60) == pytest.approx(0.048661, rel=1e-4)
    # Kirkland, Advanced Computing in EM: sigma(300 kV) = 0.00065262 rad/(V·Å)
    assert interaction_constant(300) == pytest.approx(6.5262e-4, rel=2e-3)
    with pytest.raises(ParameterError):
        wavelength_A(-5)


def test_chi_follows_defocus_convention():
    ab = Aberrations(defocus=100.0)
    lam = wavelength_A(200)
    k = np.array([0.5])
    assert ab.chi(k, np.zeros(1), lam)[0] == pytest.approx(-np.pi * lam * 100.0 * 0.25)
    rt = Aberrations.from_params(Aberrations(defocus=12, C12=3, phi12=0.4, C30=-1e5, C50=2e7).as_params())
    assert rt.C30 == pytest.approx(-1e5) and rt.phi12 == pytest.approx(0.4) and rt.C50 == pytest.approx(2e7)


def _fwhm(profile, dx):
    half = profile.max() / 2
    above = np.nonzero(profile >= half)[0]
    return (above[-1] - above[0] + 1) * dx


@pytest.mark.parametrize("alpha", [15.0, 30.0])
def test_diffraction_limited_probe_width(alpha):
    optics = STEMOptics(200.0, alpha, Aberrations(), 0.0)
    grid = make_grid(64, 0.02, 0.02, 4.0)
    p = np.abs(probe_wave(grid, optics)) ** 2
    assert p.sum() == pytest.approx(1.0)
    profile = np.fft.fftshift(p)[grid.n // 2]
    expected = 0.51 * wavelength_A(200) / (alpha * 1e-3)  # Airy disc FWHM
    assert _fwhm(profile, grid.sampling) == pytest.approx(expected, rel=0.12)


def test_ctf_ideal_is_unit_and_envelopes_damp():
    grid = make_grid(64, 0.1, 0.1, 2.0)
    ideal = ctf(grid, TEMOptics(300.0, Aberrations(), 0.0, 0.0, None))
    assert np.allclose(np.abs(ideal), 1.0)
    damped = np.abs(ctf(grid, TEMOptics(300.0, Aberrations(defocus=300.0, C30=1e7), 40.0, 0.3, None)))
    kx, ky = grid.freqs()
    k = np.broadcast_to(np.hypot(kx, ky), damped.shape)
    assert damped[k > 1.0].max() < 0.2 and damped[k < 0.05].min() > 0.95
    cut = np.abs(ctf(grid, TEMOptics(300.0, Aberrations(), 0.0, 0.0, 10.0)))
    assert cut[k > 10e-3 / wavelength_A(300) + 0.02].max() == 0


def test_scherzer_first_zero():
    cs, e = 1.2e7, 200.0
    df = scherzer_defocus_A(cs, e)
    assert df == pytest.approx(1.2 * np.sqrt(cs * wavelength_A(e)))
    assert scherzer_defocus_A(-cs, e) == pytest.approx(-df)


def test_moliere_potential_shape():
    k = np.linspace(0, 3, 50)
    f = moliere_ft(79, k)
    assert np.all(np.diff(f) < 0) and f[0] > 0
    assert moliere_ft(79, np.zeros(1))[0] > moliere_ft(6, np.zeros(1))[0]


def test_splat_and_resample_keep_positions():
    for pixel, max_s in [(0.3, 0.1), (0.08, 0.25), (0.2, 0.2)]:
        grid = make_grid(48, pixel, max_s, 4.0)
        x = np.array([[grid.margin_A + 17.3 * pixel, grid.margin_A + 25.6 * pixel]])
        kx, ky = grid.freqs()
        f = sfft.fft2(splat(grid, x, [1.0])[0]) / splat_transfer(grid) * np.exp(-2 * np.pi**2 * 0.5**2 * (kx**2 + ky**2))
        img = to_image(grid, sfft.ifft2(f).real, integrate=False)
        yy, xx = np.mgrid[0:48, 0:48]
        c = np.array([(img * xx).sum(), (img * yy).sum()]) / img.sum()
        assert np.allclose(c, grid.to_image_px(x)[0], atol=0.05)


def test_grid_rejects_bad_sizes():
    with pytest.raises(ParameterError):
        make_grid(4, 0.1, 0.1, 1.0)
    with pytest.raises(ParameterError):
        make_grid(64, 0.0, 0.1, 1.0)


def test_multislice_conserves_intensity_and_vacuum_is_flat():
    grid = tem_grid(32, 0.2, margin_A=4.0)
    pos = np.array([[grid.extent / 2, grid.extent / 2, z] for z in np.arange(0, 20, 2.0)])
    wave = multislice_exit_wave(grid, pos, np.full(len(pos), 79), 300.0, 2.0, 0.05)
    assert np.mean(np.abs(wave) ** 2) == pytest.approx(1.0, abs=0.02)
    vac = multislice_exit_wave(grid, pos[:1] + [0, 0, 0], np.array([1]), 300.0, 2.0, 0.05)
    assert np.abs(vac).std() < 0.01


def test_stem_grid_resolves_probe_bandwidth():
    optics = STEMOptics(300.0, 35.0, Aberrations(), 0.5)
    grid = stem_grid(64, 0.4, optics)
    assert 1 / (2 * grid.sampling) >= 2 * optics.aperture_k


def test_potential_choice_and_agreement_at_high_k():
    from emrestore.optics.potential import abtem_available, lobato_ft, resolve_potential

    assert resolve_potential("moliere") == "moliere"
    assert resolve_potential("auto") == ("lobato" if abtem_available() else "moliere")
    with pytest.raises(ParameterError):
        resolve_potential("kirkland")
    if abtem_available():
        k = np.array([1.5, 2.0, 3.0])
        for z in (6, 14, 38, 79):
            assert np.allclose(moliere_ft(z, k) / lobato_ft(z, k), 1.0, atol=0.06)


def test_hrtem_potential_override_is_recorded():
    from emrestore.datasets import get_renderer

    s = get_renderer("hrtem")(32, np.random.default_rng(0), potential="moliere")
    assert s.params["object"]["potential"] == "moliere"

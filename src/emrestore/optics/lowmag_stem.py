"""Low-magnification STEM: incoherent HAADF (Z-contrast) and bright field.

HAADF
    The signal is the number of electrons scattered onto the annular detector:
    ``H = Σ_i n_i Z_i^γ t_i`` (atoms per volume n_i, γ ≈ 1.5–1.9), saturating for thick
    specimens as ``H_sat (1 − exp(−H/H_sat))`` (multiple scattering removes electrons from
    the detector's angular range); weak residual diffraction contrast between crystals.
    Vacuum is dark.
BF
    Bright field with a small collection angle: by reciprocity like TEM bright field,
    ``exp(−Σ t_i/Λ_i) · (1 − D I_g)`` (see :mod:`emrestore.optics.lowmag_tem`), without
    defocus fringes (the image is formed incoherently, point by point).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..specimens.morphology.maps import MorphologyMaps, label_values
from ..specimens.morphology.parameters import check_choice, check_range, log_uniform
from .lowmag_tem import diffraction_attenuation, draw_bend_radius, mass_thickness_transmission

DETECTORS = ("haadf", "bf")

#: n Z^γ of amorphous carbon at γ = 1.7, used to scale H_sat.
_CARBON_N = 2.0 * 602.214 / 12.01


def haadf_signal(maps: MorphologyMaps, gamma: float) -> np.ndarray:
    """Linear HAADF signal Σ n_i Z_i^γ t_i, in units of nm of amorphous carbon."""
    h = np.zeros(maps.shape, np.float32)
    ref = _CARBON_N * 6.0 ** gamma
    for m, t in zip(maps.materials, maps.thickness_nm):
        h += (m.atoms_per_nm3 * m.z_eff ** gamma / ref) * t
    return h


def render_lowmag_stem(maps: MorphologyMaps, rng: np.random.Generator, *,
                       detector: str | None = None, gamma: float | None = None,
                       saturation_nm: float | None = None, diffraction: float | None = None,
                       carbon_mfp_nm: float | None = None, bend_radius_nm: float | None = None,
                       orientation_spread: float | None = None
                       ) -> tuple[np.ndarray, dict[str, Any]]:
    """Render a low-magnification STEM image (HAADF or BF) from morphology maps.

    Parameters
    ----------
    maps : MorphologyMaps
        Thin specimen.
    rng : numpy.random.Generator
        Random source for the parameters not given.
    detector : {"haadf", "bf"}, optional
        Signal (default: BF with p = 0.2).
    gamma : float, optional
        Z exponent γ, 1.2–2.0 (default U[1.5, 1.9]).
    saturation_nm : float, optional
        HAADF saturation H_sat in carbon-equivalent thickness [nm], 10–1e6 (default:
        0.7–8 × the image maximum, so thick regions are mildly sub-linear).
    diffraction : float, optional
        HAADF: relative crystal-to-crystal variation (orientation-dependent channelling),
        0–0.3 (default U[0, 0.15]);
        BF: fraction of the diffracted intensity lost, 0–1 (default U[0.3, 0.8]).
    carbon_mfp_nm : float, optional
        BF: contrast mean free path of carbon [nm], 30–1000 (default U[100, 300]).
    bend_radius_nm, orientation_spread : float, optional
        BF diffraction contrast, as in :func:`~emrestore.optics.lowmag_tem.render_lowmag_tem`.

    Returns
    -------
    image : numpy.ndarray
        float32 (H, W) signal, ≥ 0 (not normalised).
    params : dict
        The parameters used.
    """
    detector = detector or ("bf" if rng.random() < 0.2 else "haadf")
    check_choice("STEM detector", detector, DETECTORS)
    params: dict[str, Any] = {"contrast": "stem_" + detector, "detector": detector}
    if detector == "haadf":
        gamma = check_range("gamma", rng.uniform(1.5, 1.9) if gamma is None else gamma, 1.2, 2.0)
        diffraction = check_range("diffraction", rng.uniform(0.0, 0.15) if diffraction is None
                                  else diffraction, 0.0, 0.3)
        h = haadf_signal(maps, gamma)
        hmax = float(h.max())
        if saturation_nm is None:
            # heavy, thick specimens (Z^γ weighting) can exceed the range: clip the draw to it
            saturation_nm = min(max(max(hmax, 10.0) * log_uniform(rng, 0.7, 8.0), 10.0), 1e6)
        saturation_nm = check_range("saturation_nm", saturation_nm, 10.0, 1e6, "nm")
        img = saturation_nm * (1.0 - np.exp(-h / saturation_nm))
        if maps.n_grains:
            f = 1.0 + diffraction * np.clip(rng.standard_normal(maps.n_grains + 1), -2.5, 2.5)
            f[0] = 1.0
            frac = np.clip(maps.crystalline_thickness_nm() / np.maximum(
                maps.thickness_nm.sum(axis=0), 1e-6), 0, 1)
            img = img * (1.0 + (label_values(maps.grains, f.astype(np.float32)) - 1.0) * frac)
        params.update(gamma=gamma, saturation_nm=saturation_nm, diffraction=diffraction)
    else:
        carbon_mfp_nm = check_range("carbon_mfp_nm", rng.uniform(100.0, 300.0)
                                    if carbon_mfp_nm is None else carbon_mfp_nm,
                                    30.0, 1000.0, "nm")
        diffraction = check_range("diffraction", rng.uniform(0.3, 0.8) if diffraction is None
                                  else diffraction, 0.0, 1.0)
        bend_radius_nm = draw_bend_radius(rng, bend_radius_nm, 0.5)
        if orientation_spread is None:
            orientation_spread = log_uniform(rng, 0.5, 4.0)
        orientation_spread = check_range("orientation_spread", orientation_spread, 0.05, 10.0)
        ig, dinfo = diffraction_attenuation(maps, rng, bend_radius_nm, orientation_spread)
        img = mass_thickness_transmission(maps, carbon_mfp_nm) * (1.0 - diffraction * ig)
        params.update(carbon_mfp_nm=carbon_mfp_nm, diffraction=diffraction,
                      bend_radius_nm=bend_radius_nm,
                      orientation_spread=orientation_spread, **dinfo)
    return np.clip(img, 0.0, None).astype(np.float32), params

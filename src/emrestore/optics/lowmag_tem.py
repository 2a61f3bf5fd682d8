"""Low-magnification bright-field TEM: mass–thickness, diffraction contrast, edge fringes.

Mass–thickness contrast
    Electrons scattered outside the objective aperture are lost:
    ``T = exp(−Σ_i t_i / Λ_i)``. The contrast mean free path of material i scales with
    its elastic cross-section per volume, ``1/Λ_i ∝ n_i Z_i^(4/3)`` (Lenz), anchored by the
    value Λ_C for amorphous carbon (≈ 100–300 nm for 80–300 kV and usual apertures).
Diffraction contrast
    Each crystal (label in ``grains``) is given one strong reflection with extinction
    distance ξ_g and excitation error s (random orientation) that varies smoothly across
    the crystal when it is bent. In the two-beam approximation with anomalous absorption
    the diffracted fraction is
    ``I_g = [1 − e^(−t/ξ'_g) cos(2π t s_eff)] / (2 (1 + (s ξ_g)²))``,
    ``s_eff = sqrt(s² + ξ_g⁻²)``. Bend contours (dark bands where s ≈ 0) and thickness
    fringes on wedges follow from it. The bright field keeps ``1 − I_g``.
Defocus fringes
    A slight defocus Δf turns the phase ``φ = C_E Σ V_i t_i`` into intensity. For a
    Fresnel zone of sub-pixel to ~1 px width the transport-of-intensity equation
    applies: ``I(Δf) ≈ I₀ − (λ Δf / 2π) ∇·(I₀ ∇φ)``; it is evaluated as
    ``I₀ · exp(−(λΔf/2π) ∇·(I₀∇φ)/I₀)`` (positive, identical to first order), with the
    exponent limited to ±0.7 as partial coherence limits fringe visibility. Amorphous
    materials add a random phase (atomic-scale potential fluctuations) that defocus turns
    into the familiar granular speckle of carbon films at high magnification.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..specimens.morphology.fields import random_field
from ..specimens.morphology.maps import MorphologyMaps, label_values
from ..specimens.morphology.materials import Material
from ..specimens.morphology.parameters import check_range
from .electron import interaction_constant_nm, wavelength_nm

#: Atoms/nm³ × Z^(4/3) of amorphous carbon (the reference of Λ_C).
_CARBON_N = 2.0 * 602.214 / 12.01
_CARBON_SIGMA = _CARBON_N * 6.0 ** (4.0 / 3.0)


def contrast_mean_free_path_nm(material: Material, carbon_mfp_nm: float) -> float:
    """Mass–thickness contrast mean free path Λ of ``material`` [nm], given Λ_C [nm]."""
    return carbon_mfp_nm * _CARBON_SIGMA / (material.atoms_per_nm3 * material.z_eff ** (4 / 3))


def mass_thickness_transmission(maps: MorphologyMaps, carbon_mfp_nm: float) -> np.ndarray:
    """exp(−Σ t_i/Λ_i) [0..1] for all materials of ``maps``."""
    tau = np.zeros(maps.shape, np.float32)
    for m, t in zip(maps.materials, maps.thickness_nm):
        tau += t / contrast_mean_free_path_nm(m, carbon_mfp_nm)
    return np.exp(-tau).astype(np.float32)


def two_beam_diffracted(t_nm: np.ndarray, s_per_nm: np.ndarray, xi_nm: np.ndarray,
                        xi_abs_nm: np.ndarray) -> np.ndarray:
    """Two-beam diffracted fraction with anomalous absorption (see module docstring).

    Parameters
    ----------
    t_nm : numpy.ndarray
        Crystal thickness [nm].
    s_per_nm : numpy.ndarray
        Excitation error s [1/nm].
    xi_nm, xi_abs_nm : numpy.ndarray
        Extinction distance ξ_g and absorption length ξ'_g [nm].
    """
    w2 = (s_per_nm * xi_nm) ** 2
    s_eff = np.sqrt(s_per_nm ** 2 + xi_nm ** -2.0)
    osc = np.exp(-t_nm / xi_abs_nm) * np.cos(2 * np.pi * t_nm * s_eff)
    return ((1.0 - osc) / (2.0 * (1.0 + w2))).astype(np.float32)


def diffraction_attenuation(maps: MorphologyMaps, rng: np.random.Generator,
                            bend_radius_nm: float, orientation_spread: float
                            ) -> tuple[np.ndarray, dict[str, Any]]:
    """Fraction of the beam diffracted by crystals, I_g(x, y) [0..1].

    Parameters
    ----------
    maps : MorphologyMaps
        Uses ``grains`` and the crystalline thickness.
    rng : numpy.random.Generator
        Random source.
    bend_radius_nm : float
        Radius of curvature of bent crystals [nm] (0 or inf: flat). Across a distance x
        the excitation error changes by x / (R d) for lattice planes of spacing d
        (0.15–0.3 nm, drawn), which gives bend contours.
    orientation_spread : float
        Spread of s·ξ_g between crystals (small: many crystals near Bragg, dark).
    """
    n = maps.n_grains
    t_c = maps.crystalline_thickness_nm()
    if n == 0 or not np.any(t_c > 0):
        return np.zeros(maps.shape, np.float32), {"crystals": 0}
    xi = rng.uniform(25.0, 120.0, n + 1).astype(np.float32)
    xi_abs = xi * rng.uniform(1.5, 5.0, n + 1).astype(np.float32)
    w0 = (rng.standard_normal(n + 1) * orientation_spread).astype(np.float32)
    xi_map = label_values(maps.grains, xi)
    s = label_values(maps.grains, w0) / xi_map
    if bend_radius_nm > 0 and np.isfinite(bend_radius_nm):
        size = maps.shape[0]
        d_nm = rng.uniform(0.15, 0.3)
        swing = size * maps.pixel_size_nm / (bend_radius_nm * d_nm)  # Δs across the field
        field = random_field(maps.shape, rng, corr_px=size * rng.uniform(0.3, 1.0))
        gain = rng.uniform(0.5, 1.5, n + 1).astype(np.float32)
        s = s + 0.5 * swing * field * label_values(maps.grains, gain)
    ig = two_beam_diffracted(t_c, s, xi_map, label_values(maps.grains, xi_abs))
    ig = np.where((maps.grains > 0) & (t_c > 0), ig, 0.0).astype(np.float32)
    return ig, {"crystals": n, "extinction_nm_range": [25.0, 120.0]}


def draw_bend_radius(rng: np.random.Generator, value: float | None, p_flat: float) -> float:
    """Draw (``value`` None) or check a crystal bend radius.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random source.
    value : float or None
        Given radius [nm] (0 = flat, else 1e3–1e8), or None to draw one: flat with
        probability ``p_flat``, else log-uniform 5 µm–2 mm.
    p_flat : float
        Probability of flat crystals when drawing.

    Returns
    -------
    float
        Bend radius [nm], 0 for flat.
    """
    if value is None:
        value = 0.0 if rng.random() < p_flat else float(np.exp(rng.uniform(np.log(5e3),
                                                                          np.log(2e6))))
    if value == 0:
        return 0.0
    return check_range("bend_radius_nm", value, 1e3, 1e8, "nm")


def amorphous_phase_speckle(maps: MorphologyMaps, rng: np.random.Generator, rms_rad: float
                            ) -> np.ndarray:
    """Random phase [rad] of amorphous materials (atomic-scale potential fluctuations).

    The fluctuation has a correlation length of ≈ 0.4 nm; its RMS grows as the square root
    of the amorphous thickness (``rms_rad`` for 20 nm) and falls as 0.4 nm / pixel size
    once a pixel averages over many fluctuations.
    """
    t_am = np.zeros(maps.shape, np.float32)
    for m, t in zip(maps.materials, maps.thickness_nm):
        if not m.crystalline:
            t_am += t
    if not np.any(t_am > 0) or rms_rad <= 0:
        return np.zeros(maps.shape, np.float32)
    p = maps.pixel_size_nm
    field = random_field(maps.shape, rng, corr_px=max(0.4 / p, 0.5))
    return (rms_rad * min(1.0, 0.4 / p) * np.sqrt(t_am / 20.0) * field).astype(np.float32)


def tie_defocus(intensity: np.ndarray, phase: np.ndarray, fresnel_px: float,
                focus_sign: float) -> np.ndarray:
    """Intensity at slight defocus by the transport-of-intensity equation.

    Parameters
    ----------
    intensity : numpy.ndarray
        In-focus intensity I₀ (> 0).
    phase : numpy.ndarray
        Exit-wave phase φ [rad].
    fresnel_px : float
        Fresnel-zone width sqrt(λ|Δf|) [px].
    focus_sign : float
        +1 (overfocus: dark fringe inside edges) or −1 (underfocus: bright fringe).
    """
    if fresnel_px <= 0:
        return intensity
    i0 = np.maximum(intensity, 1e-6)
    gy, gx = np.gradient(phase)
    fy, fx = i0 * gy, i0 * gx
    div = np.gradient(fy, axis=0) + np.gradient(fx, axis=1)
    expo = focus_sign * fresnel_px ** 2 / (2 * np.pi) * div / i0
    return (intensity * np.exp(-np.clip(expo, -0.7, 0.7))).astype(np.float32)


def render_lowmag_tem(maps: MorphologyMaps, rng: np.random.Generator, *,
                      beam_kv: float | None = None, carbon_mfp_nm: float | None = None,
                      diffraction: float | None = None, bend_radius_nm: float | None = None,
                      orientation_spread: float | None = None, fresnel_px: float | None = None,
                      focus_sign: float | None = None, speckle_rad: float | None = None
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """Render a low-magnification bright-field TEM image from morphology maps.

    Parameters
    ----------
    maps : MorphologyMaps
        Thin specimen (uses ``thickness_nm``, ``materials``, ``grains``).
    rng : numpy.random.Generator
        Random source for the parameters not given.
    beam_kv : float, optional
        Accelerating voltage [kV], 40–400 (default one of 80, 120, 200, 300).
    carbon_mfp_nm : float, optional
        Contrast mean free path of amorphous carbon Λ_C [nm], 30–1000 (default: 100–300 nm
        scaled with √(kV/200)).
    diffraction : float, optional
        Fraction of the diffracted intensity the aperture removes, 0–1 (default U[0.4, 1]).
    bend_radius_nm : float, optional
        Radius of curvature of the crystals [nm], 0 (flat) or 1e3–1e8 (default: flat with
        p = 0.4, else log-uniform 5 µm–2 mm).
    orientation_spread : float, optional
        Spread of s·ξ_g between crystals, 0.05–10 (default log-uniform 0.5–4).
    fresnel_px : float, optional
        Fresnel width sqrt(λ|Δf|) [px], 0–3 (default 0 with p = 0.2, else U[0.2, 0.9]).
        The defocus it implies is recorded in the parameters.
    focus_sign : {-1, +1}, optional
        Under- (−1) or over-focus (+1) (default: random).
    speckle_rad : float, optional
        RMS random phase of 20 nm of amorphous material at ≤ 0.4 nm/px [rad], 0–1
        (default U[0.05, 0.3]); see :func:`amorphous_phase_speckle`.

    Returns
    -------
    image : numpy.ndarray
        float32 (H, W) intensity, ≥ 0 (vacuum = 1 before normalisation).
    params : dict
        The parameters used.
    """
    beam_kv = check_range("beam_kv", float(rng.choice([80.0, 120.0, 200.0, 300.0]))
                          if beam_kv is None else beam_kv, 40.0, 400.0, "kV")
    if carbon_mfp_nm is None:
        carbon_mfp_nm = rng.uniform(100.0, 300.0) * np.sqrt(beam_kv / 200.0)
    carbon_mfp_nm = check_range("carbon_mfp_nm", carbon_mfp_nm, 30.0, 1000.0, "nm")
    diffraction = check_range("diffraction", rng.uniform(0.4, 1.0) if diffraction is None
                              else diffraction, 0.0, 1.0)
    bend_radius_nm = draw_bend_radius(rng, bend_radius_nm, 0.4)
    if orientation_spread is None:
        orientation_spread = float(np.exp(rng.uniform(np.log(0.5), np.log(4.0))))
    orientation_spread = check_range("orientation_spread", orientation_spread, 0.05, 10.0)
    if fresnel_px is None:
        fresnel_px = 0.0 if rng.random() < 0.2 else rng.uniform(0.2, 0.9)
    fresnel_px = check_range("fresnel_px", fresnel_px, 0.0, 3.0, "px")
    focus_sign = float(rng.choice([-1.0, 1.0])) if focus_sign is None else float(focus_sign)
    speckle_rad = check_range("speckle_rad", rng.uniform(0.05, 0.3) if speckle_rad is None
                              else speckle_rad, 0.0, 1.0, "rad")
    if focus_sign not in (-1.0, 1.0):
        check_range("focus_sign", focus_sign, 1.0, 1.0)
    transmission = mass_thickness_transmission(maps, carbon_mfp_nm)
    ig, dinfo = diffraction_attenuation(maps, rng, bend_radius_nm, orientation_spread)
    intensity = transmission * (1.0 - diffraction * ig)
    lam = wavelength_nm(beam_kv)
    ce = interaction_constant_nm(beam_kv)
    phase = np.zeros(maps.shape, np.float32)
    for m, t in zip(maps.materials, maps.thickness_nm):
        phase += ce * m.inner_potential_v * t
    phase += amorphous_phase_speckle(maps, rng, speckle_rad)
    image = tie_defocus(intensity, phase, fresnel_px, focus_sign)
    defocus_nm = focus_sign * (fresnel_px * maps.pixel_size_nm) ** 2 / lam
    params = {"contrast": "tem_bf", "beam_kv": beam_kv, "carbon_mfp_nm": carbon_mfp_nm,
              "diffraction": diffraction, "bend_radius_nm": bend_radius_nm,
              "orientation_spread": orientation_spread, "fresnel_px": fresnel_px,
              "defocus_nm": float(defocus_nm), "speckle_rad": speckle_rad, **dinfo}
    return np.clip(image, 0.0, None).astype(np.float32), params

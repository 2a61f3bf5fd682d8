"""Scanning-electron-microscope contrast from a height map: secondary and backscattered.

Secondary electrons (SE, Everhart–Thornley or in-lens detector)
---------------------------------------------------------------
The yield of a surface element follows the classic decomposition
``δ = δ_SE1 + δ_SE2`` with

* **tilt (secant) contrast**: ``δ_SE1 ∝ sec(θ)^n`` with θ the local tilt of the surface
  normal from the beam (n ≈ 0.6–1.1);
* **edge brightening**: SEs also escape through side walls and thin protrusions within the
  SE escape region; modelled by the positive *convexity* of the surface at the scale of
  the edge width (height minus its Gaussian-smoothed self, divided by that width);
* **SE2 and material contrast**: SEs made by backscattered electrons,
  ``δ_SE2 = β · η(Z, θ) · δ_SE1(0)`` (β ≈ 1–4), with η the backscatter coefficient;
  SE2 spread over the electron range R (Kanaya–Okayama) brightens particles smaller than R;
* **detector shading**: a side-mounted detector collects more from facets facing it,
  ``1 + a · (n̂ · d̂)``;
* **shadowing**: SEs from pits, pores and trenches are partly recaptured, darkening
  concave regions at a larger scale;
* **channelling**: crystal grains differ slightly in yield with orientation.

Backscattered electrons (BSE)
-----------------------------
``η(Z, θ) = (1 + cos θ)^(−9/√Z)`` (Arnal et al.), which gives η(Z) at normal incidence
(0.06 for C, 0.31 for Cu, 0.5 for Au) and its rise with tilt; stronger channelling,
weak topography and a diffuse edge effect at the scale of R.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from ..specimens.morphology.maps import MorphologyMaps, label_values
from ..specimens.morphology.parameters import check_choice, check_range, log_uniform

DETECTORS = ("se", "bse")

#: Relative secondary-electron yields δ_SE1 (≈ maximum yields δ_max of the pure materials;
#: insulators emit more SEs than metals, carbon least). Materials not listed: 1.2.
SE_YIELD = {
    "amorphous_carbon": 0.9, "graphite": 0.9, "aluminium": 1.0, "silicon": 1.1, "iron": 1.3,
    "nickel": 1.3, "copper": 1.3, "silver": 1.5, "palladium": 1.6, "platinum": 1.8,
    "gold": 1.5, "tungsten": 1.4, "mos2": 1.3, "silica": 2.4, "alumina": 2.8, "titania": 2.0,
    "zirconia": 2.2, "ceria": 2.0, "iron_oxide": 1.6, "polymer": 1.9, "epoxy_resin": 1.8,
    "protein": 1.7, "stained_membrane": 1.8, "lipid": 1.7, "vitreous_ice": 2.0,
}


def surface_slopes(height_nm: np.ndarray, pixel_size_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """Height gradients (∂h/∂y, ∂h/∂x) [dimensionless] by central differences."""
    gy, gx = np.gradient(height_nm.astype(np.float32), pixel_size_nm)
    return gy.astype(np.float32), gx.astype(np.float32)


def cos_tilt(gy: np.ndarray, gx: np.ndarray, max_tilt_deg: float = 75.0) -> np.ndarray:
    """cos θ of the surface normal from the beam axis, with θ capped at ``max_tilt_deg``."""
    c = 1.0 / np.sqrt(1.0 + gy * gy + gx * gx)
    return np.maximum(c, np.cos(np.deg2rad(max_tilt_deg))).astype(np.float32)


def backscatter_coefficient(z: np.ndarray | float, cos_theta: np.ndarray | float = 1.0
                            ) -> np.ndarray:
    """Backscatter coefficient η(Z, θ) = (1 + cos θ)^(−9/√Z) (Arnal, Verdier & Vincensini)."""
    z = np.asarray(z, np.float32)
    return np.power(1.0 + np.asarray(cos_theta, np.float32), -9.0 / np.sqrt(np.maximum(z, 1.0)))


def kanaya_okayama_range_nm(beam_kv: float, z: float, a: float, density_g_cm3: float) -> float:
    """Electron range R = 0.0276 A E^1.67 / (Z^0.889 ρ) µm, returned in [nm]."""
    return 27.6 * a * beam_kv ** 1.67 / (z ** 0.889 * density_g_cm3)


def convexity(height_nm: np.ndarray, sigma_px: float, pixel_size_nm: float) -> np.ndarray:
    """(h − G_σ h) / (σ · pixel size): > 0 on ridges, edges, small bumps; < 0 in pits."""
    s = max(float(sigma_px), 0.5)
    blurred = ndimage.gaussian_filter(height_nm, s, mode="reflect", truncate=3.0)
    return ((height_nm - blurred) / (s * pixel_size_nm)).astype(np.float32)


def render_sem(maps: MorphologyMaps, rng: np.random.Generator, *, detector: str | None = None,
               beam_kv: float | None = None, secant_exponent: float | None = None,
               edge_width_nm: float | None = None, edge_gain: float | None = None,
               se2_ratio: float | None = None, se2_edge_gain: float | None = None,
               detector_azimuth_deg: float | None = None,
               detector_gain: float | None = None, shadow_gain: float | None = None,
               channelling: float | None = None, se_escape_nm: float | None = None
               ) -> tuple[np.ndarray, dict[str, Any]]:
    """Render an SEM image (SE or BSE) from morphology maps.

    Parameters
    ----------
    maps : MorphologyMaps
        Specimen (uses ``height_nm``, ``surface_material``, ``grains``).
    rng : numpy.random.Generator
        Random source for the parameters not given.
    detector : {"se", "bse"}, optional
        Signal (default: BSE with p = 0.3).
    beam_kv : float, optional
        Landing energy [kV], 0.5–30 (default log-uniform 1–20 kV).
    secant_exponent : float, optional
        n in sec(θ)^n, 0.5–1.6 (default U[0.6, 1.1]).
    edge_width_nm : float, optional
        Width of the edge-brightening zone [nm], ≥ 0 (default: SE escape region,
        log-uniform 2–20 nm, at least 0.7 px).
    edge_gain : float, optional
        Strength of edge brightening, 0–5 (default U[0.1, 0.7] SE, U[0, 0.3] BSE).
    se2_ratio : float, optional
        β: SE2 per backscattered electron relative to SE1, 0–6 (default U[1, 4]).
    se2_edge_gain : float, optional
        Brightening of convex features smaller than the electron range by SE2,
        0–3 (default U[0.3, 1.5]).
    detector_azimuth_deg : float, optional
        Direction towards the side detector in the image plane [deg] (default U[0, 360)).
    detector_gain : float, optional
        Strength of directional shading, 0–1 (default U[0, 0.5] SE, U[0, 0.15] BSE).
    shadow_gain : float, optional
        Darkening of concave regions, 0–5 (default U[0.2, 1.5] SE, U[0, 0.3] BSE).
    se_escape_nm : float, optional
        SE escape depth [nm], 0.3–50 (default U[2, 8]): an overlayer thinner than this
        (a flake, a thin film) shows partly the SE yield of the substrate
        (``materials[0]`` of a bulk specimen); backscattering mixes over 0.3 R.
    channelling : float, optional
        Relative grain-to-grain yield spread, 0–0.5 (default U[0.02, 0.25] SE,
        U[0.03, 0.3] BSE).

    Returns
    -------
    image : numpy.ndarray
        float32 (H, W) signal, ≥ 0 (not normalised).
    params : dict
        The parameters used.
    """
    detector = detector or ("bse" if rng.random() < 0.3 else "se")
    check_choice("SEM detector", detector, DETECTORS)
    se = detector == "se"
    p = maps.pixel_size_nm

    def pick(value: float | None, name: str, lo: float, hi: float, default: float) -> float:
        return check_range(name, default if value is None else value, lo, hi)

    beam_kv = pick(beam_kv, "beam_kv", 0.5, 30.0, log_uniform(rng, 1.0, 20.0))
    secant_exponent = pick(secant_exponent, "secant_exponent", 0.5, 1.6, rng.uniform(0.6, 1.1))
    edge_width_nm = pick(edge_width_nm, "edge_width_nm", 0.0, 1e6,
                         max(log_uniform(rng, 2.0, 20.0), 0.7 * p))
    edge_gain = pick(edge_gain, "edge_gain", 0.0, 5.0,
                     rng.uniform(0.1, 0.7) if se else rng.uniform(0.0, 0.3))
    se2_ratio = pick(se2_ratio, "se2_ratio", 0.0, 6.0, rng.uniform(1.0, 4.0))
    detector_azimuth_deg = pick(detector_azimuth_deg, "detector_azimuth_deg", -360.0, 360.0,
                                rng.uniform(0.0, 360.0))
    detector_gain = pick(detector_gain, "detector_gain", 0.0, 1.0,
                         rng.uniform(0.0, 0.5) if se else rng.uniform(0.0, 0.15))
    shadow_gain = pick(shadow_gain, "shadow_gain", 0.0, 5.0,
                       rng.uniform(0.2, 1.5) if se else rng.uniform(0.0, 0.3))
    se2_edge_gain = pick(se2_edge_gain, "se2_edge_gain", 0.0, 3.0, rng.uniform(0.3, 1.5))
    channelling = pick(channelling, "channelling", 0.0, 0.5,
                       rng.uniform(0.02, 0.25) if se else rng.uniform(0.03, 0.3))

    se_escape_nm = pick(se_escape_nm, "se_escape_nm", 0.3, 50.0, rng.uniform(2.0, 8.0))
    h = maps.height_nm.astype(np.float32)
    if not np.all(np.isfinite(h)):
        raise ParameterError("The height map holds NaN or infinite values.",
                             "Generate the morphology again; report this as a bug.")
    mats = maps.materials
    if not mats:
        raise ParameterError("The morphology has no materials.",
                             "Lay a substrate (generate_morphology(..., support=True)).")
    z = np.array([m.z_eff for m in mats] + [6.0], np.float32)  # last entry: empty pixels
    surf = np.where(maps.surface_material >= 0, maps.surface_material, len(mats)).astype(np.int32)
    z_map = z[surf]
    gy, gx = surface_slopes(h, p)
    ct = cos_tilt(gy, gx)
    # electron range in the dominant surface material → scale of SE2 / BSE spreading
    counts = np.bincount(surf.ravel(), minlength=len(mats) + 1)[: len(mats)]
    dom = mats[int(np.argmax(counts))]
    range_nm = kanaya_okayama_range_nm(beam_kv, dom.z_eff, dom.a_eff, dom.density_g_cm3)
    range_px = float(np.clip(0.3 * range_nm / p, 0.7, maps.shape[0] / 4))
    eta = backscatter_coefficient(z_map, ct)
    # thin overlayers (flakes, films) are partly transparent: SE1 escape from the top
    # se_escape_nm, backscattering over ~0.3 R; below lies the substrate (materials[0])
    t_top = np.zeros(maps.shape, np.float32)
    for i, t in enumerate(maps.thickness_nm):
        t_top = np.where(surf == i, t, t_top)
    layered = (t_top > 0) & (surf != 0)
    w_se = np.where(layered, 1.0 - np.exp(-t_top / se_escape_nm), 1.0).astype(np.float32)
    w_bse = np.where(layered, 1.0 - np.exp(-t_top / max(0.3 * range_nm, 1e-3)), 1.0)
    eta = (w_bse * eta + (1.0 - w_bse) * backscatter_coefficient(z[0], ct)).astype(np.float32)
    conv_range = np.tanh(convexity(h, range_px, p))
    # concave regions: height below the surroundings on a larger scale
    shade_px = float(np.clip(max(range_px, 6.0) * 2.0, 4.0, maps.shape[0] / 6))
    concave = np.clip(-convexity(h, shade_px, p), 0.0, None)
    shadow = np.exp(-shadow_gain * np.tanh(concave))
    # directional shading: surface normal n = (−gx, −gy, 1)/|.|, detector along d̂
    az = np.deg2rad(detector_azimuth_deg)
    facing = (-gx * np.cos(az) - gy * np.sin(az)) * ct  # n̂ · d̂ (horizontal part)
    shading = 1.0 + detector_gain * facing
    # channelling: one random factor per crystal label
    ch = 1.0 + channelling * np.clip(rng.standard_normal(maps.n_grains + 1), -2.5, 2.5)
    ch[0] = 1.0
    chan = label_values(maps.grains, ch.astype(np.float32))
    if se:
        # per-material SE1 yield (tabulated, ±15 % for surface state / work function)
        work = np.array([SE_YIELD.get(m.name, 1.2) for m in mats] + [1.0], np.float32)
        work *= rng.uniform(0.85, 1.15, len(mats) + 1).astype(np.float32)
        edge_px = max(edge_width_nm / p, 0.7)
        edge = np.tanh(np.clip(convexity(h, edge_px, p), 0.0, None))
        se1 = ct ** (-secant_exponent) * (1.0 + edge_gain * edge)
        se2 = se2_ratio * eta * (1.0 + se2_edge_gain * conv_range)
        work_map = w_se * work[surf] + (1.0 - w_se) * work[0]
        img = work_map * (se1 + se2) * shading * shadow * chan
    else:
        img = eta * (1.0 + edge_gain * conv_range) * shading * shadow * chan
    img = np.clip(img, 0.0, None).astype(np.float32)
    params = {"contrast": "sem_" + detector, "detector": detector, "beam_kv": beam_kv,
              "secant_exponent": secant_exponent, "edge_width_nm": edge_width_nm,
              "edge_gain": edge_gain, "se2_ratio": se2_ratio, "se2_edge_gain": se2_edge_gain,
              "detector_azimuth_deg": detector_azimuth_deg, "detector_gain": detector_gain,
              "shadow_gain": shadow_gain, "channelling": channelling, "se_escape_nm": se_escape_nm,
              "electron_range_nm": float(range_nm)}
    return img, params

"""Polycrystals: Laguerre–Voronoi grains with boundary grooves and annealing twins.

Seeds with random weights give a power (Laguerre) tessellation, so grain sizes vary as in
real microstructures. The distance of each pixel to its grain boundary is exact for the
nearest pair of seeds: d = (π₂ − π₁) / (2 |s₁ − s₂|), with π the power distances.

Bulk (SEM): a polished/etched surface: thermal grooves of depth D and width w along the
boundaries, per-grain height offsets and slight facet tilts (differential etching).
Thin (TEM/STEM): a foil of thickness T (slight wedge and bending) with thinned boundaries.
Each grain and each twin lamella gets its own crystal label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .canvas import Canvas
from .fields import random_field
from .materials import get_material
from .parameters import check_range, feature_size_nm, given_or_drawn, log_uniform

GRAIN_MATERIALS = ("copper", "nickel", "aluminium", "iron", "alumina", "silicon", "zirconia",
                   "titania", "gold", "tungsten")

#: Physically sensible grain diameters [nm] (nanocrystalline films to cast metals).
GRAIN_RANGE_NM = (5.0, 500000.0)


def voronoi(size: int, seeds: np.ndarray, weights: np.ndarray, k: int = 5,
            warp: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Laguerre–Voronoi labels and distance to the nearest boundary [px].

    Parameters
    ----------
    size : int
        Grid side [px].
    seeds : numpy.ndarray
        (N, 2) seed positions (y, x) [px].
    weights : numpy.ndarray
        (N,) power weights [px²] (0 for an ordinary Voronoi diagram).
    k : int
        Number of nearest seeds searched for the power minimum.
    warp : tuple of numpy.ndarray, optional
        Smooth displacement (dy, dx) [px] applied to the pixel positions, which curves
        the otherwise straight boundaries.

    Returns
    -------
    labels : numpy.ndarray
        int32 (size, size) index of the owning seed.
    dist : numpy.ndarray
        float32 (size, size) distance to the boundary with the runner-up cell [px].
    """
    yy, xx = np.mgrid[0:size, 0:size]
    pts = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    if warp is not None:
        pts[:, 0] += warp[0].ravel()
        pts[:, 1] += warp[1].ravel()
    k = int(min(k, len(seeds)))
    tree = cKDTree(seeds)
    if k == 1:
        _, idx = tree.query(pts, k=1)
        return idx.reshape(size, size).astype(np.int32), np.full((size, size), 1e6, np.float32)
    dd, idx = tree.query(pts, k=k)
    powd = dd * dd - weights[idx]
    order = np.argsort(powd, axis=1)[:, :2]
    rows = np.arange(len(pts))
    i1, i2 = idx[rows, order[:, 0]], idx[rows, order[:, 1]]
    p1, p2 = powd[rows, order[:, 0]], powd[rows, order[:, 1]]
    sep = np.linalg.norm(seeds[i1] - seeds[i2], axis=1)
    dist = (p2 - p1) / (2 * np.maximum(sep, 1e-6))
    return i1.reshape(size, size).astype(np.int32), dist.reshape(size, size).astype(np.float32)


def add_grains(canvas: Canvas, rng: np.random.Generator, *, grain_nm: float | None = None,
               size_spread: float | None = None, groove_depth_nm: float | None = None,
               groove_width_nm: float | None = None, twin_probability: float | None = None,
               foil_nm: float | None = None, material: str | None = None) -> dict[str, Any]:
    """Draw a polycrystalline surface (bulk) or foil (thin).

    Parameters
    ----------
    canvas : Canvas
        Canvas the grain structure is drawn on (replaces its surface).
    rng : numpy.random.Generator
        Random source.
    grain_nm : float, optional
        Mean grain diameter [nm], 5–500000 (default: log-uniform over the visible range).
    size_spread : float, optional
        Spread of the power weights (0: ordinary Voronoi; ≤ 1; default U[0, 0.8]).
    groove_depth_nm : float, optional
        Depth of boundary grooves [nm], 0–5000 (default: 0.5–5 % of the grain size for a
        thermally etched surface, or 0–0.3 % for a polished one, with equal odds).
    groove_width_nm : float, optional
        Half-width of the grooves [nm] (default 1–4 % of the grain size, ≥ 1 px).
    twin_probability : float, optional
        Fraction of grains with annealing-twin lamellae, 0–1 (default U[0, 0.6]; 0 for
        non-metals).
    foil_nm : float, optional
        Foil thickness for thin specimens [nm], 5–500 (default: 0.7–4 × the material's
        mass–thickness contrast length for Λ_C = 150 nm, clipped to 15–250 nm, so the foil
        is electron-transparent as a prepared TEM foil is).
    material : str, optional
        Material (default: drawn).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    grain_nm = feature_size_nm(canvas, rng, "grain_nm", grain_nm, GRAIN_RANGE_NM, 10.0, 0.6)
    size_spread = given_or_drawn("size_spread", size_spread, lambda: rng.uniform(0.0, 0.8),
                                 0.0, 1.0)
    material = material or str(rng.choice(GRAIN_MATERIALS))
    mat = get_material(material)
    metal = material in ("copper", "nickel", "aluminium", "iron", "gold", "tungsten")
    twin_probability = given_or_drawn("twin_probability", twin_probability,
                                      lambda: rng.uniform(0.0, 0.6) if metal else 0.0, 0.0, 1.0)
    p = canvas.pixel_size_nm
    fov = canvas.size
    g_px = grain_nm / p
    margin = 2 * g_px
    area = (fov + 2 * margin) ** 2
    n = int(np.clip(round(area / (np.pi / 4 * g_px ** 2)), 2, 6000))
    seeds = rng.uniform(-margin, fov + margin, (n, 2))
    weights = size_spread * (g_px / 2) ** 2 * rng.uniform(-1, 1, n) ** 2
    curl = rng.uniform(0.0, 0.06) * g_px
    warp = (curl * random_field((fov, fov), rng, corr_px=g_px * 0.7),
            curl * random_field((fov, fov), rng, corr_px=g_px * 0.7))
    labels, dist = voronoi(fov, seeds, weights, warp=warp)
    # twins: one or two straight lamellae across a grain, each a different orientation
    twin_of = np.zeros(fov * fov, np.int32)
    n_twinned = 0
    if twin_probability > 0:
        has_twin = rng.random(n) < twin_probability
        n_twinned = int(has_twin.sum())
        ang = rng.uniform(0, np.pi, n)
        yy, xx = np.mgrid[0:fov, 0:fov]
        lab = labels.ravel()
        # coordinate across the lamellae, relative to the seed [px]
        u = ((xx.ravel() - seeds[lab, 1]) * np.cos(ang[lab])
             + (yy.ravel() - seeds[lab, 0]) * np.sin(ang[lab]))
        in_twin = np.zeros(lab.shape, bool)
        dtwin = np.full(lab.shape, 1e6)
        for k in range(2):
            centre = rng.uniform(-0.4, 0.4, n) * g_px
            half = g_px * rng.uniform(0.03, 0.15, n) * (1.0 if k == 0 else rng.random(n) < 0.5)
            off = np.abs(u - centre[lab])
            inside = has_twin[lab] & (off < half[lab])
            in_twin ^= inside
            dtwin = np.where(has_twin[lab] & (half[lab] > 0),
                             np.minimum(dtwin, np.abs(off - half[lab])), dtwin)
        twin_of[in_twin] = 1
        dtwin = dtwin.reshape(fov, fov).astype(np.float32)
    else:
        dtwin = np.full((fov, fov), 1e6, np.float32)
    twin_map = twin_of.reshape(fov, fov)
    # crystal labels: grain k → 1 + 2k (+1 inside a twin lamella)
    uniq, inv = np.unique(labels * 2 + twin_map, return_inverse=True)
    crystal = (inv.reshape(fov, fov) + 1 + canvas.n_grains).astype(np.int32)
    canvas.n_grains += len(uniq)
    if not mat.crystalline:
        crystal = None
    if groove_width_nm is None:
        groove_width_nm = max(rng.uniform(0.01, 0.04) * grain_nm, 1.0 * p)
    groove_width_nm = check_range("groove_width_nm", groove_width_nm, 0.0, 1e6, "nm")
    wpx = max(groove_width_nm / p, 0.5)
    info: dict[str, Any] = {"grain_nm": grain_nm, "size_spread": size_spread, "count": n,
                            "twin_probability": twin_probability, "twinned": n_twinned,
                            "material": material, "groove_width_nm": groove_width_nm}
    if canvas.bulk:
        if groove_depth_nm is None:  # thermally etched (grooved) or polished (nearly flat)
            groove_depth_nm = (rng.uniform(0.005, 0.05) if rng.random() < 0.5
                               else rng.uniform(0.0, 0.003)) * grain_nm
        groove_depth_nm = check_range("groove_depth_nm", groove_depth_nm, 0.0, 1e5, "nm")  # 5 % of mm grains
        # per-grain level and facet tilt from differential polishing/etching
        level = rng.normal(0, 0.3, n) * groove_depth_nm
        tilt = rng.normal(0, rng.uniform(0.0, 0.04), (n, 2))
        yy, xx = np.mgrid[0:fov, 0:fov].astype(np.float32)
        cy, cx = seeds[labels, 0], seeds[labels, 1]
        plane = level[labels] + ((yy - cy) * tilt[labels, 0] + (xx - cx) * tilt[labels, 1]) * p
        groove = -groove_depth_nm * np.exp(-np.abs(dist) / wpx)
        twin_step = -0.15 * groove_depth_nm * np.exp(-dtwin / max(wpx * 0.5, 0.5))
        h = (canvas.height + plane + groove + twin_step).astype(np.float32)
        canvas.add_patch(material, (slice(0, fov), slice(0, fov)), 0.0, h, None, crystal,
                         replace_below=True)
        info["groove_depth_nm"] = groove_depth_nm
    else:
        if foil_nm is None:
            lam = 150.0 * (2.0 * 602.214 / 12.01 * 6.0 ** (4 / 3)) / (
                mat.atoms_per_nm3 * mat.z_eff ** (4 / 3))
            foil_nm = float(np.clip(lam * log_uniform(rng, 0.7, 4.0), 15.0, 250.0))
        foil_nm = check_range("foil_nm", foil_nm, 5.0, 500.0, "nm")
        yy, xx = np.mgrid[0:fov, 0:fov].astype(np.float32)
        wedge = rng.uniform(-0.3, 0.3) * foil_nm * ((yy + xx) / (2 * fov) - 0.5)
        wobble = 0.05 * foil_nm * random_field((fov, fov), rng, corr_px=g_px * 2)
        thin_frac = rng.uniform(0.0, 0.08) if rng.random() < 0.5 else 0.0
        thinning = thin_frac * foil_nm * np.exp(-np.abs(dist) / wpx)
        t = np.clip(foil_nm + wedge + wobble - thinning, 0.0, None).astype(np.float32)
        canvas.add_patch(material, (slice(0, fov), slice(0, fov)), t, t, None, crystal,
                         replace_below=True)
        info["foil_nm"] = foil_nm
    canvas.record("grains", **info)
    return info

"""Particles: spheres, ellipsoids and facetted polygons, dispersed or aggregated.

Each particle rests on the current surface (SEM) or adds its projected thickness
(TEM/STEM). Sizes are physical [nm]; e.g. a 5 nm particle at 0.5 nm/px spans 10 px.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import Canvas
from .materials import PARTICLE_MATERIALS, get_material
from .parameters import feature_size_nm, given_or_chosen, given_or_drawn, log_uniform
from .shapes import patch

SHAPES = ("sphere", "ellipsoid", "faceted")
ARRANGEMENTS = ("dispersed", "aggregated")

#: Smallest drawn radius [px] (sub-pixel particles keep their volume).
MIN_RADIUS_PX = 0.75

#: Physically sensible particle diameters [nm]: ~1 nm clusters up to ~20 µm powders.
DIAMETER_RANGE_NM = (1.0, 20000.0)


def _sphere(dy: np.ndarray, dx: np.ndarray, r: float, rz: float, rot: float, aspect: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Projected thickness and top height [px units] of an ellipsoid (sphere if aspect=1)."""
    c, s = np.cos(rot), np.sin(rot)
    u = (dx * c + dy * s) / r
    v = (-dx * s + dy * c) / (r * aspect)
    q = np.clip(1.0 - u * u - v * v, 0.0, None)
    root = np.sqrt(q)
    return 2.0 * rz * root, rz * (1.0 + root)


def _faceted(dy: np.ndarray, dx: np.ndarray, r: float, rng: np.random.Generator, n_sides: int,
             facet_angle: float, top: float, irregular: float) -> tuple[np.ndarray, np.ndarray]:
    """Thickness (= height) [px units] of a truncated polygonal pyramid/prism.

    ``r`` is the inradius, ``facet_angle`` the inclination of the side facets [rad]
    (π/2: vertical walls, a prism), ``top`` the height of the flat top facet [px units].
    """
    alpha0 = rng.uniform(0, 2 * np.pi)
    alphas = alpha0 + 2 * np.pi * np.arange(n_sides) / n_sides
    alphas = alphas + rng.normal(0, irregular * 0.3, n_sides)
    rin = r * (1.0 + rng.uniform(-irregular, irregular, n_sides))
    d = None
    for a, ri in zip(alphas, rin):
        di = ri - (dx * np.cos(a) + dy * np.sin(a))
        d = di if d is None else np.minimum(d, di)
    assert d is not None
    d = np.clip(d, 0.0, None)
    if facet_angle >= np.deg2rad(89.0):
        # vertical walls; the first pixel is softened so the outline is not jagged
        t = top * np.clip(d, 0.0, 1.0)
    else:
        t = np.minimum(d * np.tan(facet_angle), top)
    return t, t


def add_particles(canvas: Canvas, rng: np.random.Generator, *, shape: str | None = None,
                  diameter_nm: float | None = None, spread: float | None = None,
                  coverage: float | None = None, arrangement: str | None = None,
                  material: str | None = None, max_count: int = 600) -> dict[str, Any]:
    """Scatter particles over the canvas.

    Parameters
    ----------
    canvas : Canvas
        Canvas the particles are scattered on.
    rng : numpy.random.Generator
        Random source.
    shape : {"sphere", "ellipsoid", "faceted", "mixed"}, optional
        Particle shape (default: drawn).
    diameter_nm : float, optional
        Median diameter [nm], 1–20000 (default: log-uniform over what is visible: at least
        4 px and at most a third of the field of view).
    spread : float, optional
        Log-normal size spread σ (0–1; default U[0.05, 0.45]).
    coverage : float, optional
        Projected area fraction (0.005–1.5; default log-uniform 0.03–0.5).
    arrangement : {"dispersed", "aggregated"}, optional
        Independent positions, or clusters of touching/sintered particles.
    material : str, optional
        Particle material (default: drawn from common nanoparticle materials).
    max_count : int
        Upper bound on the number of particles (speed guard).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    shape = given_or_chosen("particle shape", shape, rng, SHAPES + ("mixed",),
                            p=[0.35, 0.2, 0.3, 0.15])
    diameter_nm = feature_size_nm(canvas, rng, "diameter_nm", diameter_nm, DIAMETER_RANGE_NM,
                                  4.0, 0.3)
    spread = given_or_drawn("spread", spread, lambda: rng.uniform(0.05, 0.45), 0.0, 1.0)
    coverage = given_or_drawn("coverage", coverage, lambda: log_uniform(rng, 0.03, 0.5),
                              0.005, 1.5)
    arrangement = given_or_chosen("arrangement", arrangement, rng, ARRANGEMENTS, p=[0.55, 0.45])
    material = material or str(rng.choice(PARTICLE_MATERIALS))
    mat = get_material(material)

    p = canvas.pixel_size_nm
    r_med = diameter_nm / 2.0 / p  # [px]
    fov = canvas.size
    area = (fov + 2 * r_med) ** 2
    n = int(np.clip(round(coverage * area / (np.pi * r_med ** 2 * np.exp(2 * spread ** 2))), 1,
                    max_count))
    radii = np.clip(r_med * np.exp(rng.normal(0, spread, n)), 0.5, fov * 0.45)

    centres = np.empty((n, 2))
    base = np.zeros(n)
    if arrangement == "dispersed":
        centres[:] = rng.uniform(-r_med, fov + r_med, (n, 2))
    else:
        n_clusters = max(1, int(round(n / rng.uniform(4, 40))))
        for i in range(n):
            if i < n_clusters:
                centres[i] = rng.uniform(0, fov, 2)
                continue
            j = int(rng.integers(0, i))
            ang = rng.uniform(0, 2 * np.pi)
            dist = (radii[i] + radii[j]) * rng.uniform(0.75, 1.0)
            centres[i] = centres[j] + dist * np.array([np.sin(ang), np.cos(ang)])
            if canvas.bulk:  # piles: later particles partly rest on earlier ones
                base[i] = base[j] + rng.uniform(0.0, 0.7) * radii[j] * p
    # draw lower particles first so those on top win the surface
    order = np.argsort(base, kind="stable")
    shapes_used: dict[str, int] = {}
    for i in order:
        cy, cx = centres[i]
        r = max(radii[i], MIN_RADIUS_PX)
        # particles smaller than a pixel are drawn 0.75 px in radius with the same volume
        mass_scale = (radii[i] / r) ** 3
        pat = patch(cy, cx, r * 1.05, fov)
        if pat is None:
            continue
        where, dy, dx = pat
        kind = shape if shape != "mixed" else str(rng.choice(SHAPES))
        shapes_used[kind] = shapes_used.get(kind, 0) + 1
        if kind == "sphere":
            t, h = _sphere(dy, dx, r, r, 0.0, 1.0)
        elif kind == "ellipsoid":
            aspect = rng.uniform(0.45, 0.9)
            rz = r * rng.uniform(0.5, 1.0) * aspect ** 0.5
            t, h = _sphere(dy, dx, r, rz, rng.uniform(0, np.pi), aspect)
        else:
            n_sides = int(rng.choice([3, 4, 5, 6, 6, 8]))
            facet = np.deg2rad(rng.choice([rng.uniform(30, 60), 90.0]))
            top = r * rng.uniform(0.4, 1.4)
            t, h = _faceted(dy, dx, r, rng, n_sides, facet, top, rng.uniform(0.0, 0.15))
        mask = t > 0
        if not mask.any():
            continue
        grain = canvas.new_grain() if mat.crystalline else None
        canvas.add_patch(material, where, t * p * mass_scale, (h * p * mass_scale ** (1 / 3)
                                                                + base[i]), mask, grain)
    info = {"shape": shape, "diameter_nm": diameter_nm, "spread": spread, "coverage": coverage,
            "arrangement": arrangement, "material": material, "count": n,
            "shapes": shapes_used}
    canvas.record("particles", **info)
    return info

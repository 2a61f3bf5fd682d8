"""Fracture surfaces (bulk): fractal roughness with ductile dimples or brittle facets.

* ``"fractal"``: a self-affine surface with Hurst exponent H (power spectrum ∝ k^-(2H+2)).
* ``"dimples"``: ductile fracture: cup-shaped dimples (one per Voronoi cell around a void
  nucleus) separated by sharp tear ridges, on a fractal background.
* ``"cleavage"``: brittle/intergranular fracture: flat facets with random tilts (one per
  grain), with river-like steps, on a fractal background.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import Canvas
from .fields import random_field, smooth
from .grains import voronoi
from .parameters import feature_size_nm, given_or_chosen, given_or_drawn, log_uniform

STYLES = ("fractal", "dimples", "cleavage")
FRACTURE_MATERIALS = ("iron", "aluminium", "copper", "nickel", "alumina", "silicon",
                      "zirconia", "polymer", "epoxy_resin")

#: Physically sensible feature (dimple/facet) sizes [nm].
FEATURE_RANGE_NM = (20.0, 500000.0)


def add_fracture(canvas: Canvas, rng: np.random.Generator, *, style: str | None = None,
                 feature_nm: float | None = None, hurst: float | None = None,
                 roughness: float | None = None, material: str | None = None) -> dict[str, Any]:
    """Draw a fracture surface.

    Parameters
    ----------
    canvas : Canvas
        Target canvas (bulk or thin: on a thin canvas the relief becomes thickness).
    rng : numpy.random.Generator
        Random source.
    style : {"fractal", "dimples", "cleavage"}, optional
        Fracture type (default: drawn).
    feature_nm : float, optional
        Dimple/facet diameter [nm], 20–500000 (default: log-uniform over the visible range).
    hurst : float, optional
        Hurst exponent of the fractal roughness, 0.3–0.95 (default U[0.6, 0.9]).
    roughness : float, optional
        RMS height of the fractal part relative to the field of view, 0–0.5
        (default log-uniform 0.005–0.04).
    material : str, optional
        Material (default: drawn).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    style = given_or_chosen("fracture style", style, rng, STYLES, p=[0.25, 0.4, 0.35])
    feature_nm = feature_size_nm(canvas, rng, "feature_nm", feature_nm, FEATURE_RANGE_NM,
                                 10.0, 0.4)
    hurst = given_or_drawn("hurst", hurst, lambda: rng.uniform(0.6, 0.9), 0.3, 0.95)
    roughness = given_or_drawn("roughness", roughness, lambda: log_uniform(rng, 0.005, 0.04),
                               0.0, 0.5)
    material = material or str(rng.choice(FRACTURE_MATERIALS))
    p = canvas.pixel_size_nm
    fov = canvas.size
    fov_nm = fov * p
    h = roughness * fov_nm * random_field((fov, fov), rng, corr_px=fov, hurst=hurst)
    f_px = feature_nm / p
    if style != "fractal":
        margin = 2 * f_px
        n = int(np.clip(round((fov + 2 * margin) ** 2 / (np.pi / 4 * f_px ** 2)), 2, 5000))
        seeds = rng.uniform(-margin, fov + margin, (n, 2))
        weights = rng.uniform(0, 0.3) * (f_px / 2) ** 2 * rng.uniform(-1, 1, n) ** 2
        labels, dist = voronoi(fov, seeds, weights)
        yy, xx = np.mgrid[0:fov, 0:fov].astype(np.float32)
        dy, dx = yy - seeds[labels, 0], xx - seeds[labels, 1]
        if style == "dimples":
            rc = np.hypot(dy, dx)
            s = rc / np.maximum(rc + np.clip(dist, 0, None), 1e-6)  # 0 at nucleus, 1 at ridge
            depth = feature_nm * rng.uniform(0.2, 0.6) * np.exp(rng.normal(0, 0.3, n))
            h = h + depth[labels] * (s ** 2 - 1.0)
        else:
            tilt = rng.normal(0, rng.uniform(0.15, 0.5), (n, 2))
            level = rng.normal(0, 0.2, n) * feature_nm
            facet = level[labels] + (dy * tilt[labels, 0] + dx * tilt[labels, 1]) * p
            # river pattern: fine steps along a per-facet direction
            ang = rng.uniform(0, np.pi, n)
            per = f_px * rng.uniform(0.05, 0.2, n)
            u = (dx * np.cos(ang[labels]) + dy * np.sin(ang[labels])) / per[labels]
            steps = np.floor(u + 0.2 * random_field((fov, fov), rng, corr_px=f_px / 2))
            h = h + facet + steps * per[labels] * p * rng.uniform(0.02, 0.08)
    # the surface is smooth below a few nm and is seen through a finite probe: roll off
    h = smooth(h - np.median(h), max(rng.uniform(0.7, 1.8), 3.0 / p)).astype(np.float32)
    full = (slice(0, fov), slice(0, fov))
    if canvas.bulk:
        canvas.add_patch(material, full, 0.0, canvas.height + h, None, None, replace_below=True)
    else:
        t = np.clip(h - h.min() + 5.0, 0.0, None).astype(np.float32)
        canvas.add_patch(material, full, t, t, None, None, replace_below=True)
    info = {"style": style, "feature_nm": feature_nm, "hurst": hurst, "roughness": roughness,
            "material": material}
    canvas.record("fracture", **info)
    return info

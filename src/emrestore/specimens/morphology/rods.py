"""Rods and wires: capsules (straight, finite) and long gently curved cylinders.

A cylinder of radius r lying on the surface at distance d from its axis has projected
thickness 2·sqrt(r² − d²) and top height r + sqrt(r² − d²) above its base.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import Canvas
from .materials import get_material
from .parameters import (
    check_range,
    feature_size_nm,
    given_or_chosen,
    given_or_drawn,
    log_uniform,
)
from .shapes import segment_distance, wavy_path

STYLES = ("rods", "wires")
ROD_MATERIALS = ("gold", "silver", "silicon", "titania", "iron_oxide", "copper", "alumina",
                 "zirconia", "protein", "graphite")

#: Smallest drawn radius [px]; thinner tubes keep their projected mass (see draw_tube).
MIN_RADIUS_PX = 0.75

#: Physically sensible rod/wire diameters [nm].
DIAMETER_RANGE_NM = (2.0, 5000.0)


def draw_tube(canvas: Canvas, material: str, vertices: np.ndarray, radius_px: float,
              base_nm: float, crystalline_label: int | None, hollow: float = 0.0) -> bool:
    """Draw one cylinder with hemispherical caps along a polyline.

    Parameters
    ----------
    canvas : Canvas
        Canvas the tube is drawn on.
    material : str
        Material name.
    vertices : numpy.ndarray
        (K+1, 2) polyline vertices (y, x) [px].
    radius_px : float
        Tube radius [px].
    base_nm : float
        Height of the tube's bottom above the substrate plane [nm].
    crystalline_label : int or None
        Crystal label of the tube.
    hollow : float
        Inner/outer radius ratio (0: solid; e.g. 0.5 for a nanotube).

    Returns
    -------
    bool
        Whether any pixel was drawn.
    """
    p = canvas.pixel_size_nm
    # tubes thinner than a pixel: draw them 0.75 px wide with the same projected mass
    # (cross-section π r²), otherwise pixel-centre sampling leaves a dotted line
    mass_scale = 1.0
    if radius_px < MIN_RADIUS_PX:
        mass_scale = (radius_px / MIN_RADIUS_PX) ** 2
        radius_px = MIN_RADIUS_PX
    lo = vertices.min(axis=0) - radius_px - 2
    hi = vertices.max(axis=0) + radius_px + 2
    y0, x0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    y1, x1 = min(int(np.ceil(hi[0])), canvas.size), min(int(np.ceil(hi[1])), canvas.size)
    if y1 <= y0 or x1 <= x0:
        return False
    d2 = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    for a, b in zip(vertices[:-1], vertices[1:]):
        sy0 = max(int(min(a[0], b[0]) - radius_px - 2), y0)
        sy1 = min(int(np.ceil(max(a[0], b[0]) + radius_px + 2)), y1)
        sx0 = max(int(min(a[1], b[1]) - radius_px - 2), x0)
        sx1 = min(int(np.ceil(max(a[1], b[1]) + radius_px + 2)), x1)
        if sy1 <= sy0 or sx1 <= sx0:
            continue
        yy = np.arange(sy0, sy1, dtype=np.float32)[:, None]
        xx = np.arange(sx0, sx1, dtype=np.float32)[None, :]
        ds, _ = segment_distance(yy, xx, a[None], b[None])
        view = d2[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        np.minimum(view, ds * ds, out=view)
    d = np.sqrt(d2)
    q = np.clip(radius_px ** 2 - d * d, 0.0, None)
    root = np.sqrt(q)
    mask = q > 0
    if not mask.any():
        return False
    t = 2.0 * root
    if hollow > 0:
        ri = hollow * radius_px
        t = t - 2.0 * np.sqrt(np.clip(ri * ri - d * d, 0.0, None))
    h = radius_px + root
    canvas.add_patch(material, (slice(y0, y1), slice(x0, x1)), t * p * mass_scale,
                     h * p + base_nm, mask,
                     crystalline_label)
    return True


def add_rods(canvas: Canvas, rng: np.random.Generator, *, style: str | None = None,
             diameter_nm: float | None = None, aspect_ratio: float | None = None,
             count: int | None = None, material: str | None = None, alignment: float | None = None,
             hollow: float | None = None) -> dict[str, Any]:
    """Scatter rods (finite capsules) or wires (long curved cylinders).

    Parameters
    ----------
    canvas : Canvas
        Canvas the rods or wires are scattered on.
    rng : numpy.random.Generator
        Random source.
    style : {"rods", "wires"}, optional
        Finite straight rods, or wires longer than the field of view.
    diameter_nm : float, optional
        Median diameter [nm], 2–5000 (default: log-uniform over the visible range).
    aspect_ratio : float, optional
        Length/diameter of rods, 1.5–50 (default log-uniform 2–15). Ignored for wires.
    count : int, optional
        Number of objects, 1–2000 (default from a random coverage).
    material : str, optional
        Material (default: drawn).
    alignment : float, optional
        0 (isotropic) to 1 (all parallel) (default U[0, 1]²).
    hollow : float, optional
        Inner/outer radius ratio (0: solid; default 0, or 0.4–0.7 for 15 % of wires).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    style = given_or_chosen("rod style", style, rng, STYLES)
    diameter_nm = feature_size_nm(canvas, rng, "diameter_nm", diameter_nm, DIAMETER_RANGE_NM,
                                  3.0, 0.12 if style == "rods" else 0.15)
    aspect_ratio = given_or_drawn("aspect_ratio", aspect_ratio,
                                  lambda: log_uniform(rng, 2.0, 15.0), 1.5, 50.0)
    alignment = given_or_drawn("alignment", alignment, lambda: rng.uniform(0, 1) ** 2, 0.0, 1.0)
    hollow = given_or_drawn(
        "hollow", hollow,
        lambda: rng.uniform(0.4, 0.7) if (style == "wires" and rng.random() < 0.15) else 0.0,
        0.0, 0.9)
    material = material or str(rng.choice(ROD_MATERIALS))
    mat = get_material(material)
    p = canvas.pixel_size_nm
    fov = canvas.size
    r_px = diameter_nm / 2 / p
    if style == "rods":
        length_px = np.clip(2 * r_px * aspect_ratio, 2 * r_px, 2 * fov)
        if count is None:
            coverage = log_uniform(rng, 0.03, 0.35)
            count = int(np.clip(coverage * fov * fov / (2 * r_px * length_px), 1, 800))
    else:
        length_px = 2.5 * fov
        if count is None:
            coverage = log_uniform(rng, 0.03, 0.4)
            count = int(np.clip(coverage * fov / (2 * r_px), 1, 60))
    count = int(check_range("count", count, 1, 2000))
    main_dir = rng.uniform(0, np.pi)
    drawn = 0
    for k in range(count):
        ang = main_dir + (1 - alignment) * rng.uniform(-np.pi / 2, np.pi / 2)
        r = r_px * np.exp(rng.normal(0, 0.12))
        if style == "rods":
            ln = length_px * np.exp(rng.normal(0, 0.25))
            c = rng.uniform(0, fov, 2)
            d = np.array([np.sin(ang), np.cos(ang)])
            verts = wavy_path(rng, c - d * ln / 2, ang, ln, 0.02, n_seg=1)
        else:
            c = rng.uniform(0, fov, 2)
            d = np.array([np.sin(ang), np.cos(ang)])
            verts = wavy_path(rng, c - d * length_px / 2, ang, length_px,
                              rng.uniform(0.0, 0.12), n_seg=10)
        base = k * diameter_nm * 0.35 if canvas.bulk else 0.0
        label = canvas.new_grain() if mat.crystalline else None
        drawn += draw_tube(canvas, material, verts, r, base, label, hollow)
    info = {"style": style, "diameter_nm": diameter_nm,
            "length_nm": float(length_px * p) if style == "rods" else None,
            "aspect_ratio": aspect_ratio if style == "rods" else None, "count": count,
            "drawn": drawn, "alignment": alignment, "hollow": hollow, "material": material}
    canvas.record("rods", **info)
    return info

"""Thin sheets (flakes) with folds and wrinkles: graphene/GO, MoS2, clays, films.

A flake is an irregular polygon of uniform thickness. A fold reflects the part of the
flake beyond a random line back onto the flake, doubling the thickness where the two
layers overlap; wrinkles are narrow ridges. Later flakes drape over earlier ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from .canvas import Canvas
from .fields import random_field, smooth
from .materials import get_material
from .parameters import feature_range_nm, given_or_drawn, log_uniform
from .shapes import radial_harmonics, radius_at

SHEET_MATERIALS = ("graphite", "graphite", "mos2", "amorphous_carbon", "silica", "alumina")

#: Physically sensible lateral flake sizes [nm].
LATERAL_RANGE_NM = (20.0, 50000.0)


def _flake_mask(size: int, cy: float, cx: float, radius: float, rng: np.random.Generator
                ) -> np.ndarray:
    """Boolean mask of an irregular, partly straight-edged flake."""
    yy = np.arange(size, dtype=np.float32)[:, None] - cy
    xx = np.arange(size, dtype=np.float32)[None, :] - cx
    theta = np.arctan2(yy, xx)
    amps, phases = radial_harmonics(rng, 0.35, 7)
    rr = radius * radius_at(theta, amps, phases)
    mask = np.hypot(yy, xx) < rr
    # cleaved straight edges: cut by a few random half-planes
    for _ in range(int(rng.integers(1, 5))):
        a = rng.uniform(0, 2 * np.pi)
        off = radius * rng.uniform(0.4, 1.0)
        mask &= (xx * np.cos(a) + yy * np.sin(a)) < off
    return mask


def add_sheets(canvas: Canvas, rng: np.random.Generator, *, lateral_nm: float | None = None,
               thickness_nm: float | None = None, count: int | None = None,
               folds: int | None = None, wrinkles: int | None = None,
               material: str | None = None) -> dict[str, Any]:
    """Lay flakes with folds and wrinkles.

    Parameters
    ----------
    canvas : Canvas
        Canvas the flakes are laid on.
    rng : numpy.random.Generator
        Random source.
    lateral_nm : float, optional
        Median flake diameter [nm], 20–50000 (default: log-uniform, 0.3–1.5 × field).
    thickness_nm : float, optional
        Layer thickness [nm], 0.3–100 (default: log-uniform 0.7–20 nm).
    count : int, optional
        Number of flakes, 1–30 (default 1–4).
    folds : int, optional
        Folds per flake, 0–3 (default 0–2).
    wrinkles : int, optional
        Wrinkles per flake, 0–20 (default 0–6).
    material : str, optional
        Sheet material (default: drawn).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    p = canvas.pixel_size_nm
    fov = canvas.size

    def draw_lateral_nm() -> float:  # at least 0.3 × the field where that is visible
        lo, hi = feature_range_nm(canvas, *LATERAL_RANGE_NM, min_px=24.0, max_fraction=1.5)
        return log_uniform(rng, max(lo, 0.3 * fov * p) if 0.3 * fov * p <= hi else lo, hi)

    lateral_nm = given_or_drawn("lateral_nm", lateral_nm, draw_lateral_nm, *LATERAL_RANGE_NM,
                                "nm")
    thickness_nm = given_or_drawn("thickness_nm", thickness_nm, lambda: log_uniform(rng, 0.7, 20.0),
                                  0.3, 100.0, "nm")
    count = int(given_or_drawn("count", count, lambda: int(rng.integers(1, 5)), 1, 30))
    material = material or str(rng.choice(SHEET_MATERIALS))
    mat = get_material(material)
    yy, xx = np.mgrid[0:fov, 0:fov].astype(np.float32)
    n_folds_total = 0
    for _ in range(count):
        radius = lateral_nm / 2 / p * np.exp(rng.normal(0, 0.3))
        cy, cx = rng.uniform(0.0, fov, 2)
        mask = _flake_mask(fov, cy, cx, radius, rng)
        layers = mask.astype(np.float32)
        nf = int(given_or_drawn("folds", folds, lambda: int(rng.integers(0, 3)), 0, 3))
        fold_lines = []
        for _f in range(nf):
            a = rng.uniform(0, 2 * np.pi)
            off = radius * rng.uniform(0.1, 0.5)
            s = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a) - off  # >0: part that folds over
            # mirror coordinates of each pixel across the fold line
            my = yy - 2 * s * np.sin(a)
            mx = xx - 2 * s * np.cos(a)
            beyond = ndimage.map_coordinates((layers * (s > 0)).astype(np.float32), [my, mx],
                                             order=0, mode="constant", cval=0.0)
            layers = np.where(s > 0, 0.0, layers + beyond * (s <= 0)).astype(np.float32)
            fold_lines.append(float(np.rad2deg(a)))
            n_folds_total += 1
        if not (layers > 0).any():
            continue
        t = layers * thickness_nm
        nw = int(given_or_drawn("wrinkles", wrinkles, lambda: int(rng.integers(0, 7)), 0, 20))
        if nw:
            ridge = np.zeros_like(t)
            w_px = max(rng.uniform(3, 15) * thickness_nm / p, 1.0)
            wob = random_field((fov, fov), rng, corr_px=max(radius, 4.0)) * w_px * 2
            for _w in range(nw):
                a = rng.uniform(0, np.pi)
                off = rng.uniform(-radius, radius)
                s = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a) - off + wob * np.cos(a - 1.0)
                amp = rng.uniform(1.0, 4.0) * max(thickness_nm, 2.0)
                ridge += amp * np.exp(-(s / w_px) ** 2)
            ridge *= layers > 0
        else:
            ridge = 0.0
        # drape over what is already there (smoothly), projected thickness adds
        under = smooth(canvas.height, max(3.0 * thickness_nm / p, 1.5))
        h = under + t + ridge
        # a wrinkle adds extra projected material along its slant
        t_proj = t + (0.3 * ridge * (layers > 0) if nw else 0.0)
        label = canvas.new_grain() if mat.crystalline else None
        canvas.add_patch(material, (slice(0, fov), slice(0, fov)), t_proj, h, layers > 0, label,
                         replace_below=True)
        if fold_lines:
            canvas.params.setdefault("fold_angles_deg", []).extend(fold_lines)
    info = {"lateral_nm": lateral_nm, "thickness_nm": thickness_nm, "count": count,
            "folds": n_folds_total, "material": material}
    canvas.record("sheets", **info)
    return info

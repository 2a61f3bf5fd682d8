"""Holey support films: regular (Quantifoil-like), random holey, and lacey carbon.

The film (amorphous carbon by default) has thickness t with slightly thickened hole rims;
holes are vacuum. On bulk canvases the film lies on the substrate (holes show it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from .canvas import Canvas
from .fields import random_field, smooth
from .parameters import feature_size_nm, given_or_chosen, given_or_drawn, log_uniform
from .shapes import radial_harmonics, radius_at

STYLES = ("regular", "random", "lacey")

#: Physically sensible hole diameters [nm].
HOLE_RANGE_NM = (30.0, 5000.0)


def add_holey_film(canvas: Canvas, rng: np.random.Generator, *, style: str | None = None,
                   hole_nm: float | None = None, thickness_nm: float | None = None,
                   open_fraction: float | None = None, material: str = "amorphous_carbon"
                   ) -> dict[str, Any]:
    """Lay a holey film.

    Parameters
    ----------
    canvas : Canvas
        Canvas the film is laid on.
    rng : numpy.random.Generator
        Random source.
    style : {"regular", "random", "lacey"}, optional
        Hole pattern (default: drawn).
    hole_nm : float, optional
        Median hole diameter [nm], 30–5000 (default: log-uniform over the visible range).
    thickness_nm : float, optional
        Film thickness [nm], 3–100 (default: log-uniform 8–40 nm).
    open_fraction : float, optional
        Fraction of the area that is hole, 0.05–0.8 (default U[0.6, 0.8] for lacey,
        U[0.15, 0.5] otherwise).
    material : str
        Film material.

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    style = given_or_chosen("holey-film style", style, rng, STYLES, p=[0.3, 0.35, 0.35])
    lacey = style == "lacey"
    # lacey openings are irregular: larger; lacey carbon is mostly open (thin strands)
    hole_nm = feature_size_nm(canvas, rng, "hole_nm", hole_nm, HOLE_RANGE_NM,
                              30.0 if lacey else 12.0, 0.6)
    thickness_nm = given_or_drawn("thickness_nm", thickness_nm, lambda: log_uniform(rng, 8.0, 40.0),
                                  3.0, 100.0, "nm")
    open_fraction = given_or_drawn(
        "open_fraction", open_fraction,
        lambda: rng.uniform(0.6, 0.8) if lacey else rng.uniform(0.15, 0.5), 0.05, 0.8)
    p = canvas.pixel_size_nm
    fov = canvas.size
    r = hole_nm / 2 / p
    yy, xx = np.mgrid[0:fov, 0:fov].astype(np.float32)
    if style == "regular":
        pitch = r * 2 * np.sqrt(np.pi / 4 / open_fraction)
        ang = rng.uniform(0, np.pi / 2)
        oy, ox = rng.uniform(0, pitch, 2)
        u = xx * np.cos(ang) + yy * np.sin(ang) + ox
        v = -xx * np.sin(ang) + yy * np.cos(ang) + oy
        du = (u % pitch) - pitch / 2
        dv = (v % pitch) - pitch / 2
        wobble = 1 + 0.04 * random_field((fov, fov), rng, corr_px=pitch)
        dist = np.hypot(du, dv) - r * wobble  # >0: film
    elif style == "random":
        n = int(np.clip(round(-np.log(1 - open_fraction) * (fov + 2 * r) ** 2 / (np.pi * r * r)),
                        1, 400))
        dist = np.full((fov, fov), np.inf, np.float32)
        placed: list[tuple[float, float, float]] = []
        for _ in range(4 * n):
            if len(placed) >= n:
                break
            rr = r * np.exp(rng.normal(0, 0.35))
            cy, cx = rng.uniform(-rr, fov + rr, 2)
            # holes in cast films rarely merge: keep a strand between neighbours
            if any((cy - py) ** 2 + (cx - px) ** 2 < (0.9 * (rr + pr)) ** 2
                   for py, px, pr in placed):
                continue
            placed.append((cy, cx, rr))
            y0, y1 = int(max(cy - rr * 1.4 - 2, 0)), int(min(cy + rr * 1.4 + 3, fov))
            x0, x1 = int(max(cx - rr * 1.4 - 2, 0)), int(min(cx + rr * 1.4 + 3, fov))
            if y1 <= y0 or x1 <= x0:
                continue
            dy = yy[y0:y1, x0:x1] - cy
            dx = xx[y0:y1, x0:x1] - cx
            amps, phases = radial_harmonics(rng, 0.15, 5)
            d = np.hypot(dy, dx) - rr * radius_at(np.arctan2(dy, dx), amps, phases)
            view = dist[y0:y1, x0:x1]
            np.minimum(view, d, out=view)
        # outside every hole: distance to the nearest hole edge from the film side
        film = dist > 0
        dist = np.where(film, ndimage.distance_transform_edt(film), dist).astype(np.float32)
    else:  # lacey: strands along the zero set of a random field (a net of closed loops)
        g = random_field((fov, fov), rng, corr_px=max(r * 0.8, 2.0))
        pos = g > 0
        crossing = (pos ^ np.roll(pos, 1, 0)) | (pos ^ np.roll(pos, 1, 1))
        crossing[0, :] = pos[0, :] ^ pos[1, :]
        crossing[:, 0] = pos[:, 0] ^ pos[:, 1]
        d0 = ndimage.distance_transform_edt(~crossing)
        # strand half-width varies along the net; knots where strands are thicker
        half = max(r * rng.uniform(0.04, 0.12), 0.8) * np.exp(
            0.35 * random_field((fov, fov), rng, corr_px=max(r, 2.0)))
        film = d0 < half
        # close the smallest openings: real lacey nets have few tiny holes
        lab, n_open = ndimage.label(~film)
        if n_open:
            sizes = np.bincount(lab.ravel())
            small = sizes < (0.15 * r) ** 2 * np.pi
            small[0] = False
            film |= small[lab]
        dist = np.where(film, ndimage.distance_transform_edt(film),
                        -ndimage.distance_transform_edt(~film)).astype(np.float32)
    film = dist > 0
    # anti-aliased edge and a thickened rim (carbon gathers at hole edges)
    edge = np.clip(dist + 0.5, 0.0, 1.0)
    # rims are thickened over a few tens of nm (capped relative to small holes)
    rim_w = max(min(rng.uniform(0.02, 0.08) * r, rng.uniform(10.0, 60.0) / p), 0.7)
    rim = rng.uniform(0.1, 0.5) * np.exp(-np.clip(dist, 0, None) / rim_w)
    # thickness fluctuations of the film (≈ 2 nm correlation), averaged over a pixel
    rough = 0.05 * min(1.0, 2.0 / p) * random_field((fov, fov), rng, corr_px=max(2.0 / p, 0.8))
    t = thickness_nm * edge * (1.0 + rim + rough)
    t = smooth(t, 0.4).astype(np.float32)
    base = canvas.height.copy()
    canvas.add_patch(material, (slice(0, fov), slice(0, fov)), t, base + t, edge > 0,
                     replace_below=True)
    info = {"style": style, "hole_nm": hole_nm, "thickness_nm": thickness_nm,
            "open_fraction": float(1 - film.mean()), "material": material}
    canvas.record("holey_film", **info)
    return info

"""Pores: spherical voids cut by the surface, and sponge-like (bicontinuous) porous films.

Bulk (SEM): a spherical pore of radius R whose centre lies z_c below the surface opens a
pit of radius sqrt(R² − z_c²) whose floor is z_c + sqrt(R² − ρ²) deep.
Thin (TEM/STEM): voids inside a film remove their chord length 2·sqrt(R² − ρ²).

Porous films ("sponge", e.g. dealloyed nanoporous metals): worm-like ligaments where a
band-limited Gaussian random field is close to zero (|f| below a level set by the
porosity), with rounded cross-sections; stacked layers make the depth visible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from .canvas import Canvas
from .fields import random_field
from .parameters import feature_size_nm, given_or_chosen, given_or_drawn
from .shapes import patch

STYLES = ("voids", "sponge")
MATRIX_MATERIALS = ("alumina", "silica", "titania", "zirconia", "silicon", "aluminium",
                    "polymer", "amorphous_carbon")
SPONGE_MATERIALS = ("gold", "silver", "platinum", "silicon", "titania", "amorphous_carbon",
                    "silica", "nickel")

#: Physically sensible pore diameters and ligament widths [nm].
PORE_RANGE_NM = (2.0, 200000.0)


def add_pores(canvas: Canvas, rng: np.random.Generator, *, style: str | None = None,
              pore_nm: float | None = None, porosity: float | None = None,
              film_nm: float | None = None, material: str | None = None) -> dict[str, Any]:
    """Draw a porous material.

    Parameters
    ----------
    canvas : Canvas
        Canvas the porous material is drawn on (replaces its surface).
    rng : numpy.random.Generator
        Random source.
    style : {"voids", "sponge"}, optional
        Isolated spherical pores in a dense matrix, or a bicontinuous sponge.
    pore_nm : float, optional
        Median pore diameter (voids) or pore/ligament size (sponge) [nm], 2–200000
        (default: log-uniform over the visible range).
    porosity : float, optional
        Void fraction, 0.002–0.8 (default: 0.02–0.3 for voids, 0.3–0.7 for sponge).
    film_nm : float, optional
        Film thickness for thin specimens [nm], 5–500 (default: 1–3 pore sizes,
        clipped to 10–150 nm).
    material : str, optional
        Matrix/ligament material (default: drawn).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    style = given_or_chosen("pore style", style, rng, STYLES)
    voids = style == "voids"
    pore_nm = feature_size_nm(canvas, rng, "pore_nm", pore_nm, PORE_RANGE_NM,
                              3.0 if voids else 12.0, 0.2 if voids else 0.15)
    porosity = given_or_drawn(
        "porosity", porosity, lambda: rng.uniform(0.02, 0.3) if voids else rng.uniform(0.3, 0.7),
        0.002, 0.8)
    material = material or str(rng.choice(MATRIX_MATERIALS if voids else SPONGE_MATERIALS))
    film_nm = given_or_drawn(
        "film_nm", film_nm, lambda: float(np.clip(pore_nm * rng.uniform(1.0, 3.0), 10.0, 150.0)),
        5.0, 500.0, "nm")
    p = canvas.pixel_size_nm
    fov = canvas.size
    r0 = pore_nm / 2 / p
    full = (slice(0, fov), slice(0, fov))
    info: dict[str, Any] = {"style": style, "pore_nm": pore_nm, "porosity": porosity,
                            "material": material}
    if style == "voids":
        n = int(np.clip(round(porosity * fov * fov / (np.pi * r0 * r0)), 1, 1500))
        depth = np.zeros((fov, fov), np.float32)  # bulk: how far the surface drops
        chord = np.zeros((fov, fov), np.float32)  # thin: void chord length
        for _ in range(n):
            r = r0 * np.exp(rng.normal(0, 0.4))
            cy, cx = rng.uniform(-r, fov + r, 2)
            pat = patch(cy, cx, r, fov)
            if pat is None:
                continue
            where, dy, dx = pat
            rho2 = dy * dy + dx * dx
            root = np.sqrt(np.clip(r * r - rho2, 0, None))
            if canvas.bulk:
                zc = rng.uniform(-0.6, 0.8) * r  # centre depth below the surface [px]
                open_ = root > abs(zc) if zc < 0 else root > 0
                pit = np.where(open_ & (rho2 < r * r - zc * zc), zc + root, 0.0)
                np.maximum(depth[where], pit, out=depth[where])
            else:
                chord[where] += 2 * root
        if canvas.bulk:
            h = canvas.height - depth * p
            canvas.add_patch(material, full, 0.0, h, None, None, replace_below=True)
        else:
            t = np.clip(film_nm - chord * p, 0.0, None)
            canvas.add_patch(material, full, t, canvas.height + t, None, None,
                             replace_below=True)
            info["film_nm"] = film_nm
        info["count"] = n
    else:
        corr = max(r0 * 0.6, 0.8)
        f1 = random_field((fov, fov), rng, corr_px=corr)
        f2 = random_field((fov, fov), rng, corr_px=corr)
        # ligaments: a worm-like bicontinuous network around the zero set of the field
        a1, a2 = np.abs(f1), np.abs(f2)
        lvl = float(np.quantile(a1, 1.0 - porosity))
        depth_nm = pore_nm * rng.uniform(0.5, 1.5)
        # rounded cross-sections; the second layer lies one pore size deeper
        s1 = np.clip((lvl - a1) / max(lvl, 1e-6), 0, 1)
        s2 = np.clip((lvl - a2) / max(lvl, 1e-6), 0, 1)
        h1 = depth_nm * np.sqrt(s1)
        h2 = depth_nm * np.sqrt(s2) - depth_nm
        base = canvas.height
        if canvas.bulk:
            h = base + np.where(s1 > 0, h1, np.maximum(h2, -depth_nm * 1.2))
            canvas.add_patch(material, full, 0.0, h, None, None, replace_below=True)
        else:
            # project the sponge layer by layer (one pore size deep each); a ligament of
            # radius a seen from above has the chord 2·sqrt(d (2a − d)), d = depth inside
            n_layers = int(np.clip(round(film_nm / max(pore_nm, 1e-3)), 1, 4))
            a_px = max(r0 * (1 - porosity), 0.7)
            t = np.zeros((fov, fov), np.float32)
            for k in range(n_layers):
                f = a1 if k == 0 else (a2 if k == 1 else np.abs(random_field((fov, fov), rng,
                                                                            corr)))
                solid = f < lvl
                d = np.minimum(ndimage.distance_transform_edt(solid), a_px)
                t += (2 * np.sqrt(d * (2 * a_px - d)) * p).astype(np.float32)
            t *= np.float32(min(1.0, film_nm / max(n_layers * 2 * a_px * p, 1e-6)))
            canvas.add_patch(material, full, t, base + t, t > 0, None, replace_below=True)
            info["film_nm"] = film_nm
        info["depth_nm"] = depth_nm
    canvas.record("pores", **info)
    return info

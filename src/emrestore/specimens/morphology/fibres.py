"""Fibres: mats of long, gently curved cylinders crossing the field of view.

Electrospun polymer mats, glass/carbon fibres, cellulose, collagen bundles. Fibres are
stacked in the order they are laid, each resting on those below it (SEM).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import Canvas
from .materials import get_material
from .parameters import check_range, feature_size_nm, given_or_drawn
from .rods import draw_tube
from .shapes import wavy_path

FIBRE_MATERIALS = ("polymer", "polymer", "silica", "amorphous_carbon", "protein", "titania")

#: Physically sensible fibre diameters [nm] (nanofibres to textile fibres).
DIAMETER_RANGE_NM = (10.0, 50000.0)


def add_fibres(canvas: Canvas, rng: np.random.Generator, *, diameter_nm: float | None = None,
               spread: float | None = None, count: int | None = None,
               waviness: float | None = None, material: str | None = None,
               beads: float | None = None) -> dict[str, Any]:
    """Lay a mat of fibres.

    Parameters
    ----------
    canvas : Canvas
        Canvas the fibres are laid on.
    rng : numpy.random.Generator
        Random source.
    diameter_nm : float, optional
        Median fibre diameter [nm], 10–50000 (default: log-uniform over the visible range).
    spread : float, optional
        Log-normal diameter spread (0–1; default U[0.05, 0.4]).
    count : int, optional
        Number of fibres, 1–300 (default: from a random areal density, at most 80).
    waviness : float, optional
        Direction change per tenth of the length [rad], 0–0.5 (default U[0, 0.15]).
    material : str, optional
        Fibre material (default: drawn).
    beads : float, optional
        Probability (0–1) that a fibre carries spindle-shaped beads (electrospinning
        defect; default 0 or 0.5 with p = 0.2).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    diameter_nm = feature_size_nm(canvas, rng, "diameter_nm", diameter_nm, DIAMETER_RANGE_NM,
                                  3.0, 0.12)
    spread = given_or_drawn("spread", spread, lambda: rng.uniform(0.05, 0.4), 0.0, 1.0)
    waviness = given_or_drawn("waviness", waviness, lambda: rng.uniform(0.0, 0.15), 0.0, 0.5,
                              "rad")
    beads = given_or_drawn("beads", beads, lambda: 0.5 if rng.random() < 0.2 else 0.0, 0.0, 1.0)
    material = material or str(rng.choice(FIBRE_MATERIALS))
    mat = get_material(material)
    p = canvas.pixel_size_nm
    fov = canvas.size
    r_px = diameter_nm / 2 / p
    if count is None:
        density = rng.uniform(0.6, 3.0)  # total projected fibre area / field area
        count = int(np.clip(density * fov / (2 * r_px), 2, 80))
    count = int(check_range("count", count, 1, 300))
    base = 0.0
    for _ in range(count):
        ang = rng.uniform(0, np.pi)
        r = max(r_px * np.exp(rng.normal(0, spread)), 0.7)
        c = rng.uniform(-0.1 * fov, 1.1 * fov, 2)
        d = np.array([np.sin(ang), np.cos(ang)])
        length = 2.2 * fov
        verts = wavy_path(rng, c - d * length / 2, ang, length, waviness, n_seg=8)
        label = canvas.new_grain() if mat.crystalline else None
        draw_tube(canvas, material, verts, r, base, label)
        if beads and rng.random() < beads:
            seg = verts[1:] - verts[:-1]
            for _b in range(int(rng.integers(1, 4))):
                f = rng.uniform(0, 1)
                pos = verts[0] + f * (verts[-1] - verts[0])
                k = int(np.clip(f * len(seg), 0, len(seg) - 1))
                bead_len = r * rng.uniform(4, 10)
                sd = seg[k] / max(np.linalg.norm(seg[k]), 1e-6)
                bverts = np.stack([pos - sd * bead_len / 2, pos + sd * bead_len / 2])
                draw_tube(canvas, material, bverts, r * rng.uniform(2.0, 3.5), base, label)
        base += 2 * r * p * rng.uniform(0.3, 0.8) if canvas.bulk else 0.0
    info = {"diameter_nm": diameter_nm, "spread": spread, "count": count, "waviness": waviness,
            "beads": beads, "material": material}
    canvas.record("fibres", **info)
    return info

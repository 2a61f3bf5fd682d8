"""Scratches: polishing/wear grooves with pile-up ridges, cut into the current surface."""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import Canvas
from .parameters import feature_range_nm, given_or_drawn, log_uniform
from .shapes import segment_distance

#: Physically sensible scratch widths [nm].
WIDTH_RANGE_NM = (5.0, 50000.0)


def add_scratches(canvas: Canvas, rng: np.random.Generator, *, width_nm: float | None = None,
                  count: int | None = None, spread_deg: float | None = None,
                  depth_ratio: float | None = None, material: str | None = None
                  ) -> dict[str, Any]:
    """Cut straight scratches with V/U-shaped profiles and raised edges.

    Parameters
    ----------
    canvas : Canvas
        Target canvas. On a bulk canvas the surface is lowered; on a thin one the
        thickness of the top material is reduced.
    rng : numpy.random.Generator
        Random source.
    width_nm : float, optional
        Median scratch width [nm], 5–50000 (default: log-uniform, 1–6 px).
    count : int, optional
        Number of scratches, 1–300 (default 10–80).
    spread_deg : float, optional
        Spread of directions around the polishing direction [deg], 0–90 (default: 2–15,
        or 30–90 (random lapping) with p = 0.2).
    depth_ratio : float, optional
        Depth/width ratio, 0.01–1 (default log-uniform 0.05–0.4).
    material : str, optional
        Material of the scratched surface (default: the current surface material, or
        "silicon" on an empty canvas).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    p = canvas.pixel_size_nm
    fov = canvas.size

    def draw_width_nm() -> float:  # 1–6 px wide
        lo, hi = feature_range_nm(canvas, *WIDTH_RANGE_NM, 1.0, 0.1)
        return log_uniform(rng, lo, min(hi, max(lo, 6 * p)))

    width_nm = given_or_drawn("width_nm", width_nm, draw_width_nm, *WIDTH_RANGE_NM, "nm")
    count = int(given_or_drawn("count", count, lambda: int(rng.integers(10, 81)), 1, 300))
    spread_deg = given_or_drawn(
        "spread_deg", spread_deg,
        lambda: rng.uniform(30, 90) if rng.random() < 0.2 else rng.uniform(2, 15), 0.0, 90.0,
        "deg")
    depth_ratio = given_or_drawn("depth_ratio", depth_ratio, lambda: log_uniform(rng, 0.05, 0.4),
                                 0.01, 1.0)
    if material is None:
        vals, counts = np.unique(canvas.surface[canvas.surface >= 0], return_counts=True)
        material = canvas.materials[int(vals[np.argmax(counts)])].name if len(vals) else "silicon"
    direction = rng.uniform(0, np.pi)
    cut = np.zeros((fov, fov), np.float32)  # depth [nm], negative = pile-up
    yy = np.arange(fov, dtype=np.float32)[:, None]
    xx = np.arange(fov, dtype=np.float32)[None, :]
    for _ in range(count):
        w = width_nm / p * np.exp(rng.normal(0, 0.6)) / 2  # half-width [px]
        ang = direction + np.deg2rad(rng.normal(0, spread_deg))
        length = fov * rng.uniform(0.4, 2.5)
        c = rng.uniform(0, fov, 2)
        d = np.array([np.sin(ang), np.cos(ang)])
        a, b = c - d * length / 2, c + d * length / 2
        lo = np.minimum(a, b) - 3 * w - 2  # bounding box [px]
        hi = np.maximum(a, b) + 3 * w + 2
        y0, y1 = int(max(lo[0], 0)), int(min(hi[0], fov))
        x0, x1 = int(max(lo[1], 0)), int(min(hi[1], fov))
        if y1 <= y0 or x1 <= x0:
            continue
        py, px = yy[y0:y1], xx[:, x0:x1]
        dist, _ = segment_distance(py, px, a[None], b[None])
        # position along the scratch (0..1): the tool enters and leaves gradually
        along = np.clip(((py - a[0]) * d[0] + (px - a[1]) * d[1]) / length, 0.0, 1.0)
        taper = np.sqrt(np.sin(np.pi * along))
        u = dist / max(w, 0.5)
        depth = 2 * w * p * depth_ratio * np.exp(rng.normal(0, 0.3))
        profile = depth * taper * np.clip(1 - u ** rng.uniform(1.0, 2.5), 0, None)
        pileup = rng.uniform(0.0, 0.2) * depth * taper * np.exp(-((u - 1.4) / 0.4) ** 2)
        view = cut[y0:y1, x0:x1]
        view += (profile - pileup).astype(np.float32)
    # the surface keeps its material and crystal labels; only its height drops
    canvas.height -= cut
    if not canvas.bulk:
        idx = canvas.material_index(material)
        canvas.thickness[idx] = np.clip(canvas.thickness[idx] - cut, 0, None)
    info = {"width_nm": width_nm, "count": count, "spread_deg": spread_deg,
            "depth_ratio": depth_ratio, "material": material}
    canvas.record("scratches", **info)
    return info

"""Membranes and cell-like closed curves.

Three styles:

* ``"section"`` (thin specimens): a resin-embedded thin section through cells. Each cell
  is a smooth random closed curve whose stained membrane (a band of width ≈ 8 nm running
  through the section) adds heavy-stain thickness; the cytoplasm is granular protein; a
  nucleus, mitochondria with cristae and vesicles sit inside.
* ``"vesicles"`` (thin specimens): lipid vesicles (spherical bilayer shells, possibly
  multilamellar) in a layer of vitreous ice or on a carbon film. The projected thickness
  of a shell peaks at its rim.
* ``"cells"`` (bulk, SEM): cells spread on a substrate: domes with ruffled surfaces and
  thin protrusions (filopodia).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import Canvas
from .fields import random_field
from .parameters import check_choice, feature_size_nm, given_or_drawn, log_uniform
from .rods import draw_tube
from .shapes import patch, radial_harmonics, radius_at, wavy_path

STYLES_THIN = ("section", "vesicles")
STYLES_BULK = ("cells",)

#: Physically sensible cell diameters [nm] and vesicle diameters [nm].
CELL_RANGE_NM = (300.0, 40000.0)
VESICLE_RANGE_NM = (20.0, 1000.0)


def _band(sd: np.ndarray, width_px: float) -> np.ndarray:
    """Unit-peak band of FWHM ``width_px`` around sd = 0, area-preserving below 1 px."""
    sigma = width_px / 2.355
    s_eff = max(sigma, 0.45)
    return (sigma / s_eff) * np.exp(-0.5 * (sd / s_eff) ** 2)


def _closed_curve_sd(dy: np.ndarray, dx: np.ndarray, radius: float, rng: np.random.Generator,
                     irregularity: float, elong: float = 1.0, rot: float = 0.0) -> np.ndarray:
    """Approximate signed distance [px] to a smooth random closed curve (negative inside)."""
    c, s = np.cos(rot), np.sin(rot)
    u = dx * c + dy * s
    v = (-dx * s + dy * c) * elong
    theta = np.arctan2(v, u)
    amps, phases = radial_harmonics(rng, irregularity, 6)
    rr = radius * radius_at(theta, amps, phases)
    return (np.hypot(u, v) - rr) / np.sqrt(elong)


def _section(canvas: Canvas, rng: np.random.Generator, cell_nm: float, section_nm: float,
             membrane_nm: float) -> dict[str, Any]:
    p = canvas.pixel_size_nm
    fov = canvas.size
    shape = (fov, fov)
    canvas.fill("epoxy_resin", section_nm, section_nm)
    stain = np.zeros(shape, np.float32)
    protein = np.zeros(shape, np.float32)
    # granular cytoplasm (ribosomes, filaments ≈ 12 nm): averaged out at low magnification
    grain = random_field(shape, rng, corr_px=max(12.0 / p, 0.6)) * min(1.0, 12.0 / p)
    r0 = cell_nm / 2 / p
    n_cells = int(np.clip(round(1.3 * (fov / (2 * r0)) ** 2), 1, 40))
    wm = membrane_nm / p
    n_org = 0
    placed: list[tuple[float, float, float]] = []
    for _ in range(4 * n_cells):
        if len(placed) >= n_cells:
            break
        cy, cx = rng.uniform(-0.2 * fov, 1.2 * fov, 2)
        r = r0 * np.exp(rng.normal(0, 0.25))
        # cells in a tissue abut but do not overlap
        if any((cy - py) ** 2 + (cx - px) ** 2 < (1.05 * (r + pr)) ** 2 for py, px, pr in placed):
            continue
        placed.append((cy, cx, r))
        pat = patch(cy, cx, r * 1.6, fov)
        if pat is None:
            continue
        where, dy, dx = pat
        sd = _closed_curve_sd(dy, dx, r, rng, 0.25, rng.uniform(1.0, 1.6), rng.uniform(0, np.pi))
        inside = sd < 0
        # cytoplasm: protein fraction of the section, granular (ribosomes, filaments)
        dens = rng.uniform(0.1, 0.3) * (1 + 0.3 * grain[where])
        protein[where] += np.where(inside, np.clip(dens, 0, None), 0.0)
        stain[where] += _band(sd, wm) * rng.uniform(0.6, 1.0)
        # organelles
        for _o in range(int(rng.integers(1, 8))):
            kind = rng.choice(["nucleus", "mito", "vesicle"], p=[0.15, 0.35, 0.5])
            if kind == "nucleus":
                ro = r * rng.uniform(0.3, 0.5)
            elif kind == "mito":
                ro = max(r * rng.uniform(0.08, 0.2), 250 / p)
            else:
                ro = max(r * rng.uniform(0.02, 0.08), 25 / p)
            if ro < 1.5 or ro > r:
                continue
            oy, ox = rng.uniform(-0.5, 0.5, 2) * r
            elong = rng.uniform(1.5, 3.0) if kind == "mito" else rng.uniform(1.0, 1.3)
            rot = rng.uniform(0, np.pi)
            sdo = _closed_curve_sd(dy - oy, dx - ox, ro, rng, 0.1, elong, rot)
            inside_o = (sdo < 0) & inside
            band = _band(sdo, wm) * inside
            if kind in ("nucleus", "mito"):  # double membrane
                band = band + _band(sdo + 2.5 * max(wm, 0.5), wm) * inside
            stain[where] += band * rng.uniform(0.6, 1.0)
            if kind == "nucleus":  # heterochromatin: clumped dense stain
                chrom = np.clip(grain[where] * 1.5 - 0.3, 0, None) * 0.4
                stain[where] += np.where(inside_o, chrom, 0.0)
            elif kind == "mito":  # cristae: folds across the long axis, slightly wavy
                ang = rot + rng.normal(0, 0.15)
                u = (dx - ox) * np.cos(ang) + (dy - oy) * np.sin(ang)
                u = u + 0.3 * max(wm, 1.0) * grain[where]
                period = max(rng.uniform(20, 40) / p, 2.0)
                cr = _band(((u + rng.uniform(0, period)) % period) - period / 2, wm)
                stain[where] += np.where(inside_o & (sdo < -wm), cr * 0.7, 0.0)
                protein[where] += np.where(inside_o, 0.25, 0.0)
            n_org += 1
    stain_frac = rng.uniform(0.3, 0.8)
    t_stain = section_nm * stain_frac * np.clip(stain, 0, 1.5)
    canvas.fill("protein", section_nm * np.clip(protein, 0, 0.9), section_nm)
    canvas.fill("stained_membrane", t_stain, section_nm)
    return {"cells": len(placed), "organelles": n_org, "section_nm": section_nm,
            "stain_fraction": stain_frac}


def _vesicles(canvas: Canvas, rng: np.random.Generator, vesicle_nm: float, bilayer_nm: float,
              coverage: float) -> dict[str, Any]:
    p = canvas.pixel_size_nm
    fov = canvas.size
    if rng.random() < 0.6:
        ice = rng.uniform(1.2, 3.0) * vesicle_nm
        ice = float(np.clip(ice, 20.0, 300.0))
        canvas.fill("vitreous_ice", ice, ice)
        medium = {"ice_nm": ice}
    else:
        from .supports import add_substrate
        medium = add_substrate(canvas, rng, material="amorphous_carbon")
    r0 = vesicle_nm / 2 / p
    n = int(np.clip(round(coverage * fov * fov / (np.pi * r0 * r0)), 1, 300))
    b = bilayer_nm / p
    multi = 0
    for _ in range(n):
        ro = r0 * np.exp(rng.normal(0, 0.35))
        cy, cx = rng.uniform(-ro, fov + ro, 2)
        pat = patch(cy, cx, ro + 1, fov)
        if pat is None:
            continue
        where, dy, dx = pat
        rho2 = dy * dy + dx * dx
        shells = 1 if rng.random() > 0.15 else int(rng.integers(2, 4))
        multi += shells > 1
        t = np.zeros(rho2.shape, np.float32)
        for k in range(shells):
            r_out = ro - k * rng.uniform(3, 6) * b
            r_in = r_out - b
            if r_in <= 0.5:
                break
            t += 2 * (np.sqrt(np.clip(r_out ** 2 - rho2, 0, None))
                      - np.sqrt(np.clip(r_in ** 2 - rho2, 0, None)))
        mask = rho2 < ro * ro
        canvas.add_patch("lipid", where, t * p, canvas.height[where] + 0.0, mask)
    return {"count": n, "multilamellar": int(multi), "bilayer_nm": bilayer_nm, **medium}


def _cells_bulk(canvas: Canvas, rng: np.random.Generator, cell_nm: float) -> dict[str, Any]:
    p = canvas.pixel_size_nm
    fov = canvas.size
    r0 = cell_nm / 2 / p
    n = int(np.clip(round(rng.uniform(0.3, 1.2) * (fov / (2 * r0)) ** 2), 1, 60))
    rough = random_field((fov, fov), rng, corr_px=max(r0 * 0.08, 1.5))
    fil = 0
    for _ in range(n):
        cy, cx = rng.uniform(-0.1 * fov, 1.1 * fov, 2)
        r = r0 * np.exp(rng.normal(0, 0.25))
        height = r * p * rng.uniform(0.15, 0.5)
        # filopodia first (below the cell body)
        for _f in range(int(rng.integers(0, 5))):
            a = rng.uniform(0, 2 * np.pi)
            start = np.array([cy, cx]) + 0.8 * r * np.array([np.sin(a), np.cos(a)])
            verts = wavy_path(rng, start, a, r * rng.uniform(0.2, 0.6), 0.2, n_seg=4)
            fil += draw_tube(canvas, "protein", verts, max(rng.uniform(30, 100) / p, 0.5),
                             0.0, None)
        pat = patch(cy, cx, r * 1.6, fov)
        if pat is None:
            continue
        where, dy, dx = pat
        sd = _closed_curve_sd(dy, dx, r, rng, 0.3, rng.uniform(1.0, 2.0), rng.uniform(0, np.pi))
        q = np.clip(-sd / r, 0, 1)
        dome = height * (1 - (1 - q) ** 3) ** 0.8
        ruffle = rng.uniform(0.01, 0.04) * height * rough[where] * np.clip(q * 5, 0, 1)
        mask = sd < 0
        canvas.add_patch("protein", where, dome + ruffle, dome + ruffle, mask)
    return {"count": n, "filopodia": int(fil)}


def add_membranes(canvas: Canvas, rng: np.random.Generator, *, style: str | None = None,
                  cell_nm: float | None = None, vesicle_nm: float | None = None,
                  section_nm: float | None = None, membrane_nm: float | None = None,
                  coverage: float | None = None) -> dict[str, Any]:
    """Draw cells or vesicles.

    Parameters
    ----------
    canvas : Canvas
        Target canvas (thin: "section"/"vesicles"; bulk: "cells").
    rng : numpy.random.Generator
        Random source.
    style : {"section", "vesicles", "cells"}, optional
        See the module docstring (default: drawn among those valid for the canvas).
    cell_nm : float, optional
        Median cell diameter [nm], 300–40000 (default: log-uniform over the visible range).
    vesicle_nm : float, optional
        Median vesicle diameter [nm], 20–1000 (default: log-uniform over the visible range).
    section_nm : float, optional
        Section thickness [nm], 30–300 (default U[50, 120]).
    membrane_nm : float, optional
        Width of a stained membrane / thickness of a bilayer [nm], 3–15 (default U[4, 9]).
    coverage : float, optional
        Vesicle area fraction, 0.01–1 (default log-uniform 0.05–0.5).

    Returns
    -------
    dict
        Description (sizes in nm).
    """
    styles = STYLES_BULK if canvas.bulk else STYLES_THIN
    if style is None:  # thin sections are imaged at ≥ 2 nm/px; finer: vesicles
        style = str(rng.choice(styles)) if canvas.bulk or canvas.pixel_size_nm >= 2.0 \
            else "vesicles"
    check_choice("membrane style", style, styles)
    membrane_nm = given_or_drawn("membrane_nm", membrane_nm, lambda: rng.uniform(4.0, 9.0),
                                 3.0, 15.0, "nm")
    info: dict[str, Any] = {"style": style, "membrane_nm": membrane_nm,
                            "material": {"section": "stained_membrane", "vesicles": "lipid",
                                         "cells": "protein"}[style]}
    if style == "vesicles":
        vesicle_nm = feature_size_nm(canvas, rng, "vesicle_nm", vesicle_nm, VESICLE_RANGE_NM,
                                     8.0, 0.35)
        coverage = given_or_drawn("coverage", coverage, lambda: log_uniform(rng, 0.05, 0.5),
                                  0.01, 1.0)
        info.update(vesicle_nm=vesicle_nm, coverage=coverage)
        info.update(_vesicles(canvas, rng, vesicle_nm, membrane_nm, coverage))
    else:
        cell_nm = feature_size_nm(canvas, rng, "cell_nm", cell_nm, CELL_RANGE_NM, 24.0, 0.9)
        info["cell_nm"] = cell_nm
        if style == "section":
            section_nm = given_or_drawn("section_nm", section_nm,
                                        lambda: rng.uniform(50.0, 120.0), 30.0, 300.0, "nm")
            info.update(_section(canvas, rng, cell_nm, section_nm, membrane_nm))
        else:
            info.update(_cells_bulk(canvas, rng, cell_nm))
    canvas.record("membranes", **info)
    return info

"""Substrates (bulk, for SEM) and continuous support films (thin, for TEM/STEM)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Canvas, check_range, get_material, log_uniform, random_field

#: Bulk substrates seen in SEM.
SEM_SUBSTRATES = ("silicon", "amorphous_carbon", "aluminium", "silica", "copper", "polymer")
#: Continuous support films used in TEM/STEM.
TEM_SUPPORTS = ("amorphous_carbon", "silica", "amorphous_carbon", "alumina")


def add_substrate(canvas: Canvas, rng: np.random.Generator, material: str | None = None,
                  roughness_nm: float | None = None, thickness_nm: float | None = None,
                  correlation_nm: float | None = None) -> dict[str, Any]:
    """Lay a substrate (bulk, SEM) or a continuous support film (thin, TEM/STEM).

    Parameters
    ----------
    canvas : Canvas
        Target canvas.
    rng : numpy.random.Generator
        Random source.
    material : str, optional
        Substrate material (default: drawn from :data:`SEM_SUBSTRATES` or
        :data:`TEM_SUPPORTS`).
    roughness_nm : float, optional
        RMS roughness as seen at this pixel size [nm], 0–50. Default: an intrinsic
        roughness σ₀ (log-uniform 0.2–1 nm for bulk substrates, 0.1–0.4 nm for thin
        films) with correlation length c₀ (U[1.5, 5] nm bulk, U[0.5, 1.5] nm films),
        averaged over a pixel: σ₀ · min(1, c₀/pixel size).
    thickness_nm : float, optional
        Film thickness [nm] for thin specimens, 2–200 (default: log-uniform 3–30 nm).
        Ignored for bulk substrates.
    correlation_nm : float, optional
        Lateral correlation length of the roughness [nm] (default: max(c₀, 0.8 px)).

    Returns
    -------
    dict
        What was laid down.
    """
    if material is None:
        material = str(rng.choice(SEM_SUBSTRATES if canvas.bulk else TEM_SUPPORTS))
    get_material(material)
    p = canvas.pixel_size_nm
    c0 = rng.uniform(1.5, 5.0) if canvas.bulk else rng.uniform(0.5, 1.5)
    if roughness_nm is None:
        sigma0 = log_uniform(rng, 0.2, 1.0) if canvas.bulk else log_uniform(rng, 0.1, 0.4)
        roughness_nm = sigma0 * min(1.0, c0 / p)
    roughness_nm = check_range("roughness_nm", roughness_nm, 0.0, 50.0, "nm")
    if correlation_nm is None:
        correlation_nm = max(c0, 0.8 * p)
    correlation_nm = check_range("correlation_nm", correlation_nm, 0.0, 1e7, "nm")
    rough = roughness_nm * random_field((canvas.size, canvas.size), rng, correlation_nm / p)
    if canvas.bulk:
        canvas.fill(material, 0.0, rough, grains=None)
        canvas.surface[:] = canvas.material_index(material)
        canvas.height[:] = rough
        info = {"material": material, "roughness_nm": roughness_nm}
    else:
        if thickness_nm is None:
            thickness_nm = log_uniform(rng, 3.0, 30.0)
        thickness_nm = check_range("thickness_nm", thickness_nm, 2.0, 200.0, "nm")
        t = np.maximum(thickness_nm + rough, 0.0)
        canvas.fill(material, t, t)
        info = {"material": material, "thickness_nm": thickness_nm, "roughness_nm": roughness_nm}
    info["correlation_nm"] = correlation_nm
    canvas.record("support", **info)
    return info

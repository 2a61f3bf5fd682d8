"""Substrates (bulk, for SEM) and continuous support films (thin, for TEM/STEM).

Real support films are not flat in projection: evaporated carbon and oxide films vary in
mass thickness over tens to hundreds of nanometres, and hydrocarbon contamination builds up
in patches. :func:`add_film_texture` adds both to a thin canvas (docs/realism.md: the
backgrounds of real low-magnification HAADF-STEM frames).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import Canvas
from .fields import random_field, smooth
from .materials import get_material
from .parameters import given_or_drawn, log_uniform

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
        Canvas to lay the substrate or film on (usually still empty).
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
    sigma0_nm = (0.2, 1.0) if canvas.bulk else (0.1, 0.4)  # intrinsic roughness range
    roughness_nm = given_or_drawn("roughness_nm", roughness_nm,
                                  lambda: log_uniform(rng, *sigma0_nm) * min(1.0, c0 / p),
                                  0.0, 50.0, "nm")
    correlation_nm = given_or_drawn("correlation_nm", correlation_nm, lambda: max(c0, 0.8 * p),
                                    0.0, 1e7, "nm")
    rough = roughness_nm * random_field((canvas.size, canvas.size), rng, correlation_nm / p)
    if canvas.bulk:
        canvas.fill(material, 0.0, rough, grains=None)
        canvas.surface[:] = canvas.material_index(material)
        canvas.height[:] = rough
        info = {"material": material, "roughness_nm": roughness_nm}
    else:
        thickness_nm = given_or_drawn("thickness_nm", thickness_nm,
                                      lambda: log_uniform(rng, 3.0, 30.0), 2.0, 200.0, "nm")
        t = np.maximum(thickness_nm + rough, 0.0)
        canvas.fill(material, t, t)
        info = {"material": material, "thickness_nm": thickness_nm, "roughness_nm": roughness_nm}
    info["correlation_nm"] = correlation_nm
    canvas.record("support", **info)
    return info


def add_film_texture(canvas: Canvas, rng: np.random.Generator, relative_sigma: float | None = None,
                     correlation_nm: float | None = None, contamination: bool | None = None,
                     contamination_nm: float | None = None) -> dict[str, Any]:
    """Mass-thickness texture of a thin support film and patchy contamination (thin canvases).

    Adds ``σ_rel · t_film · F`` of the support's own material, ``F`` a zero-mean fractal
    field (Hurst 0.5, roll-off at ``correlation_nm``), clipped so the film never gets
    thinner than 30 % of its nominal thickness; and, with ``contamination``, amorphous-carbon
    patches (a thresholded smooth random field, soft edges) of thickness up to
    ``contamination_nm``.

    Parameters
    ----------
    canvas : Canvas
        Thin canvas that already holds a support film (:func:`add_substrate`).
    rng : numpy.random.Generator
        Random source.
    relative_sigma : float, optional
        RMS thickness variation as a fraction of the film thickness, 0–1 (default
        log-uniform 0.03–0.3).
    correlation_nm : float, optional
        Largest correlation length of the texture [nm] (default log-uniform 5–300 nm,
        at least 2 px).
    contamination : bool, optional
        Add contamination patches (default: p = 0.4).
    contamination_nm : float, optional
        Peak carbon thickness of the patches [nm], 0–50 (default log-uniform 0.5–8 nm).

    Returns
    -------
    dict
        What was added (also recorded in the canvas parameters).
    """
    if canvas.bulk:
        return {}
    supports = [c for c in canvas.params["components"] if c["kind"] == "support"]
    if not supports:
        return {}
    material = supports[-1]["material"]
    t_film = float(supports[-1]["thickness_nm"])
    p = canvas.pixel_size_nm
    relative_sigma = given_or_drawn("relative_sigma", relative_sigma,
                                    lambda: log_uniform(rng, 0.03, 0.3), 0.0, 1.0)
    correlation_nm = max(given_or_drawn("correlation_nm", correlation_nm,
                                        lambda: log_uniform(rng, 5.0, 300.0), 0.0, 1e7, "nm"),
                         2.0 * p)
    field = random_field((canvas.size, canvas.size), rng, correlation_nm / p, hurst=0.5)
    extra = np.maximum(relative_sigma * t_film * field, -0.7 * t_film)
    idx = canvas.material_index(material)
    canvas.thickness[idx] += extra.astype(np.float32)
    info: dict[str, Any] = {"material": material, "relative_sigma": relative_sigma,
                            "correlation_nm": correlation_nm}
    if contamination is None:
        contamination = bool(rng.random() < 0.4)
    if contamination:
        contamination_nm = given_or_drawn("contamination_nm", contamination_nm,
                                          lambda: log_uniform(rng, 0.5, 8.0), 0.0, 50.0, "nm")
        patch_nm = log_uniform(rng, 20.0, 500.0)
        blobs = random_field((canvas.size, canvas.size), rng, max(patch_nm / p, 2.0))
        level = float(rng.uniform(0.0, 1.2))
        cover = smooth(np.clip(blobs - level, 0.0, None), 1.0)
        peak = float(cover.max())
        if peak > 0:
            t = (contamination_nm * cover / peak).astype(np.float32)
            canvas.add_patch("amorphous_carbon", (slice(0, canvas.size), slice(0, canvas.size)), t,
                             canvas.height + t, mask=t > 0)
            info.update(contamination_nm=contamination_nm, patch_nm=patch_nm,
                        coverage=float((t > 0.05 * contamination_nm).mean()))
    canvas.record("film_texture", **info)
    return info

"""Clean-image renderers for the morphology tags: ``hrsem``, ``lrsem``, ``lrtem``, ``lrstem``.

Each renderer draws a pixel size from the tag's range (log-uniform), a morphology family
suited to the tag, composes a specimen (substrate/support, the family, sometimes a second
family such as debris particles or a holey film), and forms the image with the tag's
contrast model:

=========  ========  ==============  =========================================================
tag        modality  pixel size      contrast
=========  ========  ==============  =========================================================
hrsem      sem       0.5–5 nm        SE (p = 0.7) or BSE (:mod:`emrestore.optics.sem`)
lrsem      sem       5–5000 nm       SE (p = 0.7) or BSE
lrtem      tem       0.5–50 nm       bright field (:mod:`emrestore.optics.lowmag_tem`)
lrstem     stem      0.2–50 nm       HAADF (p = 0.8) or BF (:mod:`emrestore.optics.lowmag_stem`)
=========  ========  ==============  =========================================================

Overrides accepted by every renderer:

``pixel_size_nm``
    Fix the pixel size [nm] (must lie in the tag's range).
``kind``
    Fix the morphology family (one of the tag's ``KINDS``).
``contrast``
    Fix the contrast variant: ``"se"``/``"bse"`` (SEM), ``"haadf"``/``"bf"`` (STEM),
    ``"bf"`` (TEM).
``morphology``
    Dict of parameters for the family's ``add_*`` function (e.g. ``{"diameter_nm": 5}``).
``optics``
    Dict of parameters for the contrast model (e.g. ``{"edge_gain": 1.0}``).
``compose``
    False to draw the family alone (no secondary family, no vacuum background).
``support_texture``
    True / False to force / suppress the support film's thickness texture and
    contamination (thin specimens; default drawn with p = 0.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from ..optics.lowmag_stem import render_lowmag_stem
from ..optics.lowmag_tem import render_lowmag_tem
from ..optics.sem import render_sem
from ..specimens.morphology import KINDS, Canvas, MorphologyMaps, add_film_texture, add_substrate
from ..io.jsonsafe import json_safe
from ..specimens.morphology.parameters import PARAM_DIGITS, check_size, log_uniform
from ..tags import Tag
from .registry import register_renderer
from .sample import CleanSample


@dataclass(frozen=True)
class TagConfig:
    """Sampling configuration of one tag (its modality and pixel-size range, drawn
    log-uniformly: :class:`emrestore.tags.Tag`).

    Parameters
    ----------
    kinds : dict
        Morphology family → relative probability.
    contrasts : dict
        Contrast variant → probability.
    """

    kinds: dict[str, float]
    contrasts: dict[str, float]


TAG_CONFIGS: dict[str, TagConfig] = {
    "hrsem": TagConfig({"particles": 0.4, "rods": 0.2, "pores": 0.2, "sheets": 0.1,
                        "grains": 0.05, "fibres": 0.05},
                       {"se": 0.7, "bse": 0.3}),
    "lrsem": TagConfig({"grains": 0.17, "pores": 0.13, "fracture": 0.16, "fibres": 0.12,
                        "particles": 0.16, "scratches": 0.06, "rods": 0.06, "membranes": 0.08,
                        "sheets": 0.06},
                       {"se": 0.7, "bse": 0.3}),
    "lrtem": TagConfig({"particles": 0.3, "sheets": 0.15, "membranes": 0.15, "holey_film": 0.12,
                        "rods": 0.12, "grains": 0.1, "pores": 0.06},
                       {"bf": 1.0}),
    "lrstem": TagConfig({"particles": 0.35, "rods": 0.15, "grains": 0.15, "holey_film": 0.1,
                         "sheets": 0.1, "membranes": 0.05, "pores": 0.1},
                        {"haadf": 0.8, "bf": 0.2}),
}

#: Probability that a thin support film carries mass-thickness texture and contamination
#: (real LR-STEM/TEM backgrounds are not flat: docs/realism.md).
SUPPORT_TEXTURE_P = 0.8
#: Probability of particles or rods over vacuum (no support in the field) on thin specimens.
VACUUM_P = 0.1

#: Gaussian anti-aliasing applied to every rendered image [px].
ANTIALIAS_SIGMA_PX = 0.4

_OVERRIDES = ("pixel_size_nm", "kind", "contrast", "morphology", "optics", "compose", "support_texture")



def _particle_diameter(rng: np.random.Generator, lo_nm: float, hi_nm: float) -> float:
    """A log-uniform particle diameter [nm] in [lo_nm, hi_nm] limited to the physical particle range.

    At the coarsest SEM sampling (5 µm/px) a size relative to the field of view would exceed
    the largest particles :func:`~emrestore.specimens.morphology.particles.add_particles` accepts.
    """
    from ..specimens.morphology.particles import DIAMETER_RANGE_NM

    low, high = DIAMETER_RANGE_NM
    hi = min(max(hi_nm, low), high)
    return log_uniform(rng, min(max(lo_nm, low), hi), hi)

def _choose(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    prob = np.array([weights[n] for n in names], float)
    return str(names[int(rng.choice(len(names), p=prob / prob.sum()))])


def _add(kind: str, canvas: Canvas, rng: np.random.Generator, params: dict[str, Any]) -> None:
    try:
        KINDS[kind](canvas, rng, **params)
    except TypeError as error:
        raise ParameterError(f"Bad morphology parameter for {kind!r}: {error}.",
                             f"See the docstring of {KINDS[kind].__name__}.") from None


def build_specimen(tag: str, kind: str, size: int, pixel_size_nm: float,
                   rng: np.random.Generator, morphology: dict[str, Any] | None = None,
                   compose: bool = True, support_texture: bool | None = None) -> MorphologyMaps:
    """Compose a specimen for ``tag`` whose main family is ``kind``.

    Parameters
    ----------
    tag : str
        One of :data:`TAG_CONFIGS`.
    kind : str
        Main morphology family.
    size : int
        Image side [px].
    pixel_size_nm : float
        Pixel size [nm].
    rng : numpy.random.Generator
        Random source.
    morphology : dict, optional
        Parameters for the main family.
    compose : bool
        Allow a secondary family (debris, holey support, decoration, precipitates) and,
        for particles and rods on thin specimens, a vacuum background (p = :data:`VACUUM_P`).
    support_texture : bool, optional
        Thin specimens on a support film: add the film's mass-thickness texture and patchy
        contamination (:func:`~emrestore.specimens.morphology.supports.add_film_texture`).
        Default: drawn with p = :data:`SUPPORT_TEXTURE_P`.

    Returns
    -------
    MorphologyMaps
        The specimen.
    """
    bulk = Tag.get(tag).modality == "sem"
    canvas = Canvas(size, pixel_size_nm, bulk)
    params = dict(morphology or {})
    fov = size * pixel_size_nm
    if bulk:
        add_substrate(canvas, rng)
        if kind == "scratches" and compose and rng.random() < 0.5:
            _add("grains", canvas, rng, {"groove_depth_nm": 0.0} if rng.random() < 0.5 else {})
        _add(kind, canvas, rng, params)
        if compose and kind == "grains" and rng.random() < 0.3:
            _add("pores", canvas, rng, {"style": "voids",
                                        "porosity": log_uniform(rng, 0.005, 0.05)})
        if compose and kind in ("grains", "fracture", "scratches", "pores", "fibres") \
                and rng.random() < 0.2:
            _add("particles", canvas, rng, {"coverage": log_uniform(rng, 0.005, 0.04),
                                            "diameter_nm": _particle_diameter(
                                                rng, max(3 * pixel_size_nm, 5.0),
                                                max(0.05 * fov, 6.0))})
    else:
        if kind in ("particles", "rods", "sheets", "fibres"):
            r = rng.random()
            textured = rng.random() < SUPPORT_TEXTURE_P if support_texture is None else bool(support_texture)
            if compose and r < 0.25:  # over a hole edge of a holey support
                hole = float(np.clip(fov * log_uniform(rng, 0.3, 1.2), 30.0, 5000.0))
                _add("holey_film", canvas, rng, {"hole_nm": hole})
            elif compose and r < 0.25 + VACUUM_P and kind in ("particles", "rods"):
                canvas.record("vacuum")  # over a hole of a lacey support: vacuum and noise only
            elif kind in ("particles", "rods") or r < 0.7:
                add_substrate(canvas, rng)
                if textured:
                    add_film_texture(canvas, rng)
        _add(kind, canvas, rng, params)
        if compose and kind == "sheets" and rng.random() < 0.3:
            _add("particles", canvas, rng, {
                "coverage": log_uniform(rng, 0.01, 0.15),
                "diameter_nm": _particle_diameter(rng, max(3 * pixel_size_nm, 1.0),
                                                  max(0.04 * fov, 1.5))})
        if compose and kind == "grains" and rng.random() < 0.3:
            _add("particles", canvas, rng, {  # precipitates
                "coverage": log_uniform(rng, 0.02, 0.2), "arrangement": "dispersed",
                "diameter_nm": _particle_diameter(rng, max(3 * pixel_size_nm, 2.0),
                                                  max(0.08 * fov, 3.0))})
    return canvas.finish(kind=kind, tag=tag)


def _render(tag: str, size: int, rng: np.random.Generator, overrides: dict[str, Any]
            ) -> CleanSample:
    unknown = sorted(set(overrides) - set(_OVERRIDES))
    if unknown:
        raise ParameterError(f"Unknown override(s) for tag {tag!r}: {', '.join(unknown)}.",
                             f"Use any of: {', '.join(_OVERRIDES)}.")
    check_size(size)
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}.",
                             "Pass numpy.random.default_rng(seed).")
    cfg, modality = TAG_CONFIGS[tag], Tag.get(tag).modality
    lo, hi = Tag.get(tag).pixel_range_nm
    p = overrides.get("pixel_size_nm")
    if p is None:
        p = log_uniform(rng, lo, hi)
    else:
        try:
            p = float(p)
        except (TypeError, ValueError):
            p = float("nan")
        if not (np.isfinite(p) and lo * (1 - 1e-9) <= p <= hi * (1 + 1e-9)):
            raise ParameterError(
                f"pixel_size_nm={overrides['pixel_size_nm']!r} is outside the {tag} range "
                f"[{lo}, {hi}] nm.", f"Pass a pixel size in [{lo}, {hi}] nm.")
    kind = overrides.get("kind") or _choose(rng, cfg.kinds)
    if kind not in cfg.kinds:
        raise ParameterError(f"Morphology kind {kind!r} is not drawn for tag {tag!r}.",
                             f"Use one of: {', '.join(cfg.kinds)}.")
    contrast = overrides.get("contrast") or _choose(rng, cfg.contrasts)
    if contrast not in cfg.contrasts:
        raise ParameterError(f"Contrast {contrast!r} is not available for tag {tag!r}.",
                             f"Use one of: {', '.join(cfg.contrasts)}.")
    morph = overrides.get("morphology") or {}
    optics = dict(overrides.get("optics") or {})
    if not isinstance(morph, dict) or not isinstance(optics, dict):
        raise ParameterError("The 'morphology' and 'optics' overrides must be dicts.",
                             "Pass e.g. morphology={'diameter_nm': 5.0}.")
    compose = bool(overrides.get("compose", True))
    for _attempt in range(8):
        maps = build_specimen(tag, kind, size, p, rng, morph, compose, overrides.get("support_texture"))
        try:
            if modality == "sem":
                image, oparams = render_sem(maps, rng, detector=contrast, **optics)
            elif modality == "tem":
                image, oparams = render_lowmag_tem(maps, rng, **optics)
            else:
                image, oparams = render_lowmag_stem(maps, rng, detector=contrast, **optics)
        except TypeError as error:
            raise ParameterError(f"Bad optics parameter for tag {tag!r}: {error}.",
                                 "See the docstring of the contrast model.") from None
        mean = float(image.mean(dtype=np.float64))
        if np.isfinite(mean) and mean > 0 and np.all(np.isfinite(image)):
            break
    else:  # pragma: no cover - guarded by the generators' coverage ranges
        raise ParameterError(f"Could not render a non-empty {tag} image in 8 attempts.",
                             "Check the morphology overrides (coverage, sizes).")
    # anti-aliasing: a pixel integrates over its area, so sharp object outlines drawn at
    # pixel centres would otherwise show staircase jaggies
    image = ndimage.gaussian_filter(image, ANTIALIAS_SIGMA_PX, mode="reflect", truncate=3.0)
    mean = float(image.mean(dtype=np.float64))
    image = (image / mean).astype(np.float32)
    main = [c for c in maps.params["components"] if c["kind"] in (kind, "holey_film")]
    material = main[-1].get("material", "") if main else ""
    params = {"tag": tag, "kind": kind, "contrast": contrast, "size": int(size),
              "pixel_size_nm": float(p), "field_of_view_nm": float(p * size),
              # short summary in the layout the gallery/bank tools read
              "specimen": {"kind": f"{kind} ({contrast.upper()})", "material": material},
              "morphology": maps.params, "optics": oparams}
    return CleanSample(image=image, pixel_size_nm=float(p), modality=modality,
                       params=json_safe(params, digits=PARAM_DIGITS), columns=None)


@register_renderer("hrsem")
def render_hrsem(size: int, rng: np.random.Generator, **overrides: Any) -> CleanSample:
    """Clean high-magnification SEM image (0.5–5 nm/px): nanoparticles, wires, porous films.

    Parameters
    ----------
    size : int
        Image side [px] (≥ 16).
    rng : numpy.random.Generator
        Random source (same state → same image).
    **overrides
        See the module docstring.

    Returns
    -------
    CleanSample
        float32 image with mean 1, modality "sem".
    """
    return _render("hrsem", size, rng, overrides)


@register_renderer("lrsem")
def render_lrsem(size: int, rng: np.random.Generator, **overrides: Any) -> CleanSample:
    """Clean low-magnification SEM image (5–5000 nm/px): grains, pores, fractures, fibres...

    See :func:`render_hrsem` for the parameters.
    """
    return _render("lrsem", size, rng, overrides)


@register_renderer("lrtem")
def render_lrtem(size: int, rng: np.random.Generator, **overrides: Any) -> CleanSample:
    """Clean low-magnification bright-field TEM image (0.5–50 nm/px).

    See :func:`render_hrsem` for the parameters; modality "tem".
    """
    return _render("lrtem", size, rng, overrides)


@register_renderer("lrstem")
def render_lrstem(size: int, rng: np.random.Generator, **overrides: Any) -> CleanSample:
    """Clean low-magnification STEM image, HAADF or BF (0.2–50 nm/px).

    See :func:`render_hrsem` for the parameters; modality "stem".
    """
    return _render("lrstem", size, rng, overrides)

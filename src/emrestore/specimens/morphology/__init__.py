"""Procedural low-resolution morphologies: height, thickness and material maps [nm].

One small module per family; each exposes ``add_<family>(canvas, rng, **params)``, which
draws into a :class:`~emrestore.specimens.morphology.canvas.Canvas` and returns a
JSON-serialisable description. :func:`generate_morphology` builds a complete specimen
(substrate or support plus one family) and returns
:class:`~emrestore.specimens.morphology.maps.MorphologyMaps`.

Examples
--------
>>> import numpy as np
>>> from emrestore.specimens.morphology import generate_morphology
>>> maps = generate_morphology("particles", 128, 0.5, np.random.default_rng(0), bulk=False,
...                            diameter_nm=5.0)
>>> maps.thickness_nm.shape[1:]
(128, 128)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import ParameterError
from .canvas import Canvas
from .fibres import add_fibres
from .fracture import add_fracture
from .grains import add_grains
from .holey import add_holey_film
from .maps import MorphologyMaps
from .materials import MATERIALS, Material, get_material
from .membranes import add_membranes
from .particles import add_particles
from .pores import add_pores
from .rods import add_rods
from .scratches import add_scratches
from .sheets import add_sheets
from .supports import add_film_texture, add_substrate

#: Morphology families → drawing function.
KINDS: dict[str, Callable[..., dict[str, Any]]] = {
    "particles": add_particles,
    "rods": add_rods,
    "sheets": add_sheets,
    "membranes": add_membranes,
    "holey_film": add_holey_film,
    "grains": add_grains,
    "pores": add_pores,
    "fracture": add_fracture,
    "fibres": add_fibres,
    "scratches": add_scratches,
}

#: Families that build their own matrix on thin canvases (no support film below).
_SELF_SUPPORTING = ("membranes", "holey_film", "grains", "pores", "fracture")


def generate_morphology(kind: str, size: int, pixel_size_nm: float, rng: np.random.Generator,
                        bulk: bool, support: bool | None = None, **params: Any) -> MorphologyMaps:
    """Generate one specimen of family ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    size : int
        Image side [px].
    pixel_size_nm : float
        Pixel size [nm].
    rng : numpy.random.Generator
        Random source.
    bulk : bool
        True: bulk specimen seen from the top (SEM); False: thin specimen in projection
        (TEM/STEM).
    support : bool, optional
        Lay a substrate (bulk) or continuous support film (thin) first. Default: always
        for bulk; for thin specimens not for self-supporting families (membranes, holey
        films, grains, pores, fracture), with p = 0.3 not for sheets and fibres
        (free-standing over a hole), otherwise yes.
    **params
        Passed to the family's ``add_*`` function (see its docstring).

    Returns
    -------
    MorphologyMaps
        The maps; ``params`` lists the components drawn.
    """
    if kind not in KINDS:
        raise ParameterError(f"Unknown morphology kind {kind!r}.",
                             f"Use one of: {', '.join(KINDS)}.")
    canvas = Canvas(size, pixel_size_nm, bulk)
    if support is None:
        if bulk:
            support = True
        elif kind in _SELF_SUPPORTING:
            support = False
        elif kind in ("sheets", "fibres"):
            support = bool(rng.random() > 0.3)
        else:
            support = True
    if support:
        add_substrate(canvas, rng)
    try:
        KINDS[kind](canvas, rng, **params)
    except TypeError as error:  # unknown keyword for this family
        raise ParameterError(f"Bad parameter for morphology {kind!r}: {error}.",
                             f"See the docstring of {KINDS[kind].__name__}.") from None
    return canvas.finish(kind=kind)


__all__ = [
    "KINDS", "MATERIALS", "Canvas", "Material", "MorphologyMaps", "generate_morphology",
    "get_material", "add_fibres", "add_fracture", "add_grains", "add_holey_film",
    "add_membranes", "add_particles", "add_pores", "add_rods", "add_scratches", "add_sheets",
    "add_substrate",
    "add_film_texture",
]

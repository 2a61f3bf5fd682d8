"""The drawing surface of the morphology generators.

Generators draw into a :class:`Canvas` so that several families can be composed (e.g.
particles on a holey film, scratches on a grain structure); :meth:`Canvas.finish` freezes
it into :class:`~emrestore.specimens.morphology.maps.MorphologyMaps`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ParameterError
from ...io.jsonsafe import json_safe
from .maps import MorphologyMaps
from .materials import Material, get_material
from .parameters import PARAM_DIGITS, check_size


class Canvas:
    """Accumulates objects of several materials on a ``size`` × ``size`` grid.

    Parameters
    ----------
    size : int
        Image side [px].
    pixel_size_nm : float
        Pixel size [nm].
    bulk : bool
        True for a bulk specimen seen from the top (SEM), False for a thin specimen seen
        in projection (TEM/STEM).
    """

    def __init__(self, size: int, pixel_size_nm: float, bulk: bool) -> None:
        check_size(size)
        if not (np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
            raise ParameterError(
                f"pixel_size_nm must be positive and finite, got {pixel_size_nm!r}.",
                "Pass a pixel size in nanometres, e.g. 2.0.",
            )
        self.size = int(size)
        self.pixel_size_nm = float(pixel_size_nm)
        self.bulk = bool(bulk)
        self.height = np.zeros((size, size), np.float32)
        self.surface = np.full((size, size), -1, np.int16)
        self.grains = np.zeros((size, size), np.int32)
        self.materials: list[Material] = []
        self.thickness: list[np.ndarray] = []
        self.n_grains = 0
        self.params: dict[str, Any] = {"components": []}

    # -- bookkeeping -------------------------------------------------------------------
    @property
    def field_of_view_nm(self) -> float:
        """Image side [nm]."""
        return self.size * self.pixel_size_nm

    def material_index(self, name: str) -> int:
        """Index of material ``name`` (added if new)."""
        for i, m in enumerate(self.materials):
            if m.name == name:
                return i
        self.materials.append(get_material(name))
        self.thickness.append(np.zeros((self.size, self.size), np.float32))
        return len(self.materials) - 1

    def new_grain(self) -> int:
        """A fresh crystal label."""
        self.n_grains += 1
        return self.n_grains

    def record(self, kind: str, **info: Any) -> None:
        """Append a JSON-serialisable component description to ``params``."""
        self.params["components"].append({"kind": kind, **json_safe(info, digits=PARAM_DIGITS)})

    # -- drawing -----------------------------------------------------------------------
    def fill(self, material: str, thickness_nm: np.ndarray | float, height_nm: np.ndarray | float,
             mask: np.ndarray | None = None, grains: np.ndarray | int | None = None) -> None:
        """Cover the whole field (optionally only ``mask``) with a layer.

        ``height_nm`` is the absolute top height of the layer; where it exceeds the
        current surface the layer becomes the surface. ``thickness_nm`` is added to the
        material's projected thickness (ignored outside ``mask``).
        """
        self.add_patch(material, (slice(0, self.size), slice(0, self.size)),
                       thickness_nm, height_nm, mask, grains)

    def add_patch(self, material: str, where: tuple[slice, slice],
                  thickness_nm: np.ndarray | float, height_nm: np.ndarray | float,
                  mask: np.ndarray | None = None, grains: np.ndarray | int | None = None,
                  replace_below: bool = False) -> None:
        """Add an object occupying the region ``where``.

        Parameters
        ----------
        material : str
            Material name.
        where : tuple of slice
            Region of the canvas (already clipped to it).
        thickness_nm : array or float
            Projected thickness [nm] to add within ``mask``.
        height_nm : array or float
            Absolute height of the object's top surface [nm].
        mask : numpy.ndarray of bool, optional
            Pixels the object covers (default: all of ``where``).
        grains : array or int, optional
            Crystal label(s) of the object (0 or None: amorphous).
        replace_below : bool
            If True the object's surface replaces the current one within ``mask`` even
            when lower (e.g. a pore or groove cut into the surface).

        Notes
        -----
        On bulk canvases the object becomes the surface (material, crystal label) where
        it is the highest; on thin canvases wherever it adds material, since in
        projection it is seen regardless of height.
        """
        idx = self.material_index(material)
        shape = (where[0].stop - where[0].start, where[1].stop - where[1].start)
        if shape[0] <= 0 or shape[1] <= 0:
            return
        t = np.broadcast_to(np.asarray(thickness_nm, np.float32), shape)
        h = np.broadcast_to(np.asarray(height_nm, np.float32), shape)
        m = np.ones(shape, bool) if mask is None else mask
        tv = self.thickness[idx][where]
        tv += np.where(m, t, 0).astype(np.float32)
        hv = self.height[where]
        if self.bulk:  # what is seen from above: the highest surface
            top = m & ((h > hv) | replace_below)
        else:  # in projection a later object covers earlier ones wherever it has material
            top = m & (t > 0)
        if not top.any():
            return
        hv[top] = h[top] if (self.bulk or replace_below) else np.maximum(hv[top], h[top])
        self.surface[where][top] = idx
        if grains is not None:
            g = np.broadcast_to(np.asarray(grains, np.int32), shape)
            self.grains[where][top] = g[top]
        else:
            self.grains[where][top] = 0

    def finish(self, **params: Any) -> MorphologyMaps:
        """Freeze the canvas into :class:`MorphologyMaps`."""
        thickness = (np.stack(self.thickness) if self.thickness
                     else np.zeros((0, self.size, self.size), np.float32))
        info = dict(self.params)
        info.update(json_safe(params, digits=PARAM_DIGITS))
        info["pixel_size_nm"] = self.pixel_size_nm
        info["materials"] = [m.name for m in self.materials]
        return MorphologyMaps(
            pixel_size_nm=self.pixel_size_nm,
            height_nm=self.height.astype(np.float32),
            thickness_nm=np.maximum(thickness, 0).astype(np.float32),
            materials=tuple(self.materials),
            surface_material=self.surface.copy(),
            grains=self.grains.copy(),
            bulk=self.bulk,
            params=info,
        )

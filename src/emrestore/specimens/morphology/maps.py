"""The physical maps of one specimen region, as the contrast models read them.

A morphology is described by maps in physical units on a square pixel grid:

* ``height_nm`` — height of the top surface above the substrate plane [nm] (what SEM
  sees);
* ``thickness_nm`` — projected thickness of each material along the beam [nm] (what
  TEM/STEM see), one map per entry of ``materials``;
* ``surface_material`` — index (into ``materials``) of the material at the top surface,
  ``-1`` where nothing is there;
* ``grains`` — crystal label per pixel (0: amorphous or empty), used for diffraction and
  channelling contrast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .materials import Material


@dataclass
class MorphologyMaps:
    """Physical maps of one specimen region.

    Parameters
    ----------
    pixel_size_nm : float
        Pixel size [nm].
    height_nm : numpy.ndarray
        float32 (H, W) top-surface height above the substrate plane [nm].
    thickness_nm : numpy.ndarray
        float32 (M, H, W) projected thickness of each material [nm].
    materials : tuple of Material
        The M materials, in the order of ``thickness_nm``.
    surface_material : numpy.ndarray
        int16 (H, W) index into ``materials`` of the material at the surface (-1: none).
    grains : numpy.ndarray
        int32 (H, W) crystal label (0: amorphous or empty).
    bulk : bool
        True for bulk specimens (SEM): the substrate is semi-infinite and its thickness is
        not recorded; False for thin specimens (TEM/STEM).
    params : dict
        JSON-serialisable description of what was generated (sizes in nm).
    """

    pixel_size_nm: float
    height_nm: np.ndarray
    thickness_nm: np.ndarray
    materials: tuple[Material, ...]
    surface_material: np.ndarray
    grains: np.ndarray
    bulk: bool
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (H, W) [px]."""
        return self.height_nm.shape  # type: ignore[return-value]

    @property
    def n_grains(self) -> int:
        """Number of crystal labels (labels run 1..n_grains)."""
        return int(self.grains.max()) if self.grains.size else 0

    def crystalline_thickness_nm(self) -> np.ndarray:
        """Summed projected thickness of all crystalline materials [nm]."""
        out = np.zeros(self.shape, np.float32)
        for m, t in zip(self.materials, self.thickness_nm):
            if m.crystalline:
                out += t
        return out


def label_values(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values[labels]`` for a crystal-label map (labels beyond the table map to its end).

    ``values[0]`` is the value of label 0 (amorphous or empty pixels).
    """
    return values[np.clip(labels, 0, len(values) - 1)]

"""Atomic specimens for the atomic-resolution ground truth, built with ASE.

Generators (each ``generator(rng, extent, **overrides) -> (ase.Atoms, description)``):
:func:`random_crystal`, :func:`random_grain_boundary`, :func:`random_interface`,
:func:`random_precipitate`, :func:`random_nanoparticle`, :func:`random_sheet`,
:func:`random_amorphous_film` and the dispatcher :func:`random_specimen`.

Building blocks: the crystal library :data:`CRYSTALS` (:func:`unit_cell`,
:func:`random_zone_axis`), zone-axis slabs with exact column ids (:func:`oriented_slab`),
amorphous films (:func:`amorphous_block`), :mod:`ase.cluster` particles
(:func:`oriented_particle`), 2D sheets (:func:`stacked_sheets`) and defects
(:mod:`.defects`).
"""

from .amorphous import AMORPHOUS, amorphous_block
from .crystals import CRYSTALS, random_zone_axis, unit_cell, zone_axis_candidates
from .generators import (
    GENERATORS, random_amorphous_film, random_crystal, random_grain_boundary, random_interface,
    random_nanoparticle, random_precipitate, random_sheet, random_specimen,
)
from .nanoparticles import group_columns, oriented_particle
from .sheets import SHEETS, stacked_sheets
from .slab import AtomSet, oriented_slab, tilt, zone_frame

__all__ = [
    "AMORPHOUS", "CRYSTALS", "GENERATORS", "SHEETS", "AtomSet",
    "amorphous_block", "group_columns", "oriented_particle", "oriented_slab", "random_amorphous_film",
    "random_crystal", "random_grain_boundary", "random_interface", "random_nanoparticle",
    "random_precipitate", "random_sheet", "random_specimen", "random_zone_axis", "stacked_sheets",
    "tilt", "unit_cell", "zone_axis_candidates", "zone_frame",
]

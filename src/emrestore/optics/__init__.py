"""Clean atomic-resolution image formation: HR-STEM (incoherent HAADF, ABF-like) and
HR-TEM (multislice / phase object + CTF with envelopes), plus an abTEM bridge.

Public names: :class:`Aberrations`, :func:`wavelength_A`, :func:`wavelength_nm`,
:func:`interaction_constant`, :func:`interaction_constant_nm`,
:class:`Grid`, :func:`make_grid`, :class:`STEMOptics`, :func:`stem_image`,
:func:`probe_wave`, :class:`TEMOptics`, :func:`ctf`, :func:`multislice_exit_wave`,
:func:`tem_image`, :func:`abtem_exit_wave`, :func:`moliere_ft`.
"""

from .aberrations import (
    ENERGIES_KV, Aberrations, random_probe_aberrations, random_tem_aberrations, scherzer_defocus_A,
)
from .electron import interaction_constant, interaction_constant_nm, wavelength_A, wavelength_nm
from .grid import Grid, make_grid, splat, to_image
from .potential import moliere_ft, projected_potential_slices
from .stem import STEMOptics, probe_otf, probe_wave, stem_grid, stem_image
from .tem import TEMOptics, abtem_exit_wave, ctf, multislice_exit_wave, tem_grid, tem_image

__all__ = [
    "ENERGIES_KV", "Aberrations", "Grid", "STEMOptics", "TEMOptics", "abtem_exit_wave", "ctf",
    "interaction_constant", "interaction_constant_nm", "make_grid", "moliere_ft", "multislice_exit_wave", "probe_otf", "probe_wave",
    "projected_potential_slices", "random_probe_aberrations", "random_tem_aberrations",
    "scherzer_defocus_A", "splat", "stem_grid", "stem_image", "tem_grid", "tem_image", "to_image",
    "wavelength_A", "wavelength_nm",
]

"""Materials as the contrast models see them: effective Z, mass, density, inner potential."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ParameterError

#: Avogadro's number divided by 1e21 nm³/cm³: atoms/nm³ = density [g/cm³] · this / A [g/mol].
_AVOGADRO_PER_NM3 = 602.214


@dataclass(frozen=True)
class Material:
    """A material as the contrast models see it.

    Parameters
    ----------
    name : str
        Identifier.
    z_eff : float
        Mass-weighted mean atomic number (used for backscattering and Z-contrast).
    a_eff : float
        Mean atomic mass per atom [g/mol].
    density_g_cm3 : float
        Mass density [g/cm³].
    crystalline : bool
        Whether the material diffracts (grain/diffraction/channelling contrast).
    inner_potential_v : float
        Mean inner potential [V] (phase shift in TEM).
    """

    name: str
    z_eff: float
    a_eff: float
    density_g_cm3: float
    crystalline: bool
    inner_potential_v: float

    @property
    def atoms_per_nm3(self) -> float:
        """Atom number density [nm⁻³]."""
        return self.density_g_cm3 * _AVOGADRO_PER_NM3 / self.a_eff


def _m(name: str, z: float, a: float, rho: float, cryst: bool, v0: float) -> Material:
    return Material(name, z, a, rho, cryst, v0)


#: Materials known to the generators; compounds use mass-weighted Z and mean mass per atom.
MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        _m("amorphous_carbon", 6.0, 12.01, 2.0, False, 10.0),
        _m("graphite", 6.0, 12.01, 2.26, True, 11.0),
        _m("mos2", 31.6, 53.36, 5.06, True, 20.0),
        _m("silica", 10.8, 20.03, 2.2, False, 10.0),
        _m("silicon", 14.0, 28.09, 2.33, True, 12.0),
        _m("alumina", 10.65, 20.39, 3.95, True, 15.0),
        _m("titania", 16.4, 26.62, 4.23, True, 17.0),
        _m("zirconia", 31.7, 41.07, 5.68, True, 20.0),
        _m("ceria", 48.7, 57.37, 7.2, True, 20.0),
        _m("iron_oxide", 21.0, 33.08, 5.17, True, 18.0),
        _m("aluminium", 13.0, 26.98, 2.70, True, 13.0),
        _m("iron", 26.0, 55.85, 7.87, True, 22.0),
        _m("nickel", 28.0, 58.69, 8.90, True, 22.0),
        _m("copper", 29.0, 63.55, 8.96, True, 20.0),
        _m("silver", 47.0, 107.87, 10.49, True, 20.0),
        _m("palladium", 46.0, 106.42, 12.0, True, 24.0),
        _m("platinum", 78.0, 195.08, 21.45, True, 28.0),
        _m("gold", 79.0, 196.97, 19.3, True, 25.0),
        _m("tungsten", 74.0, 183.84, 19.25, True, 28.0),
        _m("polymer", 5.6, 6.51, 1.05, False, 8.0),
        _m("epoxy_resin", 5.8, 7.0, 1.2, False, 8.5),
        _m("protein", 6.8, 7.3, 1.35, False, 9.0),
        # lipid membrane with OsO4/uranyl stain taken up: an effective heavy-ish material
        _m("stained_membrane", 14.0, 16.0, 1.9, False, 11.0),
        _m("lipid", 5.5, 6.4, 1.0, False, 7.0),
        _m("vitreous_ice", 7.2, 6.0, 0.93, False, 3.6),
    )
}

#: Metals and oxides commonly imaged as particles.
PARTICLE_MATERIALS = (
    "gold", "silver", "platinum", "palladium", "copper", "nickel", "iron_oxide", "titania",
    "ceria", "silica", "zirconia", "alumina", "polymer",
)


def get_material(name: str) -> Material:
    """Return the :class:`Material` called ``name``.

    Raises
    ------
    ParameterError
        If the material is unknown.
    """
    try:
        return MATERIALS[name]
    except KeyError:
        raise ParameterError(
            f"Unknown material {name!r}.", f"Use one of: {', '.join(sorted(MATERIALS))}."
        ) from None

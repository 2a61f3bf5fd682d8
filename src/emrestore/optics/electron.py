"""The beam electron: its relativistic wavelength and its interaction constant.

One formula each (CODATA 2018 constants), in Å for the atomic-resolution optics and in nm
for the low-magnification ones.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError

#: Electron rest energy m₀c² [keV] (CODATA 2018).
MC2_KEV = 510.99895
#: Planck constant × speed of light [keV·Å] (CODATA 2018).
HC_KEV_A = 12.398419843


def wavelength_A(energy_kv: float) -> float:
    """Relativistic electron wavelength λ = hc / sqrt(E (2 m₀c² + E)) [Å] at ``energy_kv`` [kV].

    Raises
    ------
    ParameterError
        If ``energy_kv`` is not positive.
    """
    if not energy_kv > 0:
        raise ParameterError(f"Beam energy must be positive, got {energy_kv} kV.", "Pass an energy such as 200 kV.")
    e = float(energy_kv)
    return HC_KEV_A / np.sqrt(e * (2 * MC2_KEV + e))


def wavelength_nm(energy_kv: float) -> float:
    """Relativistic electron wavelength [nm] at ``energy_kv`` [kV] (:func:`wavelength_A` / 10)."""
    return float(wavelength_A(energy_kv)) / 10.0


def interaction_constant(energy_kv: float) -> float:
    """Interaction constant σ = 2π / (λ E) · (m₀c² + E) / (2 m₀c² + E) [rad / (V·Å)].

    The phase shift per unit projected potential [V·Å] at ``energy_kv`` [kV].
    """
    e = float(energy_kv)
    lam = wavelength_A(e)
    return 2 * np.pi / (lam * e * 1e3) * (MC2_KEV + e) / (2 * MC2_KEV + e)


def interaction_constant_nm(energy_kv: float) -> float:
    """Interaction constant [rad / (V·nm)] at ``energy_kv`` [kV] (10 × :func:`interaction_constant`)."""
    return float(interaction_constant(energy_kv)) * 10.0


__all__ = ["HC_KEV_A", "MC2_KEV", "interaction_constant", "interaction_constant_nm", "wavelength_A", "wavelength_nm"]

"""The one electron-wavelength and interaction-constant formula, in Å and nm."""

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.optics.electron import (
    interaction_constant,
    interaction_constant_nm,
    wavelength_A,
    wavelength_nm,
)

ENERGIES_KV = (60.0, 80.0, 120.0, 200.0, 300.0)


@pytest.mark.parametrize("kv", ENERGIES_KV)
def test_nm_is_the_angstrom_value_over_ten(kv: float) -> None:
    assert wavelength_nm(kv) == pytest.approx(wavelength_A(kv) / 10, rel=1e-15)
    assert interaction_constant_nm(kv) == pytest.approx(10 * interaction_constant(kv), rel=1e-15)


@pytest.mark.parametrize("kv", ENERGIES_KV)
def test_wavelength_matches_the_textbook_approximation(kv: float) -> None:
    # λ [nm] = 1.226426 / sqrt(V (1 + 0.978476e-6 V)), V in volts: constants rounded to 7 digits
    volts = kv * 1e3
    textbook = 1.226426 / np.sqrt(volts * (1.0 + 0.978476e-6 * volts))
    assert wavelength_nm(kv) == pytest.approx(textbook, rel=3e-8)


def test_wavelength_falls_with_energy_and_needs_a_positive_one() -> None:
    values = [wavelength_A(kv) for kv in ENERGIES_KV]
    assert values == sorted(values, reverse=True)
    with pytest.raises(ParameterError):
        wavelength_nm(0.0)


def test_electron_optics_constants() -> None:
    assert wavelength_nm(200.0) == pytest.approx(2.508e-3, rel=1e-3)
    assert interaction_constant_nm(200.0) == pytest.approx(7.29e-3, rel=0.01)

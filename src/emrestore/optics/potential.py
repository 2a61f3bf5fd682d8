"""Projected atomic potentials on a grid (fast path, no abTEM needed).

Each atom is a screened Coulomb potential in Molière's approximation of the
Thomas–Fermi atom,

.. math::

    V(r) = \\frac{Z e}{4\\pi\\varepsilon_0 r}\\sum_{i=1}^{3} a_i e^{-b_i r / a_{TF}},
    \\quad a_{TF} = 0.8853\\, a_0 Z^{-1/3},

with (a_i) = (0.35, 0.55, 0.10), (b_i) = (0.3, 1.2, 6.0). Its projection along z has the
2-D Fourier transform ``V(q) = 4π · 14.3996 Z Σ a_i / (q² + κ_i²)`` [V·Å³] with
``q = 2πk`` and ``κ_i = b_i / a_TF``, so a slice's projected potential [V·Å] is the
FFT of the splatted atom positions times ``V(q)`` per element, with a Debye–Waller factor
``exp(−2π²σ²k²)`` for thermal vibrations of rms ``σ`` [Å]. Only three universal constants
enter, no element tables; abTEM's tabulated potentials (Lobato–Van Dyck) are used by the
multislice path and the fidelity check measures the difference.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from ..errors import ParameterError
from .grid import Grid, splat, splat_transfer

_A = np.array([0.35, 0.55, 0.10])
_B = np.array([0.3, 1.2, 6.0])
_BOHR_A = 0.529177
_E_4PI_EPS0 = 14.399645  # e / (4 pi eps0) [V·Å]


def moliere_ft(z: int, k: np.ndarray) -> np.ndarray:
    """Fourier transform of the projected potential of one atom [V·Å³] at ``k`` [1/Å]."""
    a_tf = 0.8853 * _BOHR_A * float(z) ** (-1 / 3)
    kappa = _B / a_tf
    q2 = (2 * np.pi) ** 2 * np.asarray(k, float) ** 2
    out = np.zeros_like(q2)
    for a, kap in zip(_A, kappa):
        out += a / (q2 + kap * kap)
    return 4 * np.pi * _E_4PI_EPS0 * float(z) * out


def lobato_ft(z: int, k: np.ndarray) -> np.ndarray:
    """Projected potential of one atom [V·Å³] from abTEM's Lobato–Van Dyck parametrisation.

    Raises
    ------
    ParameterError
        If abTEM is not installed.
    """
    try:
        from abtem.parametrizations import LobatoParametrization
    except ImportError:  # pragma: no cover - depends on the environment
        raise ParameterError("The 'lobato' potential needs abTEM, which is not installed.",
                             "Install abTEM (the 'sim' extra) or use potential='moliere'.") from None
    return np.asarray(_lobato_function(int(z), LobatoParametrization)(np.asarray(k, float) ** 2), float)


@lru_cache(maxsize=None)
def _lobato_function(z: int, parametrization: type):
    from ase.data import chemical_symbols

    return parametrization().get_function("projected_scattering_factor", chemical_symbols[z])


def abtem_available() -> bool:
    """True when abTEM can be imported."""
    try:
        import abtem  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_potential(name: str) -> str:
    """``"auto"`` → ``"lobato"`` when abTEM is installed, else ``"moliere"``."""
    if name == "auto":
        return "lobato" if abtem_available() else "moliere"
    if name not in POTENTIALS:
        raise ParameterError(f"Unknown potential {name!r}.", f"Use 'auto' or one of {', '.join(POTENTIALS)}.")
    return name


#: Atomic form factors by name.
POTENTIALS = {"moliere": moliere_ft, "lobato": lobato_ft}


def projected_potential_slices(
    grid: Grid, positions: np.ndarray, numbers: np.ndarray, slice_index: np.ndarray, n_slices: int,
    sigma_A: float, k_max: float | None = None, potential: str = "moliere",
) -> np.ndarray:
    """Projected potential of each slice [V·Å] on the grid.

    Parameters
    ----------
    grid : Grid
        Computation grid.
    positions : numpy.ndarray
        (N, 3) atom positions [Å] (x, y used).
    numbers : numpy.ndarray
        (N,) atomic numbers.
    slice_index : numpy.ndarray
        (N,) slice of each atom (0 … n_slices−1).
    sigma_A : float
        Thermal rms displacement per direction [Å].
    k_max : float, optional
        Band limit [1/Å] applied to the potential (anti-aliasing).
    potential : {"moliere", "lobato"}
        Atomic potential: analytic Molière (default, no dependency) or abTEM's Lobato
        parametrisation (needs abTEM).

    Returns
    -------
    numpy.ndarray
        (n_slices, n, n) float32.
    """
    if potential not in POTENTIALS:
        raise ParameterError(f"Unknown potential {potential!r}.", f"Use one of {', '.join(POTENTIALS)}.")
    form_factor = POTENTIALS[potential]
    kx, ky = grid.freqs()
    k = np.sqrt(kx * kx + ky * ky)
    dw = np.exp(-2 * np.pi**2 * sigma_A**2 * k * k) / splat_transfer(grid) / grid.sampling**2
    if k_max is not None:
        dw = dw * (k <= k_max)
    species = np.unique(numbers)
    kr = np.sqrt(sfft.rfftfreq(grid.n, grid.sampling)[None, :] ** 2 + ky**2)
    acc = None
    for z in species:
        sel = numbers == z
        dens = splat(grid, positions[sel, :2], np.ones(int(sel.sum())), slice_index[sel], n_slices)
        f = sfft.rfft2(dens.astype(np.float32), workers=1)
        f *= (form_factor(int(z), kr) * dw[:, : kr.shape[1]]).astype(np.float32)
        acc = f if acc is None else acc + f
    if acc is None:
        return np.zeros((n_slices, grid.n, grid.n), np.float32)
    out = sfft.irfft2(acc, s=(grid.n, grid.n), workers=1).astype(np.float32)
    return out


__all__ = ["POTENTIALS", "abtem_available", "resolve_potential", "lobato_ft", "moliere_ft", "projected_potential_slices"]

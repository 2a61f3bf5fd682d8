"""HR-TEM image formation: exit wave (phase object or multislice) → coherent transfer
with partial-coherence envelopes and an optional objective aperture → intensity.

The fast path computes the exit wave with a numpy multislice over Molière projected
potentials (:mod:`.potential`); a specimen thinner than one slice is a phase object.
:func:`abtem_exit_wave` does the same with abTEM (Lobato potentials, finer slicing) when
abTEM is installed.

Transfer (quasi-coherent, as in abTEM's CTF):
``T(k) = A(k) · exp(−iχ(k)) · E_t(k) · E_s(k)`` with the temporal envelope
``E_t = exp(−½ (π λ Δ k²)²)`` (focal spread Δ) and the spatial envelope
``E_s = exp(−(α_s/λ)² |∇_k χ|² / 4)`` (illumination semi-angle α_s), ∇_k χ in rad·Å.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from ..errors import ParameterError
from .aberrations import Aberrations
from .electron import interaction_constant, wavelength_A
from .grid import Grid, make_grid, to_image
from .potential import projected_potential_slices


@dataclass
class TEMOptics:
    """Objective-lens optics of an HR-TEM.

    Parameters
    ----------
    energy_kv : float
        Beam energy [kV].
    aberrations : Aberrations
        Coherent aberrations [Å].
    focal_spread_A : float
        rms focal spread Δ [Å] (temporal coherence).
    convergence_mrad : float
        Illumination semi-angle α_s [mrad] (spatial coherence).
    aperture_mrad : float or None
        Objective aperture semi-angle [mrad]; None = no aperture.
    """

    energy_kv: float = 300.0
    aberrations: Aberrations = field(default_factory=Aberrations)
    focal_spread_A: float = 30.0
    convergence_mrad: float = 0.1
    aperture_mrad: float | None = None

    def check(self) -> None:
        wavelength_A(self.energy_kv)
        if self.focal_spread_A < 0 or self.convergence_mrad < 0:
            raise ParameterError("Focal spread and convergence must be ≥ 0.", "Pass focal_spread_A >= 0 and convergence_mrad >= 0.")
        if self.aperture_mrad is not None and not self.aperture_mrad > 0:
            raise ParameterError(f"Objective aperture must be > 0 mrad, got {self.aperture_mrad}.", "Pass None for no aperture.")


def ctf(grid: Grid, optics: TEMOptics, k_cut: float | None = None) -> np.ndarray:
    """Wave transfer function on the grid (complex, FFT order).

    Parameters
    ----------
    k_cut : float, optional
        Extra hard cut-off [1/Å] (keeps the intensity free of aliasing on the grid).
    """
    optics.check()
    kx, ky = grid.freqs()
    lam = wavelength_A(optics.energy_kv)
    k2 = kx * kx + ky * ky
    k = np.sqrt(k2)
    ab = optics.aberrations
    chi = ab.chi(kx, ky, lam)
    # gradient of chi by central differences in k (rad·Å)
    h = 1e-4
    gx = (ab.chi(kx + h, ky, lam) - ab.chi(kx - h, ky, lam)) / (2 * h)
    gy = (ab.chi(kx, ky + h, lam) - ab.chi(kx, ky - h, lam)) / (2 * h)
    a_s = optics.convergence_mrad * 1e-3
    e_s = np.exp(-((a_s / lam) ** 2) * (gx * gx + gy * gy) / 4)
    e_t = np.exp(-0.5 * (np.pi * lam * optics.focal_spread_A * k2) ** 2)
    t = np.exp(-1j * chi) * e_s * e_t
    if optics.aperture_mrad is not None:
        t = t * (k <= optics.aperture_mrad * 1e-3 / lam)
    if k_cut is not None:
        t = t * (k <= k_cut)
    return t


def tem_grid(size: int, pixel_A: float, margin_A: float = 12.0, max_sampling_A: float = 0.2) -> Grid:
    """Grid for HR-TEM: spacing ≤ ``max_sampling_A`` [Å]."""
    return make_grid(size, pixel_A, max_sampling_A, margin_A)


def slice_atoms(z: np.ndarray, slice_A: float) -> tuple[np.ndarray, int, float]:
    """Assign atoms to slices of about ``slice_A`` [Å] spanning their depth range.

    Returns
    -------
    index, n_slices, dz
        Slice of each atom, number of slices, actual slice thickness [Å].
    """
    if len(z) == 0:
        return np.zeros(0, np.int64), 1, slice_A
    z0, z1 = float(z.min()), float(z.max())
    depth = max(z1 - z0, 1e-6)
    n = max(1, int(np.ceil(depth / slice_A)))
    dz = depth / n
    idx = np.clip(((z - z0) / dz).astype(np.int64), 0, n - 1)
    return idx, n, max(dz, 1.0)


def multislice_exit_wave(
    grid: Grid, positions: np.ndarray, numbers: np.ndarray, energy_kv: float, slice_A: float,
    sigma_A: float, potential: str = "moliere",
) -> np.ndarray:
    """Exit wave by multislice over Molière (or Lobato) potentials (phase object if one slice).

    Parameters
    ----------
    positions : numpy.ndarray
        (N, 3) atom positions [Å]; the beam enters at the smallest z.
    slice_A : float
        Target slice thickness [Å].
    sigma_A : float
        Thermal rms displacement [Å] (Debye–Waller smearing of the potential).
    potential : {"moliere", "lobato"}
        Atomic potential (see :func:`.potential.projected_potential_slices`).

    Returns
    -------
    numpy.ndarray
        (n, n) complex64 exit wave (incident amplitude 1).
    """
    idx, n_slices, dz = slice_atoms(positions[:, 2], slice_A)
    kx, ky = grid.freqs()
    k2 = kx * kx + ky * ky
    k_aa = (2 / 3) / (2 * grid.sampling)  # anti-aliasing band limit
    v = projected_potential_slices(grid, positions, numbers, idx, n_slices, sigma_A, k_max=k_aa, potential=potential)
    sigma = interaction_constant(energy_kv)
    lam = wavelength_A(energy_kv)
    mask = (k2 <= k_aa * k_aa)
    prop = (np.exp(-1j * np.pi * lam * dz * k2) * mask).astype(np.complex64)
    psi = np.ones((grid.n, grid.n), np.complex64)
    for s in range(n_slices):
        psi *= np.exp(np.complex64(1j * sigma) * v[s])
        f = sfft.fft2(psi, workers=1)
        f *= prop if s < n_slices - 1 else mask
        psi = sfft.ifft2(f, workers=1)
    return psi


def tem_image(grid: Grid, exit_wave: np.ndarray, optics: TEMOptics) -> np.ndarray:
    """Image intensity (incident intensity 1) from an exit wave, integrated over pixels."""
    k_cut = 1.0 / (4 * grid.sampling)
    f = sfft.fft2(exit_wave, workers=1) * ctf(grid, optics, k_cut=k_cut)
    intensity = np.abs(sfft.ifft2(f, workers=1)) ** 2
    return to_image(grid, intensity, integrate=True)


def abtem_exit_wave(
    grid: Grid, positions: np.ndarray, numbers: np.ndarray, energy_kv: float, slice_A: float = 2.0,
) -> np.ndarray:
    """Exit wave by abTEM multislice (Lobato potentials, infinite projection) on ``grid``.

    Raises
    ------
    ParameterError
        If abTEM is not installed.
    """
    atoms = _ase_atoms(grid, positions, numbers)
    abtem = _import_abtem()
    potential = abtem.Potential(atoms, gpts=(grid.n, grid.n), slice_thickness=slice_A,
                                projection="infinite", parametrization="lobato")
    wave = abtem.PlaneWave(energy=energy_kv * 1e3)
    exit_wave = wave.multislice(potential).compute(progress_bar=False)
    # abTEM's arrays are (x, y); ours are (y, x)
    return np.asarray(exit_wave.array).T.astype(np.complex64)


def _ase_atoms(grid: Grid, positions: np.ndarray, numbers: np.ndarray):
    from ase import Atoms

    p = np.asarray(positions, float).copy()
    p[:, 2] -= p[:, 2].min() - 1.0
    depth = float(p[:, 2].max()) + 1.0
    return Atoms(numbers=numbers, positions=p, cell=[grid.extent, grid.extent, depth], pbc=True)


def _import_abtem():
    try:
        import abtem
    except ImportError:  # pragma: no cover - depends on the environment
        raise ParameterError(
            "The multislice path needs abTEM, which is not installed.",
            "Install it with `pip install abtem` (the 'sim' extra) or use engine='fast'.",
        ) from None
    abtem.config.set({"device": "cpu", "fft": "numpy", "precision": "float32"})
    return abtem


__all__ = [
    "TEMOptics", "ctf", "tem_grid", "slice_atoms", "multislice_exit_wave", "tem_image", "abtem_exit_wave",
]

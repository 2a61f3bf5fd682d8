"""Fidelity check of the fast paths against abTEM multislice (needs abTEM).

Both sides see the same atoms in the same periodic box (the renderer's grid), the same
optics and the same sampling:

* HR-TEM: exit wave from the numpy multislice over Molière potentials vs abTEM multislice
  (Lobato potentials, 2 Å slices); the same CTF is then applied to both.
* HR-STEM: incoherent ``Z^γ`` convolution with the probe intensity vs an abTEM HAADF
  scan (annular detector 70–200 mrad, frozen phonons); the same Gaussian source blur is
  applied to both.

Reported: Pearson correlation of the two images, their relative shift from phase
correlation [px], and the mean distance [px] between image extrema located near each
true column in the two images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..specimens import oriented_slab, unit_cell
from ..specimens.slab import AtomSet
from .aberrations import Aberrations
from .grid import Grid
from .stem import STEMOptics, stem_grid, stem_image
from .tem import TEMOptics, _import_abtem, abtem_exit_wave, multislice_exit_wave, tem_grid, tem_image


def _slab_for(grid: Grid, structure: str, uvw: tuple[int, int, int], thickness_nm: float) -> AtomSet:
    return oriented_slab(unit_cell(structure), uvw, (0.0, grid.extent, 0.0, grid.extent), thickness_nm * 10,
                         inplane_deg=0.0, shift_frac=(0.13, 0.27, 0.0))


def _columns_px(grid: Grid, atoms: AtomSet) -> np.ndarray:
    ids, inv = np.unique(atoms.column, return_inverse=True)
    cnt = np.bincount(inv)
    xy = np.stack([np.bincount(inv, atoms.positions[:, 0]), np.bincount(inv, atoms.positions[:, 1])], 1) / cnt[:, None]
    px = grid.to_image_px(xy)
    keep = np.all((px >= 2) & (px < grid.size - 3), axis=1)
    return px[keep]


def _peak_offsets(a: np.ndarray, b: np.ndarray, columns: np.ndarray, radius: int, bright: bool) -> float:
    """Mean distance [px] between the intensity-weighted centroids of ``a`` and ``b`` in a
    window around each column (centroid of the bright or dark contrast)."""
    d = []
    for x, y in columns:
        cx, cy = int(round(x)), int(round(y))
        sl = (slice(cy - radius, cy + radius + 1), slice(cx - radius, cx + radius + 1))
        cents = []
        for img in (a, b):
            w = img[sl]
            if w.shape != (2 * radius + 1, 2 * radius + 1):
                break
            w = (w - w.min()) if bright else (w.max() - w)
            yy, xx = np.mgrid[sl]
            s = w.sum()
            if s <= 0:
                break
            cents.append(np.array([(w * xx).sum() / s, (w * yy).sum() / s]))
        if len(cents) == 2:
            d.append(np.linalg.norm(cents[0] - cents[1]))
    return float(np.mean(d)) if d else float("nan")


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    fa, fb = np.fft.fft2(a - a.mean()), np.fft.fft2(b - b.mean())
    r = fa * np.conj(fb)
    cc = np.fft.ifft2(r / np.maximum(np.abs(r), 1e-12)).real
    iy, ix = np.unravel_index(np.argmax(cc), cc.shape)
    n = a.shape[0]
    iy = iy - n if iy > n // 2 else iy
    ix = ix - n if ix > n // 2 else ix
    return float(np.hypot(ix, iy))


def _compare(fast: np.ndarray, ref: np.ndarray, columns: np.ndarray, bright: bool, radius: int) -> dict[str, float]:
    r = float(np.corrcoef(fast.ravel(), ref.ravel())[0, 1])
    return {"pearson_r": r, "shift_px": _shift(fast, ref),
            "column_peak_offset_px": _peak_offsets(fast, ref, columns, radius, bright), "n_columns": int(len(columns))}


def hrtem_fidelity(structure: str = "SrTiO3", uvw: tuple[int, int, int] = (0, 0, 1), thickness_nm: float = 3.0,
                   energy_kv: float = 300.0, pixel_A: float = 0.1, size: int = 96,
                   defocus_A: float | None = None, cs_A: float = -15e4,
                   fast_slice_A: float | None = 2.0, potential: str = "moliere") -> dict[str, Any]:
    """Compare fast HR-TEM (Molière multislice) with abTEM multislice on a small cell.

    Default optics: negative-Cs imaging (Cs = −15 µm at Scherzer overfocus), focal spread
    2 nm, 0.1 mrad illumination. ``fast_slice_A=None`` uses the renderer's default
    slicing (max(2.5 Å, depth/12)). Returns the agreement numbers and the two images.
    """
    from .aberrations import scherzer_defocus_A

    _import_abtem()
    grid = tem_grid(size, pixel_A, margin_A=8.0, max_sampling_A=pixel_A)
    atoms = _slab_for(grid, structure, uvw, thickness_nm)
    df = scherzer_defocus_A(cs_A, energy_kv) if defocus_A is None else defocus_A
    optics = TEMOptics(energy_kv, Aberrations(defocus=df, C30=cs_A), focal_spread_A=20.0, convergence_mrad=0.1)
    if fast_slice_A is None:
        fast_slice_A = max(2.5, float(np.ptp(atoms.positions[:, 2])) / 12)
    fast_wave = multislice_exit_wave(grid, atoms.positions, atoms.numbers, energy_kv, fast_slice_A, 0.0, potential)
    ref_wave = abtem_exit_wave(grid, atoms.positions, atoms.numbers, energy_kv, 2.0)
    fast = tem_image(grid, fast_wave, optics)
    ref = tem_image(grid, ref_wave, optics)
    cols = _columns_px(grid, atoms)
    out = _compare(fast, ref, cols, bright=False, radius=max(2, int(0.6 / pixel_A)))
    out.update({"structure": structure, "zone_axis": list(uvw), "thickness_nm": thickness_nm, "energy_kv": energy_kv,
                "pixel_A": pixel_A, "defocus_nm": df / 10, "Cs_um": cs_A / 1e4, "fast_slice_A": fast_slice_A,
                "potential": potential})
    return {"numbers": out, "fast": fast, "reference": ref, "columns": cols}


def hrstem_fidelity(structure: str = "SrTiO3", uvw: tuple[int, int, int] = (0, 0, 1), thickness_nm: float = 2.0,
                    energy_kv: float = 200.0, alpha_mrad: float = 25.0, pixel_A: float = 0.25, size: int = 24,
                    gamma: float = 1.7, source_sigma_A: float = 0.35, thermal_sigma_A: float = 0.08,
                    num_configs: int = 4, potential_sampling_A: float = 0.05) -> dict[str, Any]:
    """Compare fast HAADF (incoherent Z^γ) with an abTEM multislice HAADF scan (70–200 mrad).

    Returns the agreement numbers and the two images (source blur applied to both).
    """
    abtem = _import_abtem()
    optics = STEMOptics(energy_kv, alpha_mrad, Aberrations(), 0.0)
    grid = stem_grid(size, pixel_A, optics, margin_A=5.0)
    atoms = _slab_for(grid, structure, uvw, thickness_nm)
    fast = stem_image(grid, atoms.positions, atoms.numbers.astype(float) ** gamma, optics, thermal_sigma_A)
    from ase import Atoms

    p = atoms.positions.copy()
    p[:, 2] += 1.0
    ase_atoms = Atoms(numbers=atoms.numbers, positions=p, cell=[grid.extent, grid.extent, p[:, 2].max() + 1.0], pbc=True)
    phonons = abtem.FrozenPhonons(ase_atoms, num_configs=num_configs, sigmas=thermal_sigma_A, seed=1)
    gpts = int(np.ceil(grid.extent / potential_sampling_A))
    potential = abtem.Potential(phonons, gpts=(gpts, gpts), slice_thickness=2.0, projection="infinite")
    probe = abtem.Probe(energy=energy_kv * 1e3, semiangle_cutoff=alpha_mrad)
    start = (grid.margin_A, grid.margin_A)
    end = (grid.margin_A + size * pixel_A, grid.margin_A + size * pixel_A)
    scan = abtem.GridScan(start=start, end=end, gpts=(size, size), endpoint=False)
    detector = abtem.AnnularDetector(inner=70, outer=200)
    meas = probe.scan(potential, scan=scan, detectors=detector).compute(progress_bar=False)
    ref = np.asarray(meas.array).T
    sig = source_sigma_A / pixel_A
    fast_b = ndimage.gaussian_filter(fast, sig, mode="nearest")
    ref_b = ndimage.gaussian_filter(ref, sig, mode="nearest")
    cols = _columns_px(grid, atoms)
    out = _compare(fast_b, ref_b, cols, bright=True, radius=max(2, int(0.6 / pixel_A)))
    out.update({"structure": structure, "zone_axis": list(uvw), "thickness_nm": thickness_nm, "energy_kv": energy_kv,
                "alpha_mrad": alpha_mrad, "pixel_A": pixel_A, "gamma": gamma, "frozen_phonon_configs": num_configs})
    return {"numbers": out, "fast": fast_b, "reference": ref_b, "columns": cols}


__all__ = ["hrtem_fidelity", "hrstem_fidelity"]

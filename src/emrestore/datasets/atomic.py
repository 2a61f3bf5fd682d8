"""Clean-image renderers for the atomic-resolution tags ``hrstem`` and ``hrtem``.

Both draw a specimen (:func:`emrestore.specimens.random_specimen`), optics and a pixel
size (0.05–1.0 Å: with p = 0.7 log-uniform in the common 0.1–0.6 Å, else log-uniform over
the whole range — see :data:`PIXEL_RANGE_NM`) from the generator, render on a grid with a margin around
the field of view, and return a :class:`~emrestore.datasets.sample.CleanSample` whose
``columns`` are the true atomic-column positions (mean x, y of the column's atoms) in
image pixels, pixel (row r, column c) being centred at (x = c, y = r).

Keyword overrides (all optional) fix a draw: ``pixel_size_nm``, ``energy_kv``,
``specimen`` (dict passed to :func:`~emrestore.specimens.random_specimen`, e.g.
``{"kind": "crystal", "structure": "SrTiO3", "zone_axis": (0, 0, 1)}``), ``atoms``
(a ready :class:`ase.Atoms` whose x, y span ``[0, extent)`` — see :func:`grid_for`),
``thermal_sigma_A``; for ``hrstem`` also ``alpha_mrad``, ``aberrations`` (dict as in
:meth:`Aberrations.as_params`), ``source_sigma_A``, ``gamma``, ``sublinear_beta``,
``detector`` ("haadf" | "abf"), ``abf_gamma``, ``abf_contrast``; for ``hrtem`` also
``aberrations``, ``focal_spread_nm``, ``convergence_mrad``, ``aperture_mrad``, ``engine``
("fast" | "abtem"), ``slice_A``, ``potential`` ("auto" | "moliere" | "lobato"; "auto" takes
abTEM's Lobato parametrisation when abTEM is installed, else the analytic Molière
potential — the choice is recorded in ``params["object"]["potential"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from ..errors import ParameterError
from ..io.jsonsafe import json_safe
from ..optics.aberrations import (
    ENERGIES_KV, Aberrations, random_probe_aberrations, random_tem_aberrations,
)
from ..optics.grid import Grid
from ..optics.potential import resolve_potential
from ..optics.stem import STEMOptics, stem_grid, stem_image
from ..optics.tem import TEMOptics, abtem_exit_wave, multislice_exit_wave, tem_grid, tem_image
from ..specimens import group_columns, random_specimen
from ..tags import Tag
from .registry import register_renderer
from .sample import CleanSample

#: Pixel-size range of the atomic-resolution tags [nm] (0.05–1.0 Å). Real HR frames are
#: often sampled coarser than 0.4 Å (hrstem_example.ser: 0.52 Å/px); see docs/realism.md.
PIXEL_RANGE_NM = Tag.get("hrstem").pixel_range_nm
#: Sub-range most pixel sizes are drawn from [nm] (0.1–0.6 Å) and its probability.
PIXEL_COMMON_NM = (0.01, 0.06)
PIXEL_COMMON_P = 0.7
#: Pixel size of the demo frame [nm] (``emrestore demo``, the napari sample): 0.2 Å, in the middle
#: of the common HR sampling. Drawn freely, seed 7 would give an almost featureless sheet edge at 0.5 Å/px.
DEMO_PIXEL_NM = 0.02

_COMMON = {"pixel_size_nm", "energy_kv", "specimen", "atoms", "thermal_sigma_A"}
_STEM_KEYS = _COMMON | {"alpha_mrad", "aberrations", "source_sigma_A", "gamma", "sublinear_beta", "detector",
                        "abf_gamma", "abf_contrast"}
_TEM_KEYS = _COMMON | {"aberrations", "focal_spread_nm", "convergence_mrad", "aperture_mrad", "engine", "slice_A",
                       "potential"}


def _check_keys(overrides: dict, allowed: set[str], tag: str) -> None:
    bad = sorted(set(overrides) - allowed)
    if bad:
        raise ParameterError(f"Unknown override(s) for {tag}: {', '.join(bad)}.", f"Use any of {', '.join(sorted(allowed))}.")


def _pixel_A(rng: np.random.Generator, overrides: dict) -> float:
    lo, hi = PIXEL_RANGE_NM
    value = overrides.get("pixel_size_nm")
    if value is None:  # two uniform numbers, whatever the branch
        u_part, u_value = rng.random(2)
        a, b = PIXEL_COMMON_NM if u_part < PIXEL_COMMON_P else PIXEL_RANGE_NM
        value = float(np.exp(np.log(a) + u_value * (np.log(b) - np.log(a))))
    if not lo * 0.999 <= value <= hi * 1.001:
        raise ParameterError(f"Pixel size {value} nm is outside the atomic-resolution range {lo}–{hi} nm.",
                             f"Pass pixel_size_nm between {lo} and {hi} ({lo * 10:g}–{hi * 10:g} Å).")
    return float(value) * 10


def _energy(rng: np.random.Generator, overrides: dict, weights: tuple[float, ...]) -> float:
    e = overrides.get("energy_kv")
    if e is None:
        e = float(rng.choice(ENERGIES_KV, p=np.array(weights) / sum(weights)))
    return float(e)


def grid_specimen(
    grid: Grid, rng: np.random.Generator, overrides: dict, tries: int = 6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Specimen atoms covering the grid; re-drawn (up to ``tries``) when the field of view
    holds no atom. Returns positions, numbers, column ids, grain ids, description."""
    lo = grid.margin_A
    hi = lo + grid.size * grid.pixel_A
    if overrides.get("atoms") is not None:
        atoms: Atoms = overrides["atoms"]
        desc = {"kind": "given", "n_atoms": len(atoms), "formula": atoms.get_chemical_formula()}
        return _unpack(atoms) + (desc,)
    spec = dict(overrides.get("specimen") or {})
    kind = spec.pop("kind", None)
    for _ in range(tries):
        atoms, desc = random_specimen(rng, (grid.extent, grid.extent), kind=kind, **spec)
        p = atoms.positions
        inside = (p[:, 0] >= lo) & (p[:, 0] < hi) & (p[:, 1] >= lo) & (p[:, 1] < hi)
        if inside.sum() >= 3:
            return _unpack(atoms) + (desc,)
    raise ParameterError("The specimen drawn leaves the field of view empty.",
                         "Use a larger pixel size or another specimen kind.")


def _unpack(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(atoms)
    col = atoms.arrays.get("column", np.full(n, -1, np.int64)).astype(np.int64)
    grain = atoms.arrays.get("grain", np.zeros(n, np.int64)).astype(np.int64)
    return atoms.positions.astype(float), atoms.numbers.astype(np.int64), col, grain


def atomic_columns(
    grid: Grid, positions: np.ndarray, numbers: np.ndarray, column: np.ndarray, grain: np.ndarray,
    merge_A: float = 0.1,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """True column positions in image pixels and what each column holds.

    Columns are averaged over their atoms; columns of different grains or layers closer
    than ``merge_A`` [Å] in projection are merged (they image as one).

    Returns
    -------
    columns : numpy.ndarray
        (K, 2) float32 positions (x, y) [px] inside the field of view.
    info : list of dict
        Per column: ``elements`` (symbol → count), ``n_atoms``, ``grains``.
    """
    has = column >= 0
    if not has.any():
        return np.zeros((0, 2), np.float32), []
    ids, inv = np.unique(column[has], return_inverse=True)
    cnt = np.bincount(inv)
    xy = np.stack([np.bincount(inv, positions[has, 0]), np.bincount(inv, positions[has, 1])], 1) / cnt[:, None]
    merged = group_columns(xy, merge_A)
    inv2 = merged[inv]
    cnt2 = np.bincount(inv2)
    xy2 = np.stack([np.bincount(inv2, positions[has, 0]), np.bincount(inv2, positions[has, 1])], 1) / cnt2[:, None]
    px = grid.to_image_px(xy2)
    keep = np.all((px >= -0.5) & (px < grid.size - 0.5), axis=1)
    kept = np.nonzero(keep)[0]
    remap = -np.ones(len(xy2), np.int64)
    remap[kept] = np.arange(len(kept))
    atom_col = remap[inv2]
    sel = atom_col >= 0
    pairs, pc = np.unique(np.stack([atom_col[sel], numbers[has][sel]], 1), axis=0, return_counts=True)
    gpairs = np.unique(np.stack([atom_col[sel], grain[has][sel]], 1), axis=0)
    info: list[dict[str, Any]] = [{"elements": {}, "n_atoms": 0, "grains": []} for _ in kept]
    for (c, z), k in zip(pairs, pc):
        info[c]["elements"][chemical_symbols[int(z)]] = int(k)
        info[c]["n_atoms"] += int(k)
    for c, g in gpairs:
        info[c]["grains"].append(int(g))
    return px[kept].astype(np.float32), info


def _normalise(image: np.ndarray) -> np.ndarray:
    image = np.clip(np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    mean = float(image.mean())
    if not mean > 0:
        raise ParameterError("The rendered image is empty (zero signal).", "Use another seed or specimen.")
    return (image / mean).astype(np.float32)


def grid_for(tag: str, size: int, pixel_size_nm: float, **optics: Any) -> Grid:
    """The grid a renderer uses (to build an ``atoms`` override of the right extent)."""
    if tag == "hrstem":
        o = STEMOptics(energy_kv=optics.get("energy_kv", 200.0), alpha_mrad=optics.get("alpha_mrad", 25.0),
                       source_sigma_A=optics.get("source_sigma_A", 0.5))
        return stem_grid(size, pixel_size_nm * 10, o)
    if tag == "hrtem":
        return tem_grid(size, pixel_size_nm * 10)
    raise ParameterError(f"No atomic grid for tag {tag!r}.", "Use 'hrstem' or 'hrtem'.")


@register_renderer("hrstem")
def render_hrstem(size: int, rng: np.random.Generator, **overrides: Any) -> CleanSample:
    """Render one clean HR-STEM image (HAADF, or ABF-like with p = 0.2).

    Draws: pixel size 0.05–1.0 Å (p = 0.7 in 0.1–0.6 Å); energy from {60, 80, 120, 200, 300} kV; probe semi-angle
    α ∈ U[15, 35] mrad; residual aberrations tuned to ≤ π/4 at the aperture edge
    (:func:`~emrestore.optics.aberrations.random_probe_aberrations`); Gaussian source
    σ ∈ U[0.3, 1.0] Å; thermal σ ∈ U[0.05, 0.1] Å; HAADF exponent γ ∈ U[1.4, 2.0];
    sub-linear column growth ``n**(β−1)`` per atom with β ∈ U[0.6, 1.0] (p = 0.5).

    Parameters
    ----------
    size : int
        Image size [px].
    rng : numpy.random.Generator
        Source of every random choice.
    **overrides
        See the module docstring.
    """
    _check_keys(overrides, _STEM_KEYS, "hrstem")
    pixel = _pixel_A(rng, overrides)
    energy = _energy(rng, overrides, (0.15, 0.2, 0.1, 0.25, 0.3))
    alpha = float(overrides.get("alpha_mrad", rng.uniform(15, 35)))
    ab_draw = random_probe_aberrations(rng, energy, alpha)
    ab = Aberrations.from_params(overrides["aberrations"]) if "aberrations" in overrides else ab_draw
    source = float(overrides.get("source_sigma_A", rng.uniform(0.3, 1.0)))
    thermal = float(overrides.get("thermal_sigma_A", rng.uniform(0.05, 0.1)))
    gamma = float(overrides.get("gamma", rng.uniform(1.4, 2.0)))
    beta_draw = float(rng.uniform(0.6, 1.0)) if rng.random() < 0.5 else None
    beta = overrides.get("sublinear_beta", beta_draw)
    detector = overrides.get("detector", "abf" if rng.random() < 0.2 else "haadf")
    abf_gamma = float(overrides.get("abf_gamma", rng.uniform(0.3, 0.7)))
    abf_contrast = float(overrides.get("abf_contrast", rng.uniform(0.2, 0.6)))
    if detector not in ("haadf", "abf"):
        raise ParameterError(f"Unknown STEM detector {detector!r}.", "Use 'haadf' or 'abf'.")
    optics = STEMOptics(energy, alpha, ab, source)
    optics.check()
    grid = stem_grid(size, pixel, optics)
    pos, num, col, grain, desc = grid_specimen(grid, rng, overrides)
    z = num.astype(float)
    weights = z ** (abf_gamma if detector == "abf" else gamma)
    if beta is not None and (col >= 0).any():
        ids, inv, counts = np.unique(col[col >= 0], return_inverse=True, return_counts=True)
        scale = np.ones(len(z))
        scale[col >= 0] = counts[inv].astype(float) ** (float(beta) - 1.0)
        weights = weights * scale
    signal = stem_image(grid, pos, weights, optics, thermal)
    if detector == "abf":
        peak = float(np.percentile(signal, 99.5))
        signal = 1.0 - abf_contrast * signal / peak if peak > 0 else np.ones_like(signal)
    image = _normalise(signal)
    columns, info = atomic_columns(grid, pos, num, col, grain)
    params = {
        "tag": "hrstem", "modality": "stem", "engine": "incoherent", "size": size,
        "pixel_size_nm": pixel / 10, "detector": detector,
        "optics": {"energy_kv": energy, "alpha_mrad": alpha, "source_sigma_A": source,
                   "aberrations": ab.as_params()},
        "object": {"gamma": gamma if detector == "haadf" else abf_gamma, "thermal_sigma_A": thermal,
                   "sublinear_beta": beta, "abf_contrast": abf_contrast if detector == "abf" else None},
        "grid": {"n": grid.n, "sampling_A": grid.sampling, "margin_A": grid.margin_A},
        "specimen": desc, "n_columns": int(len(columns)),
    }
    return CleanSample(image, pixel / 10, "stem", json_safe(params), columns, info)


@register_renderer("hrtem")
def render_hrtem(size: int, rng: np.random.Generator, **overrides: Any) -> CleanSample:
    """Render one clean HR-TEM image.

    Draws: pixel size 0.05–1.0 Å (p = 0.7 in 0.1–0.6 Å); energy from {60, 80, 120, 200, 300} kV; objective
    aberrations (:func:`~emrestore.optics.aberrations.random_tem_aberrations`: Cs −40 µm
    to 1.2 mm, defocus Scherzer ± up to 100 nm); focal spread 2–6 nm; illumination
    semi-angle 0.05–0.3 mrad; objective aperture 8–25 mrad with p = 0.3; thermal
    σ ∈ U[0.05, 0.1] Å. The exit wave comes from the numpy multislice (``engine="fast"``,
    slices of max(2.5 Å, depth/12), Lobato potentials when abTEM is installed, else
    Molière) or from abTEM (``engine="abtem"``, 2 Å slices).
    """
    _check_keys(overrides, _TEM_KEYS, "hrtem")
    pixel = _pixel_A(rng, overrides)
    energy = _energy(rng, overrides, (0.1, 0.25, 0.1, 0.25, 0.3))
    ab_draw, ab_info = random_tem_aberrations(rng, energy)
    ab = Aberrations.from_params(overrides["aberrations"]) if "aberrations" in overrides else ab_draw
    if "aberrations" in overrides:
        ab_info = {}
    focal = float(overrides.get("focal_spread_nm", rng.uniform(2.0, 6.0))) * 10
    conv = float(overrides.get("convergence_mrad", rng.uniform(0.05, 0.3)))
    ap_draw = float(rng.uniform(8, 25)) if rng.random() < 0.3 else None
    aperture = overrides.get("aperture_mrad", ap_draw)
    thermal = float(overrides.get("thermal_sigma_A", rng.uniform(0.05, 0.1)))
    engine = overrides.get("engine", "fast")
    if engine not in ("fast", "abtem"):
        raise ParameterError(f"Unknown HR-TEM engine {engine!r}.", "Use 'fast' or 'abtem'.")
    optics = TEMOptics(energy, ab, focal, conv, aperture)
    optics.check()
    grid = tem_grid(size, pixel)
    pos, num, col, grain, desc = grid_specimen(grid, rng, overrides)
    depth = float(np.ptp(pos[:, 2])) if len(pos) else 0.0
    slice_A = float(overrides.get("slice_A", max(2.5, depth / 12) if engine == "fast" else 2.0))
    potential = resolve_potential(overrides.get("potential", "auto"))
    if engine == "fast":
        wave = multislice_exit_wave(grid, pos, num, energy, slice_A, thermal, potential)
    else:
        wave = abtem_exit_wave(grid, pos, num, energy, slice_A)
    image = _normalise(tem_image(grid, wave, optics))
    columns, info = atomic_columns(grid, pos, num, col, grain)
    params = {
        "tag": "hrtem", "modality": "tem", "engine": engine, "size": size, "pixel_size_nm": pixel / 10,
        "optics": {"energy_kv": energy, "aberrations": ab.as_params(), **ab_info, "focal_spread_nm": focal / 10,
                   "convergence_mrad": conv, "aperture_mrad": aperture},
        "object": {"thermal_sigma_A": thermal, "slice_A": slice_A, "depth_A": depth,
                   "potential": potential if engine == "fast" else "lobato (abTEM)"},
        "grid": {"n": grid.n, "sampling_A": grid.sampling, "margin_A": grid.margin_A},
        "specimen": desc, "n_columns": int(len(columns)),
    }
    return CleanSample(image, pixel / 10, "tem", json_safe(params), columns, info)


__all__ = ["PIXEL_RANGE_NM", "PIXEL_COMMON_NM", "PIXEL_COMMON_P", "DEMO_PIXEL_NM", "render_hrstem", "render_hrtem", "atomic_columns", "grid_for", "grid_specimen"]

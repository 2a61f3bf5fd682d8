"""Shared pieces of the procedural morphology generators.

A morphology is described by maps in physical units on a square pixel grid:

* ``height_nm`` — height of the top surface above the substrate plane [nm] (what SEM
  sees);
* ``thickness_nm`` — projected thickness of each material along the beam [nm] (what
  TEM/STEM see), one map per entry of ``materials``;
* ``surface_material`` — index (into ``materials``) of the material at the top surface,
  ``-1`` where nothing is there;
* ``grains`` — crystal label per pixel (0: amorphous or empty), used for diffraction and
  channelling contrast.

Generators draw into a :class:`Canvas` so that several families can be composed (e.g.
particles on a holey film, scratches on a grain structure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ...errors import ParameterError
from ...io.jsonsafe import json_safe

#: Decimals of the floats recorded in a specimen's parameters.
PARAM_DIGITS = 6

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


class Canvas:
    """Accumulates objects of several materials on a ``size`` × ``size`` grid.

    Parameters
    ----------
    size : int
        Image side [px].
    pixel_size_nm : float
        Pixel size [nm].
    bulk : bool
        True for a bulk specimen seen from the top (SEM), False for a thin specimen seen
        in projection (TEM/STEM).
    """

    def __init__(self, size: int, pixel_size_nm: float, bulk: bool) -> None:
        check_size(size)
        if not (np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
            raise ParameterError(
                f"pixel_size_nm must be positive and finite, got {pixel_size_nm!r}.",
                "Pass a pixel size in nanometres, e.g. 2.0.",
            )
        self.size = int(size)
        self.pixel_size_nm = float(pixel_size_nm)
        self.bulk = bool(bulk)
        self.height = np.zeros((size, size), np.float32)
        self.surface = np.full((size, size), -1, np.int16)
        self.grains = np.zeros((size, size), np.int32)
        self.materials: list[Material] = []
        self.thickness: list[np.ndarray] = []
        self.n_grains = 0
        self.params: dict[str, Any] = {"components": []}

    # -- bookkeeping -------------------------------------------------------------------
    @property
    def field_of_view_nm(self) -> float:
        """Image side [nm]."""
        return self.size * self.pixel_size_nm

    def material_index(self, name: str) -> int:
        """Index of material ``name`` (added if new)."""
        for i, m in enumerate(self.materials):
            if m.name == name:
                return i
        self.materials.append(get_material(name))
        self.thickness.append(np.zeros((self.size, self.size), np.float32))
        return len(self.materials) - 1

    def new_grain(self) -> int:
        """A fresh crystal label."""
        self.n_grains += 1
        return self.n_grains

    def record(self, kind: str, **info: Any) -> None:
        """Append a JSON-serialisable component description to ``params``."""
        self.params["components"].append({"kind": kind, **json_safe(info, digits=PARAM_DIGITS)})

    # -- drawing -----------------------------------------------------------------------
    def fill(self, material: str, thickness_nm: np.ndarray | float, height_nm: np.ndarray | float,
             mask: np.ndarray | None = None, grains: np.ndarray | int | None = None) -> None:
        """Cover the whole field (optionally only ``mask``) with a layer.

        ``height_nm`` is the absolute top height of the layer; where it exceeds the
        current surface the layer becomes the surface. ``thickness_nm`` is added to the
        material's projected thickness (ignored outside ``mask``).
        """
        self.add_patch(material, (slice(0, self.size), slice(0, self.size)),
                       thickness_nm, height_nm, mask, grains)

    def add_patch(self, material: str, where: tuple[slice, slice],
                  thickness_nm: np.ndarray | float, height_nm: np.ndarray | float,
                  mask: np.ndarray | None = None, grains: np.ndarray | int | None = None,
                  replace_below: bool = False) -> None:
        """Add an object occupying the region ``where``.

        Parameters
        ----------
        material : str
            Material name.
        where : tuple of slice
            Region of the canvas (already clipped to it).
        thickness_nm : array or float
            Projected thickness [nm] to add within ``mask``.
        height_nm : array or float
            Absolute height of the object's top surface [nm].
        mask : numpy.ndarray of bool, optional
            Pixels the object covers (default: all of ``where``).
        grains : array or int, optional
            Crystal label(s) of the object (0 or None: amorphous).
        replace_below : bool
            If True the object's surface replaces the current one within ``mask`` even
            when lower (e.g. a pore or groove cut into the surface).

        Notes
        -----
        On bulk canvases the object becomes the surface (material, crystal label) where
        it is the highest; on thin canvases wherever it adds material, since in
        projection it is seen regardless of height.
        """
        idx = self.material_index(material)
        shape = (where[0].stop - where[0].start, where[1].stop - where[1].start)
        if shape[0] <= 0 or shape[1] <= 0:
            return
        t = np.broadcast_to(np.asarray(thickness_nm, np.float32), shape)
        h = np.broadcast_to(np.asarray(height_nm, np.float32), shape)
        m = np.ones(shape, bool) if mask is None else mask
        tv = self.thickness[idx][where]
        tv += np.where(m, t, 0).astype(np.float32)
        hv = self.height[where]
        if self.bulk:  # what is seen from above: the highest surface
            top = m & ((h > hv) | replace_below)
        else:  # in projection a later object covers earlier ones wherever it has material
            top = m & (t > 0)
        if not top.any():
            return
        hv[top] = h[top] if (self.bulk or replace_below) else np.maximum(hv[top], h[top])
        self.surface[where][top] = idx
        if grains is not None:
            g = np.broadcast_to(np.asarray(grains, np.int32), shape)
            self.grains[where][top] = g[top]
        else:
            self.grains[where][top] = 0

    def finish(self, **params: Any) -> MorphologyMaps:
        """Freeze the canvas into :class:`MorphologyMaps`."""
        thickness = (np.stack(self.thickness) if self.thickness
                     else np.zeros((0, self.size, self.size), np.float32))
        info = dict(self.params)
        info.update(json_safe(params, digits=PARAM_DIGITS))
        info["pixel_size_nm"] = self.pixel_size_nm
        info["materials"] = [m.name for m in self.materials]
        return MorphologyMaps(
            pixel_size_nm=self.pixel_size_nm,
            height_nm=self.height.astype(np.float32),
            thickness_nm=np.maximum(thickness, 0).astype(np.float32),
            materials=tuple(self.materials),
            surface_material=self.surface.copy(),
            grains=self.grains.copy(),
            bulk=self.bulk,
            params=info,
        )


# -- helpers ---------------------------------------------------------------------------
def label_values(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values[labels]`` for a crystal-label map (labels beyond the table map to its end).

    ``values[0]`` is the value of label 0 (amorphous or empty pixels).
    """
    return values[np.clip(labels, 0, len(values) - 1)]



def check_size(size: int) -> None:
    """Raise :class:`ParameterError` unless ``size`` is an integer ≥ 16."""
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ParameterError(
            f"Image size must be an integer of at least 16 px, got {size!r}.",
            "Pass e.g. size=256.",
        )


def check_range(name: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    """Return ``float(value)`` if ``lo <= value <= hi``, else raise ParameterError."""
    u = f" {unit}" if unit else ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}.",
                             f"Pass a value in [{lo}, {hi}]{u}.") from None
    if not (np.isfinite(v) and lo <= v <= hi):
        raise ParameterError(f"{name}={value!r}{u} is outside [{lo}, {hi}]{u}.",
                             f"Pass a value in [{lo}, {hi}]{u}.")
    return v


def check_choice(name: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ParameterError."""
    if value not in choices:
        raise ParameterError(f"Unknown {name} {value!r}.", f"Use one of: {', '.join(choices)}.")
    return value


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Draw from a log-uniform distribution on [lo, hi] (lo, hi > 0)."""
    if hi <= lo:
        return float(lo)
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def feature_range_nm(canvas: Canvas, lo_nm: float, hi_nm: float, min_px: float = 4.0,
                     max_fraction: float = 0.35) -> tuple[float, float]:
    """Intersect a physical size range with what is visible on the canvas.

    Returns the range [nm] of feature sizes that are physically sensible
    (``lo_nm``–``hi_nm``) *and* span at least ``min_px`` pixels and at most
    ``max_fraction`` of the field of view. If the two do not overlap, the nearest
    physically sensible size is returned as a degenerate range.
    """
    lo = max(lo_nm, min_px * canvas.pixel_size_nm)
    hi = min(hi_nm, max_fraction * canvas.field_of_view_nm)
    if hi < lo:
        v = float(np.clip(np.sqrt(lo * hi), lo_nm, hi_nm))
        return v, v
    return lo, hi


def random_field(shape: tuple[int, int], rng: np.random.Generator, corr_px: float | None = None,
                 hurst: float | None = None) -> np.ndarray:
    """Zero-mean, unit-variance periodic random field (float32).

    Parameters
    ----------
    shape : tuple of int
        Output shape (H, W).
    rng : numpy.random.Generator
        Random source.
    corr_px : float, optional
        Gaussian correlation length [px] (band-limited field).
    hurst : float, optional
        Hurst exponent in (0, 1) for a fractal (fBm-like) field with power spectrum
        ∝ k^-(2H+2); if given, ``corr_px`` acts as an upper cut-off (roll-off) length.
    """
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k2 = ky * ky + kx * kx
    if hurst is not None:
        k0 = 1.0 / max(corr_px or max(shape), 1.0)
        amp = (k2 + k0 * k0) ** (-(hurst + 1.0) / 2.0)
    else:
        c = max(corr_px or 1.0, 1e-3)
        amp = np.exp(-(np.pi * c) ** 2 * k2 / 2.0)
    amp[0, 0] = 0.0
    noise = rng.standard_normal((shape[0], shape[1] // 2 + 1)) + 1j * rng.standard_normal(
        (shape[0], shape[1] // 2 + 1))
    f = np.fft.irfft2(noise * amp, s=shape)
    s = f.std()
    return ((f - f.mean()) / (s if s > 0 else 1.0)).astype(np.float32)


def patch(cy: float, cx: float, radius: float, size: int
          ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """Clipped square region around (cy, cx) [px] with half-width ``radius`` [px].

    Returns ``(where, dy, dx)`` with pixel-centre offsets from the centre, or None if the
    region lies outside the canvas.
    """
    y0 = max(int(np.floor(cy - radius - 1)), 0)
    y1 = min(int(np.ceil(cy + radius + 2)), size)
    x0 = max(int(np.floor(cx - radius - 1)), 0)
    x1 = min(int(np.ceil(cx + radius + 2)), size)
    if y1 <= y0 or x1 <= x0:
        return None
    dy = (np.arange(y0, y1, dtype=np.float32) - np.float32(cy))[:, None]
    dx = (np.arange(x0, x1, dtype=np.float32) - np.float32(cx))[None, :]
    return (slice(y0, y1), slice(x0, x1)), dy, dx


def radial_harmonics(rng: np.random.Generator, irregularity: float, n_max: int = 6
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes and phases of a smooth random closed curve r(θ) = R(1 + Σ a_n cos(nθ+φ_n))."""
    n = np.arange(2, n_max + 1)
    amps = rng.normal(0.0, irregularity / n)
    phases = rng.uniform(0, 2 * np.pi, n.size)
    return amps, phases


def radius_at(theta: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Relative radius 1 + Σ a_n cos(nθ + φ_n) of a closed curve (clipped to ≥ 0.3)."""
    n = np.arange(2, 2 + amps.size, dtype=np.float32)
    r = 1.0 + np.tensordot(amps.astype(np.float32),
                           np.cos(n[:, None, None] * theta[None] + phases[:, None, None].astype(
                               np.float32)), axes=1)
    return np.maximum(r, 0.3).astype(np.float32)


def segment_distance(py: np.ndarray, px: np.ndarray, a: np.ndarray, b: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Distance [px] from points (py, px) to the polyline through vertices ``a`` → ``b``.

    Parameters
    ----------
    py, px : numpy.ndarray
        Broadcastable point coordinates [px].
    a, b : numpy.ndarray
        (K, 2) start and end (y, x) of K segments [px].

    Returns
    -------
    dist : numpy.ndarray
        Distance to the nearest segment [px].
    which : numpy.ndarray
        Index of the nearest segment.
    """
    best = None
    which = None
    for k in range(a.shape[0]):
        dy, dx = b[k, 0] - a[k, 0], b[k, 1] - a[k, 1]
        L2 = max(dy * dy + dx * dx, 1e-12)
        t = np.clip(((py - a[k, 0]) * dy + (px - a[k, 1]) * dx) / L2, 0.0, 1.0)
        d2 = (py - a[k, 0] - t * dy) ** 2 + (px - a[k, 1] - t * dx) ** 2
        if best is None:
            best = d2
            which = np.zeros(d2.shape, np.int32)
        else:
            closer = d2 < best
            best = np.where(closer, d2, best)
            which = np.where(closer, k, which)
    assert best is not None and which is not None
    return np.sqrt(best), which


def wavy_path(rng: np.random.Generator, start: np.ndarray, angle: float, length: float,
              waviness: float, n_seg: int = 8) -> np.ndarray:
    """Vertices (n_seg+1, 2) [px] of a gently curved path of total ``length`` [px].

    ``waviness`` is the standard deviation of the direction change per segment [rad].
    """
    turns = np.cumsum(rng.normal(0.0, waviness, n_seg))
    turns -= turns.mean()
    step = length / n_seg
    dirs = angle + turns
    steps = np.stack([np.sin(dirs), np.cos(dirs)], axis=1) * step
    return np.vstack([start[None], start[None] + np.cumsum(steps, axis=0)])


def smooth(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with wrap-free (reflect) boundaries; no-op for tiny sigma."""
    if sigma_px < 0.3:
        return image
    return ndimage.gaussian_filter(image, sigma_px, mode="reflect", truncate=3.0)

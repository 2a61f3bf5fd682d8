"""Clean-image sources and degradations for training pairs (numpy only, no torch).

A *source* returns clean images; a *degradation* turns a clean image into a
(degraded, target) pair. Both take a :class:`numpy.random.Generator`, so a pair is a pure
function of its seed.

Sources
-------
:class:`RendererSource`
    The tag's clean-image renderer from :mod:`emrestore.datasets.registry`.
:class:`BankSource`
    A directory of ``.npz`` files with a ``target`` array (written by ``emrestore simulate``);
    random crops.
:class:`SyntheticSource`
    emrestore's own simple, documented clean images for tests and smoke runs: crystal-like
    lattices of Gaussian peaks (random lattice vectors, peak widths and site intensities on a
    smooth background) and smooth log-normal random fields with sharp-edged regions. They are
    not physical simulations; use them to check the training machinery, not to train models
    for real data.

Degradations
------------
``"chain"``: the tag's physical distortion chain, :func:`emrestore.distortions.distort`.
``"poisson"``: shot noise only: ``Poisson(clean · dose) / dose`` with the dose drawn
log-uniformly from a range [electrons per pixel at mean intensity 1].
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
from scipy import ndimage

from .bank import read_bank_config, stored_pixel_size_nm
from ..dihedral import random_dihedral
from ..errors import ParameterError
from ..image import MODALITIES
from ..tags import TAG_NAMES, Tag

__all__ = [
    "CleanSource",
    "RendererSource",
    "BankSource",
    "SyntheticSource",
    "synthetic_clean",
    "dihedral",
    "get_augment",
    "get_degradation",
    "poisson_degradation",
]


class CleanSource(Protocol):
    """Anything that returns a clean float32 (size, size) image, mean ≈ 1, and its modality.

    A source may return a third value, the image's pixel size [nm] (``None`` if unknown): the
    distortion chain scales its scan-noise amplitudes to it, as for the evaluation sets.
    """

    def sample(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str] | tuple[np.ndarray, str, float | None]: ...


class RendererSource:
    """Clean images from the registered renderer of ``tag``.

    Raises
    ------
    ParameterError
        If no renderer is registered for the tag.
    """

    def __init__(self, tag: str, **overrides: Any) -> None:
        from ..datasets.registry import get_renderer

        self.tag = tag
        try:
            self.render = get_renderer(tag)
        except ParameterError as error:
            raise ParameterError(
                f"Training pairs for {tag!r} cannot come from a renderer: {error.cause}",
                "Set [data] source = 'bank' with bank = a directory from `emrestore simulate`, "
                "or source = 'synthetic' for a smoke run.",
            ) from None
        self.overrides = overrides

    def sample(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str, float | None]:
        clean = self.render(size, rng, **self.overrides)
        return np.asarray(clean.image, dtype=np.float32), clean.modality, float(clean.pixel_size_nm)


class BankSource:
    """Random crops of the ``target`` arrays of a bank directory of ``.npz`` files.

    Parameters
    ----------
    directory : path-like
        Directory with ``*.npz`` files (and optionally ``bank.json``).
    modality : str
        Modality of the images (used when ``bank.json`` does not say).
    cache_size : int
        Files kept in memory per process.
    """

    def __init__(self, directory: str | Path, modality: str, cache_size: int = 256) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ParameterError(f"Bank directory {self.directory} does not exist.",
                                 "Create one with `emrestore simulate --tag TAG --out DIR`.")
        self.files = sorted(self.directory.glob("*.npz"))
        if not self.files:
            raise ParameterError(f"Bank directory {self.directory} holds no .npz files.",
                                 "Point [data] bank at a directory written by `emrestore simulate`.")
        self.modality = modality
        info = read_bank_config(self.directory)
        if info is not None:
            tag = info.get("tag")
            found = info.get("modality") or (Tag.get(tag).modality if tag in TAG_NAMES else None)
            if found in MODALITIES:
                self.modality = found
        self._cache: OrderedDict[Path, tuple[np.ndarray, float | None]] = OrderedDict()
        self._cache_size = cache_size

    def _load(self, path: Path) -> tuple[np.ndarray, float | None]:
        """A bank image and its pixel size [nm] (from its ``params``; ``None`` if not recorded)."""
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        with np.load(path, allow_pickle=False) as data:
            if "target" not in data:
                raise ParameterError(f"{path} has no 'target' array.", "Regenerate the bank with `emrestore simulate`.")
            image = np.asarray(data["target"], dtype=np.float32)
            pixel_size_nm = stored_pixel_size_nm(data["params"]) if "params" in data else None
        if image.ndim != 2:
            raise ParameterError(f"{path}: 'target' has shape {image.shape}, not (H, W).", "Store 2-D clean images.")
        self._cache[path] = (image, pixel_size_nm)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return self._cache[path]

    #: A crop whose mean is below this fraction of its image's mean is drawn again.
    MIN_CROP_SIGNAL = 1e-3
    #: Crops tried before giving up on finding signal.
    MAX_TRIES = 50

    def sample(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str, float | None]:
        """A random crop, mean-normalised to 1, its modality and its pixel size [nm].

        Crops with (almost) no signal — e.g. the vacuum of a HAADF image, zero everywhere —
        cannot be normalised and are drawn again (new file and position).
        """
        for _ in range(self.MAX_TRIES):
            image, pixel_size_nm = self._load(self.files[int(rng.integers(len(self.files)))])
            h, w = image.shape
            if h < size or w < size:
                raise ParameterError(f"Bank images are {h}×{w} px, smaller than the {size} px crop.",
                                     "Lower [data] crop or simulate larger images (--size).")
            y = int(rng.integers(h - size + 1))
            x = int(rng.integers(w - size + 1))
            crop = image[y:y + size, x:x + size]
            mean = float(crop.mean())
            if mean > self.MIN_CROP_SIGNAL * max(float(image.mean()), 0.0) and mean > 0:
                return np.ascontiguousarray(crop / mean, dtype=np.float32), self.modality, pixel_size_nm
        raise ParameterError(f"No crop of {size} px with signal found in {self.MAX_TRIES} draws from "
                             f"{self.directory}.", "Check the bank: its images look empty.")


def _lattice(size: int, rng: np.random.Generator) -> np.ndarray:
    spacing = rng.uniform(5.0, 14.0)
    angle = rng.uniform(0, np.pi)
    gamma = rng.uniform(np.deg2rad(60), np.deg2rad(120))
    ratio = rng.uniform(0.8, 1.25)
    a = spacing * np.array([np.cos(angle), np.sin(angle)])
    b = spacing * ratio * np.array([np.cos(angle + gamma), np.sin(angle + gamma)])
    basis = np.stack([a, b], axis=1)
    n = int(np.ceil(2 * size / (spacing * min(1.0, ratio) * abs(np.sin(gamma))))) + 2
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    centre = rng.uniform(0, size, 2)
    pos = centre[:, None] + basis @ np.stack([i.ravel(), j.ravel()])
    keep = (pos[0] >= -2) & (pos[0] < size + 1) & (pos[1] >= -2) & (pos[1] < size + 1)
    pos = pos[:, keep]
    n_sites = pos.shape[1]
    # two sublattice species and random vacancies / intensity scatter
    weights = np.where(rng.random(n_sites) < 0.5, 1.0, rng.uniform(0.2, 0.9))
    weights *= rng.lognormal(0.0, 0.15, n_sites) * (rng.random(n_sites) > rng.uniform(0, 0.08))
    image = np.zeros((size + 4, size + 4), dtype=np.float64)
    # bilinear splatting of point intensities at sub-pixel positions, then Gaussian blur
    x0 = np.floor(pos[0]).astype(int)
    y0 = np.floor(pos[1]).astype(int)
    fx, fy = pos[0] - x0, pos[1] - y0
    for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        np.add.at(image, (y0 + dy + 2, x0 + dx + 2), weights * w)
    sigma = rng.uniform(0.7, 0.25 * spacing)
    image = ndimage.gaussian_filter(image, sigma)[2:-2, 2:-2]
    image /= max(image.max(), 1e-12)
    background = _smooth_field(size, rng, rng.uniform(16, 64))
    return image + rng.uniform(0.02, 0.3) * background


def _smooth_field(size: int, rng: np.random.Generator, correlation_px: float) -> np.ndarray:
    sigma = min(correlation_px, size / 4.0)
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    field = (field - field.mean()) / max(field.std(), 1e-6)
    return np.exp(0.5 * np.clip(field, -5.0, 5.0))


def _regions(size: int, rng: np.random.Generator) -> np.ndarray:
    field = _smooth_field(size, rng, rng.uniform(3, 25))
    level = np.quantile(field, rng.uniform(0.3, 0.8))
    mask = ndimage.gaussian_filter((field > level).astype(np.float64), rng.uniform(0.5, 2.0))
    texture = _smooth_field(size, rng, rng.uniform(1, 4))
    return rng.uniform(0.05, 0.4) + mask * (1 + rng.uniform(0, 0.5) * texture)


def synthetic_clean(size: int, rng: np.random.Generator) -> np.ndarray:
    """A clean synthetic image, float32 (size, size), non-negative, mean 1.

    Half the draws are atomic-lattice-like images, half are smooth fields with sharp-edged
    regions (particles/grains). See the module docstring.
    """
    image = _lattice(size, rng) if rng.random() < 0.5 else _regions(size, rng)
    image = np.clip(image, 0.0, None)
    return (image / max(image.mean(), 1e-12)).astype(np.float32)


class SyntheticSource:
    """emrestore's own synthetic clean images (see :func:`synthetic_clean`)."""

    def __init__(self, modality: str) -> None:
        self.modality = modality

    def sample(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        return synthetic_clean(size, rng), self.modality


def dihedral(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of the 8 flips/90° rotations of a square image, chosen by ``rng``."""
    return random_dihedral(image, rng).astype(np.float32, copy=False)


def get_augment(mode: str) -> Callable[[np.ndarray, np.random.Generator], np.ndarray] | None:
    """Augmentation function for ``[data] augment``: ``auto``, ``dihedral`` or ``none``."""
    if mode == "none":
        return None
    if mode == "auto":
        from ..datasets.augment import augment

        return augment
    return dihedral


def poisson_degradation(dose_range: tuple[float, float]):
    """Shot-noise degradation with dose log-uniform in ``dose_range`` [e⁻/px at mean 1]."""
    lo, hi = float(dose_range[0]), float(dose_range[1])

    def degrade(clean: np.ndarray, modality: str, rng: np.random.Generator, pixel_size_nm: float | None = None):
        dose = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        counts = rng.poisson(np.clip(clean, 0, None).astype(np.float64) * dose)
        degraded = (counts / dose).astype(np.float32)
        return degraded, clean.astype(np.float32), {"degradation": "poisson", "dose_e_per_px": dose}

    return degrade


def get_degradation(name: str, dose_range: tuple[float, float] = (2.0, 2000.0)):
    """Degradation function ``f(clean, modality, rng, pixel_size_nm=None) -> (degraded, target, params)``.

    ``pixel_size_nm`` [nm] lets the chain scale its scan noise to the image's sampling
    (:func:`emrestore.distortions.distort`); the Poisson degradation ignores it.
    """
    if name == "poisson":
        return poisson_degradation(dose_range)
    if name == "chain":
        from ..distortions import distort

        def degrade(clean: np.ndarray, modality: str, rng: np.random.Generator, pixel_size_nm: float | None = None):
            degraded, target, params = distort(clean, modality, seed=rng, pixel_size_nm=pixel_size_nm)
            return np.asarray(degraded, np.float32), np.asarray(target, np.float32), params

        return degrade
    raise ParameterError(f"Unknown degradation {name!r}.", "Use 'chain' or 'poisson'.")

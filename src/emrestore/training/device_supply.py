"""Clean-image supply on the training device: a bank in device memory, random crops and the
tag's augmentation, a whole batch per call (CUDA or CPU).

The numpy path (:class:`~emrestore.datasets.sources.BankSource` and
:func:`~emrestore.datasets.augment.augment`) stays the definition of what a clean training
image is; this module applies the same steps to a batch of torch tensors:

1. :class:`DeviceBank` reads a bank directory once, through ``BankSource``'s own file
   discovery, modality lookup and loader (same validation and errors), into one float32
   tensor on a device, refusing (:class:`~emrestore.errors.ParameterError`) a bank that
   would exceed a memory budget.
2. :func:`draw_crops`: crops as ``BankSource.sample`` draws them — image uniformly at
   random, offset uniformly over the positions where the crop fits, crops without signal
   (mean ≤ ``BankSource.MIN_CROP_SIGNAL`` × the image mean) drawn again at most
   ``BankSource.MAX_TRIES`` times, each crop divided by its mean.
3. :func:`augment_batch`: :func:`~emrestore.datasets.augment.augment` per sample, with its
   ranges and probabilities taken from :data:`~emrestore.datasets.augment.DEFAULTS`: a
   dihedral element, the slow gradient (ramp with curvature, or the cubic-spline-zoomed 4×4
   field — its interpolation weights come from ``scipy.ndimage.zoom`` itself), the
   affine/perspective warp (bilinear :func:`torch.nn.functional.grid_sample`, the margin
   set to the fill wherever the source point lies outside the image, as
   ``map_coordinates(order=1, mode="constant")`` does) and the generic patterns (the masks
   are drawn by :func:`~emrestore.datasets.augment.generic_pattern` on the CPU, the mixing
   is done on the device).
4. :func:`clean_batch`: the three together, as ``[data] augment`` selects
   (``auto`` / ``dihedral`` / ``none``), with the training dataset's rule that a crop whose
   augmented mean is not positive is used as drawn.

Randomness comes from one :class:`torch.Generator` (CPU or on the bank's device), so a
batch is reproducible from its seed; it is not pixel-identical to the numpy path, whose
draws come from a numpy generator in another order. The warp agrees with the numpy warp for
the same parameters to float32 rounding, with identical margins: largest difference
≤ 5e-7 on a smooth mean-1.0 image and ≤ 2e-5 on gamma noise (float32 source coordinates in
``grid_sample``; ``tests/training/test_device_supply.py``).

Requires PyTorch (the ``train`` extra).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..datasets import augment as numpy_augment
from ..datasets.sources import BankSource
from ..errors import ParameterError
from .config import AUGMENTATIONS

__all__ = [
    "AUGMENT_BODY_VALUES",
    "AugmentSettings",
    "CropBatch",
    "DEFAULT_CUDA_BUDGET_FRACTION",
    "DeviceBank",
    "apply_dihedral",
    "augment_batch",
    "clean_batch",
    "dihedral_batch",
    "draw_crops",
    "gradient_fields",
    "gradient_from_parameters",
    "gradient_parameters",
    "pattern_batch",
    "pattern_from_parameters",
    "warp_batch",
    "warp_from_parameters",
    "warp_parameters",
]

#: Share of the free CUDA memory a bank may take when no budget is given [-].
DEFAULT_CUDA_BUDGET_FRACTION = 0.5

_GIB = 2.0**30

#: Values augment.py writes inside its function bodies, not as module constants (so they
#: cannot be imported): repeated here, in this one place. The tests replay the numpy
#: functions' own draws through the batched formulas and compare the statistics.
AUGMENT_BODY_VALUES: dict[str, Any] = {
    "ramp_probability": 0.5,  # slow_gradient: a curved ramp, else the zoomed random field
    "ramp_curvature": 0.5,  # slow_gradient: curvature factor in ± this
    "field_grid": 4,  # slow_gradient: side of the random field before the zoom [samples]
    "perspective_probability": 0.5,  # random_warp: projective terms drawn
    "pattern_level": 2.5,  # augment: pattern level = image mean × U(0, this)
    "pattern_opacity": (0.3, 1.0),  # augment: opacity range
    "max_gradient_amplitude": 2.0,  # augment: option bounds
    "max_rotation_deg": 180.0,
    "max_warp_option": 0.5,  # augment: bound of max_scale_change, max_shear, max_perspective
}


# --------------------------------------------------------------------------- bank


def _stored_shape(path: Path) -> tuple[int, ...] | None:
    """Shape of the ``target`` array of an ``.npz`` file read from its header (no data read);
    ``None`` when the header cannot be read (missing array, unknown format version)."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with zipfile.ZipFile(path) as archive, archive.open("target.npy") as member:
            reader = readers.get(np.lib.format.read_magic(member))
            return None if reader is None else tuple(int(s) for s in reader(member)[0])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _budget_bytes(device: torch.device, budget_bytes: int | None) -> int | None:
    """The budget in force: the given one, else a share of the free CUDA memory, else none."""
    if budget_bytes is not None:
        return int(budget_bytes)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * DEFAULT_CUDA_BUDGET_FRACTION)
    return None


@dataclass(frozen=True, eq=False)
class DeviceBank:
    """The clean images of a bank directory as one float32 tensor on a device.

    Attributes
    ----------
    images : torch.Tensor
        (N, H, W) float32; an image smaller than the largest is stored in the top-left
        corner, zero-padded (``shapes`` gives its own extent).
    shapes : torch.Tensor
        (N, 2) int64: each image's (height, width) [px].
    means : torch.Tensor
        (N,) float32: each image's mean over its own extent.
    pixel_size_nm : tuple of float or None
        Each image's pixel size [nm] (``None`` where the bank does not record it).
    modality : str
        Modality of the images (``bank.json``'s, else the one given).
    directory : pathlib.Path
        The bank directory.
    """

    images: torch.Tensor
    shapes: torch.Tensor
    means: torch.Tensor
    pixel_size_nm: tuple[float | None, ...]
    modality: str
    directory: Path

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def nbytes(self) -> int:
        """Bytes the image tensor takes on its device."""
        return self.images.numel() * self.images.element_size()

    @classmethod
    def load(cls, directory: str | Path, modality: str, device: str | torch.device = "cpu",
             budget_bytes: int | None = None) -> DeviceBank:
        """Read every image of a bank directory once onto ``device``.

        Parameters
        ----------
        directory : path-like
            Bank directory (``*.npz`` files with a ``target`` array, optionally ``bank.json``).
        modality : str
            Modality used when ``bank.json`` does not say (as for ``BankSource``).
        device : str or torch.device
            Where the images live.
        budget_bytes : int, optional
            Most bytes the image tensor may take. Default: on CUDA
            :data:`DEFAULT_CUDA_BUDGET_FRACTION` of the free memory, on other devices no limit.

        Raises
        ------
        ParameterError
            Everything ``BankSource`` refuses (no directory, no files, a file without a 2-D
            ``target``), and a bank larger than the budget (checked from the file headers
            before any image is read).
        """
        device = torch.device(device)
        source = BankSource(directory, modality, cache_size=1)
        shapes = [_stored_shape(path) for path in source.files]
        # a header that cannot be read or is not 2-D: BankSource's loader raises its own error
        shapes = [s if s is not None and len(s) == 2 else source._load(p)[0].shape
                  for s, p in zip(shapes, source.files)]
        height, width = max(s[0] for s in shapes), max(s[1] for s in shapes)
        needed = len(shapes) * height * width * 4
        budget = _budget_bytes(device, budget_bytes)
        if budget is not None and needed > budget:
            raise ParameterError(
                f"The bank {source.directory} needs {needed / _GIB:.3f} GiB ({needed} bytes: {len(shapes)} images "
                f"of up to {height}×{width} px, float32) on {device}, over the budget of {budget / _GIB:.3f} GiB "
                f"({budget} bytes).",
                "Use a bank with fewer or smaller images, raise the memory budget, or draw crops on the CPU "
                "with [data] source = 'bank' (BankSource reads files as needed).")
        images = torch.zeros((len(shapes), height, width), dtype=torch.float32, device=device)
        pixel_sizes: list[float | None] = []
        for i, path in enumerate(source.files):
            image, pixel_size_nm = source._load(path)
            images[i, : image.shape[0], : image.shape[1]] = torch.from_numpy(image).to(device)
            pixel_sizes.append(pixel_size_nm)
        shape_tensor = torch.tensor(shapes, dtype=torch.int64, device=device)
        means = images.sum((1, 2), dtype=torch.float64) / shape_tensor.prod(1)
        return cls(images, shape_tensor, means.float(), tuple(pixel_sizes), source.modality, source.directory)


# --------------------------------------------------------------------------- random draws


def _rand(generator: torch.Generator, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) float64 numbers from ``generator`` (on its own device), moved to ``device``."""
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device).to(device)


def _uniform(generator: torch.Generator, shape: tuple[int, ...], low: float, high: float,
             device: torch.device) -> torch.Tensor:
    """Uniform [low, high) float64 numbers."""
    return low + (high - low) * _rand(generator, shape, device)


def _integers(generator: torch.Generator, high: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Uniform integers in [0, high) (int64)."""
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


# --------------------------------------------------------------------------- crops


@dataclass(frozen=True, eq=False)
class CropBatch:
    """Crops of a :class:`DeviceBank` and where they come from.

    Attributes
    ----------
    crops : torch.Tensor
        (B, crop, crop) float32, each divided by its mean.
    index : torch.Tensor
        (B,) int64: the bank image of each crop.
    top, left : torch.Tensor
        (B,) int64: the crop's offset in its image [px].
    pixel_size_nm : list of float or None
        Each crop's pixel size [nm] (its image's).
    """

    crops: torch.Tensor
    index: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    pixel_size_nm: list[float | None]


def _windows(images: torch.Tensor, index: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
             crop: int) -> torch.Tensor:
    """The (B, crop, crop) windows ``images[index, top:top+crop, left:left+crop]``."""
    steps = torch.arange(crop, device=images.device)
    rows = (top[:, None] + steps)[:, :, None]
    cols = (left[:, None] + steps)[:, None, :]
    return images[index[:, None, None], rows, cols]


def draw_crops(bank: DeviceBank, n: int, crop: int, generator: torch.Generator) -> CropBatch:
    """``n`` random crops of ``crop`` px, drawn as :meth:`BankSource.sample` draws one.

    Each crop's image is uniform over the bank, its offset uniform over the positions where
    it fits; a crop whose mean is not above ``BankSource.MIN_CROP_SIGNAL`` × its image's mean
    (or not positive) is drawn again, new image and position, at most
    ``BankSource.MAX_TRIES`` times. Crops are divided by their mean.

    Raises
    ------
    ParameterError
        If a bank image is smaller than the crop (``BankSource`` raises when it draws one),
        or a crop has no signal after ``MAX_TRIES`` draws.
    """
    if n < 1 or crop < 1:
        raise ParameterError(f"Need n >= 1 crops of >= 1 px, got n={n}, crop={crop}.", "Pass positive values.")
    low_h, low_w = (int(v) for v in bank.shapes.min(0).values)
    if low_h < crop or low_w < crop:
        raise ParameterError(f"Bank images are {low_h}×{low_w} px, smaller than the {crop} px crop.",
                             "Lower [data] crop or simulate larger images (--size).")
    device = bank.device
    crops = torch.empty((n, crop, crop), dtype=torch.float32, device=device)
    index = torch.empty(n, dtype=torch.int64, device=device)
    offsets = torch.empty((n, 2), dtype=torch.int64, device=device)
    todo = torch.arange(n, device=device)
    for _ in range(BankSource.MAX_TRIES):
        k = int(todo.numel())
        image = _integers(generator, len(bank), (k,), device)
        room = bank.shapes[image] - crop + 1  # positions where the crop fits, per axis
        offset = torch.minimum((_rand(generator, (k, 2), device) * room).long(), room - 1)
        window = _windows(bank.images, image, offset[:, 0], offset[:, 1], crop)
        mean = window.mean((1, 2))
        good = (mean > BankSource.MIN_CROP_SIGNAL * bank.means[image].clamp(min=0.0)) & (mean > 0)
        done = todo[good]
        crops[done] = window[good] / mean[good, None, None]
        index[done] = image[good]
        offsets[done] = offset[good]
        todo = todo[~good]
        if todo.numel() == 0:
            break
    else:
        raise ParameterError(f"No crop of {crop} px with signal found in {BankSource.MAX_TRIES} draws from "
                             f"{bank.directory}.", "Check the bank: its images look empty.")
    sizes = [bank.pixel_size_nm[i] for i in index.tolist()]
    return CropBatch(crops, index, offsets[:, 0], offsets[:, 1], sizes)


# --------------------------------------------------------------------------- augmentation settings


@dataclass(frozen=True)
class AugmentSettings:
    """The options of :func:`emrestore.datasets.augment.augment` (its ``DEFAULTS`` unless
    overridden), checked by the same rules; see that function for their meaning."""

    dihedral: bool
    p_gradient: float
    gradient_amplitude: float
    p_warp: float
    max_rotation_deg: float
    max_scale_change: float
    max_shear: float
    max_perspective: float
    fill: float | None
    p_pattern: float

    @classmethod
    def resolve(cls, **options: Any) -> AugmentSettings:
        """``augment.DEFAULTS`` with ``options`` applied.

        Raises
        ------
        ParameterError
            For an unknown option or one out of range (as ``augment`` does).
        """
        unknown = sorted(set(options) - set(numpy_augment.DEFAULTS))
        if unknown:
            raise ParameterError(f"Unknown augmentation option(s): {', '.join(unknown)}.",
                                 f"Use any of: {', '.join(numpy_augment.DEFAULTS)}.")
        opt = {**numpy_augment.DEFAULTS, **options}
        prob, bounded = numpy_augment._check_prob, numpy_augment._check_nonneg
        fill = opt["fill"]
        limit = AUGMENT_BODY_VALUES["max_warp_option"]
        return cls(
            dihedral=bool(opt["dihedral"]),
            p_gradient=prob("p_gradient", opt["p_gradient"]),
            gradient_amplitude=bounded("gradient_amplitude", opt["gradient_amplitude"],
                                       AUGMENT_BODY_VALUES["max_gradient_amplitude"]),
            p_warp=prob("p_warp", opt["p_warp"]),
            max_rotation_deg=bounded("max_rotation_deg", opt["max_rotation_deg"], AUGMENT_BODY_VALUES["max_rotation_deg"]),
            max_scale_change=bounded("max_scale_change", opt["max_scale_change"], limit),
            max_shear=bounded("max_shear", opt["max_shear"], limit),
            max_perspective=bounded("max_perspective", opt["max_perspective"], limit),
            fill=None if fill is None else bounded("fill", fill, float("inf")),
            p_pattern=prob("p_pattern", opt["p_pattern"]),
        )



# --------------------------------------------------------------------------- dihedral group


def apply_dihedral(images: torch.Tensor, k: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Each square image rotated by ``k[i]``·90° (as :func:`numpy.rot90`), then flipped
    left/right where ``flip[i]`` — the element ``random_dihedral`` applies for the same draws."""
    out = images.clone()
    for quarter in range(4):
        for mirrored in (False, True):
            select = (k == quarter) & (flip == mirrored)
            if bool(select.any()):
                moved = torch.rot90(images[select], quarter, dims=(-2, -1))
                out[select] = moved.flip(-1) if mirrored else moved
    return out


def dihedral_batch(images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A uniformly random element of the dihedral group per square image.

    Returns
    -------
    images, k, flip : torch.Tensor
        The transformed (B, S, S) images, the quarter turns (B,) and the flips (B,) bool.
    """
    if images.shape[-1] != images.shape[-2]:
        raise ParameterError(f"The dihedral group needs square images, got {tuple(images.shape[-2:])}.",
                             "Pass square crops.")
    n = images.shape[0]
    k = _integers(generator, 4, (n,), images.device)
    flip = _rand(generator, (n,), images.device) < 0.5
    return apply_dihedral(images, k, flip), k, flip


# --------------------------------------------------------------------------- slow gradient


@lru_cache(maxsize=16)
def _zoom_weights(height: int, width: int) -> np.ndarray:
    """(16, H, W): ``ndimage.zoom`` of each 4×4 unit image with ``slow_gradient``'s settings.

    The spline zoom is linear in its input, so the field of a 4×4 draw is these weights
    contracted with it.
    """
    k = AUGMENT_BODY_VALUES["field_grid"]
    basis = np.eye(k * k).reshape(k * k, k, k)
    return np.stack([ndimage.zoom(b, (height / k, width / k), order=3, mode="reflect", grid_mode=True)[:height, :width]
                     for b in basis])


@lru_cache(maxsize=16)
def _zoom_weights_on(height: int, width: int, device: str) -> torch.Tensor:
    """:func:`_zoom_weights` as a float64 tensor on ``device`` (kept, not copied per batch)."""
    return torch.as_tensor(_zoom_weights(height, width), device=torch.device(device))


def gradient_from_parameters(shape: tuple[int, int], amplitude: torch.Tensor, ramp: torch.Tensor,
                             angle: torch.Tensor, curvature: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """The fields ``exp(a·g)`` of :func:`~emrestore.datasets.augment.slow_gradient` for given draws.

    Parameters
    ----------
    shape : (int, int)
        (H, W) [px].
    amplitude : torch.Tensor
        (B,) log-amplitudes ``a``.
    ramp : torch.Tensor
        (B,) bool: a curved linear ramp (else the zoomed random field).
    angle : torch.Tensor
        (B,) ramp directions [rad].
    curvature : torch.Tensor
        (B,) curvature factors of the ramp.
    field : torch.Tensor
        (B, 4, 4) standard-normal draws of the random field.

    Returns
    -------
    torch.Tensor
        (B, H, W) float32, > 0.
    """
    h, w = shape
    device = amplitude.device
    side = max(h, w)
    yy = ((torch.arange(h, device=device, dtype=torch.float64) - (h - 1) / 2) / side * 2)[None, :, None]
    xx = ((torch.arange(w, device=device, dtype=torch.float64) - (w - 1) / 2) / side * 2)[None, None, :]
    line = yy * torch.sin(angle)[:, None, None] + xx * torch.cos(angle)[:, None, None]
    line = line + curvature[:, None, None] * (yy * yy + xx * xx - 0.5)
    weights = _zoom_weights_on(h, w, str(device))
    smooth = torch.einsum("bk,khw->bhw", field.reshape(field.shape[0], -1).to(torch.float64), weights)
    g = torch.where(ramp[:, None, None], line, smooth)
    g = g / g.abs().amax((1, 2), keepdim=True).clamp(min=1e-6)
    return torch.exp(amplitude[:, None, None] * g).float()


def gradient_parameters(n: int, generator: torch.Generator, amplitude: float,
                        device: torch.device) -> dict[str, torch.Tensor]:
    """``n`` draws of :func:`~emrestore.datasets.augment.slow_gradient`'s parameters, the
    keyword arguments of :func:`gradient_from_parameters` but the shape.

    Log-amplitude uniform in [0, ``amplitude``]; a ramp with probability ½ (direction
    uniform in [0, 2π), curvature in ±0.5), else a 4×4 standard-normal field.
    """
    curvature, grid = AUGMENT_BODY_VALUES["ramp_curvature"], AUGMENT_BODY_VALUES["field_grid"]
    return {
        "amplitude": _uniform(generator, (n,), 0.0, amplitude, device),
        "ramp": _rand(generator, (n,), device) < AUGMENT_BODY_VALUES["ramp_probability"],
        "angle": _uniform(generator, (n,), 0.0, 2 * np.pi, device),
        "curvature": _uniform(generator, (n,), -curvature, curvature, device),
        "field": torch.randn((n, grid, grid), generator=generator, dtype=torch.float64,
                             device=generator.device).to(device),
    }


def gradient_fields(shape: tuple[int, int], n: int, generator: torch.Generator, amplitude: float,
                    device: torch.device) -> torch.Tensor:
    """``n`` random slow gradients with ``slow_gradient``'s distribution (B, H, W) float32."""
    return gradient_from_parameters(shape, **gradient_parameters(n, generator, amplitude, device))


# --------------------------------------------------------------------------- warp


def warp_from_parameters(images: torch.Tensor, rotation_rad: torch.Tensor, scale_yx: torch.Tensor,
                         shear: torch.Tensor, perspective: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """:func:`~emrestore.datasets.augment.random_warp` of each image for given draws.

    The homography about the image centre is built as ``random_warp`` builds it; each
    output pixel samples its source point bilinearly (``grid_sample``, ``align_corners=True``,
    which is ``map_coordinates(order=1)``) and takes the fill where the source point lies
    outside the image (``mode="constant"``: no interpolation towards the fill).

    Parameters
    ----------
    images : torch.Tensor
        (B, H, W) float32.
    rotation_rad : torch.Tensor
        (B,) rotations θ [rad].
    scale_yx : torch.Tensor
        (B, 2) axis scale factors (s_y, s_x).
    shear : torch.Tensor
        (B,) shears.
    perspective : torch.Tensor
        (B, 2) projective terms [1/px] (zero for an affine warp).
    fill : torch.Tensor
        (B,) margin values.

    Returns
    -------
    torch.Tensor
        (B, H, W) float32.
    """
    b, h, w = images.shape
    device = images.device
    c, s = torch.cos(rotation_rad), torch.sin(rotation_rad)
    zero = torch.zeros_like(c)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    upper = torch.stack([torch.stack([scale_yx[:, 0], shear], -1), torch.stack([zero, scale_yx[:, 1]], -1)], -2)
    hom = torch.eye(3, dtype=torch.float64, device=device).repeat(b, 1, 1)
    hom[:, :2, :2] = rot @ upper
    hom[:, 2, :2] = perspective
    inverse = torch.linalg.inv(hom)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float64) - cy,
                            torch.arange(w, device=device, dtype=torch.float64) - cx, indexing="ij")
    centred = torch.stack([yy.reshape(-1), xx.reshape(-1), torch.ones(h * w, device=device, dtype=torch.float64)])
    src = inverse @ centred  # (B, 3, H·W)
    src_y = (src[:, 0] / src[:, 2] + cy).reshape(b, h, w)
    src_x = (src[:, 1] / src[:, 2] + cx).reshape(b, h, w)
    inside = (src_y >= 0) & (src_y <= h - 1) & (src_x >= 0) & (src_x <= w - 1)
    grid = torch.stack([src_x / max(w - 1, 1) * 2 - 1, src_y / max(h - 1, 1) * 2 - 1], -1).to(images.dtype)
    sampled = F.grid_sample(images[:, None], grid, mode="bilinear", padding_mode="border", align_corners=True)[:, 0]
    return torch.where(inside, sampled, fill.to(images.dtype)[:, None, None])


def _fills(images: torch.Tensor, generator: torch.Generator, fill: float | None) -> torch.Tensor:
    """Each image's margin value: ``fill``, else its minimum, mean or 0 at random (as ``augment``)."""
    n = images.shape[0]
    if fill is not None:
        return torch.full((n,), float(fill), dtype=torch.float64, device=images.device)
    choice = _integers(generator, 3, (n,), images.device)
    options = torch.stack([images.amin((1, 2)).double(), images.mean((1, 2)).double(),
                           torch.zeros(n, dtype=torch.float64, device=images.device)], -1)
    return options.gather(1, choice[:, None])[:, 0]


def warp_parameters(n: int, side: int, generator: torch.Generator, settings: AugmentSettings,
                    device: torch.device) -> dict[str, torch.Tensor]:
    """``n`` draws of :func:`~emrestore.datasets.augment.random_warp`'s parameters, the
    keyword arguments of :func:`warp_from_parameters` but the fill.

    Rotation uniform in ±``max_rotation_deg``, each axis scale in 1 ± ``max_scale_change``,
    shear in ±``max_shear``; with probability ½ projective terms in
    ±``max_perspective`` / ``side`` [1/px], else none.
    """
    rotation = torch.deg2rad(_uniform(generator, (n,), -settings.max_rotation_deg, settings.max_rotation_deg, device))
    scale = 1.0 + _uniform(generator, (n, 2), -settings.max_scale_change, settings.max_scale_change, device)
    shear = _uniform(generator, (n,), -settings.max_shear, settings.max_shear, device)
    keystone = _rand(generator, (n, 1), device) < AUGMENT_BODY_VALUES["perspective_probability"]
    perspective = _uniform(generator, (n, 2), -settings.max_perspective, settings.max_perspective, device) / side
    return {"rotation_rad": rotation, "scale_yx": scale, "shear": shear, "perspective": perspective * keystone}


def warp_batch(images: torch.Tensor, generator: torch.Generator, settings: AugmentSettings) -> torch.Tensor:
    """A random warp of every image with ``random_warp``'s distribution and ``augment``'s fill."""
    n, h, w = images.shape
    fill = _fills(images, generator, settings.fill)
    return warp_from_parameters(images, fill=fill, **warp_parameters(n, max(h, w), generator, settings, images.device))


# --------------------------------------------------------------------------- generic patterns


def pattern_from_parameters(images: torch.Tensor, mask: torch.Tensor, level_factor: torch.Tensor,
                            opacity: torch.Tensor) -> torch.Tensor:
    """``augment``'s mixing of a pattern for given draws:
    ``image · (1 − α·mask) + α·mask · mean(image) · level_factor``.

    Parameters
    ----------
    images, mask : torch.Tensor
        (B, H, W) images and pattern coverage masks in [0, 1].
    level_factor, opacity : torch.Tensor
        (B,) pattern level relative to the image mean, and opacity α.
    """
    level = images.mean((1, 2)) * level_factor.to(images.dtype)
    alpha = opacity.to(images.dtype)[:, None, None] * mask
    return images * (1 - alpha) + alpha * level[:, None, None]


def pattern_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A generic pattern mixed into every image, as ``augment`` mixes one.

    The coverage masks are drawn by :func:`~emrestore.datasets.augment.generic_pattern`
    (Pillow, on the CPU; each from a numpy generator seeded from ``generator``); the level
    (mean × U(0, 2.5)) and opacity (U(0.3, 1)) are applied on the images' device.
    """
    n, h, w = images.shape
    device = images.device
    seeds = _integers(generator, 2**62, (n,), torch.device("cpu")).tolist()
    masks = np.stack([numpy_augment.generic_pattern((h, w), np.random.default_rng(seed))[0] for seed in seeds])
    mask = torch.from_numpy(masks.astype(np.float32)).to(device)
    level_factor = _uniform(generator, (n,), 0.0, AUGMENT_BODY_VALUES["pattern_level"], device)
    opacity = _uniform(generator, (n,), *AUGMENT_BODY_VALUES["pattern_opacity"], device)
    return pattern_from_parameters(images, mask, level_factor, opacity)


# --------------------------------------------------------------------------- the whole augmentation


def _where_drawn(images: torch.Tensor, generator: torch.Generator, probability: float) -> torch.Tensor:
    """Indices (int64) of the images for which a step with ``probability`` is applied."""
    return torch.nonzero(_rand(generator, (images.shape[0],), images.device) < probability)[:, 0]


def augment_batch(images: torch.Tensor, generator: torch.Generator,
                  settings: AugmentSettings | None = None) -> torch.Tensor:
    """:func:`~emrestore.datasets.augment.augment` of every image of a batch.

    Parameters
    ----------
    images : torch.Tensor
        (B, S, S) float32 square images, finite, ≥ 0.
    generator : torch.Generator
        Random source (CPU or on the images' device).
    settings : AugmentSettings, optional
        Default: ``augment.DEFAULTS``.

    Returns
    -------
    torch.Tensor
        (B, S, S) float32, ≥ 0.
    """
    settings = settings or AugmentSettings.resolve()
    out = images
    if settings.dihedral:
        out = dihedral_batch(out, generator)[0]
    out = out.clone()
    h, w = out.shape[-2:]
    chosen = _where_drawn(out, generator, settings.p_gradient)
    if chosen.numel():
        out[chosen] = out[chosen] * gradient_fields((h, w), int(chosen.numel()), generator,
                                                    settings.gradient_amplitude, out.device)
    chosen = _where_drawn(out, generator, settings.p_warp)
    if chosen.numel():
        out[chosen] = warp_batch(out[chosen], generator, settings)
    chosen = _where_drawn(out, generator, settings.p_pattern)
    if chosen.numel():
        out[chosen] = pattern_batch(out[chosen], generator)
    return out.clamp(min=0.0)


def clean_batch(bank: DeviceBank, n: int, crop: int, generator: torch.Generator, augment_mode: str = "auto",
                settings: AugmentSettings | None = None) -> tuple[torch.Tensor, list[float | None]]:
    """``n`` clean training images from a device bank, augmented as ``[data] augment`` says.

    Parameters
    ----------
    bank : DeviceBank
        The bank.
    n : int
        Batch size.
    crop : int
        Crop side [px].
    generator : torch.Generator
        Random source (CPU or on the bank's device): same state, same batch.
    augment_mode : {"auto", "dihedral", "none"}
        ``auto``: :func:`augment_batch` with ``augment.DEFAULTS``; ``dihedral``: a random
        dihedral element only; ``none``: the crops as drawn.
    settings : AugmentSettings, optional
        Options of the ``auto`` augmentation (default: ``augment.DEFAULTS``, as training uses).

    Returns
    -------
    clean : torch.Tensor
        (n, crop, crop) float32 on the bank's device. As in the training dataset, a crop
        whose augmented mean is not positive (a warp moved all its signal out of view) is
        used as drawn.
    pixel_size_nm : list of float or None
        Each image's pixel size [nm].
    """
    if augment_mode not in AUGMENTATIONS:
        raise ParameterError(f"Unknown augmentation {augment_mode!r}.", f"Use one of {', '.join(AUGMENTATIONS)}.")
    drawn = draw_crops(bank, n, crop, generator)
    if augment_mode == "none":
        return drawn.crops, drawn.pixel_size_nm
    if augment_mode == "dihedral":
        return dihedral_batch(drawn.crops, generator)[0], drawn.pixel_size_nm
    augmented = augment_batch(drawn.crops, generator, settings)
    usable = augmented.mean((1, 2)) > 0
    return torch.where(usable[:, None, None], augmented, drawn.crops), drawn.pixel_size_nm

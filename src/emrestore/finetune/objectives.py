"""The self-supervised objectives of fine-tuning, in the network's normalised units.

* **Noise2Noise** (Lehtinen et al. 2018): input one frame of a series, target another frame of
  the same field registered onto it. The two noises are independent, so the squared error's
  minimiser is the noise-free signal; the loss's floor is the target's noise variance.
* **Blind spot** (Noise2Void, Krull et al. 2019): a few pixels of a single frame are replaced
  by the mean of their unmasked neighbours; the network must predict the original values there
  from the context alone. Pixel-independent noise cannot be predicted from neighbours, so the
  minimiser is again the signal. Correlated noise (detector blur, scan-line noise) leaks
  through the neighbours and is partly kept.
* **Row blind spot** (for scanned frames; the idea of structured Noise2Void, Broaddus et al.
  2020, taken to whole scan lines): whole rows of a crop are replaced by the mean of the
  nearest unmasked rows above and below and predicted from them. A scan line's own noise —
  its offset (line noise), the dwell-time blur and afterglow along it, its row-jitter shift —
  is shared along the row and independent of the neighbouring lines, so none of it can be
  read from what the network sees, and the minimiser is the signal again.
* **Synthetic pairs**: the starting model's restoration of the user's frames degraded by the
  forward model (:func:`emrestore.distort`) at the noise level :func:`emrestore.estimate_noise`
  reads from the frames; an L1 loss against the chain's clean target, as in the original
  training. It keeps the physics prior (what a clean image looks like, which artefacts to
  remove) while the other two adapt to the real noise.

Every loss compares ``pred_hat`` (the network's output normalised by its input's mean and std,
:meth:`~emrestore.nn.CGRDN.forward_training`) with the target normalised the same way.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import convolve

# Share of the pixels of a crop masked by the blind-spot objective (Noise2Void uses ≈ 0.2–2 %).
from .settings import DEFAULT_MASK_FRACTION

__all__ = [
    "DEFAULT_MASK_FRACTION",
    "OBJECTIVES",
    "blind_spot_loss",
    "blind_spot_mask",
    "n2n_loss",
    "row_blind_spot_mask",
    "synthetic_loss",
]

#: Objective names, in the order the card lists them.
OBJECTIVES = ("n2n", "blind_spot", "synthetic")

_RING3 = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float64)
_RING5 = np.ones((5, 5), np.float64)
_RING5[2, 2] = 0.0


def _neighbour_mean(image: np.ndarray, keep: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the kept pixels under ``kernel`` (mirror edges) and how many there were."""
    weights = keep.astype(np.float64)
    total = convolve(image * weights, kernel, mode="mirror")
    count = convolve(weights, kernel, mode="mirror")
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, count


def blind_spot_mask(crops: np.ndarray, rng: np.random.Generator,
                    fraction: float = DEFAULT_MASK_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Mask pixels for the blind-spot objective; their values never reach the network's input.

    Each crop gets ``max(1, round(fraction · H · W))`` distinct random pixels; each is replaced
    by the mean of its *unmasked* 8-neighbours (5 × 5 ring where all 8 are masked, the crop's
    unmasked mean where even those are), so no masked value is copied anywhere in the input.

    Parameters
    ----------
    crops : numpy.ndarray
        (B, H, W) frames [any units].
    rng : numpy.random.Generator
        Chooses the pixels.
    fraction : float
        Share of pixels masked, in (0, 0.5].

    Returns
    -------
    (masked, mask) : tuple of numpy.ndarray
        ``masked`` float32 (B, H, W), the network's input; ``mask`` bool (B, H, W), True where
        the loss is taken.
    """
    if not 0.0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    data = np.asarray(crops, np.float64)
    b, h, w = data.shape
    count = max(1, round(fraction * h * w))
    mask = np.zeros((b, h, w), bool)
    masked = data.copy()
    for i in range(b):
        flat = rng.choice(h * w, size=count, replace=False)
        mask[i].flat[flat] = True
        keep = ~mask[i]
        fill, n = _neighbour_mean(data[i], keep, _RING3)
        wide, n5 = _neighbour_mean(data[i], keep, _RING5)
        fill = np.where(n > 0.5, fill, np.where(n5 > 0.5, wide, data[i][keep].mean()))
        masked[i][mask[i]] = fill[mask[i]]
    return masked.astype(np.float32), mask


def row_blind_spot_mask(crops: np.ndarray, rng: np.random.Generator,
                        fraction: float = DEFAULT_MASK_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Mask whole scan lines (rows) for the row blind-spot objective.

    Each crop gets ``max(1, round(fraction · H))`` distinct random rows (the same share of its
    pixels as :func:`blind_spot_mask` masks); each is replaced by the mean of the nearest
    unmasked row above and the nearest below (the one that exists at an edge), so nothing of a
    masked line — its offset, its blur along the fast-scan axis, its jitter — reaches the input.

    Parameters
    ----------
    crops : numpy.ndarray
        (B, H, W) frames [any units], the fast-scan axis along rows, H ≥ 2.
    rng : numpy.random.Generator
        Chooses the rows.
    fraction : float
        Share of rows masked, in (0, 0.5].

    Returns
    -------
    (masked, mask) : tuple of numpy.ndarray
        ``masked`` float32 (B, H, W), the network's input; ``mask`` bool (B, H, W), True on the
        masked rows (where the loss is taken).

    Examples
    --------
    >>> crops = np.random.default_rng(0).random((2, 64, 64))
    >>> masked, mask = row_blind_spot_mask(crops, np.random.default_rng(1))
    >>> bool(mask.all(axis=2).any(axis=1).all()), int(mask[0].all(axis=1).sum())
    (True, 1)
    """
    if not 0.0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    data = np.asarray(crops, np.float64)
    b, h, w = data.shape
    if h < 2:
        raise ValueError(f"row blind spot needs crops of ≥ 2 rows, got {h}")
    count = max(1, round(fraction * h))
    mask = np.zeros((b, h, w), bool)
    masked = data.copy()
    for i in range(b):
        rows = np.sort(rng.choice(h, size=count, replace=False))
        hidden = np.zeros(h, bool)
        hidden[rows] = True
        kept = np.flatnonzero(~hidden)
        for y in rows:
            above, below = kept[kept < y], kept[kept > y]
            sides = ([data[i, above[-1]]] if above.size else []) + ([data[i, below[0]]] if below.size else [])
            masked[i, y] = np.mean(sides, axis=0)
        mask[i, rows] = True
    return masked.astype(np.float32), mask


def n2n_loss(pred_hat: torch.Tensor, target_hat: torch.Tensor) -> torch.Tensor:
    """Mean squared error against another noisy frame of the same field (Noise2Noise)."""
    return torch.mean((pred_hat - target_hat) ** 2)


def blind_spot_loss(pred_hat: torch.Tensor, target_hat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error on the masked pixels only (Noise2Void)."""
    weights = mask.to(pred_hat.dtype)
    return torch.sum(weights * (pred_hat - target_hat) ** 2) / weights.sum().clamp_min(1.0)


def synthetic_loss(pred_hat: torch.Tensor, target_hat: torch.Tensor) -> torch.Tensor:
    """Mean absolute error against the forward model's clean target (the original training loss's L1 term)."""
    return torch.mean(torch.abs(pred_hat - target_hat))

"""The self-supervised objectives of fine-tuning, in the network's normalised units.

* **Noise2Noise** (Lehtinen et al. 2018): input one frame of a series, target another frame of
  the same field registered onto it. The two noises are independent, so the squared error's
  minimiser is the noise-free signal; the loss's floor is the target's noise variance.
* **Blind spot** (Noise2Void, Krull et al. 2019): a few pixels of a single frame are replaced
  by the mean of their unmasked neighbours; the network must predict the original values there
  from the context alone. Pixel-independent noise cannot be predicted from neighbours, so the
  minimiser is again the signal. Correlated noise (detector blur, scan-line noise) leaks
  through the neighbours and is partly kept.
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

"""Loss terms of the training recipe, each usable and testable on its own.

Every pixel term takes (N, 1, H, W) prediction and target tensors *in normalised units*
(both divided by the degraded input's std after subtracting its mean, see
:meth:`emrestore.nn.CGRDN.forward_training`) and returns a scalar: the mean over images of
the per-image loss times the image weight ``1 / max(std(target), 0.1)``, so that low-contrast
targets count as much as high-contrast ones. All pixel terms are exactly zero when
prediction equals target and positive otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ..errors import ParameterError

__all__ = [
    "LossWeights",
    "image_weights",
    "l1_loss",
    "mlwt_loss",
    "fourier_loss",
    "mean_loss",
    "std_loss",
    "relativistic_d_loss",
    "relativistic_g_loss",
    "instance_noise",
    "pixel_losses",
]

#: Floor of the target std in the per-image weight [normalised units].
WEIGHT_STD_FLOOR = 0.1
#: Window sizes [px] and relative weights of the multi-local whitening term.
MLWT_WINDOWS = (2, 4, 8, 16)
MLWT_WEIGHTS = (1.0, 1.33, 1.66, 2.0)
#: Floor of the local std in the whitening term [normalised units].
MLWT_STD_FLOOR = 0.1
#: Regulariser of |F|^(1/8): (|F|² + eps)^(1/16) − eps^(1/16) has a finite gradient at 0.
FOURIER_EPS = 1e-8


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms in the generator's objective (all ≥ 0).

    The adversarial weight applies only in the second (fine-tuning) phase.
    """

    l1: float = 10.0
    mlwt: float = 2.0
    fourier: float = 0.5
    mean: float = 1.0
    std: float = 1.0
    adversarial: float = 5e-4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ParameterError(
                    f"Loss weight {f.name!r} is {value!r}; weights must be finite numbers ≥ 0.",
                    f"Set {f.name} to a number ≥ 0 (default {getattr(LossWeights(), f.name)}).",
                )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LossWeights":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(
                f"Unknown loss weight(s): {', '.join(unknown)}.", f"Use only {', '.join(sorted(known))}."
            )
        return cls(**{k: float(v) for k, v in data.items()})


def _check(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 4:
        raise ParameterError(
            f"Loss inputs must be two (N, C, H, W) tensors of the same shape; got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}.",
            "Crop or pad the prediction to the target's shape.",
        )


def image_weights(target: Tensor, floor: float = WEIGHT_STD_FLOOR) -> Tensor:
    """Per-image weights ``1 / max(std(target), floor)``, shape (N,)."""
    std = target.flatten(1).std(dim=1, unbiased=False)
    return 1.0 / std.clamp_min(floor)


def _weighted(per_image: Tensor, target: Tensor) -> Tensor:
    return (per_image * image_weights(target)).mean()


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Weighted mean absolute error."""
    _check(pred, target)
    return _weighted((pred - target).abs().flatten(1).mean(dim=1), target)


def _box_mean(x: Tensor, window: int) -> Tensor:
    """Mean over a ``window`` × ``window`` box at every pixel (edge-replicated), same shape."""
    lo, hi = (window - 1) // 2, window // 2
    padded = F.pad(x, (lo, hi, lo, hi), mode="replicate")
    # separable: O(2·window) instead of O(window²) operations per pixel
    return F.avg_pool2d(F.avg_pool2d(padded, (window, 1), stride=1), (1, window), stride=1)


def mlwt_loss(
    pred: Tensor,
    target: Tensor,
    windows: tuple[int, ...] = MLWT_WINDOWS,
    weights: tuple[float, ...] = MLWT_WEIGHTS,
    std_floor: float = MLWT_STD_FLOOR,
) -> Tensor:
    """Multi-local whitening L1.

    Both images are whitened by the *target's* local mean and local std (box windows of
    2, 4, 8, 16 px, std floored at ``std_floor``); the L1 of the whitened images is averaged
    over windows with weights 1 : 1.33 : 1.66 : 2 (normalised to sum 1). Faint structure in
    dark, flat regions therefore weighs as much as bright, high-contrast structure.
    """
    _check(pred, target)
    if len(windows) != len(weights) or not windows:
        raise ParameterError("MLWT windows and weights differ in length.", "Give one weight per window.")
    total = sum(weights)
    per_image = torch.zeros(pred.shape[0], dtype=pred.dtype, device=pred.device)
    for window, weight in zip(windows, weights):
        mu = _box_mean(target, window)
        var = (_box_mean(target.square(), window) - mu.square()).clamp_min(0.0)
        sigma = var.sqrt().clamp_min(std_floor)
        whitened_pred = (pred - mu) / sigma
        whitened_target = (target - mu) / sigma
        term = (whitened_pred - whitened_target).abs().flatten(1).mean(dim=1)
        per_image = per_image + (weight / total) * term
    return _weighted(per_image, target)


def fourier_loss(pred: Tensor, target: Tensor, eps: float = FOURIER_EPS) -> Tensor:
    """Mean of |FFT(pred − target)|^(1/8) (orthonormal FFT), regularised at zero.

    Computed as ``(|F|² + eps)^(1/16) − eps^(1/16)``, which is 0 for identical images and
    has a finite gradient everywhere.
    """
    _check(pred, target)
    spectrum = torch.fft.rfft2((pred - target).float(), norm="ortho")
    power = spectrum.real.square() + spectrum.imag.square()
    value = (power + eps).pow(1.0 / 16.0) - eps ** (1.0 / 16.0)
    return _weighted(value.flatten(1).mean(dim=1).to(pred.dtype), target)


def mean_loss(pred: Tensor, target: Tensor) -> Tensor:
    """|mean(pred) − mean(target)| per image, weighted."""
    _check(pred, target)
    return _weighted((pred.flatten(1).mean(dim=1) - target.flatten(1).mean(dim=1)).abs(), target)


def std_loss(pred: Tensor, target: Tensor) -> Tensor:
    """|std(pred) − std(target)| per image, weighted."""
    _check(pred, target)
    sp = pred.flatten(1).std(dim=1, unbiased=False)
    st = target.flatten(1).std(dim=1, unbiased=False)
    return _weighted((sp - st).abs(), target)


def relativistic_d_loss(real_logits: Tensor, fake_logits: Tensor, real_label: float = 0.95) -> Tensor:
    """Discriminator's relativistic-average BCE.

    Pushes ``D(real) − mean D(fake)`` towards ``real_label`` (label smoothing, 0.95) and
    ``D(fake) − mean D(real)`` towards 0. Means are over the batch and the patch map.
    """
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real_rel, torch.full_like(real_rel, real_label))
        + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel))
    )


def relativistic_g_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Generator's relativistic-average BCE (the discriminator's targets swapped)."""
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real_rel, torch.zeros_like(real_rel))
        + F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel))
    )


def instance_noise(
    real: Tensor,
    fake: Tensor,
    target: Tensor,
    generator: torch.Generator | None = None,
    probability: float = 0.5,
    std_range: tuple[float, float] = (0.001, 0.1),
) -> tuple[Tensor, Tensor]:
    """With probability ``probability``, add Gaussian noise to both D inputs.

    The noise std is drawn from U[std_range]·std(target) per image. Random numbers come from
    ``generator`` (a ``torch.Generator`` on the inputs' device) so a run is reproducible.
    """
    device = real.device
    if torch.rand((), generator=generator, device=device).item() >= probability:
        return real, fake
    n = real.shape[0]
    lo, hi = std_range
    scale = lo + (hi - lo) * torch.rand((n, 1, 1, 1), generator=generator, device=device)
    scale = scale * target.detach().flatten(1).std(dim=1, unbiased=False).view(n, 1, 1, 1)
    noise_real = torch.randn(real.shape, generator=generator, device=device, dtype=real.dtype)
    noise_fake = torch.randn(fake.shape, generator=generator, device=device, dtype=fake.dtype)
    return real + scale * noise_real, fake + scale * noise_fake


def pixel_losses(pred: Tensor, target: Tensor, weights: LossWeights) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted sum of the pixel terms and each term (unweighted, detached) for logging."""
    terms = {
        "l1": l1_loss(pred, target),
        "mlwt": mlwt_loss(pred, target),
        "fourier": fourier_loss(pred, target),
        "mean": mean_loss(pred, target),
        "std": std_loss(pred, target),
    }
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, {name: value.detach() for name, value in terms.items()}

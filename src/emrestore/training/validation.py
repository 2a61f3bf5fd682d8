"""Validation metrics of a generator on fixed pairs: loss terms, MAE and PSNR, with the input as baseline."""

from __future__ import annotations

import numpy as np
import torch

from ..nn import losses as L
from .levels import noise_levels

#: Columns of ``validation.csv``.
VAL_FIELDS = ["step", "l1", "mlwt", "fourier", "mean", "std", "mae", "psnr_db", "psnr_median_db",
              "input_l1", "input_mae", "input_psnr_db", "input_psnr_median_db"]


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    degraded: np.ndarray,
    target: np.ndarray,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> dict[str, float]:
    """Metrics of ``model`` on pairs (N, 1, H, W).

    Returns the loss terms (normalised units, image-weighted, as in training), the raw mean
    absolute error ``mae`` [input units], the mean PSNR ``psnr_db`` [dB] with the target's
    max − min as peak, its median ``psnr_median_db`` (robust to pairs whose input equals
    the target, where the input's PSNR is unbounded), and for the degraded input itself as
    a baseline: ``input_l1`` (the L1 term), ``input_mae``, ``input_psnr_db`` and
    ``input_psnr_median_db``.
    """
    module = getattr(model, "module", model)
    was_training = module.training
    module.eval()
    sums: dict[str, float] = {k: 0.0 for k in VAL_FIELDS if k != "step" and "median" not in k}
    psnrs: dict[str, list[float]] = {"": [], "input_": []}
    n = degraded.shape[0]
    try:
        for start in range(0, n, batch_size):
            x = torch.from_numpy(degraded[start:start + batch_size]).to(device)
            y = torch.from_numpy(target[start:start + batch_size]).to(device)
            k = x.shape[0]
            pred, m, s = module(x, return_normalised=True, level=noise_levels(module, x))
            t = (y - m) / s
            _, terms = L.pixel_losses(pred, t, L.LossWeights())
            for name, value in terms.items():
                sums[name] += float(value) * k
            sums["input_l1"] += float(L.l1_loss((x - m) / s, t)) * k
            raw = pred * s + m
            peak = (y.amax(dim=(1, 2, 3)) - y.amin(dim=(1, 2, 3))).clamp_min(1e-12)
            for prefix, est in (("", raw), ("input_", x)):
                err = est - y
                mse = err.square().mean(dim=(1, 2, 3)).clamp_min(1e-20)
                sums[prefix + "mae"] += float(err.abs().mean(dim=(1, 2, 3)).sum())
                psnr = 10 * torch.log10(peak.square() / mse)
                sums[prefix + "psnr_db"] += float(psnr.sum())
                psnrs[prefix].extend(psnr.tolist())
    finally:
        module.train(was_training)
    out = {k: v / n for k, v in sums.items()}
    for prefix, values in psnrs.items():
        out[prefix + "psnr_median_db"] = float(np.median(values))
    return out

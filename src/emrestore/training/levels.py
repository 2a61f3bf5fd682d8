"""The noise level a noise-conditioned generator is told, measured on its own input.

One measurement for training, validation and fine-tuning: each degraded image the network
sees gets :func:`emrestore.model.conditioning.noise_level` (as restoration measures it on a
whole frame), never a value from the simulator.
"""

from __future__ import annotations

import torch

from ..model.conditioning import batch_noise_levels

__all__ = ["noise_levels"]


def noise_levels(generator: torch.nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """(N,) noise levels of a (N, 1, H, W) batch for ``generator`` (None: it is not conditioned).

    ``generator`` may be wrapped (DDP): its ``module`` is looked at.
    """
    core = getattr(generator, "module", generator)
    config = getattr(core, "config", None)
    if not getattr(config, "noise_conditioned", False):
        return None
    levels = batch_noise_levels(x.detach().float().cpu().numpy()[:, 0])
    return torch.from_numpy(levels).to(x.device)

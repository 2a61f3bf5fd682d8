"""Conditional PatchGAN discriminator (70×70 receptive field)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .configs import DiscriminatorConfig

__all__ = ["PatchDiscriminator", "build_discriminator"]


class PatchDiscriminator(nn.Module):
    """Five 4×4 convs (stride 2, 2, 2, 1, 1) with LeakyReLU(0.2), batch norm on the middle three.

    Padding follows TensorFlow's ``"same"`` rule (the published models were Keras models), so
    a 256×256 input gives a 32×32 logit map (H/8 × W/8 for H, W divisible by 8); each logit
    sees a 70×70 window of the input.

    Parameters
    ----------
    config : DiscriminatorConfig
        Channel sizes.
    """

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config or DiscriminatorConfig()
        c = self.config.base_channels
        widths = [self.config.in_channels, c, 2 * c, 4 * c, 8 * c]
        layers: list[nn.Module] = []
        for i in range(4):
            stride = 2 if i < 3 else 1
            # "same" padding: stride 2 -> (1, 1); stride 1 -> (1, 2) on each axis.
            layers.append(nn.ZeroPad2d((1, 1, 1, 1) if stride == 2 else (1, 2, 1, 2)))
            layers.append(nn.Conv2d(widths[i], widths[i + 1], 4, stride=stride, bias=(i == 0)))
            if i > 0:
                layers.append(nn.BatchNorm2d(widths[i + 1]))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.ZeroPad2d((1, 2, 1, 2)))
        layers.append(nn.Conv2d(widths[4], 1, 4, stride=1))
        self.net = nn.Sequential(*layers)

    def forward(self, degraded: Tensor, candidate: Tensor) -> Tensor:
        """Logit map for (degraded, candidate) pairs.

        Parameters
        ----------
        degraded, candidate : Tensor
            (N, 1, H, W) each, both normalised with the degraded image's statistics.

        Returns
        -------
        Tensor
            (N, 1, ceil(H/8), ceil(W/8)) logits (real > 0 > fake after training).
        """
        return self.net(torch.cat([degraded, candidate], dim=1))


def build_discriminator(config: DiscriminatorConfig | dict | None = None, seed: int | None = None) -> PatchDiscriminator:
    """Build a :class:`PatchDiscriminator`; ``seed`` makes the initialisation reproducible."""
    if isinstance(config, dict):
        config = DiscriminatorConfig(**config)
    if seed is None:
        return PatchDiscriminator(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PatchDiscriminator(config)

"""Networks of emrestore (PyTorch): the CGRDN generator, the PatchGAN discriminator, losses.

Importing this package imports torch; the restore path (onnxruntime) never does.

Public names
------------
build_generator, CGRDN, GeneratorConfig, GENERATOR_PRESETS
    The generator; ``build_generator("paper")`` is the published 7,035,521-parameter network.
build_discriminator, PatchDiscriminator, DiscriminatorConfig
    The conditional PatchGAN discriminator.
losses
    The loss terms (L1, multi-local whitening, Fourier, mean, std, relativistic adversarial).
"""

from __future__ import annotations

from . import losses
from .cgrdn import CGRDN, build_generator, normalise_images
from .configs import (
    GENERATOR_PRESETS,
    DiscriminatorConfig,
    GeneratorConfig,
    generator_config,
    generator_gflop,
    generator_parameter_count,
)
from .discriminator import PatchDiscriminator, build_discriminator
from .losses import LossWeights

__all__ = [
    "CGRDN",
    "GENERATOR_PRESETS",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "LossWeights",
    "PatchDiscriminator",
    "build_discriminator",
    "build_generator",
    "generator_config",
    "generator_gflop",
    "generator_parameter_count",
    "losses",
    "normalise_images",
]

"""Networks of emrestore (PyTorch): the CGRDN generator, the PatchGAN discriminator, losses.

The configuration objects (:mod:`emrestore.nn.configs`) need no torch; the networks and losses
import torch on first use. The restore path (onnxruntime) never needs torch.

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

import importlib
from typing import Any

# Configuration objects need no torch; everything else is imported on first use, so that
# ``from emrestore.nn.configs import GeneratorConfig`` works where torch is not installed.
from .configs import (
    GENERATOR_PRESETS,
    DiscriminatorConfig,
    GeneratorConfig,
    generator_config,
    generator_gflop,
    generator_parameter_count,
)

_LAZY = {
    "CGRDN": ".cgrdn",
    "build_generator": ".cgrdn",
    "normalise_images": ".cgrdn",
    "PatchDiscriminator": ".discriminator",
    "build_discriminator": ".discriminator",
    "LossWeights": ".losses",
    "losses": ".losses",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = module if name == "losses" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

"""Small configurations shared by the training tests (kept tiny for a shared 2-core CPU)."""

from __future__ import annotations

import copy
from typing import Any

TINY_MODEL = {"groups": 1, "blocks": 1, "layers": 2, "growth": 8, "channels": 16, "downsample": 2}


def tiny_config_dict(**sections: Any) -> dict[str, Any]:
    """A complete config dict for a tiny synthetic run; ``sections`` update it per section."""
    data: dict[str, Any] = {
        "tag": "hrstem",
        "seed": 3,
        "model": dict(TINY_MODEL),
        "discriminator": {"base_channels": 8},
        "data": {
            "source": "synthetic",
            "degradation": "poisson",
            "dose_range": [20.0, 500.0],
            "crop": 32,
            "batch_size": 2,
            "workers": 0,
            "validation_size": 4,
        },
        "optim": {"warmup_steps": 2, "lr_g": 1e-3, "lr_d": 1e-3},
        "schedule": {"pixel_steps": 3, "gan_steps": 2, "log_every": 1, "validate_every": 0,
                     "checkpoint_every": 0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = copy.deepcopy(value)
    return data


def tiny_config(**sections: Any):
    from emrestore.training import config_from_dict

    return config_from_dict(tiny_config_dict(**sections))

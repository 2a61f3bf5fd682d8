"""The noise-level ablation of docs/models.md step 9: run an ``emrestore`` command with the
noise level of noise-conditioned models read by the variance–mean fit instead of the
spectral floor.

``emrestore.model.conditioning.noise_level`` (training crops, validation, restoration, the
backend check) and its imports in the restore engine and ``finetune`` are replaced in this
process by :func:`shot_level`: ``noise_level(frame, variance=shot_variance)``, i.e.
``sqrt(shot_noise_variance(c))/std(c)`` on the same central ≤ 512² px region ``c``, falling back to the spectral floor where the fit cannot tell
(``shot_noise_variance`` returns None). A model trained this way must also be restored this
way: its card does not say which level it was told.

Usage::

    python tools/level_ablation.py train --config c13-shot-lrtem.toml --init-from lrtem \\
        --out runs/c13-shot-lrtem --threads 1 --minutes 40 --fit-schedule --no-progress
    python tools/level_ablation.py evaluate --tag lrtem --model runs/c13-shot-lrtem/model.onnx ...

Results: docs/network.md ("Does the better level help?").
"""

from __future__ import annotations

import sys

import numpy as np

import emrestore.finetune.loop as finetune_loop
import emrestore.restoration.engine as engine
from emrestore.cli import main
from emrestore.model import conditioning
from emrestore.noise_estimate import shot_noise_variance, spectral_noise_variance


def shot_variance(crop: np.ndarray) -> float:
    """The variance–mean noise variance of ``crop``, the spectral floor's where the fit cannot tell."""
    variance = shot_noise_variance(crop)
    return spectral_noise_variance(crop) if variance is None else variance


def shot_level(data: np.ndarray) -> float:
    """The variance–mean noise level of a frame in units of its std [-] (0: noise-free)."""
    return original_noise_level(data, variance=shot_variance)


original_noise_level = conditioning.noise_level
conditioning.noise_level = shot_level
engine.noise_level = shot_level
finetune_loop.noise_level = shot_level

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

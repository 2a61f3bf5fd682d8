"""Self-supervised adaptation of a restoration model to the user's own frames (``emrestore finetune``).

Starting from a shipped model's weights (rebuilt from its ONNX file,
:func:`emrestore.training.export.checkpoint_from_onnx`), a short CPU run mixes three objectives
(:mod:`~emrestore.finetune.objectives`): Noise2Noise on the frames of a series of one field,
a blind-spot (Noise2Void) objective on single frames, and forward-model pairs made from the
starting model's restoration of the user's frames at the noise level read from them
(:func:`emrestore.estimate_noise`), which keeps the physics prior. It writes a new ONNX file
and a model card recording what it was adapted on; ``emrestore restore --model OUT/model.onnx``
uses it. See ``docs/finetune.md``.

Modules: :mod:`.inputs` (reading and fingerprinting the frames), :mod:`.pairs` (where the
training crops come from), :mod:`.objectives` (masking and losses), :mod:`.loop` (the run,
checkpoints, export), :mod:`.settings` (the run's settings, torch-free).
"""

from __future__ import annotations

from ..lazy import lazy_getattr
from .settings import FinetuneSettings

# The loop needs PyTorch: imported on first use, so the settings (and `emrestore --help`)
# work on an install without the train extra.
_LAZY = {"FinetuneResult": ".loop", "finetune": ".loop"}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = ["FinetuneResult", "FinetuneSettings", "finetune"]

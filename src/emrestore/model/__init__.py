"""The trained-model contract, without PyTorch: what a model is and what it expects of its input.

Modules
-------
:mod:`~emrestore.model.card`
    :class:`ModelCard`: the card next to each ONNX graph, checked on load, versioned, and the
    graph's input/output names (:class:`OnnxSignature`).
:mod:`~emrestore.model.registry`
    The shipped models (:func:`shipped_models`) and :func:`find_model` (a tag or a path).
:mod:`~emrestore.model.conditioning`
    The input conditioning: the percentile clip and the frame's (mean, std) (:func:`condition`).
:mod:`~emrestore.model.receptive`
    The receptive field a card records, and the theoretical radius of a generator config.

Training writes cards (:mod:`emrestore.training.model_card`), export names the graph's inputs,
restoration, evaluation, fine-tuning and the web app read them, all through this package.
"""

from __future__ import annotations

from .card import CARD_FORMAT_VERSION, EXPORTED_SIGNATURE, ModelCard, OnnxSignature
from .conditioning import batch_stats, clip_percentiles, condition, frame_stats
from .receptive import theoretical_radius
from .registry import MODELS_DIR, ModelInfo, find_model, load_card, shipped_models

__all__ = ["ModelCard", "OnnxSignature", "EXPORTED_SIGNATURE", "CARD_FORMAT_VERSION",
           "ModelInfo", "MODELS_DIR", "find_model", "shipped_models", "load_card",
           "condition", "clip_percentiles", "frame_stats", "batch_stats", "theoretical_radius"]

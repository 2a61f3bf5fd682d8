"""Evaluation of restorers on held-out simulated pairs and on real files.

:func:`validation_pairs` renders (and caches) a tag's fixed evaluation set,
:mod:`~emrestore.evaluation.metrics` scores images against their targets,
:mod:`~emrestore.evaluation.baselines` holds the classical filters with oracle-tuned
parameters, and :func:`evaluate_tag` / :func:`write_report` make the tables, figures and
``docs/evaluation.md`` that ``emrestore evaluate`` regenerates.
"""

from .baselines import BASELINES, Baseline
from .metrics import psnr, ssim
from .report import write_report
from .scoring import evaluate_tag
from .validation import EVAL_SEED, ValidationSet, validation_pairs

__all__ = [
    "BASELINES",
    "Baseline",
    "EVAL_SEED",
    "ValidationSet",
    "evaluate_tag",
    "psnr",
    "ssim",
    "validation_pairs",
    "write_report",
]

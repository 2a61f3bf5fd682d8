"""The settings of a fine-tuning run (torch-free, so the command line can show its defaults)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ParameterError
from ..image import SCANNED_MODALITIES

__all__ = ["BLIND_SPOT_KINDS", "DEFAULT_MASK_FRACTION", "FinetuneSettings"]

#: What the blind-spot objective hides: ``pixel`` (Noise2Void: single pixels, for noise that is
#: independent pixel to pixel), ``row`` (whole scan lines, for scanned frames whose noise is
#: shared along a line), ``auto`` (``row`` for STEM and SEM models, ``pixel`` for TEM).
BLIND_SPOT_KINDS = ("auto", "pixel", "row")

#: Share of pixels the blind-spot objective masks per crop.
DEFAULT_MASK_FRACTION = 0.015


@dataclass
class FinetuneSettings:
    """How a fine-tuning run adapts (recorded in the checkpoint and the card).

    Attributes
    ----------
    model : str
        Starting model: a shipped tag or an ``.onnx`` exported by emrestore.
    minutes : float or None
        Wall-clock budget of this invocation [min] (None: until ``steps``).
    steps : int or None
        Total steps of the run, counting those before a resume (None: until ``minutes``).
    batch : int
        Crops per objective per step.
    crop : int
        Crop side [px] (smaller frames: the frame).
    lr : float
        Adam learning rate (small: the run adapts, it does not retrain).
    w_n2n, w_blind_spot : float
        Weights of the self-supervised objectives (0 turns one off). Defaults: Noise2Noise 1
        (the unbiased, strongest signal when a series is given), blind spot 1 (the only
        real-noise signal for single frames; on a series it adds little but costs little).
    w_synthetic : float or None
        Weight of the forward-model pairs, a regulariser towards the shipped model's physics
        prior, not the goal. None (default): :meth:`synthetic_weight` — 0.5 for TEM and STEM,
        0 for SEM, whose noise ``estimate_noise`` reads only as a noise-equivalent dose, so
        the synthetic pairs do not look like the file's noise (on the Zeiss FIB-SEM series
        they cost 1.2 dB, docs/finetune.md).
    blind_spot : {"auto", "pixel", "row"}
        What the blind-spot objective hides (:data:`BLIND_SPOT_KINDS`); ``auto`` follows the
        model's modality (:meth:`blind_spot_kind`).
    mask_fraction : float
        Share of pixels (``pixel``) or of rows (``row``) the blind-spot objective masks.
    synthetic_pool : int
        Forward-model pairs made at the start.
    seed : int
        Seeds crop sampling, masking and the forward model.
    checkpoint_every : int
        Steps between checkpoints (one is always written at the end).
    """

    model: str = "hrstem"
    minutes: float | None = 5.0
    steps: int | None = None
    batch: int = 4
    crop: int = 64
    lr: float = 5e-5
    w_n2n: float = 1.0
    w_blind_spot: float = 1.0
    w_synthetic: float | None = None
    blind_spot: str = "auto"
    mask_fraction: float = DEFAULT_MASK_FRACTION
    synthetic_pool: int = 32
    seed: int = 0
    checkpoint_every: int = 25

    def check(self) -> None:
        """Raise :class:`ParameterError` for values that cannot work."""
        if self.minutes is None and self.steps is None:
            raise ParameterError("Neither a time budget nor a step count was given.", "Pass --minutes or --steps.")
        if self.minutes is not None and not self.minutes > 0:
            raise ParameterError(f"--minutes must be > 0, got {self.minutes}.", "Pass a positive number of minutes.")
        if self.steps is not None and self.steps < 1:
            raise ParameterError(f"--steps must be ≥ 1, got {self.steps}.", "Pass a positive step count.")
        if self.batch < 1 or self.crop < 16:
            raise ParameterError(f"batch {self.batch} / crop {self.crop} px too small.",
                                 "Use batch ≥ 1 and crop ≥ 16 px.")
        if min(self.w_n2n, self.w_blind_spot, self.w_synthetic or 0.0) < 0 or not self.lr > 0:
            raise ParameterError("Objective weights must be ≥ 0 and the learning rate > 0.", "Fix the values.")
        if self.blind_spot not in BLIND_SPOT_KINDS:
            raise ParameterError(f"Unknown blind spot {self.blind_spot!r}.",
                                 f"Use one of {', '.join(BLIND_SPOT_KINDS)}.")

    def synthetic_weight(self, modality: str) -> float:
        """The weight of the forward-model pairs for a model of ``modality`` (see ``w_synthetic``)."""
        if self.w_synthetic is not None:
            return float(self.w_synthetic)
        return 0.0 if modality == "sem" else 0.5

    def blind_spot_kind(self, modality: str) -> str:
        """The blind spot used for a model of ``modality``: ``row`` for scanned frames (STEM, SEM)
        under ``auto``, whose line noise, dwell blur and row jitter are shared along a scan
        line; ``pixel`` for TEM cameras."""
        if self.blind_spot != "auto":
            return self.blind_spot
        return "row" if modality in SCANNED_MODALITIES else "pixel"

    def recipe(self) -> dict[str, Any]:
        """The settings that must not change on resume (all but the time budget and step count)."""
        return {k: v for k, v in asdict(self).items() if k not in ("minutes", "steps", "checkpoint_every")}

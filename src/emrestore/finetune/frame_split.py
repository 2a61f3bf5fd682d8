"""Does ``emrestore finetune`` help on a real series? Frame-split: adapt without the scored frame.

For a series of one field (N ≥ 2 frames) and every frame *k*:

1. fine-tune the automatically chosen shipped model on the *other* frames (a fixed number of
   steps, so the result does not depend on the machine's speed; the default settings of
   :class:`~emrestore.finetune.FinetuneSettings` unless overridden),
2. restore frame *k* with the shipped model and with the fine-tuned one,
3. score both, and the raw frame, exactly as :func:`~emrestore.evaluation.real_data.score_series`
   does: frames registered, the restoration moved like frame *k*, the central ≤ 512² px compared
   with the registered mean of the other frames; PSNR, noise-corrected PSNR and SSIM, means
   over *k*.

Caveat: the reference of frame *k* is made of the frames the model adapted on. Noise2Noise sees
their noise only as targets (never the scored frame's), but a model that learned those frames'
content could score better than on an unseen field of the same sample.

Needs PyTorch and onnx (the ``train`` extra).
"""

from __future__ import annotations

import datetime as _dt
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..evaluation.real_data import (MethodScore, accumulate_scores, applicable_models, central_crop, mean_scores,
                                    restore_frame)
from ..evaluation.real_files import RealFile
from ..evaluation.registration import difference_noise_variance, register_series

__all__ = ["FinetuneSplitResult", "finetune_series", "score_finetune_split"]


@dataclass
class FinetuneSplitResult:
    """Frame-split scores of the shipped and the fine-tuned model on one real series.

    Attributes
    ----------
    file : RealFile
    tag : str
        The shipped model fine-tuned (the one ``emrestore restore`` chooses for the file).
    steps : int
        Fine-tuning steps per fold.
    settings : dict
        The fine-tuning settings of every fold (:class:`~emrestore.finetune.FinetuneSettings`).
    scored_shape : tuple of int
        The scored (central) region [px].
    methods : list of MethodScore
        ``raw input``, ``emrestore TAG (shipped)`` and ``emrestore TAG fine-tuned``; means over the
        N folds.
    folds : list of dict
        Per scored frame: the frames adapted on, the objectives and blind spot used, steps,
        wall time [s], the first and last steps' mean losses.
    date : str
        When it was measured (UTC).
    """

    file: RealFile
    tag: str
    steps: int
    settings: dict[str, Any]
    scored_shape: tuple[int, int]
    methods: list[MethodScore]
    folds: list[dict[str, Any]] = field(default_factory=list)
    date: str = ""

    def method(self, name: str) -> MethodScore:
        return next(m for m in self.methods if m.name == name)

    @property
    def gain_db(self) -> float:
        """Corrected PSNR of the fine-tuned model minus the shipped one's [dB]."""
        return (self.method(f"emrestore {self.tag} fine-tuned").psnr_corrected_db
                - self.method(f"emrestore {self.tag} (shipped)").psnr_corrected_db)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file.name, "tag": self.tag, "frames": self.file.frames, "steps": self.steps,
                "settings": self.settings, "scored_shape": list(self.scored_shape), "date": self.date,
                "gain_db": self.gain_db, "methods": [m.to_json() for m in self.methods], "folds": self.folds}


def score_finetune_split(real: RealFile, steps: int, *, seed: int = 0, work_dir: str | Path | None = None,
                         progress: bool = False, **settings: Any) -> FinetuneSplitResult:
    """Fine-tune on all frames but one, score that one; every frame in turn.

    Parameters
    ----------
    real : RealFile
        A file of role ``"series"`` (N ≥ 2 frames of one field).
    steps : int
        Fine-tuning steps per fold (≥ 1). Each fold costs minutes on 2 CPU cores.
    seed : int
        Seed of every fold's fine-tuning.
    work_dir : str or Path, optional
        Where the folds' runs are written (default: a temporary folder, removed afterwards).
    progress : bool
        The fine-tuning progress bars.
    **settings
        Other :class:`~emrestore.finetune.FinetuneSettings` fields (e.g. ``blind_spot="pixel"``,
        ``w_synthetic=0``).

    Returns
    -------
    FinetuneSplitResult
    """
    from ..restoration import Restorer
    from .loop import finetune
    from .settings import FinetuneSettings

    data = real.image.data
    if data.ndim != 3 or len(data) < 2:
        raise ParameterError(f"{real.name} has one frame; the fine-tuning frame split needs a series.",
                             "Give a series of one field (N ≥ 2 frames).")
    if steps < 1:
        raise ParameterError(f"steps={steps}: the fine-tuning frame split needs ≥ 1 step.", "Pass steps ≥ 1.")
    tag = applicable_models(real)[0][0]
    n = len(data)
    registered = register_series(data)
    reference_var = difference_noise_variance(registered) / (n - 1)
    crop = central_crop(registered.frames.shape)
    fold_settings = FinetuneSettings(model=tag, steps=steps, minutes=None, seed=seed, **settings)
    fold_settings.check()
    rows: dict[tuple[str, str, bool], list] = {}
    folds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="emrestore-finetune-split-") as tmp:
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        for k in range(n):
            reference = registered.others_mean(k)[crop]
            others = [i for i in range(n) if i != k]
            accumulate_scores(rows, ("raw input", "baseline", False), registered.frames[k][crop], reference, reference_var)
            base = registered.align(restore_frame(tag, data[k]), k)[crop]
            accumulate_scores(rows, (f"emrestore {tag} (shipped)", "model", True), base, reference, reference_var)
            started = time.monotonic()
            result = finetune([real.image], root / f"{Path(real.name).stem}-k{k}", fold_settings,
                              frames={0: others}, progress=progress, overwrite=True)
            # not the cached load_model: a fold's model file may be rewritten at the same path
            tuned = Restorer(str(result.onnx_path), progress=False).restore_array(np.asarray(data[k], np.float32))
            tuned = registered.align(tuned.astype(np.float64), k)[crop]
            accumulate_scores(rows, (f"emrestore {tag} fine-tuned", "model", False), tuned, reference, reference_var)
            card = json.loads(result.card_path.read_text(encoding="utf-8"))["finetune"]
            folds.append({"scored_frame": k, "adapted_on": others, "objectives": card["objectives"]["active"],
                          "blind_spot": card["objectives"].get("blind_spot"),
                          "weights": card["objectives"]["weights"], "steps": result.steps,
                          "wall_time_s": round(time.monotonic() - started, 1),
                          "loss_first": card["loss_first_steps"], "loss_last": card["loss_last_steps"]})
    shape = registered.frames[0][crop].shape
    return FinetuneSplitResult(real, tag, steps, asdict(fold_settings), (int(shape[0]), int(shape[1])),
                               mean_scores(rows), folds,
                               _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def finetune_series(files: list[RealFile], steps: int, progress: bool = True) -> list[FinetuneSplitResult]:
    """The fine-tuning frame split of each series in ``files`` (``steps`` per fold), with a progress bar."""
    from tqdm.auto import tqdm

    return [score_finetune_split(real, steps, progress=False)
            for real in tqdm(files, desc="fine-tuning frame split", unit="series", disable=not progress)]

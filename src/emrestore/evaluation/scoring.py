"""Score restorers on a tag's evaluation set: PSNR, SSIM and time per image, atomic columns.

Baselines are scored once per evaluation set and cached as JSON (they never change);
models are scored every time. Times are wall-clock milliseconds per 256×256 image on the
machine that runs the evaluation (tuning of the oracle baselines excluded).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..io.atomic import write_text_atomic
from .baselines import BASELINES, Baseline, oracle_gaussian
from .columns import ColumnEvaluation, column_truth, evaluate_columns
from .figures import slug
from .metrics import psnr, ssim
from .validation import ValidationSet

#: Images spread over the doses (BM3D's subset is chosen this way).
FIGURE_IMAGES = 8
#: Images (rows) of each tag's side-by-side figure, among those BM3D ran on.
COMPARISON_IMAGES = 4
#: Tags whose evaluation includes atomic-column precision (known column positions).
COLUMN_TAGS = ("hrstem",)


@dataclass
class MethodScores:
    """Per-image scores of one method on (part of) an evaluation set.

    ``psnr_db``, ``ssim``, ``ms`` are (N,) arrays with NaN where the method was not run.
    """

    name: str
    kind: str  # "baseline" or "model"
    psnr_db: np.ndarray
    ssim: np.ndarray
    ms: np.ndarray
    params: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    @property
    def evaluated(self) -> np.ndarray:
        return np.isfinite(self.psnr_db)

    def summary(self, low_dose: np.ndarray) -> dict[str, float]:
        """Means and medians over the evaluated images (low dose: lowest third of doses)."""
        done = self.evaluated
        low = done & low_dose
        return {
            "n": int(done.sum()),
            "psnr_mean_db": float(np.mean(self.psnr_db[done])),
            "psnr_median_db": float(np.median(self.psnr_db[done])),
            "ssim_mean": float(np.mean(self.ssim[done])),
            "low_dose_psnr_mean_db": float(np.mean(self.psnr_db[low])) if low.any() else float("nan"),
            "low_dose_ssim_mean": float(np.mean(self.ssim[low])) if low.any() else float("nan"),
            "ms_median": float(np.median(self.ms[done])),
        }


@dataclass
class TagEvaluation:
    """Everything the report shows for one tag."""

    tag: str
    valset: ValidationSet
    methods: list[MethodScores]
    examples: dict[str, dict[int, np.ndarray]]  # model name -> {index: restored}
    model_cards: dict[str, dict[str, Any]]
    columns: ColumnEvaluation | None = None

    def table(self) -> list[dict[str, Any]]:
        low = self.valset.low_dose()
        return [{"method": m.name, "kind": m.kind, "note": m.note, **m.summary(low)} for m in self.methods]

    def bm3d_gaps(self) -> dict[str, float]:
        """Mean PSNR of each model minus BM3D's, on the images BM3D was run on [dB]."""
        bm3d = next((m for m in self.methods if m.name.startswith("BM3D")), None)
        if bm3d is None:
            return {}
        on = bm3d.evaluated
        return {m.name: float(np.mean(m.psnr_db[on]) - np.mean(bm3d.psnr_db[on]))
                for m in self.methods if m.kind == "model"}


def figure_indices(valset: ValidationSet, count: int = FIGURE_IMAGES) -> list[int]:
    """``count`` images spread evenly over the set's doses, lowest first."""
    order = np.argsort(valset.doses, kind="stable")
    picks = np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)
    return [int(order[i]) for i in picks]


def comparison_indices(valset: ValidationSet, methods: list[MethodScores],
                       count: int = COMPARISON_IMAGES) -> list[int]:
    """``count`` images spread over the doses (lowest first) among those BM3D was run on (all without BM3D)."""
    bm3d = next((m for m in methods if m.name.startswith("BM3D")), None)
    candidates = np.flatnonzero(bm3d.evaluated) if bm3d is not None else np.arange(len(valset))
    order = candidates[np.argsort(valset.doses[candidates], kind="stable")]
    picks = np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)
    return [int(order[i]) for i in picks]


def _score(image: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    return psnr(image, target), ssim(image, target)


def scores_cache_path(cache_dir: str | Path, valset: ValidationSet, baseline: Baseline) -> Path:
    """File holding ``baseline``'s per-image scores on ``valset`` (JSON: index → psnr_db, ssim, ms, params)."""
    return Path(cache_dir) / f"scores_{valset.tag}_{valset.key}_{slug(baseline.name)}_v{baseline.version}.json"


def score_baseline(baseline: Baseline, valset: ValidationSet, indices: list[int],
                   cache_dir: Path | None, progress: bool = True) -> MethodScores:
    """Run a baseline on ``indices`` of the set, reusing cached per-image scores."""
    from tqdm.auto import tqdm

    n = len(valset)
    cache = scores_cache_path(cache_dir, valset, baseline) if cache_dir is not None else None
    stored: dict[str, Any] = {}
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
    todo = [i for i in indices if str(i) not in stored]
    for i in tqdm(todo, desc=f"{valset.tag}: {baseline.name}", unit="img", disable=not progress, leave=False):
        start = time.perf_counter()
        out, params = baseline.run(valset.inputs[i], valset.targets[i])
        elapsed = 1e3 * (time.perf_counter() - start)
        ms = float(params.pop("ms", elapsed))
        p, s = _score(out, valset.targets[i])
        stored[str(i)] = {"psnr_db": p, "ssim": s, "ms": ms, "params": params}
        if cache is not None:  # after each image: slow baselines resume where they stopped
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(cache, json.dumps(stored))
    scores = MethodScores(baseline.name, "baseline", np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                          [{} for _ in range(n)])
    for i in indices:
        row = stored[str(i)]
        scores.psnr_db[i], scores.ssim[i], scores.ms[i] = row["psnr_db"], row["ssim"], row["ms"]
        scores.params[i] = row["params"]
    return scores


def score_model(model: str | Path, valset: ValidationSet, keep: list[int],
                progress: bool = True) -> tuple[MethodScores, dict[int, np.ndarray], dict[str, Any]]:
    """Restore every image of the set with ``model``; returns scores, the images ``keep`` and the card."""
    from tqdm.auto import tqdm

    from ..restoration.engine import Restorer

    restorer = Restorer(model, progress=False)
    if restorer.info.tag not in (None, valset.tag):
        raise ParameterError(f"Model {model} was trained for {restorer.info.tag!r}, not {valset.tag!r}.",
                             "Evaluate a model on its own tag's set (--tag).")
    name = f"emrestore {restorer.info.name}"
    config = restorer.info.card.config_name
    n = len(valset)
    scores = MethodScores(name, "model", np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                          note=f"{config} preset" if config else "")
    restorer.restore_array(valset.inputs[0])  # warm-up: session start-up is not per-image time
    kept: dict[int, np.ndarray] = {}
    for i in tqdm(range(n), desc=f"{valset.tag}: {name}", unit="img", disable=not progress, leave=False):
        start = time.perf_counter()
        out = restorer.restore_array(valset.inputs[i])
        scores.ms[i] = 1e3 * (time.perf_counter() - start)
        scores.psnr_db[i], scores.ssim[i] = _score(out, valset.targets[i])
        if i in keep:
            kept[i] = out
    return scores, kept, restorer.info.card.to_dict()


def evaluate_tag(valset: ValidationSet, models: list[str | Path], bm3d_images: int = 8,
                 cache_dir: str | Path | None = None, progress: bool = True,
                 columns: bool = True) -> TagEvaluation:
    """Score the baselines and ``models`` on a tag's evaluation set.

    Parameters
    ----------
    valset : ValidationSet
        From :func:`~emrestore.evaluation.validation_pairs`.
    models : list of str or Path
        Shipped tags or ``.onnx`` paths, each a row of the table.
    bm3d_images : int
        BM3D (≈ 2.5–5 s per image and σ) runs on this many images, spread over the doses;
        0 skips it, a negative value runs it on all.
    cache_dir : path-like, optional
        Where baseline scores are cached.
    progress : bool
        Progress bars.
    columns : bool
        For :data:`COLUMN_TAGS`, also score atomic-column precision (raw input, oracle
        Gaussian and each model; :mod:`emrestore.evaluation.columns`).
    """
    n = len(valset)
    with_columns = columns and valset.tag in COLUMN_TAGS
    methods: list[MethodScores] = []
    for baseline in BASELINES:
        if not baseline.available:
            continue
        if baseline.slow:
            if bm3d_images == 0:
                continue
            indices = list(range(n)) if bm3d_images < 0 or bm3d_images >= n else sorted(
                figure_indices(valset, bm3d_images))
        else:
            indices = list(range(n))
        scores = score_baseline(baseline, valset, indices, Path(cache_dir) if cache_dir else None, progress)
        if len(indices) < n:
            scores.note = f"{len(indices)} of {n} images"
        methods.append(scores)
    keep = comparison_indices(valset, methods)
    examples: dict[str, dict[int, np.ndarray]] = {}
    cards: dict[str, dict[str, Any]] = {}
    restored: dict[str, list[np.ndarray]] = {}
    for model in models:
        scores, kept, card = score_model(model, valset, list(range(n)) if with_columns else keep, progress)
        if scores.name in cards:  # two files of one name (runs/a/model.onnx, runs/b/model.onnx): tell them apart
            scores.name = f"{scores.name} ({Path(model).parent.name or Path(model).stem})"
        if scores.name in cards:
            raise ParameterError(f"Model {model} is given twice.", "Pass each model once.")
        methods.append(scores)
        examples[scores.name] = {i: kept[i] for i in keep}
        cards[scores.name] = card
        restored[scores.name] = [kept[i] for i in range(n)] if with_columns else []
    column_scores = None
    if with_columns:
        images = {"raw input": list(valset.inputs),
                  "Gaussian (oracle σ)": [oracle_gaussian(valset.inputs[i], valset.targets[i])[0] for i in range(n)],
                  **restored}
        column_scores = evaluate_columns(valset, images, column_truth(valset), progress)
    return TagEvaluation(valset.tag, valset, methods, examples, cards, column_scores)

"""Training curves of a run: loss terms, learning rate and validation PSNR against steps.

Drawn from the run directory's ``log.csv`` and ``validation.csv`` (:mod:`~emrestore.training.run_log`),
so any run, finished, interrupted or still going, can be redrawn::

    emrestore train --plot runs/hrstem-20261201-120000        # writes RUN_DIR/curves.png

or :func:`plot_training_curves`. ``emrestore train`` writes ``curves.png`` itself at the end of
each invocation. Needs matplotlib (``pip install 'emrestore[plot]'``); PyTorch is not needed.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from ..errors import InputNotFoundError, ParameterError

#: Loss columns of ``log.csv`` drawn in the loss panel (those with any finite value).
LOSS_TERMS = ("loss_g", "l1", "mlwt", "fourier", "mean", "std", "adv_g", "loss_d")
#: Validation columns drawn in the PSNR panel: (column, label, line style).
PSNR_COLUMNS = (("psnr_db", "restored, mean", "-o"), ("psnr_median_db", "restored, median", "--o"),
                ("input_psnr_db", "input (unrestored), mean", ":"),
                ("input_psnr_median_db", "input (unrestored), median", "-."))
#: File name written into the run directory.
CURVES_NAME = "curves.png"


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _column(rows: list[dict[str, str]], key: str) -> tuple[list[int], list[float]]:
    """Steps and finite values of column ``key`` (empty cells and NaN left out)."""
    steps, values = [], []
    for row in rows:
        try:
            value = float(row.get(key) or "nan")
        except ValueError:
            continue
        if math.isfinite(value):
            steps.append(int(float(row["step"])))
            values.append(value)
    return steps, values


def _title(run_dir: Path) -> str:
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return run_dir.name
    preset = config.get("model", {}).get("name") or config.get("model", {}).get("preset") or ""
    return f"{run_dir.name}: {config.get('tag', '?')}" + (f", {preset} preset" if preset else "")


def plot_training_curves(run_dir: str | Path, path: str | Path | None = None):
    """Draw a run's training curves into a PNG.

    Parameters
    ----------
    run_dir : path-like
        Run directory holding ``log.csv`` (and ``validation.csv``, ``config.json`` when present).
    path : path-like, optional
        Output PNG (default ``RUN_DIR/curves.png``); written atomically.

    Returns
    -------
    emrestore.evaluation.figures.FigureRecord
        The path and ``curves``: ``"panel: column"`` → number of points drawn.

    Raises
    ------
    InputNotFoundError
        ``run_dir`` holds no ``log.csv``.
    ParameterError
        ``log.csv`` holds no logged step yet, or matplotlib is not installed.
    """
    run_dir = Path(run_dir)
    log_path = run_dir / "log.csv"
    if not log_path.is_file():
        raise InputNotFoundError(f"{run_dir} holds no log.csv, so it is not a training run directory.",
                                 "Point at the folder `emrestore train --out DIR` wrote.")
    log, validation = _rows(log_path), _rows(run_dir / "validation.csv")
    if not log:
        raise ParameterError(f"{log_path} holds no logged step yet.",
                             "Draw the curves after the first log_every steps.")
    try:
        from ..evaluation.figures import FigureRecord, pyplot, save_figure
        plt = pyplot()
    except ImportError:
        raise ParameterError("Training curves need matplotlib, which is not installed.",
                             "pip install 'emrestore[plot]'.") from None
    out = Path(path) if path is not None else run_dir / CURVES_NAME
    curves: dict[str, int] = {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharex=True, constrained_layout=True)
    ax_loss, ax_lr, ax_val = axes
    for key in LOSS_TERMS:
        steps, values = _column(log, key)
        if steps and any(v > 0 for v in values):
            ax_loss.plot(steps, values, lw=2.0 if key == "loss_g" else 1.1,
                         label="total (generator)" if key == "loss_g" else key)
            curves[f"loss: {key}"] = len(steps)
    ax_loss.set_yscale("log")
    ax_loss.set_title("training losses (per log row)", fontsize=10)
    for key, label in (("lr_g", "generator"), ("lr_d", "discriminator")):
        steps, values = _column(log, key)
        if steps and any(v > 0 for v in values):
            ax_lr.plot(steps, values, label=label)
            curves[f"learning rate: {key}"] = len(steps)
    ax_lr.set_title("learning rate", fontsize=10)
    for key, label, style in PSNR_COLUMNS:
        steps, values = _column(validation, key)
        if steps:
            ax_val.plot(steps, values, style, ms=4, label=label)
            curves[f"validation: {key}"] = len(steps)
    ax_val.set_title("validation PSNR [dB]" if validation else "validation PSNR [dB]: no validation yet",
                     fontsize=10)
    gan_steps = [int(float(r["step"])) for r in log if r.get("phase") == "gan"]
    for ax in axes:
        if gan_steps:
            ax.axvline(min(gan_steps), color="grey", ls="--", lw=0.8, label="adversarial phase starts")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(_title(run_dir), fontsize=11)
    return FigureRecord(save_figure(fig, out, dpi=90), [], curves)

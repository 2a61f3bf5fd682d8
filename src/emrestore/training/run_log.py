"""The logs of a training run: ``log.csv``, ``validation.csv``, TensorBoard events, ``curves.png``.

Only the main process writes; a :class:`RunLog` of another process does nothing.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..io.atomic import write_text_atomic
from .config import TrainConfig
from .validation import VAL_FIELDS

#: Columns of ``log.csv`` (one row per ``log_every`` steps).
LOG_FIELDS = [
    "step", "phase", "wall_time_s", "lr_g", "lr_d", "loss_g", "l1", "mlwt", "fourier", "mean", "std",
    "adv_g", "loss_d", "grad_norm_g", "pairs_per_s",
]


class RunLog:
    """Writes a run directory's logs.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run directory.
    enabled : bool
        Whether this process writes (the main process).
    """

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self._tb: Any = None

    def open(self, config: TrainConfig, step: int) -> None:
        """Write ``config.json``, keep the CSV rows up to ``step`` (a resumed run), start TensorBoard.

        Raises
        ------
        ParameterError
            If ``tensorboard = true`` and the tensorboard package is missing.
        """
        if not self.enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.run_dir / "config.json", config.to_json() + "\n")
        for name, fields in (("log.csv", LOG_FIELDS), ("validation.csv", VAL_FIELDS)):
            path = self.run_dir / name
            rows: list[dict[str, str]] = []
            if path.is_file():  # keep only rows up to the resumed step
                with open(path, newline="") as handle:
                    rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= step]
            text = io.StringIO(newline="")
            writer = csv.DictWriter(text, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
            write_text_atomic(path, text.getvalue())  # an interrupted resume keeps the old log
        if config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ParameterError("tensorboard = true but the tensorboard package is not installed.",
                                     "pip install tensorboard, or set tensorboard = false.") from None
            self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=step)

    def training_row(self, row: dict[str, Any]) -> None:
        """Append a row to ``log.csv`` (floats to 6 significant digits) and to TensorBoard."""
        self._append("log.csv", LOG_FIELDS, row)

    def validation_row(self, row: dict[str, Any]) -> None:
        """Append a row to ``validation.csv`` and redraw ``curves.png``."""
        self._append("validation.csv", VAL_FIELDS, row)
        self._draw_curves()

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self._tb is not None:
            self._tb.close()

    def _append(self, name: str, fields: list[str], row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.run_dir / name, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        if self._tb is not None:
            prefix = "val/" if name == "validation.csv" else "train/"
            for key, value in row.items():
                if isinstance(value, float):
                    self._tb.add_scalar(prefix + key, value, int(row["step"]))

    def _draw_curves(self) -> None:
        """Redraw ``curves.png`` from the logs (skipped, with a warning, without matplotlib)."""
        if not self.enabled:
            return
        from .curves import plot_training_curves

        try:
            plot_training_curves(self.run_dir)
        except (ParameterError, OSError) as error:  # curves are a convenience: never stop training for them
            import warnings

            warnings.warn(f"Training curves not drawn: {error}", stacklevel=3)


def read_log(run_dir: str | Path, name: str = "log.csv") -> list[dict[str, str]]:
    """Rows of a run's CSV log."""
    with open(Path(run_dir) / name, newline="") as handle:
        return list(csv.DictReader(handle))

"""Training curves: written by a real (tiny) run at each validation, redrawn by `emrestore train --plot`."""

from __future__ import annotations

import pytest
from helpers import tiny_config
from PIL import Image

pytest.importorskip("matplotlib")

from emrestore.cli import main  # noqa: E402
from emrestore.errors import InputNotFoundError, ParameterError  # noqa: E402
from emrestore.training import Trainer  # noqa: E402
from emrestore.training.curves import CURVES_NAME, plot_training_curves  # noqa: E402
from emrestore.training.run_log import read_log  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny run of 4 steps (2 pixel, 2 adversarial), validated every 2 steps, not exported."""
    path = tmp_path_factory.mktemp("run")
    config = tiny_config(schedule={"pixel_steps": 2, "gan_steps": 2, "validate_every": 2})
    Trainer(config, path, progress=False, export=False).fit()
    return path


def test_a_run_writes_its_curves(run_dir):
    png = run_dir / CURVES_NAME
    with Image.open(png) as image:
        assert image.size[0] > 600
    # redrawn at the last validation, so drawn from every row the run logged
    assert png.stat().st_mtime >= (run_dir / "validation.csv").stat().st_mtime - 1


def test_curves_show_every_logged_loss_and_validation(run_dir, tmp_path):
    record = plot_training_curves(run_dir, tmp_path / "c.png")
    assert record.path == tmp_path / "c.png" and (tmp_path / "c.png").stat().st_size > 10_000
    steps = len(read_log(run_dir))
    validations = len(read_log(run_dir, "validation.csv"))
    assert steps == 4 and validations == 2
    for key in ("loss_g", "l1", "mlwt", "fourier"):
        assert record.curves[f"loss: {key}"] == steps
    assert record.curves["loss: adv_g"] == record.curves["loss: loss_d"] == 2  # adversarial phase only
    assert record.curves["learning rate: lr_g"] == steps
    assert record.curves["validation: psnr_db"] == record.curves["validation: input_psnr_db"] == validations


def test_train_plot_redraws_from_the_logs(run_dir, capsys):
    (run_dir / CURVES_NAME).unlink()
    assert main(["train", "--plot", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith(CURVES_NAME)
    assert (run_dir / CURVES_NAME).stat().st_size > 10_000


def test_curves_name_what_is_missing(tmp_path, capsys):
    with pytest.raises(InputNotFoundError, match="no log.csv"):
        plot_training_curves(tmp_path)
    (tmp_path / "log.csv").write_text("step,phase,loss_g\n")
    with pytest.raises(ParameterError, match="no logged step"):
        plot_training_curves(tmp_path)
    assert main(["train", "--plot", str(tmp_path / "missing")]) != 0
    assert "no log.csv" in capsys.readouterr().err

"""Trainer: both phases run, exact resume, wall-time budget, logs, checkpoints, model card."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import tiny_config

from emrestore.errors import ParameterError
from emrestore.training import Trainer, load_checkpoint
from emrestore.training.run_log import read_log


def test_two_phases_logs_checkpoints_and_model_card(tmp_path):
    config = tiny_config(schedule={"pixel_steps": 2, "gan_steps": 2, "validate_every": 2, "checkpoint_every": 2})
    result = Trainer(config, tmp_path, progress=False).fit()
    assert result["finished"] and result["step"] == 4 and not result["stopped_on_time"]
    rows = read_log(tmp_path)
    assert [r["phase"] for r in rows] == ["pixel", "pixel", "gan", "gan"]
    assert all(r["adv_g"] == "" for r in rows[:2]) and all(float(r["loss_d"]) > 0 for r in rows[2:])
    assert float(rows[0]["lr_d"]) == 0 and float(rows[2]["lr_d"]) > 0
    val = read_log(tmp_path, "validation.csv")
    assert [int(r["step"]) for r in val] == [2, 4]
    assert float(val[-1]["input_psnr_db"]) > 0 and float(val[-1]["input_l1"]) > 0
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["step"] == 4 and ckpt["pairs_seen"] == 8
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "last.pt", "step-00000002.pt", "step-00000004.pt"]
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["tag"] == "hrstem" and card["training"]["seed"] == 3
    assert card["training"]["config"]["data"]["crop"] == 32
    assert card["generator"]["parameters"] == sum(p.numel() for p in Trainer(
        config, tmp_path / "other", progress=False).generator.parameters())
    for key in ("git_commit", "hardware", "wall_time_s", "steps", "pairs_seen"):
        assert key in card["training"]
    assert card["validation"]["psnr_db"] == pytest.approx(float(val[-1]["psnr_db"]), rel=1e-4)
    assert card["onnx"]["file"] == "model.onnx" and card["onnx"]["max_abs_diff"] < 1e-3
    assert (tmp_path / "model.onnx").is_file()


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.generator.state_dict().items()} | {
        "D." + k: v.clone() for k, v in trainer.discriminator.state_dict().items()}


def test_resume_gives_the_same_next_steps_as_an_uninterrupted_run(tmp_path):
    """Interrupt in the adversarial phase; the resumed steps match the uninterrupted ones exactly."""
    config = tiny_config(schedule={"pixel_steps": 2, "gan_steps": 4})
    straight = Trainer(config, tmp_path / "a", progress=False, export=False)
    straight.fit()
    first = Trainer(config, tmp_path / "b", progress=False, export=False)
    first.fit(max_steps=4)
    assert load_checkpoint(tmp_path / "b")["step"] == 4
    resumed = Trainer(None, tmp_path / "b", resume=True, progress=False, export=False)
    assert resumed.step == 4
    resumed.fit()
    rows_a, rows_b = read_log(tmp_path / "a"), read_log(tmp_path / "b")
    assert [r["step"] for r in rows_b] == [r["step"] for r in rows_a]
    keys = ["loss_g", "l1", "mlwt", "fourier", "adv_g", "loss_d", "lr_g", "lr_d"]
    for ra, rb in zip(rows_a[4:], rows_b[4:]):
        assert {k: ra[k] for k in keys} == {k: rb[k] for k in keys}
    wa, wb = _weights(straight), _weights(resumed)
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def test_resume_is_not_a_no_op(tmp_path):
    """Guard for the test above: a run that does not restore state diverges at the next step."""
    config = tiny_config(schedule={"pixel_steps": 2, "gan_steps": 4})
    a = Trainer(config, tmp_path / "a", progress=False, export=False)
    a.fit(max_steps=5)
    b = Trainer(config, tmp_path / "b", progress=False, export=False)
    b.fit(max_steps=4)
    fresh = Trainer(config, tmp_path / "c", progress=False, export=False)
    fresh.step = 4  # same data and schedule position, but no restored weights/optimiser
    fresh.fit(max_steps=1)
    assert read_log(tmp_path / "c")[-1]["loss_g"] != read_log(tmp_path / "a")[-1]["loss_g"]


def _step_clock(monkeypatch, trainer: Trainer, step_s: float) -> None:
    """Give the trainer a clock that advances ``step_s`` per training step and nothing else,
    so budgets and fitted schedules are the same on a quiet and on a loaded machine."""
    from types import SimpleNamespace

    from emrestore.training import trainer as trainer_module

    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    real_step = trainer.train_step

    def timed_step(*args, **kwargs):
        clock.now += step_s
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_step", timed_step)


def test_wall_time_budget_stops_checkpoints_and_resumes(tmp_path, monkeypatch):
    config = tiny_config(schedule={"pixel_steps": 100000, "gan_steps": 0, "log_every": 5})
    trainer = Trainer(config, tmp_path, progress=False, export=False)
    _step_clock(monkeypatch, trainer, 0.1)
    # 1.2 s of the trainer's clock, less the final validation's estimate (2 batches of 3/4 step): about 10
    # steps of 0.1 s
    result = trainer.fit(minutes=0.02)
    assert result["stopped_on_time"] and not result["finished"]
    assert 9 <= result["step"] <= 11
    assert int(read_log(tmp_path)[-1]["step"]) == result["step"]  # the last step is logged
    assert load_checkpoint(tmp_path)["step"] == result["step"]
    again = Trainer(None, tmp_path, resume=True, progress=False, export=False)
    assert again.step == result["step"]
    assert again.wall_time_before == pytest.approx(result["wall_time_s"])


def test_resume_with_a_different_model_is_refused(tmp_path):
    config = tiny_config()
    Trainer(config, tmp_path, progress=False, export=False).fit(max_steps=1)
    other = tiny_config(model={"channels": 8})
    with pytest.raises(ParameterError):
        Trainer(other, tmp_path, resume=True, progress=False, export=False)
    with pytest.raises(ParameterError):
        Trainer(None, tmp_path / "nothing", resume=True, progress=False)


def test_tensorboard_logging_or_a_clear_error(tmp_path):
    import importlib.util

    config = tiny_config(tensorboard=True, schedule={"pixel_steps": 1, "gan_steps": 0})
    trainer = Trainer(config, tmp_path, progress=False, export=False)
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ParameterError) as info:
            trainer.fit()
        assert "pip install tensorboard" in str(info.value)
    else:
        trainer.fit()
        assert any((tmp_path / "tb").iterdir())


def test_progress_bar_runs(tmp_path, capsys):
    config = tiny_config(schedule={"pixel_steps": 2, "gan_steps": 0})
    Trainer(config, tmp_path, progress=True, export=False).fit()
    assert "train hrstem" in capsys.readouterr().err


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_training_on_the_physical_distortion_chain(tmp_path, modality):
    config = tiny_config(tag=f"hr{modality}", data={"degradation": "chain"},
                         schedule={"pixel_steps": 1, "gan_steps": 1})
    result = Trainer(config, tmp_path, progress=False, export=False).fit()
    assert result["finished"]
    rows = read_log(tmp_path)
    assert all(float(r["loss_g"]) > 0 for r in rows)
    assert result["validation"]["input_mae"] > 0


@pytest.mark.slow
def test_paper_generator_trains_one_step(tmp_path):
    config = tiny_config(model="paper", discriminator={"base_channels": 64},
                         data={"crop": 64, "batch_size": 1}, schedule={"pixel_steps": 1, "gan_steps": 1})
    trainer = Trainer(config, tmp_path, progress=False, export=False)
    assert sum(p.numel() for p in trainer.generator.parameters()) == 7_035_521
    result = trainer.fit()
    assert result["finished"]


def test_evaluate_input_baseline_metrics_are_exact():
    import numpy as np

    from emrestore.nn import build_generator
    from emrestore.training import evaluate

    ramp = np.linspace(0.0, 10.0, 16 * 16, dtype=np.float32).reshape(1, 1, 16, 16)
    target = np.concatenate([ramp, 2 * ramp, ramp + 5])
    degraded = target + np.float32(0.5) * np.sign(np.random.default_rng(0).standard_normal(target.shape))
    degraded = degraded.astype(np.float32)
    metrics = evaluate(build_generator("tiny", seed=0), degraded, target, batch_size=2)
    assert metrics["input_mae"] == pytest.approx(0.5, rel=1e-5)
    peaks = np.array([10.0, 20.0, 10.0])
    expected = 10 * np.log10(peaks**2 / 0.25)
    assert metrics["input_psnr_db"] == pytest.approx(expected.mean(), rel=1e-4)
    assert metrics["input_psnr_median_db"] == pytest.approx(np.median(expected), rel=1e-4)
    assert metrics["mae"] > 0 and np.isfinite(metrics["psnr_db"])


def test_fitted_pixel_steps_ends_the_phase_with_the_budget():
    from emrestore.training.schedule import fitted_pixel_steps

    assert fitted_pixel_steps(100, 10.0, 30.0) == 400
    assert fitted_pixel_steps(100, 10.0, -5.0) == 100  # out of time: the phase ends now
    assert fitted_pixel_steps(100, 0.0, 60.0) == 100


def test_fit_schedule_ends_the_learning_rate_decay_with_the_budget(tmp_path, monkeypatch):
    from emrestore.training import schedule
    from emrestore.training.schedule import lr_factor

    monkeypatch.setattr(schedule, "FIT_RESERVE_S", 1.0)
    config = tiny_config(schedule={"pixel_steps": 10**6, "gan_steps": 0, "log_every": 5})
    trainer = Trainer(config, tmp_path / "run", progress=False, export=False)
    _step_clock(monkeypatch, trainer, 0.05)
    result = trainer.fit(minutes=0.1, fit_schedule=True)  # 6 s of the trainer's clock
    steps = result["pixel_steps"]
    # (6 s budget - 1 s reserve) / 50 ms per step = 100 steps, fitted from the measured rate
    assert 80 <= steps <= 120
    assert result["step"] >= 0.7 * steps  # ran (nearly) to the fitted end ...
    o = config.optim
    assert lr_factor(result["step"] - 1, steps, o.warmup_steps, o.decay, o.min_lr_ratio) < 0.35  # ... decay done
    assert load_checkpoint(tmp_path / "run")["config"]["schedule"]["pixel_steps"] == steps


def test_fit_schedule_needs_a_budget_and_a_pixel_only_run(tmp_path):
    trainer = Trainer(tiny_config(schedule={"pixel_steps": 3, "gan_steps": 0}), tmp_path / "a",
                      progress=False, export=False)
    with pytest.raises(ParameterError, match="wall-time budget"):
        trainer.fit(fit_schedule=True)
    trainer = Trainer(tiny_config(), tmp_path / "b", progress=False, export=False)
    with pytest.raises(ParameterError, match="adversarial"):
        trainer.fit(minutes=0.1, fit_schedule=True)


def test_bf16_training_runs_both_phases_and_keeps_float32_weights(tmp_path):
    config = tiny_config(schedule={"pixel_steps": 2, "gan_steps": 2})
    reference = Trainer(tiny_config(schedule={"pixel_steps": 2, "gan_steps": 2}), tmp_path / "fp32",
                        progress=False, export=False)
    trainer = Trainer(config, tmp_path / "bf16", progress=False, export=False, precision="bf16")
    batch = next(iter(trainer_loader(config)))
    first_fp32 = reference.train_step(*batch)
    first_bf16 = trainer.train_step(*batch)
    # same weights and pairs: bfloat16 forward passes give nearly the same losses
    assert first_bf16["l1"] == pytest.approx(first_fp32["l1"], rel=0.05)
    result = trainer.fit()
    assert result["finished"] and result["step"] == 4
    rows = read_log(tmp_path / "bf16")
    assert all(torch.isfinite(torch.tensor(float(r["loss_g"]))) for r in rows)
    assert float(rows[-1]["loss_d"]) > 0
    assert all(p.dtype == torch.float32 for p in trainer.generator.parameters())
    assert load_checkpoint(tmp_path / "bf16")["hardware"]["precision"] == "bf16"
    with pytest.raises(ParameterError, match="precision"):
        Trainer(config, tmp_path / "x", progress=False, export=False, precision="fp16")


def trainer_loader(config):
    from emrestore.training.dataset import make_loader

    return make_loader(config)

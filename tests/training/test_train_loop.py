"""The CPU training loop: time profile, wall-time budget, progress bar (fake clocks only)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from helpers import tiny_config, tiny_config_dict

from emrestore.training.profile import (
    PHASES,
    RATE_SKIP_STEPS,
    VALIDATION_STEP_RATIO,
    TimeProfile,
    WallBudget,
    checkpoint_seconds_estimate,
    steps_in_budget,
    summary_line,
    validation_seconds_estimate,
)


class FakeClock:
    """A clock [s] that moves only when told to."""

    def __init__(self, now: float = 500.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- profile.py on its own
def test_time_profile_splits_the_wall_time_into_phases():
    clock = FakeClock()
    prof = TimeProfile(clock, start_s=clock.now - 2.0)  # 2 s of set-up before the profile existed
    prof.count_since_start("startup")
    for _ in range(4):
        with prof.phase("data"):
            clock.now += 0.25
        with prof.phase("step"):
            clock.now += 1.0
        clock.now += 0.25  # not in any phase
        prof.count_step()
        if prof.steps_counted == RATE_SKIP_STEPS:
            prof.start_steady()
    with prof.phase("validation"):
        clock.now += 3.0
    report = prof.report(pairs_per_step=8)
    assert report["wall_s"] == pytest.approx(11.0)
    assert report["seconds"]["startup"] == pytest.approx(2.0)
    assert report["seconds"]["data"] == pytest.approx(1.0) and report["seconds"]["step"] == pytest.approx(4.0)
    assert report["seconds"]["other"] == pytest.approx(1.0)
    assert sum(report["shares"].values()) == pytest.approx(1.0, abs=1e-3)
    steady = report["steady"]  # iterations 3 and 4 only; the validation after them is not the loop's
    assert steady["steps"] == 2 and steady["wall_s"] == pytest.approx(3.0)
    assert steady["shares"]["step"] == pytest.approx(2 / 3, abs=1e-3)
    assert steady["shares"]["data"] == pytest.approx(1 / 6, abs=1e-3)
    assert steady["pairs_per_s"] == pytest.approx(16 / 3.0, rel=1e-3)
    line = summary_line(report)
    assert line.startswith("wall 11.0 s: startup 18 %, data 9 %, step 36 %, validation 27 %")
    assert "loop after warm-up: step 67 %, data wait 17 %, 5.33 pairs/s" in line
    with pytest.raises(KeyError, match="unknown profile phase"):
        with prof.phase("lunch"):
            pass
    assert set(PHASES) | {"other"} == set(report["seconds"])


def test_wall_budget_rate_fit_and_steps():
    clock = FakeClock(100.0)
    budget = WallBudget(10.0, clock.now, clock)
    assert budget.active and budget.seconds_per_step is None
    assert budget.next_step_fits(reserve_s=9.0) and budget.steps_that_fit(1.0) is None
    for seconds in [3.0, 2.0] + [0.5] * 4:  # two slow warm-up iterations, then 0.5 s each
        clock.now += 0.0  # the iterations' times are given, the clock stays
        budget.observe(seconds)
    assert budget.rate_measured and budget.seconds_per_step == pytest.approx(0.5)
    clock.now += 6.0  # 4 s left
    assert budget.steps_that_fit(reserve_s=1.0) == 6
    assert budget.steps_that_fit(reserve_s=1.0, periodic_s_per_step=0.25) == 4
    assert budget.next_step_fits(reserve_s=3.5) and not budget.next_step_fits(reserve_s=3.6)
    clock.now += 10.0
    assert budget.steps_that_fit(reserve_s=0.0) == 0 and budget.remaining() == pytest.approx(-6.0)
    unlimited = WallBudget(0.0, clock.now, clock)
    assert not unlimited.active and unlimited.next_step_fits(1e9) and unlimited.steps_that_fit(0.0) is None
    early = WallBudget(10.0, clock.now, clock)
    early.observe(4.0)  # only a warm-up iteration so far: its time stands in for the rate
    assert not early.rate_measured and early.seconds_per_step == 4.0


def test_estimates_of_untimed_validation_and_checkpoint():
    assert steps_in_budget(0.5, 2.2) == 4 and steps_in_budget(0.5, -1.0) == 0
    with pytest.raises(ValueError):
        steps_in_budget(0.0, 5.0)
    assert validation_seconds_estimate(64, 8, 1.5) == pytest.approx(8 * VALIDATION_STEP_RATIO * 1.5)
    assert validation_seconds_estimate(5, 2, 1.0) == pytest.approx(3 * VALIDATION_STEP_RATIO)  # 3 batches
    assert checkpoint_seconds_estimate(50_000_000) == pytest.approx(0.5)


# ---------------------------------------------------------------- the trainer on a fake clock
def _fake_timing(monkeypatch, trainer, *, data_s: float, step_s: float, validation_s: float) -> FakeClock:
    """The trainer's clock moves ``data_s`` per batch served, ``step_s`` per training step and
    ``validation_s`` per validation, nothing else: the same on a quiet and a loaded machine."""
    from emrestore.training import trainer as trainer_module

    clock = FakeClock(1000.0)
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=clock))
    real_loader, real_step, real_validate = trainer_module.make_pair_loader, trainer.train_step, trainer.validate

    def slow_loader(*args, **kwargs):
        loader = real_loader(*args, **kwargs)

        def batches():
            for batch in loader:
                clock.now += data_s
                yield batch
        return _Iterable(batches)

    def timed_step(*args, **kwargs):
        clock.now += step_s
        return real_step(*args, **kwargs)

    def timed_validate():
        clock.now += validation_s
        return real_validate()

    monkeypatch.setattr(trainer_module, "make_pair_loader", slow_loader)
    monkeypatch.setattr(trainer, "train_step", timed_step)
    monkeypatch.setattr(trainer, "validate", timed_validate)
    return clock


class _Iterable:
    def __init__(self, make):
        self.make = make

    def __iter__(self):
        return self.make()


def test_profile_of_a_run_counts_data_steps_and_validation(tmp_path, monkeypatch):
    from emrestore.training import Trainer

    config = tiny_config(schedule={"pixel_steps": 6, "gan_steps": 0, "log_every": 3, "validate_every": 3})
    trainer = Trainer(config, tmp_path, progress=False, export=False)
    _fake_timing(monkeypatch, trainer, data_s=0.02, step_s=0.1, validation_s=0.5)
    result = trainer.fit()
    report = result["time_profile"]
    seconds = report["seconds"]
    assert seconds["data"] == pytest.approx(6 * 0.02) and seconds["step"] == pytest.approx(6 * 0.1)
    assert seconds["validation"] == pytest.approx(2 * 0.5)  # at step 3 and at the end
    assert report["wall_s"] == pytest.approx(0.72 + 1.0) and seconds["other"] == pytest.approx(0.0, abs=1e-6)
    steady = report["steady"]  # iterations 3-6, with the validation at step 3 inside the window
    assert steady["steps"] == 4 and steady["wall_s"] == pytest.approx(4 * 0.12 + 0.5)
    assert steady["shares"]["step"] == pytest.approx(0.4 / 0.98, abs=1e-3)
    assert steady["pairs_per_s"] == pytest.approx(2 * 4 / 0.98, rel=1e-3)
    stored = json.loads((tmp_path / "profile.json").read_text())
    assert len(stored) == 1 and stored[0]["seconds"] == seconds and stored[0]["last_step"] == 6
    assert stored[0]["first_step"] == 0 and "step 35 %" in stored[0]["summary"]


def test_budget_covers_the_final_validation_and_the_bar_shows_the_steps_that_fit(tmp_path, monkeypatch, capsys):
    from emrestore.training import Trainer, load_checkpoint

    config = tiny_config(schedule={"pixel_steps": 100_000, "gan_steps": 0, "log_every": 4, "validate_every": 10})
    trainer = Trainer(config, tmp_path, progress=True, export=False)
    clock = _fake_timing(monkeypatch, trainer, data_s=0.05, step_s=0.15, validation_s=0.7)
    started = clock.now - 0.5  # the command began 0.5 s before fit (imports, set-up)
    result = trainer.fit(minutes=0.1, started_s=started)  # 6 s
    assert result["stopped_on_time"] and not result["finished"]
    wall = clock.now - started
    # everything up to the last checkpoint within the budget, and no more than a step left unused
    assert wall <= 6.0 + 1e-9
    assert wall > 6.0 - 0.2 - 0.05
    assert result["time_profile"]["seconds"]["startup"] == pytest.approx(0.5)
    # 0.5 s set-up, 0.2 s per step, a 0.7 s validation every 10 steps and one at the end
    assert result["step"] == 20
    assert load_checkpoint(tmp_path)["step"] == 20
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "/100000" not in bar and "20/20" in bar, bar


def test_budget_used_up_by_the_set_up_runs_no_step(tmp_path, monkeypatch, caplog):
    from emrestore.training import Trainer

    trainer = Trainer(tiny_config(schedule={"pixel_steps": 50, "gan_steps": 0}), tmp_path, progress=False,
                      export=False)
    clock = _fake_timing(monkeypatch, trainer, data_s=0.0, step_s=0.1, validation_s=0.1)
    with caplog.at_level("WARNING", logger="emrestore.training.trainer"):
        result = trainer.fit(minutes=0.01, started_s=clock.now - 1.0)  # 0.6 s budget, 1 s gone
    assert result["step"] == 0 and result["stopped_on_time"]
    assert "used up by the set-up" in caplog.text


def test_a_run_stopped_on_time_records_the_theoretical_receptive_field(tmp_path, monkeypatch):
    from helpers import TINY_MODEL

    from emrestore.model.receptive import theoretical_radius
    from emrestore.training import Trainer

    trainer = Trainer(tiny_config(schedule={"pixel_steps": 1000, "gan_steps": 0}), tmp_path, progress=False)
    _fake_timing(monkeypatch, trainer, data_s=0.0, step_s=0.1, validation_s=0.1)
    result = trainer.fit(minutes=0.01)
    assert result["stopped_on_time"] and (tmp_path / "model.onnx").is_file()
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["receptive_field_px"] == theoretical_radius(TINY_MODEL)
    assert "not measured" in card["receptive_field"]["description"]


def test_cli_summary_ends_with_the_time_profile(tmp_path, capsys):
    from emrestore.cli import main

    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_config_dict(schedule={"pixel_steps": 3, "gan_steps": 0})))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress",
                 "--no-export"]) == 0
    summary = json.loads(capsys.readouterr().out)
    profile = summary["time_profile"]
    assert list(summary)[-1] == "time_profile" and profile["summary"].startswith("wall ")
    assert set(profile["seconds"]) == set(PHASES) | {"other"}
    assert profile["seconds"]["step"] > 0 and profile["steady"]["steps"] == 3 - RATE_SKIP_STEPS
    assert sum(profile["seconds"].values()) == pytest.approx(profile["wall_s"], rel=1e-3)


def test_default_cpu_threads_leave_a_core_per_worker(tmp_path):
    import torch

    from emrestore.training import Trainer
    from emrestore.training.trainer import (
        ALL_CORES_GFLOP_PER_PAIR,
        available_cores,
        default_cpu_threads,
    )

    assert default_cpu_threads(1, cores=2) == 1 and default_cpu_threads(0, cores=2) == 2
    assert default_cpu_threads(3, cores=2) == 1 and default_cpu_threads(1, processes=2, cores=16) == 7
    assert default_cpu_threads(1, cores=2, gflop_per_pair=ALL_CORES_GFLOP_PER_PAIR) == 2  # a heavy generator
    from emrestore.nn.configs import generator_config, generator_gflop

    per_pair = {name: generator_gflop(generator_config(name), 128, 128) for name in ("tiny", "fast", "compact")}
    assert per_pair["fast"] < ALL_CORES_GFLOP_PER_PAIR <= per_pair["compact"]  # the measured presets
    assert available_cores() >= 1
    before = torch.get_num_threads()
    try:
        Trainer(tiny_config(data={"workers": 1}), tmp_path / "a", device="cpu", progress=False, export=False)
        assert torch.get_num_threads() == default_cpu_threads(1)
        Trainer(tiny_config(data={"workers": 1}), tmp_path / "b", device="cpu", threads=2, progress=False,
                export=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

"""`emrestore train` and `emrestore export` from the command line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs PyTorch (the `train` extra)")
pytest.importorskip("onnx", reason="exporting needs onnx (the `train` extra)")

import onnxruntime as ort  # noqa: E402
from helpers import tiny_config_dict  # noqa: E402

from emrestore.cli import main  # noqa: E402
from emrestore.training import load_checkpoint  # noqa: E402


def test_cli_does_not_import_torch_until_a_training_command_runs():
    import subprocess

    code = "import sys, emrestore, emrestore.cli as c; c.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_train_resume_and_export(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_config_dict(schedule={"pixel_steps": 2, "gan_steps": 1})))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(run), "--no-progress", "--no-export"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["finished"] and summary["step"] == 3
    assert not (run / "model.onnx").exists()
    # the same directory again is refused; resuming a finished run is a no-op that exports
    assert main(["train", "--config", str(config), "--out", str(run), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert (run / "model.onnx").is_file() and (run / "model.json").is_file()

    out = tmp_path / "exported" / "m.onnx"
    assert main(["export", str(run / "checkpoints" / "last.pt"), str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["max_abs_diff"] < 1e-3
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 3 and card["tag"] == "hrstem"
    assert card["onnx"]["max_abs_diff"] == info["max_abs_diff"]
    assert card["training"]["hardware"]["world_size"] == 1
    assert card["size_multiple"] == 2 and card["config_name"] == "custom"
    assert out.with_suffix(".pt").is_file() and (run / "model.pt").is_file()
    # refuses to overwrite without --force
    assert main(["export", str(run), str(out)]) == 2
    assert main(["export", str(run), str(out), "--force"]) == 0
    single = tmp_path / "single.onnx"
    assert main(["export", str(run), str(single), "--no-stats-input"]) == 0
    assert len(ort.InferenceSession(str(single), providers=["CPUExecutionProvider"]).get_inputs()) == 1


    from emrestore.nn import build_generator
    from emrestore.training import config_from_dict

    state = load_checkpoint(run)
    model = build_generator(config_from_dict(state["config"]).model)
    model.load_state_dict(state["generator"])
    x = np.random.default_rng(0).uniform(1, 9, (1, 1, 20, 28)).astype(np.float32)
    with torch.inference_mode():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    stats = np.float32([[x.mean(), x.std()]])
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x, "stats": stats})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


def test_model_and_seed_overrides(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_config_dict(schedule={"pixel_steps": 1, "gan_steps": 0})))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--model", "tiny", "--seed", "11", "--out", str(run),
                 "--no-progress", "--no-export"]) == 0
    state = load_checkpoint(run)
    assert state["config"]["model"]["name"] == "tiny" and state["config"]["seed"] == 11


def test_resume_with_a_new_schedule(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_config_dict(schedule={"pixel_steps": 2, "gan_steps": 0})))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(run), "--no-progress", "--no-export"]) == 0
    assert load_checkpoint(run)["step"] == 2
    # lengthen the finished run: it continues to the new end, and the checkpoint keeps the new schedule
    assert main(["train", "--resume", str(run), "--pixel-steps", "4", "--no-progress", "--no-export"]) == 0
    state = load_checkpoint(run)
    assert state["step"] == 4 and state["config"]["schedule"]["pixel_steps"] == 4


def test_bank_option_trains_on_a_bank(tmp_path, capsys):
    from emrestore.datasets.bank import render_bank

    bank = tmp_path / "bank"
    render_bank("lrsem", 3, 64, 0, bank, progress=False)
    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_config_dict(tag="lrsem", schedule={"pixel_steps": 1, "gan_steps": 0})))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--bank", str(bank), "--out", str(run),
                 "--no-progress", "--no-export"]) == 0
    data = load_checkpoint(run)["config"]["data"]
    assert data["source"] == "bank" and data["bank"] == str(bank.resolve())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train"], "--tag"),
        (["train", "--tag", "xxstem"], "Unknown tag"),
        (["train", "--config", "missing.toml"], "does not exist"),
        (["train", "--resume", "nowhere"], "does not exist"),
        (["train", "--resume", "nowhere", "--tag", "hrstem"], "--resume"),
        (["train", "--tag", "hrstem", "--bank", "no-such-bank"], "is not a folder"),
        (["train", "--tag", "hrstem", "--model", "giant"], "Unknown generator"),
        (["export", "missing.pt", "out.onnx"], "does not exist"),
        (["train", "--tag", "hrstem", "--device", "tpu"], "device"),
        (["export", "missing.pt", "out.txt"], ".onnx"),
        (["train", "--resume", "run", "--init-from", "other"], "--init-from"),
    ],
)
def test_errors_are_one_line_with_exit_status_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_init_from_starts_a_new_run_from_another_runs_weights(tmp_path, capsys):
    parent_config = tmp_path / "parent.json"
    parent_config.write_text(json.dumps(tiny_config_dict(schedule={"pixel_steps": 2, "gan_steps": 0})))
    parent = tmp_path / "parent"
    assert main(["train", "--config", str(parent_config), "--out", str(parent), "--no-progress", "--no-export"]) == 0
    # fine-tuning: other data settings, a schedule and step count of its own
    child_config = tmp_path / "child.json"
    child_config.write_text(json.dumps(tiny_config_dict(data={"input_clip_percent": 0.5},
                                                        schedule={"pixel_steps": 1, "gan_steps": 0})))
    child = tmp_path / "child"
    assert main(["train", "--config", str(child_config), "--init-from", str(parent), "--out", str(child),
                 "--no-progress"]) == 0
    capsys.readouterr()
    state = load_checkpoint(child)
    assert state["step"] == 1 and state["initialised_from"]["steps"] == 2
    card = json.loads((child / "model.json").read_text())
    assert card["input_clip_percent"] == 0.5 and "percentiles" in card["io"]["normalisation"]
    assert card["training"]["initialised_from"]["checkpoint"].endswith("last.pt")
    assert main(["export", str(child), str(tmp_path / "exported.onnx")]) == 0  # exported by hand: the same record
    exported = json.loads((tmp_path / "exported.json").read_text())
    assert exported["training"]["initialised_from"] == card["training"]["initialised_from"]
    assert exported["input_clip_percent"] == 0.5
    # resuming the child keeps the record
    assert main(["train", "--resume", str(child), "--pixel-steps", "2", "--no-progress", "--no-export"]) == 0
    assert load_checkpoint(child)["initialised_from"]["steps"] == 2


def test_init_from_copies_the_weights_and_checks_the_model(tmp_path):
    from emrestore.errors import ParameterError
    from emrestore.training import Trainer, config_from_dict

    parent = tmp_path / "parent"
    Trainer(config_from_dict(tiny_config_dict(schedule={"pixel_steps": 2, "gan_steps": 0})), parent,
            progress=False, export=False).fit()
    weights = load_checkpoint(parent)["generator"]
    child = Trainer(config_from_dict(tiny_config_dict(seed=50)), tmp_path / "child", progress=False,
                    export=False, init_from=parent / "checkpoints" / "last.pt")
    assert all(torch.equal(child.generator.state_dict()[k], v) for k, v in weights.items())
    assert child.step == 0
    other = tiny_config_dict(model={"growth": 4})
    with pytest.raises(ParameterError, match="model configuration"):
        Trainer(config_from_dict(other), tmp_path / "other", progress=False, export=False, init_from=parent)
    with pytest.raises(ParameterError, match="either resumed or initialised"):
        Trainer(None, parent, resume=True, progress=False, export=False, init_from=parent)


def test_init_from_a_generator_only_checkpoint_keeps_a_fresh_discriminator(tmp_path):
    from emrestore.training import Trainer, config_from_dict
    from emrestore.training.checkpoint import save_checkpoint

    parent = tmp_path / "parent"
    Trainer(config_from_dict(tiny_config_dict(schedule={"pixel_steps": 2, "gan_steps": 0})), parent,
            progress=False, export=False).fit()
    state = load_checkpoint(parent)
    for key in ("discriminator", "opt_g", "opt_d"):
        del state[key]
    slim = save_checkpoint(tmp_path / "generator-only.pt", state)
    config = tiny_config_dict(seed=50)
    child = Trainer(config_from_dict(config), tmp_path / "child", progress=False, export=False, init_from=slim)
    fresh = Trainer(config_from_dict(config), tmp_path / "fresh", progress=False, export=False)
    assert all(torch.equal(child.generator.state_dict()[k], v) for k, v in state["generator"].items())
    assert all(torch.equal(child.discriminator.state_dict()[k], v)
               for k, v in fresh.discriminator.state_dict().items())
    assert not all(torch.equal(fresh.generator.state_dict()[k], v) for k, v in state["generator"].items())
    assert child.initialised_from["discriminator"] == "fresh"
    assert Trainer(config_from_dict(config), tmp_path / "c2", progress=False, export=False,
                   init_from=parent).initialised_from["discriminator"] == "copied"


def test_fit_schedule_on_the_command_line(tmp_path, capsys, monkeypatch):
    from emrestore.training import schedule

    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_config_dict(schedule={"pixel_steps": 10**6, "gan_steps": 0})))
    run = tmp_path / "run"
    # a reserve longer than the 60-min budget leaves no time to fit: the phase ends right after the
    # first measured steps, however fast or loaded the machine (the budget itself is never reached)
    monkeypatch.setattr(schedule, "FIT_RESERVE_S", 1e6)
    assert main(["train", "--config", str(config), "--out", str(run), "--minutes", "60", "--fit-schedule",
                 "--no-progress", "--no-export"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pixel_steps"] == summary["step"] == 15 and summary["finished"]
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "r2"), "--fit-schedule",
                 "--no-progress"]) == 2
    assert "wall-time budget" in capsys.readouterr().err


def test_precision_on_the_command_line(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_config_dict(schedule={"pixel_steps": 1, "gan_steps": 0})))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(run), "--precision", "bf16", "--no-progress"]) == 0
    capsys.readouterr()
    assert json.loads((run / "model.json").read_text())["training"]["hardware"]["precision"] == "bf16"


def test_init_from_an_exported_model_or_a_shipped_tag(tmp_path):
    """A fresh machine has only the ONNX files: their initializers and card give the weights back."""
    import numpy as np
    import onnxruntime as ort

    from emrestore.errors import ParameterError
    from emrestore.training import Trainer, config_from_dict
    from emrestore.training.export import checkpoint_from_onnx

    parent = tmp_path / "parent"
    Trainer(config_from_dict(tiny_config_dict(schedule={"pixel_steps": 2, "gan_steps": 0})), parent,
            progress=False).fit()
    weights = load_checkpoint(parent)["generator"]
    rebuilt = checkpoint_from_onnx(parent / "model.onnx")
    assert rebuilt["step"] == 2 and set(rebuilt["generator"]) == set(weights)
    assert all(torch.allclose(rebuilt["generator"][k], v.float()) for k, v in weights.items())
    child = Trainer(config_from_dict(tiny_config_dict(seed=51)), tmp_path / "child", progress=False,
                    export=False, init_from=parent / "model.onnx")
    assert all(torch.allclose(child.generator.state_dict()[k], v.float()) for k, v in weights.items())
    assert child.initialised_from["discriminator"] == "fresh" and child.initialised_from["steps"] == 2
    # a shipped tag: the rebuilt generator computes what the shipped ONNX graph computes
    shipped = checkpoint_from_onnx("lrtem")
    from emrestore.nn import build_generator

    generator = build_generator(shipped["config"]["model"]).eval()
    generator.load_state_dict(shipped["generator"])
    x = (np.random.default_rng(0).random((1, 1, 64, 64)) * 100 + 50).astype(np.float32)
    stats = np.array([[x.mean(), x.std(), 0.3]], np.float32)  # (N, 3): lrtem is told the noise level
    stats = stats[:, :3 if generator.config.noise_conditioned else 2]
    with torch.no_grad():
        ours = generator.forward_with_stats(torch.from_numpy(x), torch.from_numpy(stats)).numpy()
    session = ort.InferenceSession(shipped["path"])
    theirs = session.run(None, {"image": x, "stats": stats})[0]
    assert np.abs(ours - theirs).max() < 1e-3 * np.abs(theirs).max()
    bare = tmp_path / "bare.onnx"
    bare.write_bytes((parent / "model.onnx").read_bytes())  # no model card beside it
    with pytest.raises(ParameterError):
        checkpoint_from_onnx(bare)

"""A noise-conditioned generator end to end: trained (told each crop's measured noise level),
exported with a (N, 3) stats input, restored tiled as whole, started from an unconditioned run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import tiny_config_dict

from emrestore.model.conditioning import noise_level
from emrestore.restoration import load_model
from emrestore.training import Trainer, config_from_dict, load_checkpoint

CONDITIONED = {"model": {"noise_conditioned": True, "downsample": 4},
               "schedule": {"pixel_steps": 3, "gan_steps": 0}}


@pytest.fixture(scope="module")
def conditioned_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("conditioned")
    Trainer(config_from_dict(tiny_config_dict(**CONDITIONED)), run, progress=False).fit()
    return run


def test_a_conditioned_run_exports_a_graph_told_the_noise_level(conditioned_run):
    card = json.loads((conditioned_run / "model.json").read_text())
    assert card["generator"]["config"]["noise_conditioned"] is True
    assert card["onnx"]["stats_input"]["shape"] == ["batch", 3]
    assert "noise level" in card["io"]["normalisation"]
    restorer = load_model(conditioned_run / "model.onnx", progress=False)
    assert restorer.stats_width == 3
    rng = np.random.default_rng(0)
    frame = rng.poisson(rng.uniform(5, 60, (1, 1)) * np.ones((150, 170))).astype(np.float32)
    assert restorer.frame_level(frame) == pytest.approx(noise_level(frame))


def test_tiles_of_a_conditioned_model_share_the_frames_level(conditioned_run):
    """Tiled = whole: each tile gets the whole frame's (mean, std, level), not its own."""
    whole = load_model(conditioned_run / "model.onnx", tile=0, progress=False)
    tiled = load_model(conditioned_run / "model.onnx", tile=96, progress=False)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:200, 0:230]
    frame = rng.poisson(20 + 15 * np.cos(xx / 5.0) * (yy > 100)).astype(np.float32)
    a, b = whole.restore_array(frame), tiled.restore_array(frame)
    assert np.max(np.abs(a - b)) <= 1e-4 * float(frame.std())


def test_the_level_changes_what_a_trained_conditioned_network_returns(conditioned_run):
    state = load_checkpoint(conditioned_run)
    vectors = state["generator"]["noise_vectors"]
    assert vectors.abs().max() > 0  # trained: the vectors moved from zero
    restorer = load_model(conditioned_run / "model.onnx", progress=False)
    rng = np.random.default_rng(2)
    batch = rng.poisson(30.0, (1, 1, 64, 64)).astype(np.float32)
    stats = np.array([[batch.mean(), batch.std(), 0.05]], np.float32)
    low = restorer.run(batch, stats)
    stats[0, 2] = 0.9
    assert np.abs(restorer.run(batch, stats) - low).max() > 0


def test_conditioning_added_to_an_unconditioned_parent_starts_from_its_outputs(tmp_path):
    parent = tmp_path / "parent"
    plain = tiny_config_dict(model={"downsample": 4}, schedule={"pixel_steps": 2, "gan_steps": 0})
    Trainer(config_from_dict(plain), parent, progress=False, export=False).fit()
    child = Trainer(config_from_dict(tiny_config_dict(**CONDITIONED)), tmp_path / "child", progress=False,
                    export=False, init_from=parent)
    assert child.initialised_from["noise_conditioning"] == "added, zero-initialised"
    assert torch.equal(child.generator.noise_vectors, torch.zeros_like(child.generator.noise_vectors))
    assert torch.equal(child.generator.noise_gates, torch.zeros_like(child.generator.noise_gates))
    reference = Trainer(None, parent, resume=True, progress=False, export=False).generator.eval()
    x = torch.rand(2, 1, 32, 32) * 40 + 5
    with torch.no_grad():
        assert torch.equal(child.generator.eval()(x, level=torch.tensor([0.1, 0.6])), reference(x))


def test_a_conditioned_generator_is_not_exported_without_its_stats_input(tmp_path):
    from emrestore.errors import ParameterError
    from emrestore.nn import build_generator
    from emrestore.training import export_onnx

    model = build_generator({**tiny_config_dict(**CONDITIONED)["model"]}, seed=0)
    with pytest.raises(ParameterError, match="stats input"):
        export_onnx(model, tmp_path / "m.onnx", stats_input=False)
    assert not (tmp_path / "m.onnx").exists()

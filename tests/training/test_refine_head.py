"""The full-resolution refinement head (GeneratorConfig.refine): sizes, a zero start when it is
added to a trained parent, a run that trains it, and an exported graph that restores with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import tiny_config_dict

from emrestore.errors import ParameterError
from emrestore.model.receptive import theoretical_radius
from emrestore.nn import build_generator
from emrestore.nn.configs import (
    generator_config,
    generator_gflop,
    generator_parameter_count,
)
from emrestore.restoration import load_model
from emrestore.training import Trainer, config_from_dict, load_checkpoint

PLAIN = {"model": {"downsample": 4}, "schedule": {"pixel_steps": 2, "gan_steps": 0}}
HEAD = {"model": {"downsample": 4, "refine": 8}, "schedule": {"pixel_steps": 3, "gan_steps": 0}}


def test_sizes_count_the_head():
    plain, head = generator_config("tiny"), generator_config({"preset": "tiny", "refine": 32})
    assert head.name == "custom" and head.refine == 32
    built = build_generator(head, seed=0)
    assert sum(p.numel() for p in built.parameters()) == generator_parameter_count(head)
    assert generator_parameter_count(head) - generator_parameter_count(plain) == (2 * 32 + 32 * 32 + 32) * 9 + 65
    assert theoretical_radius(head) == theoretical_radius(plain) + 3
    assert generator_gflop(head) > generator_gflop(plain)
    with pytest.raises(ParameterError, match="refine"):
        generator_config({"preset": "tiny", "refine": -1})


def test_a_head_added_to_a_trained_parent_starts_from_its_outputs_and_then_trains(tmp_path):
    parent = tmp_path / "parent"
    Trainer(config_from_dict(tiny_config_dict(**PLAIN)), parent, progress=False, export=False).fit()
    child_dir = tmp_path / "child"
    child = Trainer(config_from_dict(tiny_config_dict(**HEAD)), child_dir, progress=False, init_from=parent)
    assert "added" in child.initialised_from["refinement_head"]
    assert child.initialised_from["discriminator"] == "fresh"
    reference = Trainer(None, parent, resume=True, progress=False, export=False).generator.eval()
    x = torch.rand(2, 1, 32, 32) * 40 + 5
    with torch.no_grad():
        assert torch.equal(child.generator.eval()(x), reference(x))
    child.fit()
    trained = load_checkpoint(child_dir)["generator"]
    assert trained["refine.4.weight"].abs().max() > 0  # the head learned something
    card = json.loads((child_dir / "model.json").read_text())
    assert card["generator"]["config"]["refine"] == 8
    # the exported graph restores with the head, and tiles still agree with the whole frame
    whole = load_model(child_dir / "model.onnx", tile=0, progress=False)
    tiled = load_model(child_dir / "model.onnx", tile=96, progress=False)
    rng = np.random.default_rng(0)
    frame = rng.poisson(30 + 20 * (np.mgrid[0:150, 0:170][1] > 80)).astype(np.float32)
    a, b = whole.restore_array(frame), tiled.restore_array(frame)
    assert np.max(np.abs(a - b)) <= 1e-4 * float(frame.std())
    square = frame[:144, :160]  # a multiple of the body's factor: no padding to tell apart
    with torch.no_grad():
        expected = child.generator.eval()(torch.from_numpy(square)[None, None])[0, 0].numpy()
    # restore_array's last steps need the whole frame (grid pattern, spectral cap)
    expected = whole.whole_frame_steps(whole.normalisation(square)[0], expected)
    assert np.max(np.abs(whole.restore_array(square) - expected)) <= 1e-3 * float(square.std())

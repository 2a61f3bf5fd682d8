"""Training configurations: shipped per-tag files, validation errors, learning-rate schedule."""

from __future__ import annotations

import math

import pytest
from helpers import tiny_config_dict

from emrestore.datasets.registry import TAGS
from emrestore.errors import ParameterError
from emrestore.training import config_from_dict, default_config, load_config, lr_factor


@pytest.mark.parametrize("tag", TAGS)
def test_shipped_config_per_tag(tag):
    config = default_config(tag)
    assert config.tag == tag
    assert config.modality == tag[2:]
    assert config.model.name == "fast"
    assert config.data.degradation == "chain"
    assert config.loss_weights().l1 == 10.0


def test_round_trip_through_dict_and_files(tmp_path):
    config = config_from_dict(tiny_config_dict())
    assert config_from_dict(config.to_dict()) == config
    path = tmp_path / "c.json"
    path.write_text(config.to_json())
    assert load_config(path) == config
    toml = tmp_path / "c.toml"
    toml.write_text('tag = "lrsem"\nseed = 5\n[model]\npreset = "tiny"\n[schedule]\npixel_steps = 7\n')
    loaded = load_config(toml)
    assert (loaded.tag, loaded.seed, loaded.model.name, loaded.schedule.pixel_steps) == ("lrsem", 5, "tiny", 7)


def test_model_override_of_preset_is_renamed_custom():
    config = config_from_dict(tiny_config_dict(model={"preset": "fast", "downsample": 2}))
    assert config.model.name == "custom" and config.model.downsample == 2


@pytest.mark.parametrize(
    "change",
    [
        {"tag": "xrstem"},
        {"seed": -1},
        {"colour": 1},
        {"data": {"source": "web"}},
        {"data": {"crop": 4}},
        {"data": {"dose_range": [10, 1]}},
        {"data": {"source": "bank", "bank": ""}},
        {"data": {"crops": 32}},
        {"data": {"input_clip_percent": -0.1}},
        {"data": {"input_clip_percent": 20}},
        {"data": {"input_clip_percent": "0.1"}},
        {"optim": {"lr_g": 2.0}},
        {"optim": {"decay": "step"}},
        {"schedule": {"pixel_steps": 0, "gan_steps": 0}},
        {"loss": {"perceptual": 1.0}},
        {"loss": {"l1": -1.0}},
        {"model": {"preset": "huge"}},
        {"model": {"downsample": 8}},
        {"discriminator": {"depth": 3}},
    ],
)
def test_bad_configs_raise_parameter_error_with_fix(change):
    with pytest.raises(ParameterError) as info:
        config_from_dict(tiny_config_dict(**change))
    assert "Fix:" in str(info.value)


def test_unparseable_and_missing_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("tag = \n")
    with pytest.raises(ParameterError):
        load_config(bad)
    with pytest.raises(ParameterError):
        load_config(tmp_path / "missing.toml")


def test_lr_factor_warmup_then_cosine_and_exponential():
    assert lr_factor(0, 100, 10, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(99, 100, 10, "cosine", 0.1) == pytest.approx(0.1)
    mid = lr_factor(10 + 89 // 2, 100, 10, "cosine", 0.1)
    assert 0.5 < mid < 0.6
    assert lr_factor(99, 100, 0, "exponential", 0.01) == pytest.approx(0.01)
    assert lr_factor(50, 101, 0, "exponential", 0.01) == pytest.approx(math.sqrt(0.01))
    assert lr_factor(50, 100, 0, "none", 0.01) == 1.0


def test_tem_configs_clip_camera_impulses_and_scanned_ones_do_not():
    for tag in ("hrtem", "lrtem"):
        assert default_config(tag).data.input_clip_percent == 0.1
    for tag in ("hrstem", "lrstem", "hrsem", "lrsem"):
        assert default_config(tag).data.input_clip_percent == 0.0

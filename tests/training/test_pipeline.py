"""The shipped per-tag configs train end to end: renderer → augmentation → physical chain."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.datasets import available_tags
from emrestore.datasets.registry import TAGS
from emrestore.training import Trainer, config_from_dict, default_config, make_dataset
from emrestore.training.run_log import read_log


@pytest.mark.parametrize("tag", TAGS)
def test_shipped_config_trains_on_renderer_and_chain(tmp_path, tag):
    if tag not in available_tags():
        pytest.skip(f"no renderer for {tag} in this install")
    data = default_config(tag).to_dict()
    data["model"] = {"groups": 1, "blocks": 1, "layers": 2, "growth": 8, "channels": 16, "downsample": 4}
    data["discriminator"] = {"base_channels": 8}
    data["data"].update(crop=32, batch_size=2, workers=0, validation_size=2)
    data["schedule"].update(pixel_steps=1, gan_steps=1, validate_every=0, checkpoint_every=0, log_every=1)
    config = config_from_dict(data)
    assert (config.data.source, config.data.degradation, config.data.augment) == ("renderer", "chain", "auto")
    dataset = make_dataset(config)
    degraded, target, params = dataset.pair(0)
    assert params["modality"] == tag[2:]
    assert degraded.shape == target.shape == (32, 32) and np.isfinite(degraded).all()
    again = dataset.pair(0)
    assert np.array_equal(again[0], degraded) and np.array_equal(again[1], target)
    result = Trainer(config, tmp_path, progress=False, export=False).fit()
    assert result["finished"] and [r["phase"] for r in read_log(tmp_path)] == ["pixel", "gan"]
    assert np.isfinite(result["validation"]["psnr_db"])


def test_training_from_a_simulated_bank(tmp_path, capsys):
    from emrestore.cli import main

    if "lrsem" not in available_tags():
        pytest.skip("no lrsem renderer in this install")
    assert main(["simulate", "--tag", "lrsem", "--n", "3", "--size", "48", "--seed", "1",
                 "--out", str(tmp_path / "bank")]) == 0
    capsys.readouterr()
    data = default_config("lrsem").to_dict()
    data["model"] = {"groups": 1, "blocks": 1, "layers": 2, "growth": 8, "channels": 16, "downsample": 2}
    data["discriminator"] = {"base_channels": 8}
    data["data"].update(source="bank", bank=str(tmp_path / "bank"), crop=32, batch_size=2, workers=0,
                        validation_size=2)
    data["schedule"].update(pixel_steps=2, gan_steps=0, validate_every=0, checkpoint_every=0, log_every=1)
    config = config_from_dict(data)
    dataset = make_dataset(config)
    assert dataset.source.modality == "sem" and len(dataset.source.files) == 3
    result = Trainer(config, tmp_path / "run", progress=False, export=False).fit()
    assert result["finished"] and len(read_log(tmp_path / "run")) == 2

"""Pairs degraded on the training device: same crops and parameters as the numpy pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import tiny_config

from emrestore.errors import ParameterError
from emrestore.training.dataset import make_dataset
from emrestore.training.device_pairs import (
    CleanCropDataset,
    batch_noise_seed,
    clip_batch,
    make_device_loader,
)
from emrestore.model.conditioning import clip_percentiles


def _config(tag: str = "hrtem", **data):
    return tiny_config(tag=tag, data={"degradation": "chain", "pairs_on": "device", "crop": 32,
                                      "batch_size": 4, **data})


@pytest.mark.parametrize("tag", ["hrtem", "hrstem", "lrsem"])
def test_workers_draw_the_crops_and_parameters_of_the_numpy_pairs(tag):
    config = _config(tag)
    crops, pairs = CleanCropDataset(config), make_dataset(config)
    for index in (0, 5, 17):
        clean, values, clean_pair = crops[index]
        _, target, params = pairs.pair(index)
        assert np.array_equal(clean.numpy(), pairs.clean_crop(index)[1])
        assert clean_pair == params.pop("clean_pair")
        params.pop("modality")
        assert values == params


def test_the_device_loader_degrades_a_batch_reproducibly():
    config = _config("hrtem", input_clip_percent=0.1)
    first = next(iter(make_device_loader(config, "cpu", start_step=3)))
    again = next(iter(make_device_loader(config, "cpu", start_step=3)))
    other = next(iter(make_device_loader(config, "cpu", start_step=4)))
    degraded, target = first
    assert degraded.shape == target.shape == (4, 1, 32, 32) and degraded.dtype == torch.float32
    assert torch.equal(degraded, again[0]) and torch.equal(target, again[1])
    assert not torch.equal(degraded, other[0])
    assert torch.isfinite(degraded).all() and torch.isfinite(target).all()


def test_device_targets_are_the_numpy_targets_and_clean_pairs_are_clean():
    config = _config("hrstem", batch_size=8)
    pairs = make_dataset(config)
    degraded, target = next(iter(make_device_loader(config, "cpu")))
    compared = 0
    for i in range(8):
        _, numpy_target, params = pairs.pair(i)
        if params["clean_pair"]:
            assert torch.equal(degraded[i, 0], target[i, 0])
        else:
            assert not torch.equal(degraded[i, 0], target[i, 0])
        if not params["display_applied"]:  # the display maps the target with the degraded image's limits
            np.testing.assert_allclose(target[i, 0].numpy(), numpy_target, rtol=1e-5, atol=1e-5)
            compared += 1
    assert compared >= 3


def test_clip_batch_is_clip_percentiles_per_image():
    rng = np.random.default_rng(0)
    images = rng.exponential(1.0, (3, 40, 40)).astype(np.float32)
    clipped = clip_batch(torch.from_numpy(images), 0.5).numpy()
    for image, result in zip(images, clipped):
        np.testing.assert_allclose(result, clip_percentiles(image, 0.5), rtol=1e-6)
    assert clip_batch(torch.from_numpy(images), 0.0) is not None


def test_noise_seeds_differ_by_step_and_rank():
    seeds = {batch_noise_seed(1, s, r) for s in range(50) for r in range(4)}
    assert len(seeds) == 200 and all(0 <= s < 2**63 for s in seeds)


def test_pairs_on_device_needs_the_chain():
    with pytest.raises(ParameterError, match="pairs_on"):
        tiny_config(data={"degradation": "poisson", "pairs_on": "device"})
    with pytest.raises(ParameterError, match="pairs_on"):
        tiny_config(data={"pairs_on": "gpu"})


def _bank(directory, n: int = 3, size: int = 64):
    directory.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        yy, xx = np.mgrid[0:size, 0:size]
        image = 1.0 + 0.6 * np.cos(xx / (1.5 + i)) * np.cos(yy / 2.0) + 0.1 * rng.random((size, size))
        np.savez_compressed(directory / f"{i:07d}.npz", target=image.astype(np.float32))
    return directory


def test_crops_made_on_the_device_from_a_bank(tmp_path):
    config = _config("hrstem", source="bank", bank=str(_bank(tmp_path / "bank")), supply="device",
                     batch_size=3)
    loader = make_device_loader(config, "cpu", start_step=2)
    assert loader.bank is not None and loader.loader is None  # no DataLoader workers
    degraded, target = next(iter(loader))
    again = next(iter(make_device_loader(config, "cpu", start_step=2)))
    later = next(iter(make_device_loader(config, "cpu", start_step=3)))
    assert degraded.shape == target.shape == (3, 1, 32, 32)
    assert torch.equal(degraded, again[0]) and not torch.equal(target, later[1])
    batches = iter(make_device_loader(config, "cpu", start_step=2)._device_crops())
    clean, values, _ = next(batches)
    rng = np.random.default_rng([config.seed, 2 * 3])  # the first pair of step 2
    from emrestore.distortions import batched

    assert values[0] == batched.sample_batch("stem", clean[:1], [rng])[0]


def test_crops_on_the_device_need_a_bank():
    with pytest.raises(ParameterError, match="supply"):
        _config("hrstem", supply="device")


def test_auto_places_pairs_on_a_gpu_and_keeps_them_in_the_workers_on_a_cpu():
    from emrestore.training.device_pairs import pairs_place

    data = _config("hrstem", pairs_on="auto").data
    assert pairs_place(data, "cpu") == "workers" and pairs_place(data, "cuda") == "device"
    assert pairs_place(tiny_config(data={"pairs_on": "auto"}).data, "cuda") == "workers"  # poisson
    assert pairs_place(_config("hrstem", pairs_on="workers").data, "cuda") == "workers"
    assert pairs_place(_config("hrstem").data, "cpu") == "device"


def test_a_run_trains_on_pairs_degraded_on_the_device(tmp_path):
    from emrestore.training import train

    config = _config("hrstem", workers=0)
    result = train(config, tmp_path / "run", device="cpu", progress=False)
    assert result["finished"] and result["step"] == config.total_steps
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["training"]["hardware"]["pairs_on"] == "device"


def test_clip_batch_handles_batches_too_large_for_one_quantile(monkeypatch):
    from emrestore.training import device_pairs

    images = torch.from_numpy(np.random.default_rng(2).exponential(1.0, (2, 30, 30)).astype(np.float32))
    whole = clip_batch(images, 1.0)
    monkeypatch.setattr(device_pairs, "QUANTILE_MAX_ELEMENTS", 100)
    assert torch.equal(clip_batch(images, 1.0), whole)

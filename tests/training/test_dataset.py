"""Pairs made on the fly: reproducibility across workers/processes, sources, degradations."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from helpers import tiny_config

from emrestore.datasets.sources import (
    BankSource,
    RendererSource,
    dihedral,
    get_degradation,
    poisson_degradation,
    synthetic_clean,
)
from emrestore.errors import ParameterError
from emrestore.training import StepSampler, make_dataset, make_loader, validation_set


def test_synthetic_clean_images_are_valid_and_seeded():
    for seed in range(6):
        image = synthetic_clean(48, np.random.default_rng(seed))
        assert image.shape == (48, 48) and image.dtype == np.float32
        assert np.isfinite(image).all() and image.min() >= 0
        assert image.mean() == pytest.approx(1.0, rel=1e-4)
        assert image.std() > 0.05
    a = synthetic_clean(32, np.random.default_rng(1))
    assert np.array_equal(a, synthetic_clean(32, np.random.default_rng(1)))
    assert not np.array_equal(a, synthetic_clean(32, np.random.default_rng(2)))


def test_poisson_degradation_statistics():
    clean = np.full((200, 200), 1.0, np.float32)
    degrade = poisson_degradation((100.0, 100.0))
    degraded, target, params = degrade(clean, "stem", np.random.default_rng(0))
    assert params["dose_e_per_px"] == pytest.approx(100.0)
    assert np.array_equal(target, clean)
    assert degraded.mean() == pytest.approx(1.0, abs=0.01)
    assert degraded.var() == pytest.approx(1.0 / 100.0, rel=0.05)  # Poisson: var = mean / dose


def test_dihedral_covers_the_eight_symmetries():
    image = np.arange(9, dtype=np.float32).reshape(3, 3)
    outs = {dihedral(image, np.random.default_rng(s)).tobytes() for s in range(200)}
    assert len(outs) == 8


def test_pair_is_a_function_of_seed_and_index():
    ds = make_dataset(tiny_config())
    d1, t1 = ds[5]
    d2, t2 = ds[5]
    assert torch.equal(d1, d2) and torch.equal(t1, t2)
    assert d1.shape == (1, 32, 32) and d1.dtype == torch.float32
    assert not torch.equal(ds[6][1], t1)


def test_workers_do_not_change_the_pairs():
    config0 = tiny_config()
    config2 = tiny_config(data={"workers": 2})
    b0 = [b for _, b in zip(range(3), make_loader(config0))]
    b2 = [b for _, b in zip(range(3), make_loader(config2))]
    for (x0, y0), (x2, y2) in zip(b0, b2):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)


def test_worker_init_seeds_numpy_global_state_from_torch():
    from torch.utils.data import DataLoader, Dataset

    from emrestore.training import worker_init

    class Draw(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.random.random()

    def draws(seed):
        loader = DataLoader(Draw(), batch_size=1, num_workers=2, worker_init_fn=worker_init,
                            generator=torch.Generator().manual_seed(seed))
        return [float(v) for v in loader]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert len(set(draws(1))) == 4  # the two workers draw different numbers


def test_step_sampler_splits_a_global_batch_between_processes():
    single = StepSampler(4, start_step=2)
    ranks = [StepSampler(2, start_step=2, rank=r, world_size=2) for r in range(2)]
    take = lambda s, n: [i for _, i in zip(range(n), iter(s))]
    assert take(single, 8) == [8, 9, 10, 11, 12, 13, 14, 15]
    assert take(ranks[0], 4) == [8, 9, 12, 13]
    assert take(ranks[1], 4) == [10, 11, 14, 15]


def test_validation_set_is_fixed_cached_and_independent_of_training_seed(tmp_path):
    a = validation_set(tiny_config(), tmp_path)
    files = list(tmp_path.glob("validation_hrstem_*.npz"))
    assert len(files) == 1
    b = validation_set(tiny_config(seed=99), tmp_path)  # read back from the cache
    c = validation_set(tiny_config(seed=99))  # regenerated
    for x, y, z in zip(a, b, c):
        assert x.shape == (4, 1, 32, 32)
        assert np.array_equal(x, y) and np.array_equal(x, z)
    d = validation_set(tiny_config(data={"validation_seed": 1}), tmp_path)
    assert not np.array_equal(a[1], d[1])
    assert len(list(tmp_path.glob("validation_hrstem_*.npz"))) == 2


def _write_bank(directory, n=3, size=40, modality="sem"):
    directory.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        target = synthetic_clean(size, rng) * 3.0
        np.savez(directory / f"sample_{i:04d}.npz", target=target, params=json.dumps({"i": i}))
    (directory / "bank.json").write_text(json.dumps({"tag": f"lr{modality}", "n": n}))


def test_bank_source_random_crops(tmp_path):
    _write_bank(tmp_path / "bank")
    source = BankSource(tmp_path / "bank", modality="stem")
    assert source.modality == "sem"  # bank.json wins
    crop, modality, pixel_size_nm = source.sample(32, np.random.default_rng(0))
    assert crop.shape == (32, 32) and modality == "sem" and pixel_size_nm is None  # params without a pixel size
    assert crop.mean() == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ParameterError):
        source.sample(64, np.random.default_rng(0))
    config = tiny_config(data={"source": "bank", "bank": str(tmp_path / "bank")})
    x, y = make_dataset(config)[0]
    assert x.shape == y.shape == (1, 32, 32)


def test_bank_source_skips_crops_without_signal(tmp_path):
    """A HAADF image of a particle on vacuum is zero in most crops; those are drawn again."""
    bank = tmp_path / "bank"
    bank.mkdir()
    image = np.zeros((64, 64), np.float32)
    image[40:56, 40:56] = 5.0  # one particle, vacuum elsewhere
    np.savez(bank / "0000000.npz", target=image, params=json.dumps({}))
    source = BankSource(bank, modality="stem")
    rng = np.random.default_rng(0)
    for _ in range(20):
        crop, *_ = source.sample(16, rng)
        assert crop.max() > 0 and crop.mean() == pytest.approx(1.0, rel=1e-5)
    np.savez(bank / "0000000.npz", target=np.zeros((64, 64), np.float32), params=json.dumps({}))
    with pytest.raises(ParameterError, match="look empty"):
        BankSource(bank, modality="stem").sample(16, rng)


def test_bank_source_errors(tmp_path):
    with pytest.raises(ParameterError):
        BankSource(tmp_path / "none", "stem")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError):
        BankSource(tmp_path / "empty", "stem")


def test_renderer_source_uses_the_registry_or_says_why_not():
    from emrestore.datasets import available_tags

    if "hrstem" in available_tags():
        clean, modality, pixel_size_nm = RendererSource("hrstem").sample(32, np.random.default_rng(0))
        assert clean.shape == (32, 32) and modality == "stem" and 0.005 <= pixel_size_nm <= 0.1
    else:
        with pytest.raises(ParameterError):
            RendererSource("hrstem")


def test_distortion_chain_is_wired_when_available():
    if importlib.util.find_spec("emrestore.distortions") is None:
        with pytest.raises(ParameterError) as info:
            get_degradation("chain")
        assert "poisson" in str(info.value)
        return
    config = tiny_config(data={"degradation": "chain"})
    ds = make_dataset(config)
    x, y = ds[0]
    assert x.shape == y.shape == (1, 32, 32)
    assert torch.isfinite(x).all() and not torch.equal(x, y)
    assert torch.equal(ds[0][0], x)  # reproducible through the chain


def test_an_augmentation_that_removes_all_signal_is_dropped():
    """A warp can move a sparse crop's only particle out of view: the pair keeps the crop as drawn."""
    from emrestore.datasets.sources import poisson_degradation
    from emrestore.training.dataset import PairDataset

    class OneParticle:
        def sample(self, size, rng):
            image = np.zeros((size, size), np.float32)
            image[:4, :4] = 1.0
            return image / image.mean(), "stem"

    dataset = PairDataset(OneParticle(), poisson_degradation((50.0, 50.0)), 16, seed=0,
                          augment=lambda image, rng: np.zeros_like(image))
    degraded, target, _ = dataset.pair(0)
    assert target.max() > 0 and target[:4, :4].mean() > target[8:, 8:].mean()


def test_input_clip_applies_to_training_and_validation_inputs_only(tmp_path):
    plain, clipped = tiny_config(), tiny_config(data={"input_clip_percent": 1.0})
    x0, y0, _ = make_dataset(plain).pair(5)
    x1, y1, _ = make_dataset(clipped).pair(5)
    assert np.array_equal(y0, y1)  # targets untouched
    assert np.array_equal(x1, np.clip(x0, *np.percentile(x0, [1.0, 99.0]).astype(np.float32)))
    assert x1.max() < x0.max()
    a = validation_set(plain, tmp_path)
    b = validation_set(clipped, tmp_path)  # the same stored pairs, clipped on return
    assert len(list(tmp_path.glob("validation_*.npz"))) == 1
    assert np.array_equal(a[1], b[1]) and b[0].max() < a[0].max()
    assert np.array_equal(b[0][2, 0], np.clip(a[0][2, 0], *np.percentile(a[0][2, 0], [1.0, 99.0]).astype(np.float32)))


def test_the_pixel_size_of_a_bank_image_reaches_the_distortion_chain(tmp_path):
    """Scan noise scales with the sampling: the chain must see each bank image's pixel size."""
    from emrestore.training.dataset import PairDataset

    directory = tmp_path / "bank"
    directory.mkdir()
    rng = np.random.default_rng(0)
    np.savez(directory / "sample_0000.npz", target=synthetic_clean(48, rng) * 2.0,
             params=json.dumps({"pixel_size_nm": 0.08}))
    source = BankSource(directory, modality="stem")
    assert source.sample(32, np.random.default_rng(1))[2] == pytest.approx(0.08)
    seen = []

    def degrade(clean, modality, rng, pixel_size_nm=None):
        seen.append(pixel_size_nm)
        return clean, clean, {}

    PairDataset(source, degrade, 32, seed=0).pair(3)
    assert seen == [pytest.approx(0.08)]

"""Clean-image supply on the device: the bank tensor, crops and the batched augmentation
against the numpy path (BankSource, emrestore.datasets.augment)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from emrestore.datasets import augment as numpy_augment
from emrestore.dihedral import TRANSFORMS
from emrestore.errors import ParameterError
from emrestore.training.device_supply import (
    AUGMENT_BODY_VALUES,
    AugmentSettings,
    DeviceBank,
    apply_dihedral,
    augment_batch,
    clean_batch,
    dihedral_batch,
    draw_crops,
    gradient_from_parameters,
    gradient_parameters,
    pattern_from_parameters,
    warp_from_parameters,
    warp_parameters,
)

BODY = AUGMENT_BODY_VALUES  # replayed numpy draws use these: a wrong value gives other numbers

#: Every step of the augmentation off; tests switch on one at a time.
OFF = dict(dihedral=False, p_gradient=0.0, p_warp=0.0, p_pattern=0.0)


def _write_bank(directory: Path, images: list[np.ndarray], pixel_sizes: list[float | None],
                config: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i, (image, size) in enumerate(zip(images, pixel_sizes)):
        params = {"index": i} if size is None else {"index": i, "pixel_size_nm": size}
        np.savez_compressed(directory / f"{i:07d}.npz", target=image.astype(np.float32),
                            params=np.array(json.dumps(params)))
    if config is not None:
        (directory / "bank.json").write_text(json.dumps(config))
    return directory


@pytest.fixture
def bank_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    images = [rng.gamma(3.0, 1.0 / 3.0, (40, 40)) for _ in range(3)] + [rng.gamma(3.0, 0.5, (48, 36))]
    return _write_bank(tmp_path / "bank", images, [0.1, 0.2, None, 0.4], {"tag": "hrstem"})


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _smooth(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return (1.0 + 0.5 * np.sin(x / 7.0) * np.cos(y / 9.0)).astype(np.float32)


# --------------------------------------------------------------------------- bank


def test_load_keeps_images_sizes_and_modality(bank_dir: Path) -> None:
    bank = DeviceBank.load(bank_dir, "sem")
    assert bank.images.shape == (4, 48, 40) and bank.images.dtype == torch.float32
    assert bank.shapes.tolist() == [[40, 40], [40, 40], [40, 40], [48, 36]]
    assert bank.pixel_size_nm == (0.1, 0.2, None, 0.4)
    assert bank.modality == "stem"  # from bank.json's tag, as BankSource reads it
    assert bank.nbytes == 4 * 48 * 40 * 4
    for i, path in enumerate(sorted(bank_dir.glob("*.npz"))):
        with np.load(path) as stored:
            target = stored["target"]
        h, w = target.shape
        assert np.array_equal(bank.images[i, :h, :w].numpy(), target)
        assert float(bank.images[i, h:].abs().sum() + bank.images[i, :, w:].abs().sum()) == 0.0
        assert float(bank.means[i]) == pytest.approx(float(target.mean()), rel=1e-6)


def test_load_refuses_what_bank_source_refuses(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="does not exist"):
        DeviceBank.load(tmp_path / "missing", "stem")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no .npz files"):
        DeviceBank.load(tmp_path / "empty", "stem")
    (tmp_path / "bad").mkdir()
    np.savez(tmp_path / "bad" / "0.npz", other=np.zeros((8, 8)))
    with pytest.raises(ParameterError, match="no 'target' array"):
        DeviceBank.load(tmp_path / "bad", "stem")
    (tmp_path / "flat").mkdir()
    np.savez(tmp_path / "flat" / "0.npz", target=np.zeros(64))
    with pytest.raises(ParameterError, match="not \\(H, W\\)"):
        DeviceBank.load(tmp_path / "flat", "stem")


def test_memory_budget_refusal_names_size_and_fix(bank_dir: Path) -> None:
    needed = 4 * 48 * 40 * 4
    with pytest.raises(ParameterError) as refused:
        DeviceBank.load(bank_dir, "stem", budget_bytes=needed - 1)
    assert f"{needed} bytes" in refused.value.cause and "4 images of up to 48×40 px" in refused.value.cause
    assert "fewer or smaller images" in refused.value.fix
    assert DeviceBank.load(bank_dir, "stem", budget_bytes=needed).nbytes == needed


# --------------------------------------------------------------------------- crops


def test_shapes_dtypes_and_pixel_sizes(bank_dir: Path) -> None:
    bank = DeviceBank.load(bank_dir, "stem")
    for mode in ("none", "dihedral", "auto"):
        clean, sizes = clean_batch(bank, 12, 32, _gen(0), mode)
        assert clean.shape == (12, 32, 32) and clean.dtype == torch.float32
        assert torch.isfinite(clean).all() and float(clean.min()) >= 0
        assert len(sizes) == 12 and set(sizes) <= {0.1, 0.2, None, 0.4}
    drawn = draw_crops(bank, 12, 32, _gen(0))
    assert drawn.pixel_size_nm == [bank.pixel_size_nm[i] for i in drawn.index.tolist()]


def test_reproducible_from_the_seed(bank_dir: Path) -> None:
    bank = DeviceBank.load(bank_dir, "stem")
    for mode in ("none", "dihedral", "auto"):
        a, sa = clean_batch(bank, 16, 32, _gen(5), mode)
        b, sb = clean_batch(bank, 16, 32, _gen(5), mode)
        c, _ = clean_batch(bank, 16, 32, _gen(6), mode)
        assert torch.equal(a, b) and sa == sb
        assert not torch.equal(a, c)


def test_crops_are_windows_of_bank_images(bank_dir: Path) -> None:
    """Without augmentation every crop is a window of a stored image divided by its mean
    (searched over every image and offset, read from the files, not from the tensor)."""
    stored = []
    for path in sorted(bank_dir.glob("*.npz")):
        with np.load(path) as f:
            stored.append(f["target"])
    crop = 16
    clean, sizes = clean_batch(DeviceBank.load(bank_dir, "stem"), 10, crop, _gen(1), "none")
    pixel = [0.1, 0.2, None, 0.4]
    for image, size in zip(clean.numpy(), sizes):
        hits = []
        for i, target in enumerate(stored):
            windows = np.lib.stride_tricks.sliding_window_view(target, (crop, crop))
            normalised = windows / windows.mean((2, 3), keepdims=True)
            match = np.abs(normalised - image).max((2, 3)) < 1e-5
            hits += [(i, int(y), int(x)) for y, x in zip(*np.nonzero(match))]
        assert len(hits) == 1 and pixel[hits[0][0]] == size
        assert image.mean() == pytest.approx(1.0, abs=1e-5)


def test_crop_positions_are_uniform_like_bank_source(bank_dir: Path) -> None:
    bank = DeviceBank.load(bank_dir, "stem")
    drawn = draw_crops(bank, 8000, 20, _gen(2))
    counts = np.bincount(drawn.index.numpy(), minlength=4)
    chi2 = float(((counts - 2000) ** 2 / 2000).sum())
    assert chi2 < 25  # 3 degrees of freedom: p < 1e-4 beyond
    for i, (h, w) in enumerate(bank.shapes.tolist()):
        pick = drawn.index == i
        top, left = drawn.top[pick].numpy(), drawn.left[pick].numpy()
        assert top.min() == 0 and top.max() == h - 20 and left.min() == 0 and left.max() == w - 20
        assert np.mean(top) == pytest.approx((h - 20) / 2, abs=0.6)


def test_crops_without_signal_are_drawn_again(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    half = rng.gamma(2.0, 0.5, (32, 32))
    half[:, :20] = 0.0  # vacuum on the left: a 10 px crop there has no signal
    directory = _write_bank(tmp_path / "sparse", [np.zeros((32, 32)), half], [1.0, 2.0])
    drawn = draw_crops(DeviceBank.load(directory, "stem"), 400, 10, _gen(0))
    assert drawn.index.tolist() == [1] * 400
    assert int(drawn.left.min()) >= 11  # a crop ending left of column 20 is all vacuum
    assert torch.allclose(drawn.crops.mean((1, 2)), torch.ones(400), atol=1e-5)
    empty = _write_bank(tmp_path / "empty", [np.zeros((32, 32))], [None])
    with pytest.raises(ParameterError, match="No crop of 10 px with signal"):
        draw_crops(DeviceBank.load(empty, "stem"), 4, 10, _gen(0))


def test_crop_larger_than_images_is_refused(bank_dir: Path) -> None:
    with pytest.raises(ParameterError, match="smaller than the 40 px crop"):
        draw_crops(DeviceBank.load(bank_dir, "stem"), 2, 40, _gen(0))  # the 48×36 image
    with pytest.raises(ParameterError, match="Unknown augmentation"):
        clean_batch(DeviceBank.load(bank_dir, "stem"), 2, 8, _gen(0), "flips")


# --------------------------------------------------------------------------- augmentation


def test_settings_are_augment_defaults() -> None:
    settings = AugmentSettings.resolve()
    assert {f.name: getattr(settings, f.name) for f in fields(AugmentSettings)} == numpy_augment.DEFAULTS
    assert AugmentSettings.resolve(p_warp=1.0).p_warp == 1.0
    with pytest.raises(ParameterError, match="Unknown augmentation option"):
        AugmentSettings.resolve(p_twist=0.5)
    with pytest.raises(ParameterError, match="not a probability"):
        AugmentSettings.resolve(p_warp=1.5)


def test_option_bounds_are_those_of_numpy_augment() -> None:
    image = np.ones((8, 8), np.float32)
    bounds = {"gradient_amplitude": AUGMENT_BODY_VALUES["max_gradient_amplitude"],
              "max_rotation_deg": AUGMENT_BODY_VALUES["max_rotation_deg"],
              **{k: AUGMENT_BODY_VALUES["max_warp_option"] for k in ("max_scale_change", "max_shear", "max_perspective")}}
    for name, limit in bounds.items():
        numpy_augment.augment(image, np.random.default_rng(0), **{name: limit})
        AugmentSettings.resolve(**{name: limit})
        for call in (lambda: numpy_augment.augment(image, np.random.default_rng(0), **{name: limit * 1.01}),
                     lambda: AugmentSettings.resolve(**{name: limit * 1.01})):
            with pytest.raises(ParameterError, match=name):
                call()


def test_warp_and_gradient_draws_span_the_default_ranges() -> None:
    settings = AugmentSettings.resolve()
    n, side = 4000, 64
    warp = {k: v.numpy() for k, v in warp_parameters(n, side, _gen(0), settings, torch.device("cpu")).items()}
    for values, limit in ((np.rad2deg(warp["rotation_rad"]), settings.max_rotation_deg),
                          (warp["scale_yx"] - 1.0, settings.max_scale_change), (warp["shear"], settings.max_shear),
                          (warp["perspective"][warp["perspective"][:, 0] != 0] * side, settings.max_perspective)):
        assert np.abs(values).max() <= limit and np.abs(values).max() > 0.99 * limit
        assert abs(values.mean()) < 4 * limit / np.sqrt(3 * values.size)
    keystone = (warp["perspective"] != 0).all(1).mean()
    assert abs(keystone - 0.5) < 4 * np.sqrt(0.25 / n)
    gradient = gradient_parameters(n, _gen(1), settings.gradient_amplitude, torch.device("cpu"))
    amplitude = gradient["amplitude"].numpy()
    assert amplitude.min() >= 0 and amplitude.max() <= settings.gradient_amplitude
    assert abs(amplitude.mean() - settings.gradient_amplitude / 2) < 4 * settings.gradient_amplitude / np.sqrt(12 * n)
    assert abs(gradient["ramp"].float().mean().item() - 0.5) < 4 * np.sqrt(0.25 / n)


def test_dihedral_elements_are_the_numpy_group_and_all_occur() -> None:
    image = np.random.default_rng(0).random((9, 9)).astype(np.float32)
    group = [forward(image) for forward, _ in TRANSFORMS]
    batch = torch.from_numpy(image).expand(8, 9, 9)
    k = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    flip = torch.tensor([False] * 4 + [True] * 4)
    out = apply_dihedral(batch, k, flip).numpy()
    for quarter, mirrored, result in zip(k.tolist(), flip.tolist(), out):
        reference = np.rot90(image, quarter)  # random_dihedral: rotate, then flip left/right
        assert np.array_equal(result, reference[:, ::-1] if mirrored else reference)
    assert sorted(next(i for i, g in enumerate(group) if np.array_equal(r, g)) for r in out) == list(range(8))
    many, _, _ = dihedral_batch(torch.from_numpy(image).expand(800, 9, 9), _gen(0))
    seen = [next(i for i, g in enumerate(group) if np.array_equal(r, g)) for r in many.numpy()]
    counts = np.bincount(seen, minlength=8)
    assert counts.min() > 60  # 100 expected each


def test_dihedral_mode_transforms_the_drawn_crops(bank_dir: Path) -> None:
    bank = DeviceBank.load(bank_dir, "stem")
    plain, _ = clean_batch(bank, 40, 16, _gen(9), "none")
    turned, _ = clean_batch(bank, 40, 16, _gen(9), "dihedral")
    found = set()
    for a, b in zip(plain.numpy(), turned.numpy()):
        found |= {i for i, (forward, _) in enumerate(TRANSFORMS) if np.array_equal(forward(a), b)}
        assert any(np.array_equal(forward(a), b) for forward, _ in TRANSFORMS)
    assert len(found) > 4


@pytest.mark.parametrize("seed", range(8))
def test_gradient_equals_numpy_for_the_same_draws(seed: int) -> None:
    shape, amplitude = (48, 40), 0.3
    reference = numpy_augment.slow_gradient(shape, np.random.default_rng(seed), amplitude)
    rng = np.random.default_rng(seed)  # the same draws, in slow_gradient's order
    a = rng.uniform(0.0, amplitude)
    ramp = rng.random() < BODY["ramp_probability"]
    angle = rng.uniform(0, 2 * np.pi) if ramp else 0.0
    curvature = rng.uniform(-BODY["ramp_curvature"], BODY["ramp_curvature"]) if ramp else 0.0
    grid = (BODY["field_grid"],) * 2
    field = np.zeros(grid) if ramp else rng.standard_normal(grid).astype(np.float32)
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    out = gradient_from_parameters(shape, t(a), torch.tensor([ramp]), t(angle), t(curvature),
                                   torch.from_numpy(np.asarray(field, np.float64))[None])[0]
    assert np.allclose(out.numpy(), reference, rtol=0, atol=2e-6)


def _warp_draws(rng: np.random.Generator, size: int, settings: AugmentSettings) -> tuple[torch.Tensor, ...]:
    """random_warp's draws, in its order, as (1,)-batches."""
    theta = np.deg2rad(rng.uniform(-settings.max_rotation_deg, settings.max_rotation_deg))
    scale = 1.0 + rng.uniform(-settings.max_scale_change, settings.max_scale_change, 2)
    shear = rng.uniform(-settings.max_shear, settings.max_shear)
    keystone = np.zeros(2)
    if rng.random() < BODY["perspective_probability"]:
        keystone = rng.uniform(-settings.max_perspective, settings.max_perspective, 2) / size
    return tuple(torch.tensor(np.asarray(v, np.float64))[None] for v in (theta, scale, shear, keystone))


def test_warp_equals_numpy_for_the_same_draws() -> None:
    """Measured difference to map_coordinates(order=1, mode='constant'): ≤ 5e-7 on a smooth
    image, ≤ 2e-5 on gamma noise (float32 source coordinates); the margins are identical."""
    settings = AugmentSettings.resolve()
    smooth = _smooth(64)
    rough = np.random.default_rng(1).gamma(2.0, 0.5, (64, 64)).astype(np.float32)
    worst = {"smooth": 0.0, "rough": 0.0}
    for seed in range(12):
        for name, image in (("smooth", smooth), ("rough", rough)):
            reference = numpy_augment.random_warp(
                image, np.random.default_rng(seed), settings.max_rotation_deg, settings.max_scale_change,
                settings.max_shear, settings.max_perspective, 0.25)
            draws = _warp_draws(np.random.default_rng(seed), 64, settings)
            out = warp_from_parameters(torch.from_numpy(image)[None], *draws,
                                       torch.tensor([0.25], dtype=torch.float64))[0].numpy()
            assert np.array_equal(out == np.float32(0.25), reference == np.float32(0.25))
            worst[name] = max(worst[name], float(np.abs(out - reference).max()))
    assert worst["smooth"] < 2e-6 and worst["rough"] < 1e-4


@pytest.mark.parametrize("seed", range(6))
def test_pattern_mixing_equals_numpy_for_the_same_draws(seed: int) -> None:
    image = _smooth(40)
    reference = numpy_augment.augment(image, np.random.default_rng(seed), **dict(OFF, p_pattern=1.0))
    rng = np.random.default_rng(seed)  # augment's draws: gradient, warp and pattern tests, then the pattern
    rng.random(3)
    mask, _ = numpy_augment.generic_pattern(image.shape, rng)
    level = rng.uniform(0.0, BODY["pattern_level"])
    opacity = rng.uniform(*BODY["pattern_opacity"])
    out = pattern_from_parameters(torch.from_numpy(image)[None], torch.from_numpy(mask)[None],
                                  torch.tensor([level]), torch.tensor([opacity])).clamp(min=0)[0]
    assert np.allclose(out.numpy(), reference, rtol=0, atol=1e-5)


def _margin_stats(outputs: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output: the share of margin pixels and which fill it has (0: min, 1: mean, 2: zero,
    -1: no margin). The margin is the value taken by > 20 pixels (the image is continuous)."""
    share, kind = [], []
    for out in outputs:
        values, counts = np.unique(out, return_counts=True)
        top = int(np.argmax(counts))
        if counts[top] <= 20:
            share.append(0.0)
            kind.append(-1)
            continue
        share.append(counts[top] / out.size)
        fill = values[top]
        kind.append(int(np.argmin([abs(fill - image.min()), abs(fill - image.mean()), abs(fill)])))
    return np.asarray(share), np.asarray(kind)


def _agree(a: np.ndarray, b: np.ndarray, sigmas: float = 4.0) -> bool:
    """Means of two samples equal within ``sigmas`` standard errors of their difference."""
    error = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) <= sigmas * error


def test_warp_statistics_and_fill_match_numpy_augment() -> None:
    image = (0.5 + _smooth(48)).astype(np.float32)  # min > 0: the three fills differ
    options = dict(OFF, p_warp=1.0)
    reference = np.stack([numpy_augment.augment(image, np.random.default_rng(s), **options) for s in range(300)])
    ours = augment_batch(torch.from_numpy(image).expand(300, 48, 48), _gen(0),
                         AugmentSettings.resolve(**options)).numpy()
    assert _agree(ours.mean((1, 2)), reference.mean((1, 2)))
    share_ours, kind_ours = _margin_stats(ours, image)
    share_ref, kind_ref = _margin_stats(reference, image)
    assert _agree(share_ours, share_ref)
    for fill in range(3):  # min, mean and 0 a third of the time each
        assert _agree((kind_ours == fill).astype(float), (kind_ref == fill).astype(float))
        assert abs((kind_ours == fill).mean() - 1 / 3) < 0.1


def test_gradient_and_pattern_statistics_match_numpy_augment() -> None:
    image = np.ones((48, 48), np.float32)
    for options in (dict(OFF, p_gradient=1.0), dict(OFF, p_pattern=1.0)):
        reference = np.stack([numpy_augment.augment(image, np.random.default_rng(s), **options)
                              for s in range(200)])
        ours = augment_batch(torch.from_numpy(image).expand(200, 48, 48), _gen(1),
                             AugmentSettings.resolve(**options)).numpy()
        assert _agree(ours.std((1, 2)), reference.std((1, 2)))
        assert _agree((np.abs(ours - 1) > 1e-3).mean((1, 2)), (np.abs(reference - 1) > 1e-3).mean((1, 2)))
        assert _agree(ours.mean((1, 2)), reference.mean((1, 2)))


def test_probabilities_of_the_steps() -> None:
    image = _smooth(32)
    out = augment_batch(torch.from_numpy(image).expand(1000, 32, 32), _gen(4),
                        AugmentSettings.resolve(dihedral=False, p_pattern=0.0)).numpy()
    unchanged = np.all(out == image, axis=(1, 2)).mean()
    expected = (1 - numpy_augment.DEFAULTS["p_gradient"]) * (1 - numpy_augment.DEFAULTS["p_warp"])
    assert abs(unchanged - expected) < 4 * np.sqrt(expected * (1 - expected) / 1000)


def test_a_warp_that_loses_all_signal_keeps_the_crop(tmp_path: Path) -> None:
    spot = np.zeros((24, 24))
    spot[0, 0] = 50.0  # a corner spot: a warp about the centre moves it out of view
    bank = DeviceBank.load(_write_bank(tmp_path / "spot", [spot], [None]), "stem")
    settings = AugmentSettings.resolve(**dict(OFF, p_warp=1.0, fill=0.0))
    lost = (augment_batch(draw_crops(bank, 50, 24, _gen(0)).crops, _gen(1), settings).mean((1, 2)) <= 0).sum()
    assert lost > 10  # the situation arises
    clean, _ = clean_batch(bank, 50, 24, _gen(0), "auto", settings)
    assert bool((clean.mean((1, 2)) > 0).all())
    drawn = bank.images[0] / bank.means[0]
    assert sum(torch.equal(c, drawn) for c in clean) > 5  # used as drawn


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_with_either_generator(bank_dir: Path) -> None:
    bank = DeviceBank.load(bank_dir, "stem", device="cuda")
    for generator in (_gen(0), torch.Generator(device="cuda").manual_seed(0)):
        clean, sizes = clean_batch(bank, 16, 32, generator, "auto")
        assert clean.device.type == "cuda" and clean.shape == (16, 32, 32) and len(sizes) == 16
    cpu, _ = clean_batch(DeviceBank.load(bank_dir, "stem"), 16, 32, _gen(0), "none")
    gpu, _ = clean_batch(bank, 16, 32, _gen(0), "none")
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-6)


def test_auto_batches_match_bank_source_then_augment(bank_dir: Path) -> None:
    """End to end: clean_batch("auto") against the numpy path of the training dataset
    (BankSource.sample, then augment, a crop kept as drawn if its augmented mean is not
    positive), compared in per-image statistics within sampling error."""
    from emrestore.datasets.sources import BankSource

    source = BankSource(bank_dir, "stem")
    reference = []
    for i in range(400):
        rng = np.random.default_rng([0, i])
        crop = source.sample(24, rng)[0]
        augmented = numpy_augment.augment(crop, rng)
        reference.append(augmented if augmented.mean() > 0 else crop)
    reference = np.stack(reference)
    ours, _ = clean_batch(DeviceBank.load(bank_dir, "stem"), 400, 24, _gen(0), "auto")
    ours = ours.numpy()
    for statistic in (lambda a: a.mean((1, 2)), lambda a: a.std((1, 2)), lambda a: a.max((1, 2)),
                      lambda a: np.abs(np.diff(a, axis=1)).mean((1, 2))):
        assert _agree(statistic(ours), statistic(reference))

"""Augmentation of clean images."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.datasets.augment import augment, generic_pattern
from emrestore.errors import NonFiniteDataError, NotAnImageError, ParameterError

OFF = dict(dihedral=False, p_gradient=0.0, p_warp=0.0, p_pattern=0.0)


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.gamma(4.0, 0.25, (64, 64)).astype(np.float32)
    img[10:20, 5:40] += 3.0  # an asymmetric feature
    return img


def test_output_contract_and_determinism(image: np.ndarray) -> None:
    for seed in range(20):
        a = augment(image, np.random.default_rng(seed), p_pattern=0.5, p_warp=0.5)
        assert a.shape == image.shape and a.dtype == np.float32
        assert np.all(np.isfinite(a)) and a.min() >= 0
        b = augment(image, np.random.default_rng(seed), p_pattern=0.5, p_warp=0.5)
        assert np.array_equal(a, b)


def test_all_off_is_identity(image: np.ndarray) -> None:
    assert np.array_equal(augment(image, np.random.default_rng(0), **OFF), image)


def test_dihedral_gives_one_of_eight_and_all_occur(image: np.ndarray) -> None:
    group = [np.rot90(image, k) for k in range(4)] + [np.rot90(image, k)[:, ::-1] for k in range(4)]
    seen = set()
    for seed in range(60):
        out = augment(image, np.random.default_rng(seed), **dict(OFF, dihedral=True))
        match = [i for i, g in enumerate(group) if np.array_equal(out, g)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == set(range(8))


def test_gradient_is_slow_positive_and_bounded(image: np.ndarray) -> None:
    for seed in range(10):
        out = augment(image, np.random.default_rng(seed),
                      **dict(OFF, p_gradient=1.0, gradient_amplitude=0.4))
        ratio = out / image
        assert ratio.min() >= np.exp(-0.4) - 1e-5 and ratio.max() <= np.exp(0.4) + 1e-5
        assert np.abs(np.diff(ratio, axis=1)).max() < 0.05  # slow: small pixel-to-pixel change


def test_warp_leaves_constant_margin(image: np.ndarray) -> None:
    margins = 0
    for seed in range(10):
        out = augment(image, np.random.default_rng(seed),
                      **dict(OFF, p_warp=1.0, fill=7.5, max_rotation_deg=30.0))
        assert not np.array_equal(out, image)
        margins += int(np.isclose(out, 7.5).sum() > 0)
    assert margins >= 7  # rotations of more than a few degrees always uncover corners


def test_pattern_changes_part_of_the_image(image: np.ndarray) -> None:
    changed = []
    for seed in range(10):
        out = augment(image, np.random.default_rng(seed), **dict(OFF, p_pattern=1.0))
        changed.append(float(np.mean(~np.isclose(out, image))))
    assert max(changed) > 0.001 and all(c < 1.0 for c in changed)
    for kind in ("lines", "rectangles", "ellipses", "polygons", "text"):
        mask, k = generic_pattern((64, 64), np.random.default_rng(1), kind)
        assert k == kind and 0.0 <= mask.min() and mask.max() <= 1.0 and mask.max() > 0.1


def test_pattern_probability_is_about_a_tenth(image: np.ndarray) -> None:
    hits = 0
    for seed in range(300):
        out = augment(image, np.random.default_rng(seed), **dict(OFF, p_pattern=0.1))
        hits += not np.array_equal(out, image)
    assert 12 <= hits <= 50


def test_non_square_images_keep_their_shape() -> None:
    img = np.ones((40, 70), np.float32)
    for seed in range(10):
        assert augment(img, np.random.default_rng(seed), p_warp=1.0).shape == (40, 70)


@pytest.mark.parametrize("bad, error", [
    (np.ones((2, 8, 8), np.float32), NotAnImageError),
    (np.full((8, 8), np.nan, np.float32), NonFiniteDataError),
])
def test_bad_images(bad: np.ndarray, error: type) -> None:
    with pytest.raises(error):
        augment(bad, np.random.default_rng(0))


@pytest.mark.parametrize("options", [{"p_warp": 1.5}, {"rotate": True}, {"fill": -1.0},
                                     {"gradient_amplitude": "a lot"}])
def test_bad_options(image: np.ndarray, options: dict) -> None:
    with pytest.raises(ParameterError):
        augment(image, np.random.default_rng(0), **options)

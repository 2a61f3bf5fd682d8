"""The dihedral group of the square: transforms, inverses and the random draws."""

import numpy as np

from emrestore.dihedral import SHAPE_KEEPING, TRANSFORMS, random_dihedral, random_flip

IMAGE = np.arange(20, dtype=np.float32).reshape(4, 5)
SQUARE = np.arange(16, dtype=np.float32).reshape(4, 4)


def test_the_eight_elements_are_distinct_and_each_inverse_undoes_its_forward() -> None:
    outs = {forward(SQUARE).tobytes() for forward, _ in TRANSFORMS}
    assert len(outs) == 8
    for forward, inverse in TRANSFORMS:
        assert np.array_equal(inverse(forward(IMAGE)), IMAGE)


def test_the_first_four_keep_a_rectangles_shape() -> None:
    assert [forward(IMAGE).shape for forward, _ in TRANSFORMS[:SHAPE_KEEPING]] == [IMAGE.shape] * 4
    assert all(forward(IMAGE).shape == IMAGE.shape[::-1] for forward, _ in TRANSFORMS[SHAPE_KEEPING:])


def test_random_dihedral_is_rotate_then_flip_and_reaches_all_eight() -> None:
    seen = set()
    for seed in range(200):
        rng = np.random.default_rng(seed)
        k, flip = int(rng.integers(0, 4)), rng.random() < 0.5
        expected = np.rot90(SQUARE, k)[:, ::-1] if flip else np.rot90(SQUARE, k)
        out = random_dihedral(SQUARE, np.random.default_rng(seed))
        assert np.array_equal(out, expected) and out.flags.c_contiguous
        seen.add(out.tobytes())
    assert len(seen) == 8


def test_random_flip_flips_every_array_alike() -> None:
    seen = set()
    for seed in range(100):
        a, b = random_flip((IMAGE, IMAGE + 100), np.random.default_rng(seed))
        assert a.shape == IMAGE.shape and np.array_equal(b, a + 100)
        seen.add(a.tobytes())
    assert len(seen) == SHAPE_KEEPING

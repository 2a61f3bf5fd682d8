"""The dihedral group of the square: the 8 flips and 90° rotations of an image, and their inverses.

Training draws one element at random (:func:`random_dihedral`; :func:`random_flip` keeps to
the four that keep a rectangle's shape); the uncertainty map restores every element of a
frame and undoes each (:data:`TRANSFORMS`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]

#: (forward, inverse) pairs on (H, W) arrays: identity, up/down flip, left/right flip, 180°
#: rotation (the four that keep the shape), then the four with a transpose.
TRANSFORMS: tuple[tuple[Transform, Transform], ...] = (
    (lambda a: a, lambda a: a),
    (np.flipud, np.flipud),
    (np.fliplr, np.fliplr),
    (lambda a: np.rot90(a, 2), lambda a: np.rot90(a, 2)),
    (np.transpose, np.transpose),
    (lambda a: np.rot90(a, 1), lambda a: np.rot90(a, -1)),
    (lambda a: np.rot90(a, -1), lambda a: np.rot90(a, 1)),
    (lambda a: np.rot90(a, 2).T, lambda a: np.rot90(a.T, 2)),
)
#: Elements of :data:`TRANSFORMS` that keep a rectangular image's shape.
SHAPE_KEEPING = 4

#: Element of :data:`TRANSFORMS` equal to "rotate by k·90°, then (flip) left/right", by [flip][k].
_ROTATE_THEN_FLIP = ((0, 5, 3, 6), (2, 7, 1, 4))


def random_dihedral(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of the 8 elements applied to a square ``image``, uniformly (C-contiguous copy).

    Draws the rotation ``k`` (``rng.integers(0, 4)``), then a left/right flip
    (``rng.random() < 0.5``).
    """
    k = int(rng.integers(0, 4))
    flip = bool(rng.random() < 0.5)
    forward, _ = TRANSFORMS[_ROTATE_THEN_FLIP[flip][k]]
    return np.ascontiguousarray(forward(image))


def random_flip(arrays: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The same random up/down and left/right flip (each with probability ½) of every array.

    One of the :data:`SHAPE_KEEPING` elements, so it suits rectangles and keeps scan lines
    horizontal; draws ``rng.random(2)`` (up/down, then left/right).
    """
    up, left = rng.random(2) < 0.5
    forward, _ = TRANSFORMS[int(up) + 2 * int(left)]  # flipping both ways is the 180° rotation
    return tuple(np.ascontiguousarray(forward(a)) for a in arrays)


__all__ = ["SHAPE_KEEPING", "TRANSFORMS", "random_dihedral", "random_flip"]

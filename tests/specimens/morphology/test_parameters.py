"""The morphology generators' parameter helpers: given values win, draws happen only when needed."""

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.specimens.morphology.canvas import Canvas
from emrestore.specimens.morphology.parameters import (
    feature_size_nm,
    given_or_chosen,
    given_or_drawn,
)


def test_given_value_is_checked_and_draws_nothing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert given_or_drawn("spread", 0.25, lambda: rng.uniform(), 0.0, 1.0) == 0.25
    assert rng.bit_generator.state == state
    with pytest.raises(ParameterError, match=r"spread=2.0 nm is outside \[0.0, 1.0\] nm"):
        given_or_drawn("spread", 2.0, lambda: rng.uniform(), 0.0, 1.0, "nm")


def test_missing_value_is_drawn_then_checked():
    assert given_or_drawn("x", None, lambda: 0.5, 0.0, 1.0) == 0.5
    with pytest.raises(ParameterError, match="x=3.0"):
        given_or_drawn("x", None, lambda: 3.0, 0.0, 1.0)


def test_choice_given_drawn_and_rejected():
    rng = np.random.default_rng(1)
    assert given_or_chosen("style", "b", rng, ("a", "b")) == "b"
    assert given_or_chosen("style", None, rng, ("a", "b"), p=[0.0, 1.0]) == "b"
    with pytest.raises(ParameterError, match="Unknown style 'c'"):
        given_or_chosen("style", "c", rng, ("a", "b"))


def test_feature_size_is_drawn_within_the_visible_range():
    canvas = Canvas(100, 2.0, bulk=True)  # 200 nm field
    rng = np.random.default_rng(2)
    sizes = [feature_size_nm(canvas, rng, "d", None, (1.0, 1e4), min_px=4.0, max_fraction=0.3)
             for _ in range(200)]
    assert min(sizes) >= 8.0 and max(sizes) <= 60.0
    assert feature_size_nm(canvas, rng, "d", 5000.0, (1.0, 1e4)) == 5000.0  # any sensible size
    with pytest.raises(ParameterError, match="d=0.5 nm"):
        feature_size_nm(canvas, rng, "d", 0.5, (1.0, 1e4))

"""The clean-pair mix lives in the training data: a share of chain pairs has input = target."""

from __future__ import annotations

import numpy as np
from helpers import tiny_config

from emrestore.datasets.sources import SyntheticSource, get_degradation
from emrestore.training import make_dataset
from emrestore.training.dataset import (
    CLEAN_PAIR_FRACTION,
    PairDataset,
    clean_pair_fraction,
)


def test_chain_pairs_include_clean_pairs_at_the_training_fraction():
    dataset = PairDataset(SyntheticSource("stem"), get_degradation("chain"), 16, seed=2,
                          clean_fraction=clean_pair_fraction("chain"))
    n = 400
    clean = []
    for index in range(n):
        degraded, target, params = dataset.pair(index)
        assert params["clean_pair"] == bool(np.array_equal(degraded, target)), index
        clean.append(params["clean_pair"])
    # Binomial(400, 0.05): mean 20, σ ≈ 4.4
    assert CLEAN_PAIR_FRACTION == 0.05 and 6 <= sum(clean) <= 36
    # a clean pair is the same pair as without the mix, with its input replaced by its target
    plain = PairDataset(SyntheticSource("stem"), get_degradation("chain"), 16, seed=2)
    index = clean.index(True)
    x, y, _ = plain.pair(index)
    cx, cy, _ = dataset.pair(index)
    assert np.array_equal(cy, y) and np.array_equal(cx, y) and not np.array_equal(x, y)
    other = clean.index(False)
    assert all(np.array_equal(a, b) for a, b in zip(dataset.pair(other)[:2], plain.pair(other)[:2]))


def test_training_config_sets_the_mix_by_degradation():
    assert clean_pair_fraction("chain") == CLEAN_PAIR_FRACTION and clean_pair_fraction("poisson") == 0.0
    assert make_dataset(tiny_config(data={"degradation": "chain"})).clean_fraction == CLEAN_PAIR_FRACTION
    poisson = make_dataset(tiny_config())
    assert poisson.clean_fraction == 0.0 and "clean_pair" not in poisson.pair(0)[2]

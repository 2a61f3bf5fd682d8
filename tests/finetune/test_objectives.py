"""The row blind spot hides whole scan lines; the automatic blind spot and synthetic weight follow the modality."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.finetune import FinetuneSettings
from emrestore.finetune.objectives import row_blind_spot_mask


def test_row_mask_hides_whole_lines_and_nothing_of_them_reaches_the_input():
    rng = np.random.default_rng(0)
    crops = rng.random((3, 64, 48)) * 1000.0
    masked, mask = row_blind_spot_mask(crops, np.random.default_rng(1), fraction=0.05)
    assert mask.shape == crops.shape
    rows = mask.all(axis=2)
    assert (mask.any(axis=2) == rows).all(), "a row is masked only in part"
    assert (rows.sum(axis=1) == round(0.05 * 64)).all()
    np.testing.assert_array_equal(masked[~mask], crops[~mask].astype(np.float32))
    # change every masked line (a line offset, a different blur, anything): the input is the same
    changed = crops.copy()
    changed[mask] += rng.normal(0.0, 500.0, int(mask.sum()))
    masked2, mask2 = row_blind_spot_mask(changed, np.random.default_rng(1), fraction=0.05)
    np.testing.assert_array_equal(mask2, mask)
    np.testing.assert_array_equal(masked2, masked)


def test_row_mask_fills_from_the_nearest_kept_lines():
    crops = np.arange(8, dtype=np.float64)[None, :, None] * np.ones((1, 8, 5))  # row y has value y
    for seed in range(20):
        masked, mask = row_blind_spot_mask(crops, np.random.default_rng(seed), fraction=0.5)
        rows = np.flatnonzero(mask[0].all(axis=1))
        kept = np.flatnonzero(~mask[0].all(axis=1))
        for y in rows:
            sides = [kept[kept < y][-1]] if (kept < y).any() else []
            sides += [kept[kept > y][0]] if (kept > y).any() else []
            np.testing.assert_allclose(masked[0, y], np.mean(sides))


def test_row_mask_rejects_bad_fraction():
    with pytest.raises(ValueError, match="fraction"):
        row_blind_spot_mask(np.zeros((1, 8, 8)), np.random.default_rng(0), fraction=0.0)


@pytest.mark.parametrize(("modality", "kind"), [("stem", "row"), ("sem", "row"), ("tem", "pixel")])
def test_auto_blind_spot_follows_the_modality(modality, kind):
    assert FinetuneSettings().blind_spot_kind(modality) == kind
    assert FinetuneSettings(blind_spot="pixel").blind_spot_kind(modality) == "pixel"


def test_unknown_blind_spot_is_refused():
    with pytest.raises(ParameterError, match="blind spot"):
        FinetuneSettings(blind_spot="column", steps=1).check()


@pytest.mark.parametrize(("modality", "weight"), [("tem", 0.5), ("stem", 0.5), ("sem", 0.0)])
def test_auto_synthetic_weight_follows_the_modality(modality, weight):
    assert FinetuneSettings().synthetic_weight(modality) == weight
    assert FinetuneSettings(w_synthetic=0.25).synthetic_weight(modality) == 0.25


def test_negative_synthetic_weight_is_refused():
    with pytest.raises(ParameterError, match="weights"):
        FinetuneSettings(w_synthetic=-1.0, steps=1).check()

"""The six shipped models: files, model cards, and that each one restores its own kind of image."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.evaluation import psnr
from emrestore.evaluation.baselines import median3
from emrestore.evaluation.validation import SIMULATOR_VERSION
from emrestore.model.registry import MODELS_DIR
from emrestore.restoration import Restorer, shipped_models
from emrestore.tags import TAG_NAMES, Tag


def test_every_tag_ships_a_small_model_with_its_card():
    models = {m.name: m for m in shipped_models()}
    assert sorted(models) == sorted(TAG_NAMES)
    for tag, model in models.items():
        assert model.onnx_path.stat().st_size <= 15e6
        card = model.card
        assert card.tag == tag and card.modality == Tag.get(tag).modality
        for key in ("config", "seed", "steps", "pairs_seen", "wall_time_s", "git_commit", "hardware"):
            assert card.training.get(key) not in (None, ""), (tag, key)
        # a bank large enough not to overfit: ≥ 1,000 images, or ≥ 500 for a fine-tuning cycle
        # (a run started from another model's weights, for a few thousand steps)
        fine_tuned = bool(card.training.get("initialised_from"))
        assert card.data["source"] == "bank" and card.data["bank"]["n"] >= (500 if fine_tuned else 1000)
        # medians: the 5 % clean validation pairs put the input's mean PSNR out of reach
        assert card.validation["psnr_median_db"] > card.validation["input_psnr_median_db"]
        # one target for all six (docs/distortions.md, "The target"): retrain when it changes
        assert card.data.get("simulator") == SIMULATOR_VERSION, (tag, card.data.get("simulator"))
    assert not list(MODELS_DIR.glob("*.pt")), "PyTorch weights are not shipped (package size)"


@pytest.mark.parametrize("tag", TAG_NAMES)
def test_shipped_model_restores_held_out_images_of_its_tag(tag):
    """On 8 held-out pairs the model gains over the input and over a 3×3 median filter.

    A sanity floor, not the quality claim (that is docs/evaluation.md): an untrained or
    wrongly normalised network loses tens of dB here.
    """
    from emrestore.datasets.bank import render_sample
    from emrestore.evaluation import EVAL_SEED

    restorer = Restorer(tag, progress=False)
    gains, over_median = [], []
    for index in range(8):
        arrays = render_sample(tag, 128, EVAL_SEED + 1, index, pairs=True)
        degraded, target = arrays["input"], arrays["target"]
        restored = restorer.restore_array(degraded)
        assert restored.shape == degraded.shape and np.isfinite(restored).all()
        gains.append(psnr(restored, target) - psnr(degraded, target))
        over_median.append(psnr(restored, target) - psnr(median3(degraded)[0], target))
    assert np.mean(gains) > 1.0, gains
    assert np.mean(over_median) > 0.0, over_median


@pytest.mark.parametrize("name, tag", [("hrstem_example.ser", "hrstem"), ("zeiss_sem_1k.tif", "lrsem")])
def test_real_micrographs_choose_their_model_and_keep_the_intensity_scale(shared, name, tag):
    import emrestore

    image = emrestore.read(shared(f"real/{name}"))
    restored = emrestore.restore(image, progress=False)
    assert restored.metadata["restoration"]["model"] == tag
    assert restored.shape == image.shape and restored.pixel_size == image.pixel_size
    data_in, data_out = image.data.astype(np.float64), restored.data.astype(np.float64)
    assert np.isfinite(data_out).all()
    assert abs(data_out.mean() - data_in.mean()) < 0.1 * data_in.std()  # no intensity drift
    assert data_out.std() < data_in.std() * 1.2  # smoother, not amplified

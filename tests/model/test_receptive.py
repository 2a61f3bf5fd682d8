"""Shipped models: measured receptive fields in their cards, and tiled = whole within 0.1 % of the std.

The default run checks the cards, one `fast` and one `tiny` model at small tiles, and the real
HR-STEM frame with 512-px tiles (where 64-px overlaps left 2.4 % seams); ``-m slow`` runs every
shipped model at every representative tile size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emrestore.datasets.registry import TAGS
from emrestore.restoration import Restorer, shipped_models
from emrestore.restoration.tiling import needed_overlap

#: The requirement: largest |tiled − whole| as a fraction of the image's std.
CRITERION = 1e-3
#: Tile sizes asked for: 1 stands for the smallest allowed (enlarged to the model's minimum).
TILES = (1, 256, 512, 1024)


def _poisson(shape, mean=20.0, seed=0):
    return np.random.default_rng(seed).poisson(mean, shape).astype(np.float32)


def _tiled_error(tag, image, tile):
    whole = Restorer(tag, tile=0, progress=False).restore_array(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tile below the minimum is enlarged, with a warning
        tiled_restorer = Restorer(tag, tile=tile, progress=False)
    assert tiled_restorer.tile_count(image.shape) > 1, "the test must cut the frame into tiles"
    tiled = tiled_restorer.restore_array(image)
    return float(np.abs(tiled - whole).max() / image.std())


def test_every_shipped_card_records_its_receptive_field():
    for model in shipped_models():
        context, field = model.card.receptive_field_px, model.card.receptive_field
        assert isinstance(context, int) and context == field["effective_px"] == model.receptive_field_px
        assert field["converged"] and field["tolerance_of_std"] <= CRITERION
        assert field["measured_radius_px"] + field["safety_px"] <= context <= field["theoretical_px"]
        assert field["theoretical_px"] == model.theoretical_receptive_px
        beyond = {int(d): e for d, e in field["max_error_of_std_beyond_px"].items()}
        assert all(e < field["tolerance_of_std"] for d, e in beyond.items() if d >= context), model.name
        assert max(beyond.values()) > CRITERION  # the table shows what too little context costs
        assert "receptive_field_px" in field["description"] and len(field["probe_frames"]) >= 5
        restorer = Restorer(model.name, progress=False)
        assert restorer.overlap == needed_overlap(context, model.size_multiple)
        assert restorer.margin == context


@pytest.mark.parametrize("tag, tile", [("hrstem", 1), ("hrtem", 256)])
def test_tiled_equals_whole_on_poisson_noise(tag, tile):
    image = _poisson((600, 500), seed=1)
    assert _tiled_error(tag, image, tile) < CRITERION


def test_tiled_equals_whole_on_the_real_hrstem_frame(shared):
    import emrestore

    image = np.asarray(emrestore.read(shared("real/hrstem_example.ser")).data, np.float32)
    assert _tiled_error("hrstem", image, 512) < CRITERION


@pytest.mark.slow
@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("tag", TAGS)
def test_every_model_at_every_tile_size_on_poisson_noise(tag, tile):
    for seed, mean in ((2, 5.0), (3, 500.0)):
        assert _tiled_error(tag, _poisson((1100, 900), mean, seed), tile) < CRITERION, (seed, mean)


@pytest.mark.slow
@pytest.mark.parametrize("tile", TILES[:-1])
@pytest.mark.parametrize("tag", TAGS)
def test_every_model_at_every_tile_size_on_the_real_hrstem_frame(shared, tag, tile):
    import emrestore

    image = np.asarray(emrestore.read(shared("real/hrstem_example.ser")).data, np.float32)
    assert _tiled_error(tag, image, tile) < CRITERION


@pytest.mark.slow
def test_remeasured_receptive_field_agrees_with_the_card():
    from emrestore.restoration.receptive import measure_receptive_field, probe_frames

    restorer = Restorer("lrtem", tile=0, progress=False)
    field = measure_receptive_field(restorer, probe_frames("lrtem", 4 * 69 + 32))
    # the card also saw the real frames of ../shared/data: at most as much context here
    assert restorer.context - 4 <= field.effective_px <= restorer.context


def test_an_exported_model_card_records_a_measured_receptive_field(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from emrestore.model.receptive import theoretical_radius
    from emrestore.nn import build_generator
    from emrestore.training.export import export_onnx
    from emrestore.training.model_card import build_model_card

    sizes = {"groups": 1, "blocks": 1, "layers": 2, "growth": 8, "channels": 16, "downsample": 2}
    model = build_generator(sizes, seed=0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(1)))
    info = export_onnx(model, tmp_path / "m.onnx", check_shapes=((1, 16, 16),))
    config = {"tag": "hrstem", "seed": 0, "model": sizes, "data": {"source": "synthetic"}}
    card = build_model_card(config, {"steps": 1}, None, info, {}, {})
    keys = list(card.to_dict())
    assert keys.index("receptive_field_px") == keys.index("size_multiple") + 1
    assert 0 < card.receptive_field_px <= theoretical_radius(sizes) == card.receptive_field["theoretical_px"]
    assert card.receptive_field["converged"]
    unmeasured = build_model_card(config, {"steps": 1}, None, info, {}, {}, receptive_field=False)
    assert unmeasured.receptive_field_px == theoretical_radius(sizes)

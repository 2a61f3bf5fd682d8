"""Restore engine: types in → types out, tiling agreement, odd/tiny sizes, provenance."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore
from emrestore.errors import NonFiniteDataError, NotAnImageError, ParameterError
from emrestore.restoration import Restorer, choose_model_tag
from emrestore.restoration.tiling import TileGrid, axis_tiles, pad_to_multiple, ramp_1d


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    lattice = 100 + 40 * np.cos(2 * np.pi * x / 7.3) * np.cos(2 * np.pi * y / 5.1)
    return rng.poisson(np.broadcast_to(lattice, shape)).astype(np.float32)


@pytest.mark.parametrize("length, tile, overlap, multiple", [
    (100, 100, 10, 1), (1000, 256, 64, 4), (1024, 512, 64, 4), (4096, 512, 64, 4), (130, 64, 16, 2),
    (516, 512, 64, 4)])
def test_axis_tiles_cover_with_overlap_and_little_waste(length, tile, overlap, multiple):
    size, starts = axis_tiles(length, tile, overlap, multiple)
    assert size <= tile and size % multiple == 0 or size == length
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(a + size - b >= overlap for a, b in zip(starts, starts[1:]))
    # no more pixels than the fewest tiles of the largest size would process
    count = 1 if tile >= length else -(-(length - overlap) // (tile - overlap))
    assert len(starts) == count and size * count <= max(tile * count, length)


def test_a_1024_axis_needs_three_384_px_tiles():
    assert axis_tiles(1024, 512, 64, 4) == (384, [0, 320, 640])


def test_pad_to_multiple():
    padded, original = pad_to_multiple(np.ones((65, 33)), 4, minimum=16)
    assert padded.shape == (68, 36) and original == (65, 33)
    padded, _ = pad_to_multiple(np.ones((3, 5)), 2, minimum=8)
    assert padded.shape == (8, 8)


def test_blend_ramps_are_smooth_positive_and_complementary():
    ramp = ramp_1d(64, 16)
    assert ramp.min() > 0 and ramp.max() == pytest.approx(1.0)
    assert np.all(np.diff(ramp[:16]) >= 0)
    # the rising ramp of one tile and the falling ramp of its neighbour add up to 1
    np.testing.assert_allclose(ramp[:16] + ramp[-16:], 1.0, atol=2e-3)
    assert ramp[:4].max() < 0.01  # the edge band spoiled by missing context is ignored


def test_no_ramp_on_image_borders():
    grid = TileGrid(height=100, width=100, tile=64, overlap=16)
    corner = grid.window(0, 0)
    assert corner[0, 0] == 1.0 and corner[-1, -1] < 0.01


def test_array_in_array_out(stats_model):
    image = _image((96, 80))
    out = emrestore.restore(image, model=stats_model, progress=False)
    assert isinstance(out, np.ndarray) and out.shape == image.shape and out.dtype == np.float32
    assert not np.allclose(out, image)


def test_emimage_in_emimage_out_keeps_calibration(stats_model):
    image = emrestore.EMImage(_image((64, 64)), pixel_size=0.05, unit="nm", modality="stem",
                              metadata={"voltage_kV": 300.0})
    out = emrestore.restore(image, model=stats_model, progress=False)
    assert isinstance(out, emrestore.EMImage)
    assert (out.pixel_size, out.unit, out.modality) == (0.05, "nm", "stem")
    assert out.metadata["voltage_kV"] == 300.0
    provenance = out.metadata["restoration"]
    assert provenance["model"] == "stats_model" and provenance["model_choice"] == "chosen by the user"
    assert len(provenance["model_sha256"]) == 64 and provenance["backend"] == "onnx"


def test_path_in_emimage_out(shared, stats_model):
    path = shared("formats/test_STEM_image.dm3")
    out = emrestore.restore(path, model=stats_model, progress=False)
    assert isinstance(out, emrestore.EMImage) and out.shape == (68, 68)
    assert out.pixel_size == pytest.approx(0.2485, rel=1e-3)


def test_series_restored_frame_by_frame(stats_model):
    series = _image((3, 40, 48))
    out = emrestore.restore(series, model=stats_model, progress=False)
    assert out.shape == series.shape
    single = emrestore.restore(series[1], model=stats_model, progress=False)
    np.testing.assert_allclose(out[1], single, rtol=1e-5, atol=1e-3)


def test_intensity_scale_kept(stats_model):
    image = _image((64, 64))
    out_low = emrestore.restore(image, model=stats_model, progress=False)
    out_high = emrestore.restore(image * 1000 + 5000, model=stats_model, progress=False)
    np.testing.assert_allclose(out_high, out_low * 1000 + 5000, rtol=1e-4, atol=0.5)


@pytest.mark.parametrize("shape", [(300, 200), (257, 511), (129, 130)])
def test_tiled_matches_whole_with_global_stats(stats_model, shape):
    image = _image(shape, seed=3)
    whole = Restorer(stats_model, tile=0, progress=False).restore_array(image)
    tiled = Restorer(stats_model, tile=64, overlap=16, batch_size=3, progress=False).restore_array(image)
    assert np.abs(tiled - whole).max() < 0.01 * image.std()


def test_a_model_card_clip_is_applied_to_the_whole_frame_before_tiling(stats_model):
    import json

    from emrestore.model.conditioning import clip_percentiles

    image = _image((160, 150), seed=5)
    image[10, 20] = image[90, 100] = 6.5e4  # X-ray hits
    plain = Restorer(stats_model, tile=64, overlap=16, progress=False)
    expected = plain.restore_array(clip_percentiles(image, 0.5))
    stats_model.with_suffix(".json").write_text(json.dumps({**plain.info.card.to_dict(), "input_clip_percent": 0.5}))
    clipping = Restorer(stats_model, tile=64, overlap=16, progress=False)
    assert clipping.info.input_clip_percent == 0.5
    np.testing.assert_array_equal(clipping.restore_array(image), expected)
    assert not np.allclose(plain.restore_array(image), expected)
    stats_model.with_suffix(".json").write_text(json.dumps({**plain.info.card.to_dict(), "input_clip_percent": 60}))
    with pytest.raises(ParameterError, match="input_clip_percent=60"):
        Restorer(stats_model, progress=False)


def test_tiles_of_a_raw_model_still_blend_without_seams(raw_model):
    image = _image((200, 200), seed=4)
    whole = Restorer(raw_model, tile=0, progress=False).restore_array(image)
    tiled = Restorer(raw_model, tile=96, overlap=32, progress=False).restore_array(image)
    # per-tile normalisation makes small differences, but they stay far below the signal
    assert np.abs(tiled - whole).mean() < 0.05 * image.std()


@pytest.mark.parametrize("shape", [(65, 33), (7, 5), (1, 1), (33, 65)])
def test_odd_and_tiny_sizes(stats_model, shape):
    image = _image(shape)
    out = emrestore.restore(image, model=stats_model, progress=False)
    assert out.shape == shape and np.isfinite(out).all()


def test_tag_that_is_not_shipped(monkeypatch, tmp_path):
    from emrestore.model import registry

    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    with pytest.raises(ParameterError, match="not shipped"):
        emrestore.restore(_image((16, 16)), model="lrtem")


def test_bad_inputs(stats_model):
    with pytest.raises(NotAnImageError):
        emrestore.restore(np.ones(10), model=stats_model)
    bad = _image((16, 16))
    bad[3, 3] = np.nan
    with pytest.raises(NonFiniteDataError):
        emrestore.restore(bad, model=stats_model)
    with pytest.raises(ParameterError, match="Unknown model"):
        emrestore.restore(_image((16, 16)), model="nonsense")
    with pytest.raises(ParameterError):
        emrestore.restore("not an image object".encode(), model=stats_model)
    with pytest.raises(ParameterError, match="backend"):
        Restorer(stats_model, backend="tensorflow")


@pytest.mark.parametrize("modality, pixel_nm, unit_size, tag", [
    ("stem", 0.05, (0.05, "nm"), "hrstem"), ("stem", 2.0, (2.0, "nm"), "lrstem"),
    ("tem", 0.3, (3.0, "Å"), "lrtem"), ("tem", 0.02, (0.2, "Å"), "hrtem"),
    ("sem", 2.0, (2.0, "nm"), "hrsem"), ("sem", 100.0, (0.1, "µm"), "lrsem"),
])
def test_automatic_choice(modality, pixel_nm, unit_size, tag):
    image = emrestore.EMImage(np.ones((8, 8)), pixel_size=unit_size[0], unit=unit_size[1], modality=modality)
    choice = choose_model_tag(image)
    assert choice.tag == tag and "metadata" in choice.reason


def test_automatic_choice_without_metadata_says_what_it_assumed():
    choice = choose_model_tag(emrestore.EMImage(np.ones((8, 8))))
    assert choice.tag == "hrstem"
    assert "assumed STEM" in choice.reason and "assumed atomic" in choice.reason


def test_tile_count_and_progress_callback(stats_model):
    restorer = Restorer(stats_model, tile=64, overlap=16, batch_size=3, progress=False)
    seen = []
    restorer.restore_data(_image((2, 150, 100)), on_tiles=seen.append)
    # rows: 3 tiles of 60 px; columns: 2 tiles of 58 px
    assert sum(seen) == restorer.tile_count((2, 150, 100)) == 2 * 3 * 2
    assert max(seen) <= 3


def test_bare_arrays_are_treated_as_without_metadata():
    assert choose_model_tag(None) == choose_model_tag(emrestore.EMImage(np.ones((4, 4))))

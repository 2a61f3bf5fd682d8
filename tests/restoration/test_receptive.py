"""Receptive field: theory vs the network, measurement, and the overlap the engine derives from it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.model.receptive import theoretical_radius
from emrestore.restoration import Restorer
from emrestore.restoration.engine import DEFAULT_OVERLAP, TilingWarning
from emrestore.restoration.receptive import (
    impulse_profile,
    measure_receptive_field,
    radius_at,
    truncation_profile,
)
from emrestore.restoration.tiling import (
    BLEND_PX,
    min_tile,
    needed_overlap,
    ramp_1d,
    window_margin,
)


def _poisson(shape, mean=20.0, seed=0):
    return np.random.default_rng(seed).poisson(mean, shape).astype(np.float32)


def _with_card(path, **fields):
    card = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**card, **fields}))
    return path


@pytest.mark.parametrize("config, expected", [("fast", 149), ("tiny", 69), ("paper", 261),
                                              ({"groups": 1, "blocks": 1, "layers": 2, "downsample": 2}, 9)])
def test_theoretical_radius(config, expected):
    assert theoretical_radius(config) == expected


@pytest.mark.parametrize("config", [
    {"groups": 1, "blocks": 1, "layers": 2, "growth": 4, "channels": 8, "downsample": 2},
    {"groups": 1, "blocks": 2, "layers": 2, "growth": 4, "channels": 8, "downsample": 4},
])
def test_theoretical_radius_is_the_gradient_support_of_a_real_cgrdn(config):
    torch = pytest.importorskip("torch")
    from emrestore.nn import build_generator

    model = build_generator(config, seed=0).double().eval()
    radius = theoretical_radius(config)
    size = 4 * radius + 16
    reach = 0
    for phase in range(4):  # every output position on the 4-px grid
        x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
        y = model.forward_with_stats(x, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
        centre = size // 2 - (size // 2) % 4 + phase
        y[0, 0, centre, centre].backward()
        support = (x.grad[0, 0].abs() > 0).nonzero()
        reach = max(reach, int((support - centre).abs().max()))
    assert reach == radius


def test_radius_at_uses_the_tail():
    profile = np.array([1.0, 0.1, 1e-5, 0.2, 1e-6, 1e-7])
    assert radius_at(profile, 1e-3) == 4
    assert radius_at(profile, 0.5) == 1
    assert radius_at(np.array([1.0, 1.0]), 1e-3) == 1  # never below: the largest distance resolved


def test_truncation_and_impulse_profiles_end_at_the_known_receptive_field(stats_model):
    # 4 layers of 3x3 convs: an output pixel sees 4 px around it, no farther
    restorer = Restorer(stats_model, tile=0, progress=False)
    frame = _poisson((96, 100))
    profile = truncation_profile(restorer, frame, max_distance=12, crop=40)
    assert profile.shape == (13,)
    assert profile[:4].max() > 1e-2  # near a cut edge the crop lacks context
    assert profile[4:].max() < 1e-5  # with 4 px of context it is exact (float rounding)
    impulse = impulse_profile(restorer, frame, max_distance=12)
    assert impulse[:5].min() > 0 and impulse[5:].max() < 1e-6


def test_measure_receptive_field_of_a_small_network(stats_model):
    frames = [("poisson", _poisson((120, 120), seed=1)), ("bright", _poisson((120, 120), 800.0, seed=2))]
    field = measure_receptive_field(stats_model, frames, max_distance=16, safety_px=0)
    assert field.theoretical_px is None and field.converged
    assert field.radius_px <= 4 and field.effective_px == field.radius_px + field.radius_px % 2
    assert field.frames == ["poisson", "bright"] and field.error_at(8) < 1e-5


def test_tiling_geometry_helpers():
    assert needed_overlap(64, 4) == 2 * 64 + BLEND_PX == 144
    assert needed_overlap(45, 4) == 108  # rounded up to the grid
    assert window_margin(144, 64) == 64
    assert window_margin(64, 64) == (64 - BLEND_PX) // 2  # as much context as the blend leaves
    assert window_margin(8, 64) == 0 and window_margin(64, None) == 16  # unknown model: a quarter
    assert min_tile(144, 4) == 292 and min_tile(64, 4) == 132


def test_ramp_with_a_margin_ignores_it_and_stays_complementary():
    ramp = ramp_1d(400, 144, margin=64)
    assert ramp[:64].max() < 1e-6 and ramp[80:320].min() == pytest.approx(1.0)
    np.testing.assert_allclose(ramp[:144] + ramp[-144:], 1.0, atol=2e-3)
    np.testing.assert_array_equal(ramp_1d(64, 16), ramp_1d(64, 16, margin=4))  # the default: a quarter


def test_default_overlap_comes_from_the_card(stats_model):
    _with_card(stats_model, receptive_field_px=10)
    restorer = Restorer(stats_model, progress=False)
    assert restorer.context == 10 and restorer.overlap == needed_overlap(10, 2) == 36
    assert restorer.margin == 10
    assert restorer.provenance()["receptive_field_px"] == 10 and restorer.provenance()["overlap_px"] == 36


def test_unknown_receptive_field_keeps_the_old_default(stats_model):
    restorer = Restorer(stats_model, progress=False)
    assert restorer.context is None and restorer.overlap == DEFAULT_OVERLAP and restorer.margin == 16


def test_a_card_without_the_field_falls_back_to_the_theoretical_radius(stats_model):
    _with_card(stats_model, generator={"config": {"groups": 1, "blocks": 1, "layers": 2, "downsample": 2}})
    restorer = Restorer(stats_model, progress=False)
    assert restorer.info.theoretical_receptive_px == 9 and restorer.context == 9


def test_bad_receptive_field_in_a_card(stats_model):
    _with_card(stats_model, receptive_field_px="wide")
    with pytest.raises(ParameterError, match="receptive_field_px"):
        Restorer(stats_model, progress=False)


def test_a_small_explicit_overlap_is_used_with_a_warning(stats_model):
    _with_card(stats_model, receptive_field_px=10,
               receptive_field={"max_error_of_std_beyond_px": {"0": 0.5, "4": 0.02, "8": 1e-4}})
    with pytest.warns(TilingWarning, match=r"below the 36 px.*about 2 %"):
        restorer = Restorer(stats_model, tile=64, overlap=24, progress=False)
    assert restorer.overlap == 24 and restorer.margin == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Restorer(stats_model, tile=96, overlap=40, progress=False)  # enough: no warning
        Restorer(stats_model, tile=0, overlap=4, progress=False)  # no tiles: nothing to warn about


def test_a_tile_too_small_for_two_overlaps_is_enlarged(stats_model):
    _with_card(stats_model, receptive_field_px=10)
    with pytest.warns(TilingWarning, match="using 74-px tiles"):
        restorer = Restorer(stats_model, tile=40, progress=False)
    assert restorer.tile == restorer.min_tile == 74
    image = _poisson((200, 150), seed=3)
    whole = Restorer(stats_model, tile=0, progress=False).restore_array(image)
    assert restorer.tile_count(image.shape) > 1
    assert np.abs(restorer.restore_array(image) - whole).max() < 1e-5 * image.std()


def test_tiles_are_rounded_to_the_grid(stats_model):
    assert Restorer(stats_model, tile=201, progress=False).tile == 200


def test_negative_overlap_is_refused(stats_model):
    with pytest.raises(ParameterError, match="overlap"):
        Restorer(stats_model, overlap=-1, progress=False)

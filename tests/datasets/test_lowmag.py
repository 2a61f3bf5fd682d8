"""The four morphology renderers honour the CleanSample contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emrestore.datasets import get_renderer
from emrestore.datasets.lowmag import TAG_CONFIGS
from emrestore.errors import ParameterError
from emrestore.tags import Tag

TAGS = ("hrsem", "lrsem", "lrtem", "lrstem")
MODALITY = {"hrsem": "sem", "lrsem": "sem", "lrtem": "tem", "lrstem": "stem"}


def _check(sample, tag: str, size: int) -> None:
    img = sample.image
    assert img.shape == (size, size) and img.dtype == np.float32
    assert np.all(np.isfinite(img)) and img.min() >= 0
    assert img.mean(dtype=np.float64) == pytest.approx(1.0, rel=1e-4)
    assert img.std() > 0
    lo, hi = Tag.get(tag).pixel_range_nm
    assert lo <= sample.pixel_size_nm <= hi
    assert sample.modality == MODALITY[tag]
    assert sample.columns is None
    text = json.dumps(sample.params)
    assert sample.params["kind"] in TAG_CONFIGS[tag].kinds
    assert "nm" in text and sample.params["optics"]["contrast"]


@pytest.mark.parametrize("tag", TAGS)
def test_contract_over_seeds(tag: str) -> None:
    render = get_renderer(tag)
    for seed in range(3):
        _check(render(64, np.random.default_rng(seed)), tag, 64)


@pytest.mark.parametrize("tag,kind", [(t, k) for t in TAGS for k in TAG_CONFIGS[t].kinds])
def test_every_kind_and_contrast_renders(tag: str, kind: str) -> None:
    cfg = TAG_CONFIGS[tag]
    for i, contrast in enumerate(cfg.contrasts):
        s = get_renderer(tag)(48, np.random.default_rng(i), kind=kind, contrast=contrast)
        _check(s, tag, 48)
        assert s.params["kind"] == kind and s.params["contrast"] == contrast


@pytest.mark.parametrize("tag", TAGS)
def test_same_seed_same_image(tag: str) -> None:
    render = get_renderer(tag)
    a = render(64, np.random.default_rng(11))
    b = render(64, np.random.default_rng(11))
    c = render(64, np.random.default_rng(12))
    assert np.array_equal(a.image, b.image) and a.params == b.params
    assert not np.array_equal(a.image, c.image)


def test_pixel_size_override_sets_physical_scale() -> None:
    render = get_renderer("lrtem")
    small = render(64, np.random.default_rng(0), pixel_size_nm=0.5, kind="particles",
                   morphology={"diameter_nm": 5.0, "spread": 0.0})
    assert small.pixel_size_nm == 0.5
    assert small.params["field_of_view_nm"] == pytest.approx(32.0)
    comp = [c for c in small.params["morphology"]["components"] if c["kind"] == "particles"]
    assert comp[0]["diameter_nm"] == pytest.approx(5.0)


def test_optics_override_and_sample_size() -> None:
    s = get_renderer("lrsem")(80, np.random.default_rng(0), contrast="se",
                              optics={"beam_kv": 5.0, "edge_gain": 0.5})
    assert s.image.shape == (80, 80)
    assert s.params["optics"]["beam_kv"] == 5.0 and s.params["optics"]["edge_gain"] == 0.5


@pytest.mark.parametrize("overrides", [
    {"pixel_size_nm": 20000.0},
    {"kind": "atoms"},
    {"contrast": "haadf"},
    {"colour": "red"},
    {"morphology": {"no_such_parameter": 1}},
    {"optics": {"no_such_parameter": 1}},
    {"morphology": {"diameter_nm": -3.0}, "kind": "particles"},
])
def test_bad_overrides_raise_parameter_error(overrides: dict) -> None:
    with pytest.raises(ParameterError):
        get_renderer("lrsem")(32, np.random.default_rng(0), **overrides)


def test_bad_size_and_rng() -> None:
    with pytest.raises(ParameterError):
        get_renderer("lrstem")(4, np.random.default_rng(0))
    with pytest.raises(ParameterError):
        get_renderer("lrstem")(64, 42)





@pytest.mark.parametrize("tag", TAGS)
def test_simulate_command_makes_a_resumable_bank_of_pairs(tag: str, tmp_path, capsys) -> None:
    from emrestore.cli import main

    out = tmp_path / tag
    args = ["simulate", "--tag", tag, "--n", "2", "--size", "32", "--seed", "5", "--out",
            str(out), "--pairs", "--quiet"]
    assert main(args) == 0
    assert "2 rendered" in capsys.readouterr().out
    with np.load(out / "0000001.npz") as f:
        assert f["target"].shape == f["input"].shape == (32, 32)
        params = json.loads(str(f["params"]))
    assert params["modality"] == MODALITY[tag] and params["clean"]["tag"] == tag
    assert main(args) == 0
    assert "0 rendered, 2 already present" in capsys.readouterr().out


@pytest.mark.parametrize("tag, pixel_size_nm", [("lrsem", 5000.0), ("lrsem", 2600.0), ("lrstem", 50.0),
                                                ("lrtem", 50.0), ("hrsem", 5.0)])
def test_renderers_work_at_the_coarse_end_of_their_pixel_range(tag, pixel_size_nm):
    """Sizes that scale with the field of view stay inside the morphologies' physical ranges."""
    from emrestore.datasets.registry import get_renderer

    render = get_renderer(tag)
    for seed in range(12):  # seed 6 at 5 µm/px drew a 24.6 µm particle, beyond the 20 µm limit
        sample = render(128, np.random.default_rng(seed), pixel_size_nm=pixel_size_nm)
        assert sample.image.shape == (128, 128) and np.isfinite(sample.image).all()

"""The model tags: one Tag object per tag, agreeing with the configs, the shipped cards and the renderers."""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.image import MODALITIES, EMImage
from emrestore.restoration.choose import choose_model_tag
from emrestore.tags import SCALES, TAG_NAMES, TAGS, Tag


def test_every_tag_is_its_scale_and_modality():
    assert TAG_NAMES == ("hrstem", "hrtem", "hrsem", "lrstem", "lrtem", "lrsem")
    for tag in TAGS:
        assert tag.modality in MODALITIES and tag.scale in SCALES
        assert tag.name == tag.scale + tag.modality
        assert Tag.get(tag.name) is tag is Tag.of(tag.modality, tag.scale)
        low, high = tag.pixel_range_nm
        assert 0 < low < high
        assert (tag.choice_max_pixel_nm is None) == (tag.scale == "lr")


def test_an_unknown_tag_names_the_known_ones():
    with pytest.raises(ParameterError, match="Unknown tag 'xxstem'.*hrstem, hrtem"):
        Tag.get("xxstem")
    with pytest.raises(ParameterError, match="Unknown tag 'mrsem'"):
        Tag.of("sem", "mr")


@pytest.mark.parametrize("name", TAG_NAMES)
def test_tags_agree_with_the_shipped_config_and_card(name):
    from emrestore.model.registry import find_model

    tag = Tag.get(name)
    config = tomllib.loads(resources.files("emrestore").joinpath("configs", f"{name}.toml").read_text())
    assert config["tag"] == name and config["data"].get("modality", tag.modality) == tag.modality
    card = find_model(name).card
    assert card.tag == name and card.modality == tag.modality


@pytest.mark.parametrize("name", TAG_NAMES)
def test_each_tags_renderer_draws_its_modality_within_its_pixel_range(name):
    from emrestore.datasets.registry import get_renderer

    tag = Tag.get(name)
    sample = get_renderer(name)(32, np.random.default_rng(0))
    assert sample.modality == tag.modality
    low, high = tag.pixel_range_nm
    assert low * 0.999 <= sample.pixel_size_nm <= high * 1.001


@pytest.mark.parametrize("modality", MODALITIES)
def test_the_model_choice_splits_each_modality_at_its_hr_tags_threshold(modality):
    fine, coarse = Tag.of(modality, "hr"), Tag.of(modality, "lr")
    limit = fine.choice_max_pixel_nm

    def chosen(size_nm):
        image = EMImage(np.zeros((8, 8), np.float32), pixel_size=size_nm, unit="nm", modality=modality)
        return choose_model_tag(image).tag

    assert chosen(limit) == fine.name and chosen(limit * 1.01) == coarse.name
    assert chosen(fine.pixel_range_nm[0]) == fine.name and chosen(coarse.pixel_range_nm[1]) == coarse.name

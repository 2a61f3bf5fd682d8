"""The model card: typed, checked on load with errors that name the field and the fix, versioned."""

from __future__ import annotations

import json

import pytest

from emrestore.errors import EMRestoreError, ParameterError
from emrestore.model.card import (
    CARD_FORMAT_VERSION,
    EXPORTED_SIGNATURE,
    ModelCard,
    OnnxSignature,
)
from emrestore.model.registry import MODELS_DIR, shipped_models
from emrestore.tags import TAG_NAMES


def test_every_shipped_card_loads_and_writes_back_unchanged(tmp_path):
    models = shipped_models()
    assert [m.name for m in models] == list(TAG_NAMES)
    for model in models:
        path = model.onnx_path.with_suffix(".json")
        written = json.loads(path.read_text())
        card = ModelCard.load(path)
        assert card.format_version == 1 and card.tag == model.name and card.extra == {}
        signature = card.onnx_signature
        assert (signature.image, signature.stats, signature.restored) == (
            EXPORTED_SIGNATURE.image, EXPORTED_SIGNATURE.stats, EXPORTED_SIGNATURE.restored)
        conditioned = bool((card.generator or {}).get("config", {}).get("noise_conditioned"))
        assert signature.stats_width == (3 if conditioned else 2)
        assert card.to_dict() == written and list(card.to_dict()) == list(written)  # same fields, same order
        copy = card.save(tmp_path / f"{model.name}.json")
        assert json.loads(copy.read_text()) == written


@pytest.mark.parametrize("field, value, message", [
    ("input_clip_percent", 60, r"input_clip_percent=60, not a number in \[0, 5.0\]"),
    ("input_clip_percent", "0.1", "input_clip_percent='0.1'"),
    ("receptive_field_px", "wide", "receptive_field_px='wide', not an integer ≥ 0"),
    ("receptive_field_px", True, "receptive_field_px=True"),
    ("size_multiple", 0, "size_multiple=0, not an integer ≥ 1"),
    ("modality", "xray", "modality='xray', not one of tem, stem, sem"),
    ("pixel_size_nm", -1.0, "pixel_size_nm=-1.0"),
    ("training", [1, 2], "training section that is not a JSON object"),
])
def test_a_malformed_card_names_the_field_and_the_fix(tmp_path, field, value, message):
    card = json.loads((MODELS_DIR / "hrstem.json").read_text())
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**card, field: value}))
    with pytest.raises(ParameterError, match=message) as error:
        ModelCard.load(path)
    assert "bad.json" in str(error.value) and "emrestore export" in error.value.fix


def test_card_format_versions(tmp_path):
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"format": f"emrestore-model-card/{CARD_FORMAT_VERSION + 1}", "tag": "hrstem"}))
    with pytest.raises(ParameterError, match="format version 2; this emrestore reads versions 1 to 1") as error:
        ModelCard.load(path)
    assert "Upgrade emrestore" in error.value.fix
    path.write_text(json.dumps({"format": "some-other-card", "tag": "hrstem"}))
    with pytest.raises(ParameterError, match="format='some-other-card'"):
        ModelCard.load(path)
    path.write_text(json.dumps({"tag": "hrstem"}))  # cards without a format are version 1
    assert ModelCard.load(path).format_version == 1


def test_a_card_that_is_not_json_or_not_an_object(tmp_path):
    path = tmp_path / "card.json"
    path.write_text("{not json")
    with pytest.raises(EMRestoreError, match="card.json is not valid JSON"):
        ModelCard.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(ParameterError, match="is not a JSON object"):
        ModelCard.load(path)


def test_a_partial_card_gets_the_defaults_and_keeps_unknown_sections():
    card = ModelCard.from_dict({"tag": None, "modality": "stem", "size_multiple": 2, "description": "test net",
                                "finetune": {"steps": 3}})
    assert card.tag is None and card.size_multiple == 2 and card.input_clip_percent == 0.0
    assert card.extra == {"description": "test net", "finetune": {"steps": 3}}
    assert card.onnx_signature is None and card.context_px is None
    assert list(card.to_dict())[-2:] == ["description", "finetune"]
    empty = ModelCard()
    assert empty.size_multiple == 4 and empty.theoretical_receptive_px is None


def test_the_receptive_field_of_a_card():
    tiny = {"groups": 1, "blocks": 1, "layers": 2, "downsample": 2}
    card = ModelCard.from_dict({"generator": {"config": tiny}})
    assert card.theoretical_receptive_px == card.context_px == 9  # not measured: the theoretical radius
    measured = ModelCard.from_dict({"generator": {"config": tiny}, "receptive_field_px": 6,
                                    "receptive_field": {"max_error_of_std_beyond_px": {"0": 0.5, "4": 0.02}}})
    assert measured.context_px == 6
    assert measured.tile_error_of_std(5) == 0.02 and measured.tile_error_of_std(3) == 0.5
    assert ModelCard.from_dict({"generator": {"config": {"groups": -1}}}).theoretical_receptive_px is None


def test_the_onnx_signature_round_trips_through_a_card():
    plain = OnnxSignature(image="x", stats=None, restored="y")
    for signature in (EXPORTED_SIGNATURE, plain):
        card = ModelCard.from_dict({"onnx": {"file": "m.onnx", **signature.card_entries()}})
        assert card.onnx_signature == signature
    assert OnnxSignature.by_position(["a", "b"], ["c"]) == OnnxSignature("a", "b", "c")
    assert OnnxSignature.by_position(["a"], ["c"]).stats is None

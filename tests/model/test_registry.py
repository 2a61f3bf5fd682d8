"""Finding models by tag or path, and what a model's card says about it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emrestore.errors import EMRestoreError, InputNotFoundError, ParameterError
from emrestore.model.registry import ModelInfo, find_model, shipped_models
from emrestore.restoration import Restorer


def test_a_tag_finds_its_shipped_model():
    info = find_model("hrtem")
    assert info.name == info.tag == "hrtem" and info.modality == "tem"
    assert info.input_clip_percent == 0.1 and info.receptive_field_px == info.card.receptive_field_px == 48
    summary = info.summary()
    assert summary["config"] == "tiny-r32" and summary["modality"] == "tem" and summary["size_mb"] > 0
    assert [m.summary()["name"] for m in shipped_models()] == ["hrstem", "hrtem", "hrsem", "lrstem", "lrtem", "lrsem"]


def test_unknown_names_and_missing_files(tmp_path):
    with pytest.raises(ParameterError, match="Unknown model 'hrxyz'"):
        find_model("hrxyz")
    with pytest.raises(ParameterError, match="is not an .onnx model file"):
        find_model(tmp_path / "model.pt")
    with pytest.raises(InputNotFoundError):
        find_model(tmp_path / "missing.onnx")


def test_a_graph_without_a_card_gets_an_empty_one(tmp_path):
    path = tmp_path / "bare.onnx"
    path.write_bytes((find_model("hrtem").onnx_path).read_bytes())
    info = find_model(path)
    assert info.name == "bare" and info.tag is None and info.modality is None and info.size_multiple == 4
    named = ModelInfo(name="lrsem", onnx_path=path)
    assert named.modality == "sem"  # a model named like a tag has the tag's modality


def test_a_card_that_misnames_the_graph_inputs_is_refused(tmp_path):
    shipped = find_model("hrtem")
    path = tmp_path / "renamed.onnx"
    path.write_bytes(shipped.onnx_path.read_bytes())
    card = shipped.card.to_dict()
    card["onnx"]["input"]["name"] = "frame"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(EMRestoreError, match=r"names the graph's inputs 'frame', 'stats'.*inputs \['image', 'stats'\]"):
        Restorer(path, progress=False)


def test_the_graph_names_come_from_the_card(tmp_path):
    from emrestore.restoration.backends import OnnxBackend

    backend = OnnxBackend(find_model("lrtem").onnx_path, device="cpu", signature=find_model("lrtem").card.onnx_signature)
    by_position = OnnxBackend(find_model("lrtem").onnx_path, device="cpu")
    assert backend.signature == by_position.signature and backend.takes_stats
    batch = np.random.default_rng(0).poisson(20.0, (2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(backend(batch), by_position(batch))

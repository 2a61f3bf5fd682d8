"""`emrestore simulate`: banks of clean samples and (input, target) pairs from the command line."""

import json

import numpy as np
import pytest

from emrestore.cli import main
from emrestore.datasets.bank import load_sample, sample_path


def test_pairs_with_real_distortion_chain(tmp_path):
    pytest.importorskip("emrestore.distortions")
    out = tmp_path / "real"
    assert main(["simulate", "--tag", "hrtem", "--n", "2", "--size", "32", "--seed", "2", "--out", str(out),
                 "--pairs", "--quiet"]) == 0
    for i in range(2):
        s = load_sample(sample_path(out, i))
        assert s["input"].shape == s["target"].shape == (32, 32)
        assert np.isfinite(s["input"]).all()
        json.dumps(s["params"]["distortion"])


def test_cli_simulate(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["simulate", "--tag", "hrtem", "--n", "2", "--size", "24", "--seed", "9", "--out", str(out), "--quiet"]) == 0
    assert "2 rendered" in capsys.readouterr().out
    assert main(["simulate", "--tag", "hrtem", "--n", "2", "--size", "24", "--seed", "9", "--out", str(out), "--quiet"]) == 0
    assert "0 rendered, 2 already present" in capsys.readouterr().out


def test_cli_reports_tag_without_renderer(tmp_path, capsys, monkeypatch):
    import dataclasses

    from emrestore import tags
    from emrestore.datasets import registry

    monkeypatch.delitem(registry._RENDERERS, "lrtem", raising=False)
    # a tag whose renderer module registers nothing (a tag added without its renderer)
    monkeypatch.setattr(tags, "TAGS", tuple(dataclasses.replace(t, renderer_module="emrestore.datasets.sample")
                                            if t.name == "lrtem" else t for t in tags.TAGS))
    assert main(["simulate", "--tag", "lrtem", "--n", "1", "--out", str(tmp_path)]) == 2
    assert "No clean-image renderer" in capsys.readouterr().err

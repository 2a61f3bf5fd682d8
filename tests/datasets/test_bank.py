"""Banks and the `emrestore simulate` command."""

import json
import sys
import types

import numpy as np
import pytest

from emrestore.cli import main
from emrestore.datasets.bank import is_valid_sample, load_sample, render_bank, render_sample, sample_path
from emrestore.errors import ParameterError


def test_bank_files_config_and_determinism(tmp_path):
    out = tmp_path / "bank"
    result = render_bank("hrstem", 3, 32, 5, out, workers=1, progress=False)
    assert result["rendered"] == 3 and result["skipped"] == 0
    cfg = json.loads((out / "bank.json").read_text())
    assert cfg["tag"] == "hrstem" and cfg["n"] == 3 and cfg["size"] == 32 and cfg["seed"] == 5
    assert cfg["emrestore_version"]
    for i in range(3):
        s = load_sample(sample_path(out, i))
        assert s["target"].shape == (32, 32) and s["target"].dtype == np.float32
        assert s["params"]["clean"]["tag"] == "hrstem" and s["params"]["index"] == i
        assert s["columns"].shape[1] == 2 and len(s["column_info"]) == len(s["columns"])
        direct = render_sample("hrstem", 32, 5, i)
        assert np.array_equal(direct["target"], s["target"])
    assert not np.array_equal(load_sample(sample_path(out, 0))["target"], load_sample(sample_path(out, 1))["target"])
    assert not list(out.glob("*.tmp"))


def test_bank_resumes_and_ignores_worker_count(tmp_path):
    out = tmp_path / "b"
    render_bank("hrtem", 3, 24, 1, out, workers=1, progress=False)
    before = [load_sample(sample_path(out, i))["target"] for i in range(3)]
    sample_path(out, 0).unlink()
    sample_path(out, 2).write_bytes(b"truncated")
    assert not is_valid_sample(sample_path(out, 2), pairs=False)
    result = render_bank("hrtem", 3, 24, 1, out, workers=2, progress=False)
    assert result["rendered"] == 2 and result["skipped"] == 1
    after = [load_sample(sample_path(out, i))["target"] for i in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_bank_refuses_other_config(tmp_path):
    render_bank("hrstem", 1, 16, 0, tmp_path, progress=False)
    with pytest.raises(ParameterError):
        render_bank("hrstem", 1, 16, 1, tmp_path, progress=False)
    with pytest.raises(ParameterError):
        render_bank("hrstem", 0, 16, 0, tmp_path / "x", progress=False)


def _fake_distortions(monkeypatch):
    """A stand-in with the agreed contract: distort(clean, modality, seed=Generator, **fixed)."""
    module = types.ModuleType("emrestore.distortions")

    def distort(clean, modality, seed=None, **fixed):
        rng = np.random.default_rng(seed)
        dose = fixed.get("dose", 50.0)
        noisy = rng.poisson(clean * dose).astype(np.float32) / dose
        return noisy, clean.astype(np.float32), {"modality": modality, "dose_e_per_px": dose}

    module.distort = distort
    monkeypatch.setitem(sys.modules, "emrestore.distortions", module)
    import emrestore

    monkeypatch.setattr(emrestore, "distortions", module, raising=False)


def test_pairs_with_contract_stub(tmp_path, monkeypatch):
    _fake_distortions(monkeypatch)
    out = tmp_path / "pairs"
    render_bank("hrstem", 2, 32, 3, out, pairs=True, progress=False)
    s = load_sample(sample_path(out, 1))
    assert s["input"].shape == s["target"].shape == (32, 32)
    assert not np.array_equal(s["input"], s["target"])
    assert s["params"]["distortion"]["modality"] == "stem"
    again = render_sample("hrstem", 32, 3, 1, pairs=True)
    assert np.array_equal(again["input"], s["input"])


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

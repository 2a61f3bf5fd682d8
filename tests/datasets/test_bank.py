"""Banks: rendering, resuming, the bank format's one reader, and (input, target) pairs."""

import json
import sys
import types

import numpy as np
import pytest

from emrestore.datasets.bank import (
    BANK_FILE,
    is_valid_sample,
    load_sample,
    read_bank_config,
    render_bank,
    render_sample,
    sample_path,
    stored_pixel_size_nm,
)
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


def test_the_config_render_bank_wrote_reads_back(tmp_path) -> None:
    result = render_bank("lrsem", 2, 32, 4, tmp_path, progress=False)
    assert read_bank_config(tmp_path) == result["config"]
    with np.load(sample_path(tmp_path, 1)) as stored:
        pixel = stored_pixel_size_nm(stored["params"])
    assert pixel == load_sample(sample_path(tmp_path, 1))["params"]["pixel_size_nm"] > 0


def test_a_missing_or_broken_config_reads_as_none(tmp_path) -> None:
    assert read_bank_config(tmp_path) is None
    (tmp_path / BANK_FILE).write_text("{not json")
    assert read_bank_config(tmp_path) is None
    (tmp_path / BANK_FILE).write_text("[1, 2]")
    assert read_bank_config(tmp_path) is None


def test_a_pixel_size_that_is_not_there_reads_as_none() -> None:
    assert stored_pixel_size_nm(np.array('{"tag": "lrsem"}')) is None
    assert stored_pixel_size_nm(np.array("not json")) is None
    assert stored_pixel_size_nm('{"pixel_size_nm": 0.5}') == 0.5


@pytest.mark.parametrize("index", [832, 1640])
def test_lrstem_bank_samples_with_heavy_thick_specimens_render(index):
    """These samples of the seed-0 lrstem bank drew a HAADF saturation above its range (fixed)."""
    arrays = render_sample("lrstem", 256, 0, index)
    assert np.isfinite(arrays["target"]).all() and arrays["target"].std() > 0

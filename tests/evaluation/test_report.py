"""Evaluation sets, scoring with a real ONNX network, caching, report and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emrestore.cli import main
from emrestore.evaluation import evaluate_tag, validation_pairs, write_report
from emrestore.evaluation.baselines import BASELINES
from emrestore.evaluation.scoring import (
    comparison_indices,
    figure_indices,
    scores_cache_path,
)


@pytest.fixture(scope="module")
def valset(tmp_path_factory):
    return validation_pairs("lrstem", n=6, size=64, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


@pytest.fixture
def lrstem_model(tmp_path):
    pytest.importorskip("onnx")
    from onnx_models import make_conv_model

    return make_conv_model(tmp_path / "net.onnx", layers=3, card={"tag": "lrstem", "modality": "stem",
                                                                  "config_name": "test"})


def test_validation_set_is_seeded_cached_and_held_out(valset, tmp_path):
    assert valset.inputs.shape == valset.targets.shape == (6, 64, 64)
    assert np.isfinite(valset.inputs).all() and (valset.doses > 0).all()
    assert valset.low_dose().sum() == 2  # lowest third
    again = validation_pairs("lrstem", n=6, size=64, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.inputs, valset.inputs)  # same seed, same pairs
    assert list(tmp_path.glob("valset_lrstem_*.npz"))
    from emrestore.datasets.bank import render_sample

    bank0 = render_sample("lrstem", 64, 0, 0)["target"]  # training banks use seed 0
    assert not np.allclose(bank0, valset.targets[0])


def test_validation_set_rejects_bad_requests():
    from emrestore.errors import ParameterError

    with pytest.raises(ParameterError, match="Unknown tag"):
        validation_pairs("xxstem", n=4, size=64)
    with pytest.raises(ParameterError, match="n ≥ 3"):
        validation_pairs("lrstem", n=1, size=64)


def test_figure_indices_spread_over_doses(valset):
    picks = figure_indices(valset, 3)
    doses = valset.doses[picks]
    assert len(set(picks)) == 3 and doses[0] == valset.doses.min() and doses[-1] == valset.doses.max()


def test_evaluate_tag_scores_baselines_and_model(valset, lrstem_model, tmp_path):
    cache = tmp_path / "cache"
    result = evaluate_tag(valset, [lrstem_model], bm3d_images=0, cache_dir=cache, progress=False)
    table = {row["method"]: row for row in result.table()}
    assert {"raw input", "median 3×3", "Gaussian (oracle σ)", "non-local means (oracle h)"} <= set(table)
    model_row = table["emrestore net"]
    assert model_row["kind"] == "model" and model_row["n"] == 6 and model_row["ms_median"] > 0
    # an oracle-tuned Gaussian cannot be worse than its own σ grid, hence than nothing much: check order
    assert table["Gaussian (oracle σ)"]["psnr_mean_db"] > table["raw input"]["psnr_mean_db"]
    assert set(result.examples["emrestore net"]) == set(comparison_indices(valset, result.methods))
    # baseline scores are cached per image and reused
    cached = sorted(cache.glob("scores_lrstem_*.json"))
    assert len(cached) == 4
    assert scores_cache_path(cache, valset, BASELINES[0]) in cached  # where readers find them
    stored = json.loads(cached[0].read_text())
    assert set(stored) == {str(i) for i in range(6)}
    again = evaluate_tag(valset, [], bm3d_images=0, cache_dir=cache, progress=False)
    assert again.table()[0]["psnr_mean_db"] == table["raw input"]["psnr_mean_db"]
    assert result.bm3d_gaps() == {}


def test_two_model_files_of_one_name_get_two_rows(valset, lrstem_model, tmp_path):
    import shutil

    copies = []
    for run in ("run-a", "run-b"):
        (tmp_path / run).mkdir()
        for suffix in (".onnx", ".json"):
            shutil.copy(lrstem_model.with_suffix(suffix), tmp_path / run / f"net{suffix}")
        copies.append(tmp_path / run / "net.onnx")
    result = evaluate_tag(valset, copies, bm3d_images=0, cache_dir=tmp_path / "cache", progress=False)
    names = [m.name for m in result.methods if m.kind == "model"]
    assert names == ["emrestore net", "emrestore net (run-b)"] and set(result.model_cards) == set(names)


def test_report_writes_markdown_figures_and_json(valset, lrstem_model, tmp_path):
    result = evaluate_tag(valset, [lrstem_model], bm3d_images=0, cache_dir=tmp_path, progress=False)
    path = write_report([result], [], tmp_path / "docs", {"cpu_model": "test cpu", "threads": 2,
                                                          "git_commit": "0123456789abcdef"})
    text = path.read_text()
    assert "## lrstem" in text and "| **emrestore net** (test preset) |" in text and "test cpu" in text
    figure = tmp_path / "docs" / "evaluation" / "lrstem_side-by-side.jpg"
    assert figure.stat().st_size > 10_000
    data = json.loads((tmp_path / "docs" / "evaluation" / "evaluation.json").read_text())
    assert data["tags"]["lrstem"]["table"][0]["method"] == "raw input"


def test_cli_evaluate_with_a_model_file(lrstem_model, tmp_path, capsys):
    code = main(["evaluate", "--model", str(lrstem_model), "--tag", "lrstem", "--n", "4", "--size", "64",
                 "--bm3d-images", "1", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"), "--quiet",
                 "--no-columns"])
    assert code == 0
    out = capsys.readouterr().out
    assert "lrstem" in out and "raw input" in out and "emrestore net" in out
    text = (tmp_path / "out" / "evaluation.md").read_text()
    assert (f"Regenerated by `emrestore evaluate --tag lrstem --model {lrstem_model} --out {tmp_path / 'out'} "
            "--n 4 --size 64 --bm3d-images 1 --no-columns`") in text


def test_cli_evaluate_errors(tmp_path, capsys):
    assert main(["evaluate", "--tag", "nope", "--model", str(tmp_path / "missing.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.onnx" in err[0]


def test_validation_set_has_no_clean_pairs(valset):
    assert all(not np.array_equal(x, t) for x, t in zip(valset.inputs, valset.targets))


def test_cli_evaluate_names_missing_dependencies(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["evaluate", "--tag", "lrstem"]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "emrestore[eval]" in err


def test_a_model_is_only_scored_on_its_own_tag(valset, tmp_path, capsys):
    pytest.importorskip("onnx")
    from onnx_models import make_conv_model

    from emrestore.errors import ParameterError

    hrsem = make_conv_model(tmp_path / "sem.onnx", layers=2, card={"tag": "hrsem", "modality": "sem"})
    with pytest.raises(ParameterError, match="trained for 'hrsem'"):
        evaluate_tag(valset, [hrsem], bm3d_images=0, progress=False)
    assert main(["evaluate", "--tag", "lrstem", "--model", str(hrsem), "--quiet"]) == 2
    assert "--tag hrsem" in capsys.readouterr().err


def test_cli_evaluate_restores_real_files(lrstem_model, tmp_path):
    """--real restores every readable file of the folder with the automatic model choice."""
    import emrestore

    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    emrestore.write(emrestore.EMImage(rng.poisson(30, (96, 80)).astype(np.float32), pixel_size=0.05, unit="nm",
                                      modality="stem"), real / "frame.tif")
    (real / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert main(["evaluate", "--model", str(lrstem_model), "--tag", "lrstem", "--n", "3", "--size", "64",
                 "--bm3d-images", "0", "--real", str(real), "--out", str(out), "--cache", str(tmp_path / "c"),
                 "--quiet"]) == 0
    text = (out / "evaluation.md").read_text()
    assert "| frame.tif | 96×80 | hrstem |" in text  # 0.05 nm/px STEM → the atomic-resolution model
    assert "largest spectral gain" in text
    assert (out / "evaluation" / "real_frame.jpg").stat().st_size > 5_000
    assert "notes" not in text


def test_hrstem_evaluation_scores_atomic_columns(tmp_path):
    pytest.importorskip("onnx")
    from onnx_models import make_conv_model

    model = make_conv_model(tmp_path / "net.onnx", layers=3, card={"tag": "hrstem", "modality": "stem"})
    valset = validation_pairs("hrstem", n=4, size=96, cache_dir=tmp_path / "cache", progress=False)
    result = evaluate_tag(valset, [model], bm3d_images=0, cache_dir=tmp_path / "cache", progress=False)
    columns = result.columns
    assert columns is not None and columns.scored.any()
    assert list(columns.methods) == ["clean target", "white noise (chance level)", "raw input", "Gaussian (oracle σ)",
                                     "emrestore net"]
    assert valset.columns is not None and not list((tmp_path / "cache").glob("columns_*"))  # carried by the set
    rows = [r for r in columns.table() if r["dose"] == "all"]
    assert len(rows) == 5 and all(0 <= r["found"] <= 1 for r in rows)
    clean, chance = rows[0], rows[1]  # frames without columns locate fewer and worse than the clean target
    assert chance["found"] < clean["found"] - 0.3 and chance["rms_pm_median"] > 2 * clean["rms_pm_median"]
    assert set(result.examples["emrestore net"]) == set(comparison_indices(valset, result.methods))
    path = write_report([result], [], tmp_path / "docs", {"cpu_model": "test", "threads": 2, "git_commit": "abc"})
    text = path.read_text()
    assert "### Atomic columns (hrstem)" in text and "| clean target | all |" in text
    assert (tmp_path / "docs" / "evaluation" / "hrstem_columns.png").is_file()
    data = json.loads((tmp_path / "docs" / "evaluation" / "evaluation.json").read_text())
    assert data["tags"]["hrstem"]["columns"]["table"]
    assert evaluate_tag(valset, [], bm3d_images=0, progress=False, columns=False).columns is None

"""The fine-tuning frame split of the evaluation: scores, folds, report table, CLI checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from emrestore.cli import main
from emrestore.finetune.frame_split import score_finetune_split
from emrestore.evaluation.real_data import RealBenchmark, score_series
from emrestore.evaluation.real_files import MANIFEST_NAME, discover
from emrestore.evaluation.real_report import finetune_lines


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """Three 48² TEM frames of one smooth field with Gaussian noise; 2 steps per fold."""
    folder = tmp_path_factory.mktemp("series")
    rng = np.random.default_rng(4)
    field = ndimage.gaussian_filter(rng.random((48, 48)), 3) * 400 + 1000
    frames = (field + rng.normal(0, 20.0, (3, 48, 48))).astype(np.float32)
    np.save(folder / "series.npy", frames)
    (folder / MANIFEST_NAME).write_text('["series.npy"]\nrole = "series"\nmodality = "tem"\npixel_size_nm = 5.0\n')
    (real,), _ = discover(folder)
    result = score_finetune_split(real, 2, batch=1, crop=32, w_synthetic=0.0)
    return real, result


def test_scores_match_the_frame_split_scorer_and_every_fold_leaves_its_frame_out(split):
    real, result = split
    assert result.tag == "lrtem"
    plain = score_series(real, bm3d=False)
    for name, ours in (("raw input", "raw input"), ("emrestore lrtem", "emrestore lrtem (shipped)")):
        assert result.method(ours).psnr_db == pytest.approx(plain.method(name).psnr_db, abs=1e-5)
        assert result.method(ours).psnr_corrected_db == pytest.approx(plain.method(name).psnr_corrected_db, abs=1e-5)
    assert [f["scored_frame"] for f in result.folds] == [0, 1, 2]
    for fold in result.folds:
        assert fold["scored_frame"] not in fold["adapted_on"] and len(fold["adapted_on"]) == 2
        assert fold["steps"] == 2 and fold["blind_spot"] == "pixel" and fold["weights"]["synthetic"] == 0.0
    tuned = result.method("emrestore lrtem fine-tuned")
    assert np.isfinite(tuned.psnr_corrected_db)
    assert tuned.psnr_db != result.method("emrestore lrtem (shipped)").psnr_db  # the weights changed
    assert result.gain_db == pytest.approx(tuned.psnr_corrected_db
                                           - result.method("emrestore lrtem (shipped)").psnr_corrected_db)
    json.dumps(result.to_json())


def test_report_table_and_benchmark_json(split):
    _, result = split
    lines = finetune_lines([result])
    table = "\n".join(lines)
    assert "fine-tuned on the other frames" in table and "**emrestore lrtem fine-tuned**" in table
    assert f"{result.gain_db:+.2f}" in table and "n2n, blind_spot (pixel)" in table
    assert finetune_lines([]) == []
    bench = RealBenchmark(["x"], [], [], [], [], [], [result])
    assert bench.to_json()["finetuned"][0]["tag"] == "lrtem"


@pytest.mark.parametrize(("args", "message"), [
    (["--finetune-steps", "-1"], "negative"),
    (["--finetune-steps", "2"], "needs --real-series"),
])
def test_cli_errors_are_one_line(args, message, tmp_path, capsys):
    assert main(["evaluate", "--out", str(tmp_path), *args]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1

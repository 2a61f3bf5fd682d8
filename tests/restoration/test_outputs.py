"""emrestore.restoration.outputs: output names, and one output per input within a run."""

from __future__ import annotations

from pathlib import Path

from emrestore.errors import OutputExistsError
from emrestore.restoration.outputs import (
    alternative_output_path,
    output_path,
    plan_outputs,
    uncertainty_path,
)


def test_output_names():
    source = Path("data/a.dm3")
    assert output_path(source, None, "tif") == Path("data/a_restored.tif")
    assert output_path(source, Path("out"), "hspy") == Path("out/a_restored.hspy")
    assert alternative_output_path(source, Path("out"), "tif") == Path("out/a.dm3_restored.tif")
    assert uncertainty_path(Path("out/a_restored.tif")) == Path("out/a_uncertainty.tif")
    assert uncertainty_path(Path("out/a.dm4_restored.png")) == Path("out/a.dm4_uncertainty.png")
    assert uncertainty_path(Path("out.tif")) == Path("out_uncertainty.tif")


def test_later_inputs_with_the_same_stem_get_the_full_name_and_a_third_is_refused(tmp_path):
    names = ["a.dm3", "a.dm4", "a.dm4", "b.tif"]
    for name in set(names):
        (tmp_path / name).write_bytes(b"x")
    files = [tmp_path / name for name in names]
    jobs = plan_outputs(files, tmp_path / "out", None, "tif")
    assert [job.target.name if job.target else None for job in jobs] == [
        "a_restored.tif", "a.dm4_restored.tif", None, "b_restored.tif"]
    refusal = jobs[2].refusal
    assert isinstance(refusal, OutputExistsError) and "already written by" in str(refusal)
    assert all(job.refusal is None for k, job in enumerate(jobs) if k != 2)


def test_a_missing_input_takes_no_name_and_one_output_file_is_kept(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"x")
    missing, present = tmp_path / "a.dm3", tmp_path / "a.tif"
    jobs = plan_outputs([missing, present], None, None, "tif")
    assert [job.target.name for job in jobs] == ["a_restored.tif", "a_restored.tif"]
    single = tmp_path / "result.tif"
    assert [job.target for job in plan_outputs([present], None, single, "tif")] == [single]

"""emrestore.restoration.files: one file read, restored and written, or one error line."""

from __future__ import annotations

import json

import numpy as np
import pytest

import emrestore
from emrestore.errors import OutputExistsError
from emrestore.io.limits import ReadLimits
from emrestore.restoration.files import (
    FileSettings,
    json_record,
    restore_file,
    restore_files,
)
from emrestore.restoration.outputs import FileJob, plan_outputs


def settings(model, **changes) -> FileSettings:
    options = dict(model=str(model), tile=None, overlap=None, batch_size=None, backend=None, device="cpu",
                   fmt="tif", overwrite=False, limits=ReadLimits(), batch_inputs=())
    return FileSettings(**{**options, **changes})


def frame(path, shape=(48, 40)):
    rng = np.random.default_rng(0)
    image = emrestore.EMImage(rng.poisson(50, shape).astype(np.float32), pixel_size=0.05, unit="nm",
                              modality="stem")
    return emrestore.write(image, path)


def test_a_file_is_restored_as_the_library_restores_it(tmp_path, stats_model):
    source = frame(tmp_path / "a.tif")
    target = tmp_path / "a_restored.tif"
    outcome = restore_file(FileJob(source, target), settings(stats_model, batch_inputs=(source,)))
    assert outcome.error is None and outcome.output == target and outcome.written is not None
    assert outcome.record["model"] == emrestore.read(target).metadata["restoration"]["model"]
    expected = emrestore.restore(emrestore.read(source), model=stats_model, progress=False)
    np.testing.assert_array_equal(emrestore.read(target).data, expected.data)
    record = json.loads(json_record(source, outcome.output, None, outcome.record))
    assert record["status"] == "restored" and record["output"] == str(target) and record["uncertainty"] is None


def test_the_uncertainty_map_is_written_next_to_the_output(tmp_path, stats_model):
    source = frame(tmp_path / "a.tif")
    outcome = restore_file(FileJob(source, tmp_path / "a_restored.tif"), settings(stats_model, uncertainty=True))
    assert outcome.error is None
    assert outcome.record["uncertainty_file"] == str(tmp_path / "a_uncertainty.tif")
    assert emrestore.read(tmp_path / "a_uncertainty.tif").metadata["uncertainty_of"] == "a_restored.tif"


@pytest.mark.parametrize("case", ["missing", "refused", "exists"])
def test_a_failure_is_one_line_that_names_the_input(tmp_path, stats_model, case):
    source = frame(tmp_path / "a.tif") if case != "missing" else tmp_path / "gone.tif"
    target = tmp_path / "a_restored.tif"
    if case == "exists":
        target.write_bytes(b"an earlier result")
    job = FileJob(source, target)
    if case == "refused":
        job = FileJob(source, None, OutputExistsError(f"{source}: its outputs are taken.", "Rename it."))
    outcome = restore_file(job, settings(stats_model))
    assert outcome.output is None and outcome.written is None
    assert "\n" not in outcome.error and str(source) in outcome.error
    assert json.loads(json_record(source, None, outcome.error))["status"] == "failed"


def test_the_loop_refuses_a_second_spelling_of_an_output(tmp_path, stats_model):
    source = frame(tmp_path / "a.tif")
    (tmp_path / "link").symlink_to(tmp_path)
    jobs = [FileJob(source, tmp_path / "a_restored.tif"), FileJob(source, tmp_path / "link" / "a_restored.tif")]
    outcomes = []
    restore_files(jobs, settings(stats_model, overwrite=True), outcomes.append)
    assert outcomes[0].error is None
    assert "another spelling of the same file" in outcomes[1].error


def test_planned_outputs_are_restored_in_order(tmp_path, stats_model):
    files = [frame(tmp_path / "a.tif"), frame(tmp_path / "b.tif")]
    (tmp_path / "out").mkdir()
    outcomes = []
    restore_files(plan_outputs(files, tmp_path / "out", None, "tif"), settings(stats_model), outcomes.append)
    assert [o.output.name for o in outcomes] == ["a_restored.tif", "b_restored.tif"]

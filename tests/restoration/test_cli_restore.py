"""`emrestore restore` and `emrestore models` on the command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import emrestore
from emrestore.cli import main


def _tiff(path, shape=(48, 40), pixel=0.05):
    rng = np.random.default_rng(0)
    emrestore.write(emrestore.EMImage(rng.poisson(50, shape).astype(np.float32), pixel_size=pixel,
                                      unit="nm", modality="stem", metadata={"voltage_kV": 200.0}), path)
    return path


def test_restore_file_keeps_calibration_and_records_provenance(shared, tmp_path, stats_model, capsys):
    source = shared("formats/test_STEM_image.dm3")
    assert main(["restore", str(source), "-o", str(tmp_path / "out"), "--model", str(stats_model)]) == 0
    out = tmp_path / "out" / "test_STEM_image_restored.tif"
    restored = emrestore.read(out)
    original = emrestore.read(source)
    assert restored.shape == original.shape
    assert restored.pixel_size == original.pixel_size and restored.unit == "nm"
    assert restored.modality == "stem" and restored.metadata["voltage_kV"] == pytest.approx(200.0)
    assert restored.metadata["restoration"]["model"] == "stats_model"
    assert "stats_model" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["hspy", "png"])
def test_restore_other_formats(tmp_path, stats_model, fmt):
    source = _tiff(tmp_path / "a.tif")
    assert main(["restore", str(source), "--model", str(stats_model), "--format", fmt]) == 0
    back = emrestore.read(tmp_path / f"a_restored.{fmt}")
    assert back.pixel_size == 0.05 and back.unit == "nm"
    assert back.metadata["restoration"]["model"] == "stats_model"


def test_output_file_name_for_one_input(tmp_path, stats_model, capsys):
    source = _tiff(tmp_path / "a.tif")
    out = tmp_path / "clean.hspy"
    assert main(["restore", str(source), "--model", str(stats_model), "-o", str(out)]) == 0
    assert out.is_file() and emrestore.read(out).pixel_size == 0.05  # a file, format from its suffix
    second = _tiff(tmp_path / "b.tif")
    assert main(["restore", str(source), str(second), "--model", str(stats_model), "-o",
                 str(tmp_path / "x.tif")]) == 2
    assert "names one file" in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists()


def test_folder_with_a_bad_file_goes_on_and_fails(tmp_path, stats_model, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _tiff(folder / "good1.tif")
    _tiff(folder / "good2.tif", shape=(33, 65))
    (folder / "broken.dm3").write_bytes(b"junk" * 10)
    (folder / "notes.txt").write_text("not an image")
    status = main(["restore", str(folder), "-o", str(tmp_path / "out"), "--model", str(stats_model)])
    assert status != 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good1_restored.tif", "good2_restored.tif"]
    err = capsys.readouterr().err
    assert "broken.dm3" in err and "notes.txt" not in err


def test_glob_and_refusal_to_overwrite(tmp_path, stats_model, capsys):
    _tiff(tmp_path / "x1.tif")
    _tiff(tmp_path / "x2.tif")
    assert main(["restore", str(tmp_path / "x*.tif"), "--model", str(stats_model)]) == 0
    assert (tmp_path / "x1_restored.tif").exists() and (tmp_path / "x2_restored.tif").exists()
    assert main(["restore", str(tmp_path / "x1.tif"), "--model", str(stats_model)]) != 0
    assert "already exists" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "x1.tif"), "--model", str(stats_model), "--overwrite"]) == 0
    # a later run over the folder does not restore the outputs again
    from emrestore.commands.restore import expand_inputs

    files, _ = expand_inputs([str(tmp_path)])
    assert sorted(p.name for p in files) == ["x1.tif", "x2.tif"]


def test_emi_and_its_ser_are_restored_once(shared, tmp_path):
    from emrestore.commands.restore import expand_inputs

    for name in ("128x128-TEM_search.emi", "128x128-TEM_search_1.ser"):
        shutil.copy(shared(f"formats/{name}"), tmp_path / name)
    files, _ = expand_inputs([str(tmp_path)])
    assert [p.name for p in files] == ["128x128-TEM_search.emi"]


def test_unmatched_glob_and_unknown_model(tmp_path, capsys):
    assert main(["restore", str(tmp_path / "nothing*.dm4")]) != 0
    assert "no file matches" in capsys.readouterr().err
    _tiff(tmp_path / "a.tif")
    assert main(["restore", str(tmp_path / "a.tif"), "--model", "nonsense"]) != 0
    err = capsys.readouterr().err
    assert "Unknown model" in err and len(err.strip().splitlines()) == 1


def test_models_json_lists_shipped_models(capsys):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    from emrestore.restoration import shipped_models

    assert [m["name"] for m in listed] == [m.name for m in shipped_models()]

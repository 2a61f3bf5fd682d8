"""`emrestore info`: the printed summary, the JSON contract, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emrestore.cli import main


def test_info_json_keys(shared, capsys):
    path = shared("formats/test_STEM_image.dm3")
    assert main(["info", str(path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert {"shape", "dtype", "pixel_size", "unit", "modality", "frames"} <= set(record)
    assert record["shape"] == [68, 68] and record["dtype"] == "uint32"
    assert record["pixel_size"] == pytest.approx(0.2485, rel=1e-3) and record["unit"] == "nm"
    assert record["modality"] == "stem" and record["frames"] == 1


def test_info_several_files_json_list(shared, capsys):
    files = [shared("formats/fei_example_tem_stack.emd"), shared("formats/HAADFscan.mrc")]
    assert main(["info", *map(str, files), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["frames"] for r in records] == [2, 1]
    assert records[0]["unit"] == "pm"


def test_info_text(shared, capsys):
    assert main(["info", str(shared("formats/128x128-TEM_search.emi"))]) == 0
    out = capsys.readouterr().out
    assert "128×128" in out and "5.26121 nm/px" in out and "modality tem" in out


def test_info_bad_file_one_line_nonzero(tmp_path):
    bad = tmp_path / "broken.dm3"
    bad.write_bytes(b"\x00" * 100)
    result = subprocess.run([sys.executable, "-m", "emrestore.cli", "info", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "broken.dm3" in result.stderr


def test_info_missing_file(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.tif")]) != 0
    assert "does not exist" in capsys.readouterr().err

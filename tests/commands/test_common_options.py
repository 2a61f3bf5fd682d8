"""Options shared by every sub-command (-q/-v), ``restore --json``, ``info`` globs, broken pipes."""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emrestore
from emrestore.cli import BROKEN_PIPE_STATUS, COMMAND_MODULES, build_parser, main


def _tiff(path: Path, shape: tuple[int, int] = (40, 36)) -> Path:
    rng = np.random.default_rng(0)
    emrestore.write(emrestore.EMImage(rng.poisson(50, shape).astype(np.float32), pixel_size=0.05,
                                      unit="nm", modality="stem"), path)
    return path


def _subparser(command: str):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[command]


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_every_command_accepts_quiet_and_verbose(command):
    options = _subparser(command)._option_string_actions
    for flag, dest in (("-q", "quiet"), ("--quiet", "quiet"), ("-v", "verbose"), ("--verbose", "verbose")):
        assert options[flag].dest == dest
    assert options["-q"] is options["--quiet"] and options["-v"] is options["--verbose"]


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["models", "-q", "-v"])
    assert stop.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_models_quiet_and_verbose_print_the_same_table(capsys):
    assert main(["models"]) == 0
    plain = capsys.readouterr().out
    assert main(["models", "-q"]) == 0
    assert capsys.readouterr().out == plain
    assert main(["models", "-v"]) == 0
    assert capsys.readouterr().out == plain


def test_info_quiet(tmp_path, capsys):
    source = _tiff(tmp_path / "a.tif")
    assert main(["info", "-q", str(source)]) == 0
    captured = capsys.readouterr()
    assert "40×36" in captured.out and captured.err == ""


def test_restore_quiet_has_no_progress_and_verbose_logs_the_model(tmp_path, stats_model, capsys):
    files = [_tiff(tmp_path / "a.tif"), _tiff(tmp_path / "b.tif")]
    assert main(["restore", *map(str, files), "--model", str(stats_model), "-q", "--tile", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no "files" progress bar
    assert captured.out.count(" -> ") == 2  # the results stay
    logger = logging.getLogger("emrestore")
    level, handlers = logger.level, list(logger.handlers)
    assert main(["restore", str(files[0]), "--model", str(stats_model), "-v", "--overwrite"]) == 0
    assert "emrestore: restoring with model stats_model" in capsys.readouterr().err
    assert logger.level == level and logger.handlers == handlers  # undone after the command


def test_evaluate_and_simulate_keep_their_quiet():
    parser = build_parser()
    args = parser.parse_args(["simulate", "--tag", "hrstem", "--n", "1", "--out", "x", "--quiet"])
    assert args.quiet is True
    args = parser.parse_args(["evaluate", "-q"])
    assert args.quiet is True


def test_restore_json_lines(tmp_path, stats_model, capsys):
    good = _tiff(tmp_path / "a.tif")
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"\x00" * 64)
    status = main(["restore", str(good), str(bad), str(tmp_path / "none*.dm4"), "--model", str(stats_model),
                   "-o", str(tmp_path / "out"), "--json", "--tile", "0"])
    assert status == 2
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    by_source = {r["source"]: r for r in records}
    assert len(records) == 3
    ok = by_source[str(good)]
    assert ok["status"] == "restored" and ok["error"] is None
    assert ok["output"] == str(tmp_path / "out" / "a_restored.tif") and Path(ok["output"]).is_file()
    assert ok["model"] == "stats_model" and isinstance(ok["tile_px"], int) and isinstance(ok["overlap_px"], int)
    assert set(ok) == {"source", "output", "status", "error", "model", "model_choice", "tile_px", "overlap_px",
                       "uncertainty"}
    failed = by_source[str(bad)]
    assert failed["status"] == "failed" and failed["output"] is None and "broken.tif" in failed["error"]
    assert by_source[str(tmp_path / "none*.dm4")]["status"] == "failed"
    assert " -> " not in captured.out
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 2 and "broken.tif" in errors[1]  # errors still on stderr, one line each


def test_info_expands_quoted_globs_and_folders(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    for name in ("a.tif", "b.tif"):
        _tiff(tmp_path / "data" / name)
    assert main(["info", str(tmp_path / "data" / "*.tif"), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [Path(r["file"]).name for r in records] == ["a.tif", "b.tif"]
    assert main(["info", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out.count("40×36") == 2
    assert main(["info", str(tmp_path / "data" / "a.tif"), str(tmp_path / "nothing*.dm3")]) == 2
    captured = capsys.readouterr()
    assert "a.tif" in captured.out
    assert captured.err.strip().splitlines() == [f"emrestore info: error: {tmp_path / 'nothing*.dm3'}: no file matches."]


def _closed_pipe(*argv: str) -> subprocess.CompletedProcess:
    """Run emrestore with stdout a pipe whose read end is closed before it starts (every write: EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "emrestore.cli", *argv], stdout=write_end, check=False,
                              stderr=subprocess.PIPE)
    finally:
        os.close(write_end)


def test_broken_pipe_models_json():
    result = _closed_pipe("models", "--json")
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr
    assert result.returncode == BROKEN_PIPE_STATUS


def test_broken_pipe_info_json_many_files(tmp_path):
    (tmp_path / "d").mkdir()
    for i in range(30):
        _tiff(tmp_path / "d" / f"f{i:02d}.tif", shape=(8, 8))
    result = _closed_pipe("info", "--json", str(tmp_path / "d"))
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr
    assert result.returncode == BROKEN_PIPE_STATUS


def test_broken_pipe_head(tmp_path):
    (tmp_path / "d").mkdir()
    for i in range(40):
        _tiff(tmp_path / "d" / f"f{i:02d}.tif", shape=(8, 8))
    command = f"{shlex.quote(sys.executable)} -m emrestore.cli info --json {shlex.quote(str(tmp_path / 'd'))} | head -c1"
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], capture_output=True, check=False)
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr
    assert result.stdout == b"["
    assert result.returncode in (0, BROKEN_PIPE_STATUS)

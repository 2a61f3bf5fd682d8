"""`emrestore info`: the printed summary, the JSON contract, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
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


def _hanging_hspy(shared, tmp_path):
    """A HyperSpy file whose damaged header makes h5py loop forever (found by fuzzing)."""
    data = bytearray(shared("formats/example2_v3.1.hspy").read_bytes())
    data[2140:2140 + 3391] = bytes(3391)
    path = tmp_path / "damaged.hspy"
    path.write_bytes(bytes(data))
    return path


def test_info_on_a_file_that_hangs_its_parser_fails_with_one_line(shared, tmp_path):
    path = _hanging_hspy(shared, tmp_path)
    result = subprocess.run([sys.executable, "-m", "emrestore", "info", str(path), "--read-timeout", "3"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "took longer than 3 s" in lines[0], result.stderr


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stream:
                    fields = stream.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _reader_started(pid: int) -> bool:
    """True once the CLI process has a child (the fork server that runs the parse)."""
    return bool(_children(pid))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_cli_leaves_no_parser_spinning(shared, tmp_path):
    import time

    path = _hanging_hspy(shared, tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "emrestore", "info", str(path), "--read-timeout", "3600"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    readers: list[int] = []
    try:
        while not readers and process.poll() is None:  # CLI -> fork server -> reading child
            readers = [grandchild for child in _children(process.pid) for grandchild in _children(child)]
            time.sleep(0.1)
        assert readers, "the reading process never started"
        process.kill()
        process.wait(timeout=60)
        deadline = time.monotonic() + 120  # generous: only a process left forever fails
        while any(_alive(pid) for pid in readers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in readers)
    finally:
        process.kill()
        for pid in readers:
            if _alive(pid):
                os.kill(pid, 9)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_stops_info_while_a_parser_hangs(shared, tmp_path):
    import signal
    import time

    path = _hanging_hspy(shared, tmp_path)
    # a shell's background jobs start with SIGINT ignored; a terminal's Ctrl-C is not
    process = subprocess.Popen([sys.executable, "-m", "emrestore", "info", str(path), "--read-timeout", "3600"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while not _reader_started(process.pid) and process.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)  # let the parse start (its length does not matter: it never ends)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "interrupted" in err


def test_info_noise_json_and_text(tmp_path, capsys):
    """``info --noise`` adds the noise model (JSON key ``noise``, one extra text line)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128] / 128
    path = tmp_path / "poisson.npy"
    np.save(path, (3.0 * rng.poisson(20.0 * (0.5 + xx + 0.5 * yy)) + 100.0).astype(np.float32))
    assert main(["info", str(path), "--noise", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["noise"]["gain"] == pytest.approx(3.0, rel=0.15) and "gain_err" in record["noise"]
    assert main(["info", str(path), "--noise"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "noise: gain" in out[1]
    assert main(["info", str(path)]) == 0 and "noise:" not in capsys.readouterr().out

"""``emrestore serve`` on the command line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from webclient import get

from emrestore.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--models-dir", "--max-upload-mb", "--keep-minutes", "--workers"):
        assert option in out


def test_missing_models_folder_is_a_plain_error(tmp_path, capsys):
    assert main(["serve", "--port", "0", "--models-dir", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "--models-dir" in err and "Traceback" not in err


def test_port_in_use_is_a_plain_error(capsys, models_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["serve", "--port", str(port), "--models-dir", str(models_dir)]) == 2
    assert "--port" in capsys.readouterr().err


def _default_sigint() -> None:
    # a shell's background job (`cmd &`) inherits SIGINT ignored, and Python then installs no
    # Ctrl+C handler: give the server the disposition it has in a terminal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_until_interrupted(models_dir, tmp_path, stop_signal):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from emrestore.cli import main; sys.exit(main())",
         "serve", "--port", str(port), "--models-dir", str(models_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint)
    try:
        first = process.stdout.readline()  # later lines may sit in the buffer (unbuffered read below)
        assert f"http://127.0.0.1:{port}/" in first and "hrstem" in first, first
        deadline = time.monotonic() + 120  # server start-up; only a server that never answers fails
        while True:
            try:
                reply = get(f"http://127.0.0.1:{port}/", "/api/models")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        from emrestore.web.models import model_set

        assert reply.status == 200 and len(reply.json()["models"]) == len(model_set(models_dir))
        assert list(tmp_path.glob("emrestore-web-*"))
        process.send_signal(stop_signal)
        # communicate() drains both pipes while waiting: wait() could block on a child whose
        # stderr pipe is full (request logs, warnings)
        rest, err = process.communicate(timeout=60)
        out = first + rest
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert not list(tmp_path.glob("emrestore-web-*"))  # temporary files deleted


def test_new_limit_options_are_listed_and_checked(capsys, models_dir):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for option in ("--max-pixels", "--read-timeout", "--max-queue", "--allow-origin", "--request-timeout"):
        assert option in out
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "0", "--max-pixels", "0"])
    assert exit_info.value.code == 2 and "pixel limit" in capsys.readouterr().err
    assert main(["serve", "--port", "0", "--models-dir", str(models_dir), "--allow-origin", "lims.example"]) == 2
    err = capsys.readouterr().err
    assert "not a web origin" in err and "Traceback" not in err


#: Runs `emrestore serve` with every restoration stuck for good in its first tile callback
#: (as in a network call that never ends), after writing the job id to the marker file.
STUCK_SERVER = """
import sys, threading
from pathlib import Path
from emrestore.web import jobs

marker = Path(sys.argv[1])
original = jobs._progress

def stuck(job):
    counted = original(job)

    def never_returns(tiles):
        marker.write_text(job.id)
        threading.Event().wait()

    return never_returns

jobs._progress = stuck
from emrestore.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_sigterm_during_a_restoration_stops_and_cleans_up(models_dir, tmp_path):
    """SIGTERM does not wait for a restoration in progress, and the temporary folder goes."""
    import io

    import numpy as np
    from webclient import post_form

    temp = tmp_path / "tmp"
    temp.mkdir()
    script = tmp_path / "stuck_server.py"
    script.write_text(STUCK_SERVER)
    marker = tmp_path / "inside"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(temp)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(marker), "serve", "--port", str(port), "--models-dir", str(models_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120  # start-up and reaching the stuck job; only a hang fails
        while True:
            try:
                get(url, "/api/models")
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        buffer = io.BytesIO()
        np.save(buffer, np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32))
        started = post_form(url, "/api/restore", {"wait": "0"}, {"file": ("a.npy", buffer.getvalue())})
        assert started.status == 202, started.body
        while not marker.exists():  # the restoration is stuck inside
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert get(url, f"/api/jobs/{started.json()['job']}").json()["state"] == "running"
        assert list(temp.glob("emrestore-web-*"))
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)  # the old server waited for the job forever
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert not list(temp.glob("emrestore-web-*"))

"""`emrestore restore --workers N` / `--scheduler ADDRESS` on real Dask clusters."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("distributed")

import emrestore
from emrestore.cli import main
from emrestore.errors import ParameterError
from emrestore.restoration.distributed import (
    check_workers,
    intra_op_threads,
    remove_partial_outputs,
)


def _tiffs(folder, count, shape=(64, 56)):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        emrestore.write(emrestore.EMImage(rng.poisson(40, shape).astype(np.float32), pixel_size=0.05,
                                          unit="nm", modality="stem"), folder / f"f{i}.tif")
    return folder


def _records(out):
    return {json.loads(line)["source"]: json.loads(line) for line in out.splitlines() if line.startswith("{")}


def test_threads_and_option_checks(tmp_path):
    assert intra_op_threads(2, cores=16) == 8 and intra_op_threads(3, cores=2) == 1
    with pytest.raises(ParameterError, match="at least 1"):
        check_workers(0, None)
    with pytest.raises(ParameterError, match="both"):
        check_workers(2, "tcp://127.0.0.1:8786")
    (tmp_path / ".a_restored.abcd1234.part.tif").write_bytes(b"x")
    (tmp_path / "keep.tif").write_bytes(b"x")
    assert remove_partial_outputs([tmp_path / "a_restored.tif"]) == [tmp_path / ".a_restored.abcd1234.part.tif"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tif"]


def test_workers_restore_a_folder_as_the_loop_does(tmp_path, stats_model, capsys):
    """Two worker processes: same outputs, same records, one line for the bad file, exit 2."""
    folder = _tiffs(tmp_path / "in", 3)
    (folder / "bad.tif").write_bytes(b"II*\0 not really a tiff")
    status = main(["restore", str(folder), "-o", str(tmp_path / "out"), "--model", str(stats_model),
                   "--workers", "2", "--json", "-q"])
    captured = capsys.readouterr()
    assert status == 2
    records = _records(captured.out)
    assert sorted(r["status"] for r in records.values()) == ["failed", "restored", "restored", "restored"]
    assert "bad.tif" in next(line for line in captured.err.splitlines() if "error:" in line)
    assert main(["restore", str(folder / "f1.tif"), "-o", str(tmp_path / "loop"), "--model", str(stats_model),
                 "-q"]) == 0
    on_cluster = emrestore.read(tmp_path / "out" / "f1_restored.tif")
    in_process = emrestore.read(tmp_path / "loop" / "f1_restored.tif")
    np.testing.assert_array_equal(on_cluster.data, in_process.data)
    assert on_cluster.pixel_size == 0.05 and on_cluster.metadata["restoration"]["model"]
    assert not [p for p in (tmp_path / "out").iterdir() if ".part" in p.name]


def test_scheduler_address_uses_a_running_cluster_and_leaves_it_running(tmp_path, stats_model, capsys):
    from distributed import Client, LocalCluster

    folder = _tiffs(tmp_path / "in", 2)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        status = main(["restore", str(folder), "-o", str(tmp_path / "out"), "--model", str(stats_model),
                       "--scheduler", cluster.scheduler_address, "-q"])
        assert status == 0
        with Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 1  # still up
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f0_restored.tif", "f1_restored.tif"]
    assert capsys.readouterr().out.count(" -> ") == 2


def test_an_unreachable_scheduler_is_one_error(tmp_path, stats_model, capsys, monkeypatch):
    from emrestore.restoration import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 2)
    folder = _tiffs(tmp_path / "in", 1)
    assert main(["restore", str(folder), "--model", str(stats_model), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "Could not reach the scheduler" in capsys.readouterr().err


def _is_worker(psutil, process) -> bool:
    """A Dask worker or multiprocessing child (False for one that ended or is a zombie meanwhile)."""
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:  # NoSuchProcess, ZombieProcess, AccessDenied: it is not a running worker
        return False
    return "distributed" in command or "multiprocessing" in command


@pytest.mark.parametrize(("signame", "status"), [("SIGINT", 130),
                                               pytest.param("SIGTERM", 143, marks=pytest.mark.slow)])
def test_an_interrupt_shuts_the_cluster_down_and_leaves_no_part_file(tmp_path, stats_model, signame, status):
    psutil = pytest.importorskip("psutil")
    folder = _tiffs(tmp_path / "in", 6, shape=(1024, 1024))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "emrestore", "restore", str(folder), "-o", str(out),
                             "--model", "hrstem", "--workers", "2", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        workers: list = []
        while time.monotonic() < deadline:  # until both workers run a task (or one file is done)
            children = psutil.Process(proc.pid).children(recursive=True)
            workers = [c for c in children if _is_worker(psutil, c)]
            if len(workers) >= 2 and (out.exists() and any(out.iterdir())):
                break
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.05)
        assert workers, "no worker processes started"
        proc.send_signal(getattr(signal, signame))
        assert proc.wait(timeout=120) == status
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert "Traceback" not in err
    gone = psutil.wait_procs(workers, timeout=30)[1]
    assert not gone, f"worker processes left running: {gone}"
    assert not [p for p in out.iterdir() if ".part" in p.name]

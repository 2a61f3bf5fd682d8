"""The prepared GPU-lease command: packing within the transfer limits, and a CPU dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.training.lease import MAX_FILE_BYTES, pack, plan_from_args, write_config

ROOT = Path(__file__).resolve().parents[2]


def _file(path: Path, size: int) -> Path:
    path.write_bytes(b"\0" * size)
    return path


def test_pack_fills_few_parts_and_keeps_files_whole(tmp_path):
    files = [_file(tmp_path / f"m{k}.onnx", 6 * 2**20) for k in range(4)] + [_file(tmp_path / "a.json", 5000)]
    parts = pack(files, tmp_path / "out", max_parts=6)
    assert [p.name for p in parts] == ["models-1.tar", "models-2.tar"]
    names = []
    for part in parts:
        assert part.stat().st_size <= MAX_FILE_BYTES
        with tarfile.open(part) as archive:
            names += archive.getnames()
    assert sorted(names) == ["a.json", "m0.onnx", "m1.onnx", "m2.onnx", "m3.onnx"]


def test_pack_refuses_what_cannot_come_back(tmp_path):
    with pytest.raises(ParameterError, match="larger than one returned file"):
        pack([_file(tmp_path / "big.onnx", 2**20)], tmp_path / "out", max_parts=6, max_bytes=2**19)
    files = [_file(tmp_path / f"m{k}.onnx", 2**19) for k in range(3)]
    with pytest.raises(ParameterError, match="only 2 come back"):
        pack(files, tmp_path / "out", max_parts=2, max_bytes=2**19 + 20000)


def test_plan_arguments_are_checked(tmp_path):
    plan = plan_from_args(["--out", str(tmp_path / "o"), "--tags", "hrstem", "hrstem", "lrsem",
                           "--bank", "lrsem=/b"])
    assert plan.tags == ["hrstem", "lrsem"] and plan.banks == {"lrsem": "/b"}
    assert plan.work == tmp_path / "lease-work"
    with pytest.raises(ParameterError, match="TAG=DIR"):
        plan_from_args(["--out", "o", "--bank", "nonsense"])
    with pytest.raises(ParameterError, match="positive"):
        plan_from_args(["--out", "o", "--minutes", "0"])
    with pytest.raises(ParameterError, match="--steps"):
        plan_from_args(["--out", "o", "--steps", "-1"])
    shipped = plan_from_args(["--out", "o", "--init-from-shipped"])
    assert shipped.preset_of("hrtem") == "tiny-r32" and shipped.preset_of("hrstem") == "fast"
    # continuing a shipped model rebuilds its exact architecture, also one that is no preset
    import tomllib

    from emrestore.nn.configs import GeneratorConfig
    from emrestore.restoration import load_model
    from emrestore.training import config_from_dict

    shipped.work = tmp_path / "shipped-work"
    for tag in ("lrtem", "hrstem"):
        written = tomllib.loads(write_config(shipped, tag, tmp_path / "bank").read_text())
        card = load_model(tag, progress=False).info.card.generator["config"]
        assert config_from_dict(written).model == GeneratorConfig.from_dict(card), tag
    told = plan_from_args(["--out", str(tmp_path / "o"), "--noise-conditioned"])
    assert told.conditioned_of("hrstem")
    assert "noise_conditioned = true" in write_config(told, "hrstem", tmp_path / "bank").read_text()
    assert "noise_conditioned" not in write_config(plan_from_args(["--out", str(tmp_path / "p")]), "hrstem",
                                                   tmp_path / "bank").read_text()


def test_the_lease_script_runs_on_the_cpu(tmp_path):
    """The whole lease path on a CPU: bank, training, float16 export, packing.

    A fixed amount of work (3 banked images, 3 steps) under a budget far above what it needs,
    so a loaded machine cannot change the outcome: the bank rendering ends when its images are
    written, not at its deadline.
    """
    onnxruntime = pytest.importorskip("onnxruntime")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "gpu_train.sh"), "--tags", "lrstem", "--minutes", "30", "--steps", "3",
         "--out", str(out),
         "--work", str(tmp_path / "work"), "--device", "cpu", "--preset", "tiny", "--crop", "32",
         "--batch-size", "2", "--bank-images", "3", "--bank-px", "64", "--bank-workers", "1",
         "--data-workers", "0", "--precision", "fp32"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "lease: done" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    row = summary["runs"]["lrstem"]
    assert row["train_status"] == 0 and row["export_status"] == 0 and row["steps"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["lease.log", "models-1.tar", "summary.json"]
    with tarfile.open(out / "models-1.tar") as archive:
        assert sorted(archive.getnames()) == ["lrstem.json", "lrstem.onnx", "lrstem.pt"]
        archive.extractall(tmp_path / "models", filter="data")
    import onnx
    import torch

    graph = onnx.load(str(tmp_path / "models" / "lrstem.onnx")).graph
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    weights = torch.load(tmp_path / "models" / "lrstem.pt", weights_only=True)["state_dict"]
    assert all(v.dtype != torch.float32 for v in weights.values())
    import emrestore

    frame = np.random.default_rng(0).poisson(20.0, (48, 48)).astype(np.float32)
    restored = emrestore.restore(frame, model=tmp_path / "models" / "lrstem.onnx")
    assert onnxruntime is not None and np.isfinite(np.asarray(restored)).all()


def test_rendering_cores_follow_the_renderers_cost():
    from emrestore.training.lease import render_workers

    workers = render_workers(["hrtem", "hrstem", "lrstem", "lrsem"], 16)
    assert workers["hrtem"] > workers["hrstem"] > workers["lrstem"] >= 1 and workers["lrsem"] >= 1
    assert render_workers(["lrsem"], 16) == {"lrsem": 16} and render_workers([], 4) == {}

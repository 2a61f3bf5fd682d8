"""Fixtures for the web-app tests: small real ONNX models and a live server on loopback."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flask", reason="the web app needs Flask (pip install 'emrestore[web]')")
pytest.importorskip("onnx", reason="the test models are built with the onnx package")

from onnx_models import make_conv_model  # tests/restoration, on pytest's pythonpath (pyproject.toml)

#: Longest a gated restoration waits to be released [s]; never reached unless a test is broken.
GATE_DEADLINE_S = 240


def make_gaussian_model(path: Path, *, sigma: float = 1.2, tag: str = "hrsem", modality: str = "sem") -> Path:
    """Write an ONNX 'restorer' that low-pass filters: reflect-pad, then a fixed 7×7 Gaussian.

    A stand-in for a trained network that visibly reduces noise (used for the screenshot).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    r = np.arange(-3, 4, dtype=np.float32)
    g = np.exp(-(r**2) / (2 * sigma**2))
    kernel = np.outer(g, g)
    kernel = (kernel / kernel.sum()).astype(np.float32)[None, None]
    nodes = [
        helper.make_node("Pad", ["input", "pads"], ["padded"], mode="reflect"),
        helper.make_node("Conv", ["padded", "kernel"], ["output"]),
    ]
    inits = [numpy_helper.from_array(np.array([0, 0, 3, 3, 0, 0, 3, 3], np.int64), "pads"),
             numpy_helper.from_array(kernel, "kernel")]
    graph = helper.make_graph(
        nodes, "gaussian_restorer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    path.with_suffix(".json").write_text(json.dumps({
        "tag": tag, "modality": modality, "size_multiple": 4,
        "config_name": "gaussian-7x7 (test stand-in)"}))
    return path


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """A models folder named like the shipped tags: hrstem, lrstem (conv nets), hrsem (Gaussian)."""
    folder = tmp_path_factory.mktemp("web-models")
    make_conv_model(folder / "hrstem.onnx", seed=1, card={"tag": "hrstem"})
    make_conv_model(folder / "lrstem.onnx", seed=2, card={"tag": "lrstem"})
    make_gaussian_model(folder / "hrsem.onnx")
    return folder


@pytest.fixture
def make_server(models_dir, tmp_path):
    """Factory: start a WebServer on a free loopback port; all are stopped after the test.

    By default it offers only the test models; pass ``models_dir=None`` for the shipped ones.
    """
    from emrestore.web import WebServer

    servers = []

    def start(**options):
        if "models_dir" not in options and "models" not in options:
            # only the test models, whatever this version ships (tests rely on which tags exist)
            from emrestore.model.registry import find_model

            options["models"] = {p.stem: find_model(p) for p in sorted(models_dir.glob("*.onnx"))}
        options.setdefault("temp_dir", tmp_path)
        server = WebServer("127.0.0.1", 0, quiet=True, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server):
    """A server with the test models and default limits."""
    return make_server()


@pytest.fixture
def gate(monkeypatch):
    """Hold every restoration at its first tile callback until ``gate.release`` is set.

    ``gate.inside`` is released once per job that reached the gate. The callback then
    counts the tiles and checks for cancellation, as the server's own callback does.
    """
    from emrestore.web import jobs as jobs_module

    class Gate:
        inside = threading.Semaphore(0)
        release = threading.Event()

    original = jobs_module._progress

    def gated(job):
        counted = original(job)
        first = [True]

        def wait_then_count(tiles):
            if first[0]:
                first[0] = False
                Gate.inside.release()
                assert Gate.release.wait(GATE_DEADLINE_S)
            counted(tiles)

        return wait_then_count

    monkeypatch.setattr(jobs_module, "_progress", gated)
    yield Gate
    Gate.release.set()

"""ONNX export: parity with PyTorch, dynamic axes, and running without torch installed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from emrestore.errors import ParameterError
from emrestore.nn import GeneratorConfig, build_generator
from emrestore.training import export_onnx

SMALL = {
    2: GeneratorConfig(1, 2, 2, 8, 16, 2),
    4: GeneratorConfig(1, 2, 2, 8, 16, 4),
}


@pytest.mark.parametrize("downsample", [2, 4])
def test_export_parity_and_dynamic_axes(tmp_path, downsample):
    import onnxruntime as ort

    model = build_generator(SMALL[downsample], seed=0)
    info = export_onnx(model, tmp_path / "m.onnx", metadata={"tag": "hrtem"})
    assert info["max_abs_diff"] < 1e-3 and info["max_rel_diff"] < 1e-5
    assert info["opset"] >= 17 and len(info["sha256"]) == 64
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["tag"] == "hrtem" and json.loads(meta["generator_config"])["downsample"] == downsample
    rng = np.random.default_rng(1)
    for shape in [(1, 1, 31, 17), (3, 1, 40, 64), (1, 1, 2, 2)]:
        x = rng.uniform(0, 1000, shape).astype(np.float32)
        out = session.run(None, {"image": x})[0]
        with torch.inference_mode():
            ref = model.eval()(torch.from_numpy(x)).numpy()
        assert out.shape == shape
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-3)


def test_export_keeps_training_mode_and_rejects_old_opset(tmp_path):
    model = build_generator(SMALL[2], seed=0).train()
    export_onnx(model, tmp_path / "m.onnx", check_shapes=((1, 16, 16),))
    assert model.training
    with pytest.raises(ParameterError):
        export_onnx(model, tmp_path / "old.onnx", opset=13)
    assert not (tmp_path / "old.onnx").exists()


def test_exported_model_runs_in_onnxruntime_without_torch(tmp_path):
    model = build_generator(SMALL[4], seed=2).eval()
    export_onnx(model, tmp_path / "m.onnx")
    x = np.random.default_rng(5).gamma(3.0, 20.0, (2, 1, 37, 50)).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ref.npy", ref)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any 'import torch' now raises ImportError
        import numpy as np
        import onnxruntime as ort
        import emrestore  # the package itself must import without torch
        assert "torch" not in [m for m, v in sys.modules.items() if v is not None]
        session = ort.InferenceSession(r"{tmp_path / 'm.onnx'}", providers=["CPUExecutionProvider"])
        x = np.load(r"{tmp_path / 'x.npy'}")
        ref = np.load(r"{tmp_path / 'ref.npy'}")
        out = session.run(None, {{"image": x}})[0]
        try:
            import torch  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("torch was importable")
        print(float(np.abs(out - ref).max()))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.strip()) < 2e-3


@pytest.mark.slow
def test_paper_model_export_parity(tmp_path):
    model = build_generator("paper", seed=0)
    info = export_onnx(model, tmp_path / "paper.onnx", check_shapes=((1, 64, 64), (1, 45, 70)))
    assert info["max_rel_diff"] < 1e-5
    assert info["bytes"] > 28_000_000

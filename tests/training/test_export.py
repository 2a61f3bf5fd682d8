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


def own_stats(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.stack([flat.mean(1), flat.std(1)], axis=1).astype(np.float32)


@pytest.mark.parametrize("stats_input", [True, False])
@pytest.mark.parametrize("downsample", [2, 4])
def test_export_parity_and_dynamic_axes(tmp_path, downsample, stats_input):
    import onnxruntime as ort

    model = build_generator(SMALL[downsample], seed=0)
    info = export_onnx(model, tmp_path / "m.onnx", metadata={"tag": "hrtem"}, stats_input=stats_input)
    assert info["max_abs_diff"] < 1e-3 and info["max_rel_diff"] < 1e-5
    assert info["opset"] >= 17 and len(info["sha256"]) == 64
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == (["image", "stats"] if stats_input else ["image"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["tag"] == "hrtem" and json.loads(meta["generator_config"])["downsample"] == downsample
    rng = np.random.default_rng(1)
    for shape in [(1, 1, 31, 17), (3, 1, 40, 64), (1, 1, 2, 2)]:
        x = rng.uniform(0, 1000, shape).astype(np.float32)
        feeds = {"image": x}
        if stats_input:
            feeds["stats"] = own_stats(x)
        out = session.run(None, feeds)[0]
        with torch.inference_mode():
            ref = model.eval()(torch.from_numpy(x)).numpy()  # own statistics = raw → raw model
        assert out.shape == shape
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-3)
    if stats_input:  # frame statistics other than the tile's own change the result
        x = rng.uniform(0, 1000, (1, 1, 16, 16)).astype(np.float32)
        other = own_stats(x) * np.float32([[1.3, 0.7]])
        out = session.run(None, {"image": x, "stats": other})[0]
        with torch.inference_mode():
            ref = model.forward_with_stats(torch.from_numpy(x), torch.from_numpy(other)).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-3)
        assert np.abs(out - session.run(None, {"image": x, "stats": own_stats(x)})[0]).max() > 1e-2


def test_forward_with_own_stats_equals_forward():
    model = build_generator(SMALL[2], seed=0).eval()
    x = torch.rand(2, 1, 13, 22) * 50
    with torch.inference_mode():
        torch.testing.assert_close(model.forward_with_stats(x, torch.from_numpy(own_stats(x.numpy()))), model(x),
                                   rtol=1e-5, atol=1e-4)


def test_torch_weights_file_loads_with_weights_only(tmp_path):
    from emrestore.training import save_torch_weights

    model = build_generator(SMALL[4], seed=0)
    save_torch_weights(model, tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    clone = build_generator(state["config"])
    clone.load_state_dict(state["state_dict"])
    assert clone.config == model.config


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
        flat = x.reshape(len(x), -1).astype(np.float64)
        stats = np.stack([flat.mean(1), flat.std(1)], axis=1).astype(np.float32)
        out = session.run(None, {{"image": x, "stats": stats}})[0]
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


def test_float16_weights_halve_the_file_and_compute_in_float32(tmp_path):
    import onnx
    import onnxruntime as ort

    model = build_generator(GeneratorConfig(1, 2, 3, 12, 24, 4), seed=0)
    full = export_onnx(model, tmp_path / "m32.onnx")
    half = export_onnx(model, tmp_path / "m16.onnx", weights="float16", metadata={"tag": "lrsem"})
    assert full["weights"] == "float32" and half["weights"] == "float16"
    assert 0.45 < half["bytes"] / full["bytes"] < 0.6
    proto = onnx.load(str(tmp_path / "m16.onnx"))
    sizes = {onnx.TensorProto.FLOAT16: [], onnx.TensorProto.FLOAT: []}
    for init in proto.graph.initializer:
        sizes[init.data_type].append(int(np.prod(init.dims)))
    assert max(sizes[onnx.TensorProto.FLOAT]) < 16  # only small biases stay float32
    assert sum(sizes[onnx.TensorProto.FLOAT16]) > 100 * sum(sizes[onnx.TensorProto.FLOAT])
    session = ort.InferenceSession(str(tmp_path / "m16.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].type == "tensor(float)"
    assert session.get_modelmeta().custom_metadata_map["weights"] == "float16"
    # weights rounded to 11 significant bits: the output moves by far less than the image's spread
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 50.0, size=(1, 1, 48, 40)).astype(np.float32) + 10
    feeds = {"image": x, "stats": own_stats(x)}
    out16 = session.run(None, feeds)[0]
    out32 = ort.InferenceSession(str(tmp_path / "m32.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert 0 < np.abs(out16 - out32).max() < 2e-3 * x.std()
    assert half["max_rel_diff"] < 2e-3


def test_unknown_weight_storage_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="weight storage"):
        export_onnx(build_generator(SMALL[4], seed=0), tmp_path / "m.onnx", weights="int8")


@pytest.mark.slow
def test_paper_model_export_parity(tmp_path):
    model = build_generator("paper", seed=0)
    info = export_onnx(model, tmp_path / "paper.onnx", check_shapes=((1, 64, 64), (1, 45, 70)))
    assert info["max_rel_diff"] < 1e-5
    assert info["bytes"] > 28_000_000
    half = export_onnx(model, tmp_path / "paper16.onnx", check_shapes=((1, 64, 64),), weights="float16")
    assert half["bytes"] < 15_000_000  # the limit per shipped model


def test_model_card_records_the_bank(tmp_path):
    import json

    from emrestore.training.model_card import training_data

    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "bank.json").write_text(json.dumps({"tag": "lrsem", "n": 500, "size": 256, "seed": 0}))
    entry = training_data({"data": {"source": "bank", "bank": str(bank), "crop": 128, "degradation": "chain"}})
    assert entry["bank"]["n"] == 500 and entry["crop_px"] == 128
    from emrestore.evaluation.validation import SIMULATOR_VERSION

    assert entry["simulator"] == SIMULATOR_VERSION  # which target definition the model learned
    assert entry["regenerate"] == "emrestore simulate --tag lrsem --n 500 --size 256 --seed 0 --out BANK"
    assert training_data({"data": {"source": "renderer"}})["source"] == "renderer"

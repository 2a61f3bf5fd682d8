"""CPU backends: capability detection, the automatic backend choice, OpenVINO against
onnxruntime, and the graph rewrites (model.graph) that remove data movement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emrestore.errors import EMRestoreError, ParameterError
from emrestore.io.fingerprint import file_sha256
from emrestore.model.registry import find_model, shipped_models
from emrestore.restoration import backends
from emrestore.restoration.backends import (
    BACKEND_ENV,
    MIN_PSNR_DB,
    OnnxBackend,
    check_backend,
    check_frame,
    cpu_candidates,
    make_backend,
    resolve_backend,
)
from emrestore.restoration.cpu_caps import parse_cpuinfo
from emrestore.restoration.openvino_backend import openvino_available

XEON_AMX = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
            "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
            "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
EPYC_AVX2 = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx f16c fma avx2 bmi2 sha_ni vaes\n"
ZEN4 = "model name\t: AMD EPYC 9654\nflags\t\t: avx2 fma avx512f avx512_bf16 avx512_vnni\n"
SKYLAKE = "model name\t: Intel(R) Xeon(R) Gold 6148\nflags\t\t: avx2 fma avx512f avx512bw\n"


def test_cpuinfo_flags_and_model_are_parsed_from_the_first_processor():
    xeon = parse_cpuinfo(XEON_AMX, cores=2)
    assert xeon.model == "Intel(R) Xeon(R) Platinum 8480+" and xeon.cores == 2
    assert xeon.amx and xeon.bf16 and xeon.avx512 and xeon.avx2
    assert "amx_int8" in xeon.flags and "fpu" not in xeon.flags  # only the relevant flags kept
    epyc = parse_cpuinfo(EPYC_AVX2, cores=2)
    assert epyc.avx2 and not epyc.avx512 and not epyc.bf16 and not epyc.amx
    assert epyc.describe() == "AMD EPYC, 2 cores, avx2 fma"
    zen4 = parse_cpuinfo(ZEN4, cores=8)
    assert zen4.bf16 and not zen4.amx
    empty = parse_cpuinfo("", cores=1)  # not Linux: nothing assumed
    assert not empty.flags and not empty.bf16 and empty.model


@pytest.mark.parametrize("text, openvino, expected", [
    (XEON_AMX, True, ["openvino-bf16", "openvino", "onnx"]),
    (ZEN4, True, ["openvino-bf16", "openvino", "onnx"]),
    (SKYLAKE, True, ["openvino", "onnx"]),
    (EPYC_AVX2, True, ["onnx"]),
    (XEON_AMX, False, ["onnx"]),
    ("", True, ["onnx"]),
])
def test_candidates_follow_the_cpu_and_what_is_installed(text, openvino, expected):
    assert cpu_candidates(parse_cpuinfo(text, cores=2), openvino) == expected


def test_backend_none_reads_the_environment_then_defaults_to_auto(monkeypatch):
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert resolve_backend(None) == "auto"
    monkeypatch.setenv(BACKEND_ENV, "OpenVINO-bf16")
    assert resolve_backend(None) == "openvino-bf16"
    assert resolve_backend("onnx") == "onnx"  # an argument beats the environment
    monkeypatch.setenv(BACKEND_ENV, "tensorrt")
    with pytest.raises(ParameterError, match=BACKEND_ENV):
        resolve_backend(None)
    with pytest.raises(ParameterError, match="auto, onnx, openvino"):
        resolve_backend("fast")


@pytest.fixture
def fake_machine(monkeypatch, tmp_path):
    """Fake CPU, fake OpenVINO availability and fake checks; returns a setter and the log of checks."""
    from emrestore.restoration import cpu_caps, openvino_backend

    checked: list[str] = []
    state = {"caps": parse_cpuinfo(EPYC_AVX2, cores=2), "openvino": False, "psnr": {}}

    def fake_check(path, name, signature=None, **_):
        checked.append(name)
        value = state["psnr"].get(name, 90.0)
        return {"passed": value >= MIN_PSNR_DB, "psnr_db": value, "reason": f"{name}: {value} dB"}

    class FakeOpenVino:
        device = "cpu"

        def __init__(self, name):
            self.name = name

    monkeypatch.setattr(cpu_caps, "detect_cpu", lambda: state["caps"])
    monkeypatch.setattr(openvino_backend, "openvino_available", lambda: state["openvino"])
    monkeypatch.setattr(backends, "check_backend", fake_check)
    monkeypatch.setattr(backends, "_openvino", lambda path, name, signature: FakeOpenVino(name))
    monkeypatch.setattr(backends, "_onnxruntime_has_cuda", lambda: False)
    return state, checked


def test_auto_takes_the_first_candidate_that_passes_its_check(fake_machine, stats_model):
    state, checked = fake_machine
    state.update(caps=parse_cpuinfo(XEON_AMX, cores=2), openvino=True)
    chosen = make_backend(stats_model, "auto", "auto")
    assert chosen.name == "openvino-bf16" and checked == ["openvino-bf16"]


def test_auto_falls_back_when_bf16_loses_too_much(fake_machine, stats_model, caplog):
    state, checked = fake_machine
    state.update(caps=parse_cpuinfo(XEON_AMX, cores=2), openvino=True, psnr={"openvino-bf16": 41.0})
    with caplog.at_level("WARNING", logger="emrestore"):
        chosen = make_backend(stats_model, None, "cpu")
    assert chosen.name == "openvino" and checked == ["openvino-bf16", "openvino"]
    assert "not openvino-bf16" in caplog.text and "41.0 dB" in caplog.text


def test_auto_ends_with_onnxruntime_unchecked(fake_machine, stats_model):
    state, checked = fake_machine
    state.update(caps=parse_cpuinfo(SKYLAKE, cores=2), openvino=True, psnr={"openvino": 20.0})
    chosen = make_backend(stats_model, "auto", "cpu")
    assert isinstance(chosen, OnnxBackend) and chosen.device == "cpu" and checked == ["openvino"]
    state.update(caps=parse_cpuinfo(EPYC_AVX2, cores=2))
    checked.clear()
    assert isinstance(make_backend(stats_model, "auto", "cpu"), OnnxBackend) and checked == []


def test_the_environment_variable_overrides_the_choice(fake_machine, stats_model, monkeypatch):
    state, checked = fake_machine
    state.update(caps=parse_cpuinfo(XEON_AMX, cores=2), openvino=True)
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    assert isinstance(make_backend(stats_model, None, "cpu"), OnnxBackend) and checked == []


def test_openvino_cannot_run_on_cuda(stats_model):
    with pytest.raises(ParameterError, match="CPU only"):
        make_backend(stats_model, "openvino", "cuda")


def test_the_restorer_records_the_backend_that_ran(fake_machine, monkeypatch):
    from emrestore.restoration import Restorer

    monkeypatch.delenv(BACKEND_ENV, raising=False)
    restorer = Restorer("hrtem", progress=False, device="cpu")  # AVX2, no OpenVINO: onnxruntime
    assert restorer.backend_name == "onnx" and restorer.provenance()["backend"] == "onnx"


# ---------------------------------------------------------------------- OpenVINO for real
needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")


@needs_openvino
def test_openvino_matches_onnxruntime_and_the_check_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(backends, "_CHECKS", {})
    info = find_model("hrtem")
    signature = info.card.onnx_signature
    result = check_backend(info.onnx_path, "openvino", signature)
    assert result["passed"] and result["psnr_db"] >= MIN_PSNR_DB, result
    stored = json.loads(backends.backend_check_cache().read_text())
    assert [v["passed"] for v in stored.values()] == [True]
    # a second process reads the file: no backend is run again
    monkeypatch.setattr(backends, "_CHECKS", {})
    monkeypatch.setattr(backends, "make_backend", lambda *a, **k: pytest.fail("checked again"))
    assert check_backend(info.onnx_path, "openvino", signature)["psnr_db"] == result["psnr_db"]


@needs_openvino
def test_openvino_backend_restores_tiles_like_onnxruntime():
    from emrestore.restoration.openvino_backend import OpenVinoBackend

    info = find_model("hrtem")
    batch = np.concatenate([check_frame(96)[..., :80], check_frame(96)[..., 16:]])  # (2, 1, 96, 80)
    width = info.card.onnx_signature.stats_width  # 3 for a noise-conditioned model
    stats = np.array([[20.0, 6.0, 0.3], [21.0, 5.0, 0.4]], np.float32)[:, :width]
    fp32 = OpenVinoBackend(info.onnx_path, "fp32", signature=info.card.onnx_signature)
    reference = OnnxBackend(info.onnx_path, device="cpu", signature=info.card.onnx_signature)(batch, stats)
    out = fp32(batch, stats)
    assert out.shape == batch.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-4 * np.abs(reference).max())


@needs_openvino
def test_bf16_on_a_cpu_without_it_says_so():
    from emrestore.restoration.openvino_backend import openvino_supports_bf16

    if openvino_supports_bf16():
        pytest.skip("this CPU computes bfloat16")
    with pytest.raises(EMRestoreError, match="no native bfloat16"):
        make_backend(find_model("hrtem").onnx_path, "openvino-bf16", "cpu")


# ---------------------------------------------------------------------- graph rewrites
def _export_unrewritten(tmp_path, weights="float32"):
    pytest.importorskip("torch")
    import onnx

    from emrestore.nn import build_generator
    from emrestore.nn.configs import GeneratorConfig
    from emrestore.training.export import export_onnx

    model = build_generator(GeneratorConfig(1, 2, 3, 8, 16, 4), seed=1)
    export_onnx(model, tmp_path / "plain.onnx", rewrite=False, weights=weights, check_shapes=((1, 16, 16),))
    return onnx.load(str(tmp_path / "plain.onnx"))


@pytest.mark.parametrize("passes, gone", [
    (("pixel_unshuffle_to_space_to_depth",), {"Transpose6D"}),
    (("drop_single_concats", "fuse_stem_down", "fuse_up_out"), {"Transpose6D", "ConcatOf1", "DepthToSpaceWide"}),
])
def test_rewritten_graph_equals_the_original(tmp_path, passes, gone):
    import onnx

    from emrestore.model.graph import (
        applied_rewrites,
        max_relative_difference,
        optimise_model,
    )

    proto = _export_unrewritten(tmp_path)
    original = proto.SerializeToString()
    report = optimise_model(proto, passes)
    assert set(report.applied) <= set(passes) and report.applied and report.max_rel_diff <= 1e-5
    assert applied_rewrites(proto) == list(report.applied)
    shapes = ((1, 64, 64), (2, 45, 70), (1, 5, 3))  # padded inside the graph, odd sizes
    assert max_relative_difference(original, proto.SerializeToString(), shapes, seed=4) <= 1e-5
    found = _wasteful_ops(proto)
    assert not (found & gone), found
    # the generator's weights are still initializers under their names
    names = {i.name for i in onnx.load_from_string(original).graph.initializer}
    assert names == {i.name for i in proto.graph.initializer}
    assert optimise_model(proto, passes).applied == {}  # applying again changes nothing


def _wasteful_ops(proto) -> set[str]:
    """Data-moving operators that run per image (constant subgraphs, folded at load, excluded)."""
    from onnx import helper

    from emrestore.model.graph import _channels

    channels = _channels(proto)
    runtime = {i.name for i in proto.graph.input}
    found = set()
    for node in proto.graph.node:  # topologically ordered
        if not any(name in runtime for name in node.input):
            continue
        runtime.update(node.output)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Transpose" and len(attrs.get("perm", [])) == 6:
            found.add("Transpose6D")
        if node.op_type == "Concat" and len(node.input) == 1:
            found.add("ConcatOf1")
        if node.op_type == "DepthToSpace" and channels.get(node.input[0]) != attrs["blocksize"] ** 2:
            found.add("DepthToSpaceWide")  # more than one output plane moved at full resolution
    return found


def test_float16_weights_are_rewritten_and_read_back(tmp_path):
    from emrestore.model.graph import optimise_model

    proto = _export_unrewritten(tmp_path, weights="float16")
    report = optimise_model(proto)
    assert report.applied.get("fuse_stem_down") == 1 and report.max_rel_diff <= 1e-5


def test_shipped_models_are_rewritten_and_their_cards_hash_the_file():
    import onnx

    from emrestore.model.graph import applied_rewrites

    for info in shipped_models():
        assert info.card.onnx["sha256"] == file_sha256(info.onnx_path), info.name
        assert info.card.onnx["bytes"] == info.onnx_path.stat().st_size
        proto = onnx.load(str(info.onnx_path), load_external_data=False)
        assert set(applied_rewrites(proto)) == set(info.card.onnx["graph_rewrites"]), info.name
        assert not _wasteful_ops(proto) & {"Transpose6D", "ConcatOf1"}, info.name

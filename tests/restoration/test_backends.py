"""Device choice of the inference backends: device="auto" (default), "cpu", "cuda".

These tests run the real onnxruntime on small real ONNX networks (tests/restoration/
onnx_models.py). On a machine whose onnxruntime has a working CUDA provider the
CPU-only expectations are skipped and the CUDA ones run instead.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emrestore.errors import EMRestoreError, ParameterError
from emrestore.restoration import Restorer
from emrestore.restoration.backends import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    DEFAULT_DEVICE,
    check_device,
    installed_onnxruntime_packages,
    make_backend,
    providers_for,
    session_device,
)

ort = pytest.importorskip("onnxruntime")
HAS_CUDA_PROVIDER = CUDA_PROVIDER in ort.get_available_providers()


def test_auto_is_the_default_device():
    assert DEFAULT_DEVICE == "auto"
    assert check_device(None) == "auto"
    assert check_device("CUDA") == "cuda"


@pytest.mark.parametrize("bad", ["gpu", "cuda:0", "mps", ""])
def test_an_unknown_device_is_a_parameter_error_naming_the_choices(bad, stats_model):
    if bad == "":
        assert check_device(bad) == "auto"  # empty is "not given"
        return
    with pytest.raises(ParameterError, match="'auto'.*'cpu'.*'cuda'"):
        Restorer(stats_model, device=bad, progress=False)


@pytest.mark.skipif(HAS_CUDA_PROVIDER, reason="this onnxruntime has a CUDA provider")
def test_auto_runs_on_the_cpu_here_logs_why_and_records_it(stats_model, caplog):
    caplog.set_level(logging.INFO, logger="emrestore")
    restorer = Restorer(stats_model, progress=False)  # device not given: "auto"
    assert restorer.device == "cpu"
    assert restorer.run.session.get_providers()[0] == CPU_PROVIDER
    assert restorer.provenance()["device"] == "cpu"
    messages = [r.getMessage() for r in caplog.records if r.name == "emrestore"]
    assert any(m.startswith("device auto: CPU") and "emrestore[gpu]" in m for m in messages), messages
    # it restores, and the restored image's record says where it ran
    from emrestore.image import EMImage

    image = EMImage(np.random.default_rng(0).normal(10, 2, (40, 48)).astype(np.float32),
                    pixel_size=0.1, unit="nm", modality="stem")
    restored = restorer.restore_image(image)
    assert restored.metadata["restoration"]["device"] == "cpu"


@pytest.mark.skipif(HAS_CUDA_PROVIDER, reason="this onnxruntime has a CUDA provider")
def test_cuda_without_a_gpu_build_says_how_to_get_one(stats_model):
    with pytest.raises(EMRestoreError) as caught:
        Restorer(stats_model, device="cuda", progress=False)
    text = str(caught.value)
    assert "device='cuda'" in text and "no CUDA support" in text
    assert "emrestore[gpu]" in caught.value.fix or "onnxruntime-gpu" in caught.value.fix
    assert "device='cpu'" in caught.value.fix


@pytest.mark.skipif(not HAS_CUDA_PROVIDER, reason="this onnxruntime has no CUDA provider")
def test_cuda_build_auto_and_cuda_agree_with_the_cpu(stats_model):
    """With onnxruntime-gpu: auto picks what started; cuda runs there or says why not."""
    image = np.random.default_rng(1).normal(10, 2, (64, 64)).astype(np.float32)
    cpu = Restorer(stats_model, device="cpu", tile=0, progress=False)
    auto = Restorer(stats_model, tile=0, progress=False)
    assert auto.device in ("cpu", "cuda")
    assert auto.device == session_device(auto.run.session.get_providers())
    np.testing.assert_allclose(auto.restore_array(image), cpu.restore_array(image), rtol=1e-3, atol=1e-3)
    if auto.device == "cuda":
        assert Restorer(stats_model, device="cuda", tile=0, progress=False).device == "cuda"
    else:
        with pytest.raises(EMRestoreError, match="did not start"):
            Restorer(stats_model, device="cuda", progress=False)


def test_cpu_is_always_the_cpu(stats_model):
    backend = make_backend(stats_model, "onnx", "cpu")
    assert backend.device == "cpu"
    assert backend.session.get_providers() == [CPU_PROVIDER]


def test_sessions_do_not_keep_a_memory_pattern_per_tile_shape(stats_model):
    """The pattern arena per input shape doubled the peak of large frames (docs/restore.md)."""
    options = make_backend(stats_model, "onnx", "cpu").session.get_session_options()
    assert options.enable_mem_pattern is False


def test_provider_lists_for_each_device():
    cpu_build = ["AzureExecutionProvider", CPU_PROVIDER]
    gpu_build = ["TensorrtExecutionProvider", CUDA_PROVIDER, CPU_PROVIDER]
    assert providers_for("cpu", gpu_build) == [CPU_PROVIDER]
    assert providers_for("auto", cpu_build) == [CPU_PROVIDER]
    assert providers_for("auto", gpu_build) == [CUDA_PROVIDER, CPU_PROVIDER]
    assert providers_for("cuda", gpu_build) == [CUDA_PROVIDER, CPU_PROVIDER]
    with pytest.raises(EMRestoreError, match="no CUDA support"):
        providers_for("cuda", cpu_build)
    # a session that asked for CUDA but fell back (driver or libraries missing) is on the CPU
    assert session_device([CPU_PROVIDER]) == "cpu"
    assert session_device([CUDA_PROVIDER, CPU_PROVIDER]) == "cuda"
    assert session_device([]) == "cpu"


def test_the_installed_onnxruntime_package_is_named():
    packages = installed_onnxruntime_packages()
    assert packages and set(packages) <= {"onnxruntime", "onnxruntime-gpu"}

"""OpenVINO backend (``pip install "emrestore[openvino]"``): the model's ONNX file on the CPU,
in float32 or, where the CPU computes it natively (AVX-512 BF16, AMX), bfloat16.

OpenVINO picks the precision of the CPU kernels from the ``INFERENCE_PRECISION_HINT``
property: ``"f32"`` keeps float32 everywhere; ``"bf16"`` runs convolutions and matrix products
in bfloat16 (inputs and outputs stay float32). Compiled models are cached per file and
precision, like onnxruntime sessions.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EMRestoreError
from ..model.card import OnnxSignature
from ..model.conditioning import batch_stats

#: Precision name → OpenVINO ``INFERENCE_PRECISION_HINT``.
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}

_COMPILED: dict[tuple[str, float, str, int | None], Any] = {}
_LOCK = threading.Lock()


def openvino_available() -> bool:
    """Whether the ``openvino`` package can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _core() -> Any:
    try:
        import openvino as ov
    except ImportError as error:
        raise EMRestoreError("The OpenVINO backend needs the openvino package, which is not installed.",
                             "Install it with: pip install \"emrestore[openvino]\" (or use backend='onnx').") from error
    return ov.Core()


def openvino_supports_bf16(core: Any = None) -> bool:
    """Whether OpenVINO's CPU plugin reports native bfloat16 on this machine."""
    core = core or _core()
    return "BF16" in list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def _compiled(path: Path, precision: str, threads: int | None) -> Any:
    stamp = (str(path.resolve()), path.stat().st_mtime, precision, threads)
    with _LOCK:
        compiled = _COMPILED.get(stamp)
        if compiled is None:
            core = _core()
            if precision == "bf16" and not openvino_supports_bf16(core):
                raise EMRestoreError(
                    "backend='openvino-bf16' was asked for, but this CPU has no native bfloat16 "
                    "(AVX-512 BF16 or AMX), so OpenVINO would compute in float32 or emulate it.",
                    "Use backend='openvino' (float32) or backend='auto'.")
            config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": PRECISIONS[precision], "PERFORMANCE_HINT": "LATENCY"}
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
            try:
                compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
            except Exception as error:  # noqa: BLE001 -- OpenVINO raises RuntimeError subclasses
                raise EMRestoreError(f"OpenVINO could not load the model file {path.name} ({error}).",
                                     "Use backend='onnx', or re-export the model (emrestore export).") from error
            _COMPILED[stamp] = compiled
        return compiled


class OpenVinoBackend:
    """Run an ONNX model with OpenVINO on the CPU.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file.
    precision : {"fp32", "bf16"}
        Computation precision (bf16 needs a CPU with native bfloat16).
    threads : int, optional
        Inference threads (default: OpenVINO's, all cores).
    signature : OnnxSignature, optional
        The graph's input and output names (default: by position, as for onnxruntime).

    Raises
    ------
    EMRestoreError
        openvino is not installed, bf16 without native support, or the file does not load.
    """

    device = "cpu"
    takes_stats = True

    def __init__(self, path: Path, precision: str = "fp32", threads: int | None = None,
                 signature: OnnxSignature | None = None) -> None:
        if precision not in PRECISIONS:
            raise EMRestoreError(f"Unknown OpenVINO precision {precision!r}.", f"Use one of {', '.join(PRECISIONS)}.")
        self.path = Path(path)
        self.precision = precision
        #: The backend's name as :func:`~emrestore.restoration.backends.make_backend` takes it.
        self.name = "openvino" if precision == "fp32" else f"openvino-{precision}"
        self.compiled = _compiled(self.path, precision, threads)
        inputs = [i.get_any_name() for i in self.compiled.inputs]
        outputs = [o.get_any_name() for o in self.compiled.outputs]
        self.signature = signature or OnnxSignature.by_position(inputs, outputs)
        self.takes_stats = self.signature.stats is not None
        #: Columns of the stats input (3: mean, std and noise level).
        self.stats_width = self.signature.stats_width
        self._output = self.compiled.output(self.signature.restored)
        self._local = threading.local()

    def __call__(self, batch: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
        """Restore a (B, 1, h, w) float32 batch; ``stats`` (B, 2 or 3) default: each image's own."""
        request = getattr(self._local, "request", None)
        if request is None:  # an infer request serves one thread at a time
            request = self._local.request = self.compiled.create_infer_request()
        feeds = {self.signature.image: np.ascontiguousarray(batch, dtype=np.float32)}
        if self.signature.stats is not None:
            feeds[self.signature.stats] = np.ascontiguousarray(batch_stats(batch, self.stats_width) if stats is None else stats,
                                                               dtype=np.float32)
        result = request.infer(feeds)
        return np.array(result[self._output], dtype=np.float32, copy=True)

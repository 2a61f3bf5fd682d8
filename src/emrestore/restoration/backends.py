"""Inference backends: onnxruntime (default, no PyTorch needed) and PyTorch (optional).

A backend is a callable mapping a (B, 1, h, w) float32 batch to a batch of the same
shape. Sessions are cached per model file and device, so restoring many files loads
each model once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EMRestoreError, ParameterError

BACKENDS = ("onnx", "torch")

_SESSIONS: dict[tuple[str, float, str], Any] = {}
_LOCK = threading.Lock()


def _onnx_providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise EMRestoreError(
                "device='cuda' was asked for, but this onnxruntime has no CUDA support.",
                "Install onnxruntime-gpu, or use device='cpu'.",
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxBackend:
    """Run an ONNX model with onnxruntime.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file.
    device : {"cpu", "cuda"}
        Where to run.
    threads : int, optional
        Intra-op threads (default: all cores).
    """

    name = "onnx"

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.device = device
        key = (str(self.path.resolve()), self.path.stat().st_mtime, device)
        with _LOCK:
            session = _SESSIONS.get(key)
            if session is None:
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads or (os.cpu_count() or 1)
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                try:
                    session = ort.InferenceSession(str(self.path), sess_options=options,
                                                   providers=_onnx_providers(device))
                except EMRestoreError:
                    raise
                except Exception as error:
                    raise EMRestoreError(
                        f"The model file {self.path.name} could not be loaded by onnxruntime ({error}).",
                        "Re-export the model (emrestore export) or reinstall emrestore.",
                    ) from error
                _SESSIONS[key] = session
        self.session = session
        inputs = session.get_inputs()
        self.input_name = inputs[0].name
        #: Models exported by emrestore take the image's (mean, std) as a second input, so
        #: every tile is normalised with the whole image's statistics.
        self.stats_name = inputs[1].name if len(inputs) > 1 else None
        self.takes_stats = self.stats_name is not None
        self.output_name = session.get_outputs()[0].name

    def __call__(self, batch: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
        feeds = {self.input_name: batch}
        if self.stats_name is not None:
            if stats is None:
                flat = batch.reshape(len(batch), -1)
                stats = np.stack([flat.mean(axis=1), np.maximum(flat.std(axis=1), 1e-6)], axis=1)
            feeds[self.stats_name] = stats.astype(np.float32)
        return self.session.run([self.output_name], feeds)[0]


def make_backend(onnx_path: Path, backend: str | None, device: str | None,
                 torch_loader: Any = None) -> Any:
    """Create the backend that runs a model.

    Parameters
    ----------
    onnx_path : Path
        The model's ONNX file.
    backend : {"onnx", "torch"} or None
        None means onnx.
    device : {"cpu", "cuda"} or None
        None means CPU.
    torch_loader : callable, optional
        Returns a torch backend for this model (used when ``backend == "torch"``).
    """
    backend = backend or "onnx"
    device = (device or "cpu").lower()
    if backend not in BACKENDS:
        raise ParameterError(f"Unknown backend {backend!r}.", f"Use one of {', '.join(BACKENDS)}.")
    if device not in ("cpu", "cuda"):
        raise ParameterError(f"Unknown device {device!r}.", "Use 'cpu' or 'cuda'.")
    if backend == "onnx":
        return OnnxBackend(onnx_path, device=device)
    if torch_loader is None:
        raise EMRestoreError(
            f"The PyTorch backend needs the model's PyTorch weights, which {onnx_path.name} does not have.",
            "Use backend='onnx', or a model that ships a .pt checkpoint next to its .onnx.",
        )
    return torch_loader(device)

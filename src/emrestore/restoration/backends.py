"""Inference backends: onnxruntime (default, no PyTorch needed) and PyTorch (optional).

A backend is a callable mapping a (B, 1, h, w) float32 batch to a batch of the same
shape. Sessions are cached per model file and device, so restoring many files loads
each model once.

Devices
-------
``"auto"`` (the default) runs on the GPU when one can be used and on the CPU otherwise:
for onnxruntime, when the installed build reports ``CUDAExecutionProvider`` *and* a
session actually starts on it (onnxruntime silently falls back to the CPU when the CUDA
libraries or the driver are missing, so the session's providers are checked);
for PyTorch, when ``torch.cuda.is_available()``. The choice and its reason are logged
on the ``emrestore`` logger and the device used is what :attr:`OnnxBackend.device`
(and the restoration record's ``"device"``) says. ``"cpu"`` always runs on the CPU;
``"cuda"`` runs on the GPU or raises :class:`~emrestore.errors.EMRestoreError` with the
fix (install ``emrestore[gpu]``, see docs/install.md).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EMRestoreError, ParameterError
from ..model.card import OnnxSignature
from ..model.conditioning import batch_stats

BACKENDS = ("onnx", "torch")
#: Accepted ``device`` values; ``"auto"`` is the default.
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

logger = logging.getLogger("emrestore")

_SESSIONS: dict[tuple[str, float, str], Any] = {}
_LOCK = threading.Lock()
#: Why CUDA could not be used by onnxruntime in this process (None: not tried or it worked).
_CUDA_FAILURE: str | None = None
_DLLS_PRELOADED = False


def check_device(device: str | None) -> str:
    """Return ``device`` lower-cased, ``None`` as :data:`DEFAULT_DEVICE`.

    Raises
    ------
    ParameterError
        For anything but ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """
    value = (device or DEFAULT_DEVICE).lower()
    if value not in DEVICES:
        raise ParameterError(f"Unknown device {device!r}.", "Use 'auto' (default), 'cpu' or 'cuda'.")
    return value


def installed_onnxruntime_packages() -> list[str]:
    """The installed distributions that provide the ``onnxruntime`` module.

    ``onnxruntime`` (CPU) and ``onnxruntime-gpu`` both install into the same folder; when
    both are present, whichever was installed last owns the shared library.
    """
    found = []
    for name in ("onnxruntime", "onnxruntime-gpu"):
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def _no_cuda_fix() -> str:
    """The fix for an onnxruntime without CUDAExecutionProvider, given what is installed."""
    packages = installed_onnxruntime_packages()
    if "onnxruntime-gpu" in packages and "onnxruntime" in packages:
        return ("Both onnxruntime and onnxruntime-gpu are installed and the CPU package's files came "
                "last; run: pip install --force-reinstall --no-deps onnxruntime-gpu "
                "(docs/install.md, 'GPU'), or use device='cpu'.")
    return "Install the GPU build with: pip install \"emrestore[gpu]\" (docs/install.md, 'GPU'), or use device='cpu'."


def _preload_cuda_libraries(ort: Any) -> None:
    """Let onnxruntime find the CUDA/cuDNN libraries of pip's nvidia-* packages (ORT >= 1.21).

    What ``preload_dlls`` prints goes to the debug log instead of stdout.
    """
    global _DLLS_PRELOADED
    preload = getattr(ort, "preload_dlls", None)
    if _DLLS_PRELOADED or preload is None:
        return
    _DLLS_PRELOADED = True
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            preload()
    except Exception as error:  # noqa: BLE001 -- missing libraries show up when the session starts
        logger.debug("onnxruntime.preload_dlls failed: %s", error)
    if printed.getvalue().strip():
        logger.debug("onnxruntime.preload_dlls: %s", printed.getvalue().strip())


def providers_for(device: str, available: list[str]) -> list[str]:
    """onnxruntime execution providers to ask for.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        The requested device.
    available : list of str
        ``onnxruntime.get_available_providers()``.

    Raises
    ------
    EMRestoreError
        ``device="cuda"`` with an onnxruntime that has no CUDA support.
    """
    if device == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == "cuda":
        raise EMRestoreError(
            "device='cuda' was asked for, but this onnxruntime has no CUDA support "
            f"(installed: {', '.join(installed_onnxruntime_packages()) or 'none'}; "
            f"providers: {', '.join(available)}).",
            _no_cuda_fix(),
        )
    return [CPU_PROVIDER]


def session_device(session_providers: list[str]) -> str:
    """``"cuda"`` when a session runs on CUDAExecutionProvider, else ``"cpu"``."""
    return "cuda" if session_providers and session_providers[0] == CUDA_PROVIDER else "cpu"


def _new_session(path: Path, threads: int | None, providers: list[str]) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The memory pattern pre-plans one arena per input shape and keeps it: with tiles of several
    # shapes (edge tiles) that doubles the peak of a large frame at no gain in speed
    # (docs/restore.md, "Speed and memory"). The outputs do not depend on it.
    options.enable_mem_pattern = False
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:
        if CUDA_PROVIDER in providers:
            raise _CudaStartError(str(error)) from error
        raise EMRestoreError(
            f"The model file {path.name} could not be loaded by onnxruntime ({error}).",
            "Re-export the model (emrestore export) or reinstall emrestore.",
        ) from error


class _CudaStartError(Exception):
    """A session asked for CUDA and onnxruntime raised while starting it."""


def _cuda_unusable(reason: str) -> EMRestoreError:
    return EMRestoreError(
        f"device='cuda' was asked for, but onnxruntime's CUDA provider did not start ({reason}).",
        "Check that an NVIDIA driver for the CUDA version of your onnxruntime-gpu is installed "
        "(nvidia-smi), and that its CUDA and cuDNN libraries are found: pip install "
        "\"emrestore[gpu]\" brings them (docs/install.md, 'GPU'); or use device='cpu'.",
    )


def open_session(path: Path, device: str, threads: int | None = None) -> tuple[Any, str]:
    """Start (or reuse) an onnxruntime session for ``path``.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file.
    device : {"auto", "cpu", "cuda"}
        The requested device (see the module's docstring).
    threads : int, optional
        Intra-op threads (default: all cores).

    Returns
    -------
    session, device
        The session and the device it runs on (``"cpu"`` or ``"cuda"``).
    """
    global _CUDA_FAILURE
    import onnxruntime as ort

    device = check_device(device)
    path = Path(path)
    stamp = (str(path.resolve()), path.stat().st_mtime)
    with _LOCK:
        if device == "auto" and _CUDA_FAILURE is not None:
            wanted = [CPU_PROVIDER]  # tried once in this process; don't retry for every model
        else:
            wanted = providers_for(device, ort.get_available_providers())
        target = "cuda" if CUDA_PROVIDER in wanted else "cpu"
        session = _SESSIONS.get((*stamp, target))
        if session is not None:
            return session, target
        if target == "cuda":
            _preload_cuda_libraries(ort)
            try:
                session = _new_session(path, threads, wanted)
                failure = None if session_device(session.get_providers()) == "cuda" else (
                    "onnxruntime fell back to the CPU; its log above says why")
            except _CudaStartError as error:
                session, failure = None, str(error)
            if failure is None:
                _SESSIONS[(*stamp, "cuda")] = session
                if device == "auto":
                    logger.info("device auto: CUDA (onnxruntime %s, %s)", ort.__version__, CUDA_PROVIDER)
                return session, "cuda"
            if device == "cuda":
                raise _cuda_unusable(failure)
            _CUDA_FAILURE = failure
            logger.warning("device auto: CPU, because onnxruntime's CUDA provider did not start (%s)", failure)
        elif device == "auto":
            hint = ("onnxruntime-gpu is installed but the CPU onnxruntime's files came last: pip install "
                    "--force-reinstall --no-deps onnxruntime-gpu"
                    if "onnxruntime-gpu" in installed_onnxruntime_packages()
                    else "pip install \"emrestore[gpu]\" for the GPU")
            logger.info("device auto: CPU (this onnxruntime has no %s; %s)", CUDA_PROVIDER, hint)
            if session is not None:  # it started, on the CPU: keep it
                _SESSIONS[(*stamp, "cpu")] = session
        session = _SESSIONS.get((*stamp, "cpu"))
        if session is None:
            session = _new_session(path, threads, [CPU_PROVIDER])
            _SESSIONS[(*stamp, "cpu")] = session
        return session, "cpu"


class OnnxBackend:
    """Run an ONNX model with onnxruntime.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file.
    device : {"auto", "cpu", "cuda"}
        Where to run; :attr:`device` says where it runs.
    threads : int, optional
        Intra-op threads (default: all cores).
    signature : OnnxSignature, optional
        The graph's input and output names, as its model card records them; checked against
        the graph. Without one (a graph exported elsewhere): the first input and output, and a
        second input as the (mean, std).

    Raises
    ------
    EMRestoreError
        The graph lacks an input or output the signature names.
    """

    name = "onnx"

    def __init__(self, path: Path, device: str = DEFAULT_DEVICE, threads: int | None = None,
                 signature: OnnxSignature | None = None) -> None:
        self.path = Path(path)
        session, used = open_session(self.path, device, threads)
        #: The device the session runs on: ``"cpu"`` or ``"cuda"``.
        self.device = used
        self.session = session
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if signature is None:
            signature = OnnxSignature.by_position(inputs, outputs)
        elif ({signature.image, signature.stats} - {None}) != set(inputs) or signature.restored not in outputs:
            raise EMRestoreError(
                f"The model card of {self.path.name} names the graph's inputs {signature.image!r}"
                + (f", {signature.stats!r}" if signature.stats else "")
                + f" and output {signature.restored!r}, but the graph has inputs {inputs} and outputs {outputs}.",
                "Re-export the model with `emrestore export`, or fix the onnx section of its .json card.")
        #: The graph's input and output names.
        self.signature = signature
        #: Models exported by emrestore take the image's (mean, std) as a second input, so
        #: every tile is normalised with the whole image's statistics.
        self.takes_stats = signature.stats is not None

    def __call__(self, batch: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
        """Restore a (B, 1, h, w) float32 batch; ``stats`` (B, 2) default: each image's own."""
        feeds = {self.signature.image: batch}
        if self.signature.stats is not None:
            feeds[self.signature.stats] = (batch_stats(batch) if stats is None else stats).astype(np.float32)
        return self.session.run([self.signature.restored], feeds)[0]


def make_backend(onnx_path: Path, backend: str | None, device: str | None,
                 torch_loader: Any = None, signature: OnnxSignature | None = None) -> Any:
    """Create the backend that runs a model.

    Parameters
    ----------
    onnx_path : Path
        The model's ONNX file.
    backend : {"onnx", "torch"} or None
        None means onnx.
    device : {"auto", "cpu", "cuda"} or None
        None means ``"auto"``: CUDA when it can be used, else the CPU (module docstring).
    torch_loader : callable, optional
        Returns a torch backend for this model (used when ``backend == "torch"``).
    signature : OnnxSignature, optional
        The graph's input and output names from the model card (see :class:`OnnxBackend`).

    Returns
    -------
    backend
        A callable with a ``device`` attribute: where it runs (``"cpu"`` or ``"cuda"``).
    """
    backend = backend or "onnx"
    device = check_device(device)
    if backend not in BACKENDS:
        raise ParameterError(f"Unknown backend {backend!r}.", f"Use one of {', '.join(BACKENDS)}.")
    if backend == "onnx":
        return OnnxBackend(onnx_path, device=device, signature=signature)
    if torch_loader is None:
        raise EMRestoreError(
            f"The PyTorch backend needs the model's PyTorch weights, which {onnx_path.name} does not have.",
            "Use backend='onnx', or a model that ships a .pt checkpoint next to its .onnx.",
        )
    if device == "auto":
        device = _torch_auto_device()
    return torch_loader(device)


def _torch_auto_device() -> str:
    """``"cuda"`` when PyTorch is installed and sees a CUDA GPU, else ``"cpu"`` (logged)."""
    try:
        import torch
    except ImportError:
        return "cpu"  # the torch backend then says how to install PyTorch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    logger.info("device auto: %s (PyTorch %s, torch.cuda.is_available() is %s)",
                device.upper(), torch.__version__, device == "cuda")
    return device

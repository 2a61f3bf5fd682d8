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

Backends
--------
``backend=None`` means the environment variable ``EMRESTORE_BACKEND`` if set, else
``"auto"``. ``"auto"`` runs onnxruntime on the GPU when one is used (see Devices); on the CPU
it takes the first of :func:`cpu_candidates` (fastest first, from the CPU's capabilities and
what is installed: OpenVINO bfloat16 where the CPU computes bfloat16 natively, OpenVINO
float32 on AVX-512 CPUs, onnxruntime float32) whose output on a fixed test frame has a PSNR
of at least :data:`MIN_PSNR_DB` against onnxruntime float32's (:func:`check_backend`, once
per model and machine: the result is cached per model file, backend, OpenVINO version and
CPU, in memory and in ``~/.cache/emrestore/backend_checks.json``). ``"onnx"``, ``"openvino"``, ``"openvino-bf16"``
and ``"torch"`` choose explicitly. docs/restore.md, "Backends and precision per CPU", has the
speeds.
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

BACKENDS = ("onnx", "openvino", "openvino-bf16", "torch")
#: Accepted ``backend`` values: :data:`BACKENDS` and ``"auto"`` (the default).
BACKEND_CHOICES = ("auto", *BACKENDS)
#: Environment variable naming the backend when none is passed.
BACKEND_ENV = "EMRESTORE_BACKEND"
#: A backend other than onnxruntime float32 is chosen automatically only if its output on the
#: check frame is at least this close to onnxruntime float32's (PSNR with the reference's range).
MIN_PSNR_DB = 50.0
#: Edge [px] of the check frame.
CHECK_SIZE = 256
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
            if signature.stats is not None:  # its width from the graph: 3 with a noise level
                shape = session.get_inputs()[1].shape
                if len(shape) == 2 and shape[1] == 3:
                    signature = OnnxSignature(signature.image, signature.stats, signature.restored, 3)
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
        #: Columns of the stats input: 2 (mean, std), or 3 with the frame's noise level.
        self.stats_width = signature.stats_width

    def __call__(self, batch: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
        """Restore a (B, 1, h, w) float32 batch; ``stats`` (B, 2 or 3) default: each image's own."""
        feeds = {self.signature.image: batch}
        if self.signature.stats is not None:
            feeds[self.signature.stats] = (batch_stats(batch, self.stats_width) if stats is None
                                           else stats).astype(np.float32)
        return self.session.run([self.signature.restored], feeds)[0]


def resolve_backend(backend: str | None) -> str:
    """``backend`` lower-cased; None: ``$EMRESTORE_BACKEND``, else ``"auto"``.

    Raises
    ------
    ParameterError
        A name not in :data:`BACKEND_CHOICES` (naming where it came from).
    """
    source = "backend"
    if backend is None:
        backend, source = os.environ.get(BACKEND_ENV) or "auto", BACKEND_ENV
    value = backend.strip().lower()
    if value not in BACKEND_CHOICES:
        raise ParameterError(f"Unknown backend {backend!r} ({source}).", f"Use one of {', '.join(BACKEND_CHOICES)}.")
    return value


def cpu_candidates(caps: Any, openvino: bool) -> list[str]:
    """CPU backends to try, fastest first; the last is always ``"onnx"`` (the reference).

    A fixed ranking (the choice is reproducible: it does not depend on a timing), from the
    measurements in docs/restore.md, "Backends and precision per CPU": with native bfloat16
    (AVX-512 BF16 or AMX) OpenVINO bfloat16 was ≈ 4× faster than onnxruntime float32 and
    OpenVINO float32 ≈ 1.25× (Xeon with AMX, the `fast` graph before the rewrites, at 1024²,
    as reported in the issue); AVX-512 without bfloat16 gets OpenVINO float32 by extrapolation
    from that Xeon (not measured); on AVX2 (the AMD EPYC development machine) OpenVINO float32
    and onnxruntime float32 are within 8 % of each other on the shipped graphs, one ahead for
    `fast`, the other for `tiny`, so onnxruntime, the reference, stays.

    Parameters
    ----------
    caps : CpuCaps
        The CPU (:func:`~emrestore.restoration.cpu_caps.detect_cpu`).
    openvino : bool
        Whether OpenVINO is installed.
    """
    found = []
    if openvino and caps.bf16:
        found.append("openvino-bf16")
    if openvino and (caps.bf16 or caps.avx512):
        found.append("openvino")
    return [*found, "onnx"]


def make_backend(onnx_path: Path, backend: str | None, device: str | None,
                 torch_loader: Any = None, signature: OnnxSignature | None = None) -> Any:
    """Create the backend that runs a model.

    Parameters
    ----------
    onnx_path : Path
        The model's ONNX file.
    backend : {"auto", "onnx", "openvino", "openvino-bf16", "torch"} or None
        None: ``$EMRESTORE_BACKEND``, else ``"auto"`` (the module's docstring).
    device : {"auto", "cpu", "cuda"} or None
        None means ``"auto"``: CUDA when it can be used, else the CPU (module docstring).
    torch_loader : callable, optional
        Returns a torch backend for this model (used when ``backend == "torch"``).
    signature : OnnxSignature, optional
        The graph's input and output names from the model card (see :class:`OnnxBackend`).

    Returns
    -------
    backend
        A callable with a ``device`` attribute (where it runs: ``"cpu"`` or ``"cuda"``) and a
        ``name`` (one of :data:`BACKENDS`: the one chosen for ``"auto"``).
    """
    backend = resolve_backend(backend)
    device = check_device(device)
    if backend == "auto":
        return _auto_backend(Path(onnx_path), device, signature)
    if backend == "onnx":
        return OnnxBackend(onnx_path, device=device, signature=signature)
    if backend.startswith("openvino"):
        if device == "cuda":
            raise ParameterError(f"backend={backend!r} runs on the CPU only, but device='cuda' was asked for.",
                                 "Use backend='onnx' with device='cuda', or device='cpu'.")
        return _openvino(Path(onnx_path), backend, signature)
    if torch_loader is None:
        raise EMRestoreError(
            f"The PyTorch backend needs the model's PyTorch weights, which {onnx_path.name} does not have.",
            "Use backend='onnx', or a model that ships a .pt checkpoint next to its .onnx.",
        )
    if device == "auto":
        device = _torch_auto_device()
    return torch_loader(device)


def _openvino(path: Path, backend: str, signature: OnnxSignature | None) -> Any:
    from .openvino_backend import OpenVinoBackend

    return OpenVinoBackend(path, precision="bf16" if backend == "openvino-bf16" else "fp32", signature=signature)


def _auto_backend(path: Path, device: str, signature: OnnxSignature | None) -> Any:
    """onnxruntime where it runs on the GPU; else the first checked CPU candidate."""
    from .cpu_caps import detect_cpu
    from .openvino_backend import openvino_available

    reference = None
    if device == "cuda" or (device == "auto" and _CUDA_FAILURE is None and _onnxruntime_has_cuda()):
        reference = OnnxBackend(path, device=device, signature=signature)
        if reference.device == "cuda":
            return reference
    caps = detect_cpu()
    for name in cpu_candidates(caps, openvino_available())[:-1]:
        check = check_backend(path, name, signature)
        if check["passed"]:
            logger.info("backend auto: %s (%s; %.1f dB against onnxruntime float32)", name, caps.describe(),
                        check["psnr_db"])
            return _openvino(path, name, signature)
        logger.warning("backend auto: not %s (%s)", name, check["reason"])
    return reference or OnnxBackend(path, device=device, signature=signature)


def _onnxruntime_has_cuda() -> bool:
    import onnxruntime as ort

    return CUDA_PROVIDER in ort.get_available_providers()


_CHECKS: dict[str, dict[str, Any]] = {}


def check_frame(size: int = CHECK_SIZE) -> np.ndarray:
    """The fixed (1, 1, size, size) float32 frame backends are checked on: Poisson counts
    (mean 20) on a lattice of two incommensurate periods, seed 0."""
    y, x = np.mgrid[:size, :size]
    lattice = 1 + 0.5 * np.cos(2 * np.pi * x / 7.3) * np.cos(2 * np.pi * y / 5.1)
    return np.random.default_rng(0).poisson(20 * lattice).astype(np.float32)[None, None]


def _check_key(path: Path, name: str) -> str:
    from ..io.fingerprint import file_sha256
    from .cpu_caps import detect_cpu

    try:
        import openvino

        version = openvino.__version__
    except ImportError:
        version = "none"
    caps = detect_cpu()
    return f"{file_sha256(path)}|{name}|openvino {version}|{caps.model}|{' '.join(sorted(caps.flags))}"


def backend_check_cache() -> Path:
    """The file caching :func:`check_backend` results: ``$XDG_CACHE_HOME/emrestore/backend_checks.json``
    (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emrestore" / "backend_checks.json"


def _read_checks() -> dict[str, Any]:
    import json

    try:
        values = json.loads(backend_check_cache().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def _store_check(key: str, result: dict[str, Any]) -> None:
    import json

    from ..io.atomic import write_text_atomic

    values = _read_checks()
    values[key] = result
    try:
        backend_check_cache().parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(backend_check_cache(), json.dumps(values, indent=1) + "\n")
    except OSError as error:  # a read-only home: checked again next time
        logger.debug("backend check cache not written: %s", error)


def check_backend(path: Path, name: str, signature: OnnxSignature | None = None, *,
                  use_cache: bool = True) -> dict[str, Any]:
    """Compare the output of backend ``name`` with onnxruntime float32's on :func:`check_frame` (CPU).

    Parameters
    ----------
    path : Path
        The model's ONNX file.
    name : str
        A backend of :data:`BACKENDS` other than ``"torch"``.
    signature : OnnxSignature, optional
        The graph's input and output names.
    use_cache : bool
        Reuse a result of this model file, backend, OpenVINO version and CPU (in memory and
        :func:`backend_check_cache`).

    Returns
    -------
    dict
        ``passed`` (PSNR ≥ :data:`MIN_PSNR_DB`), ``psnr_db`` (None when the backend failed to
        run), ``reason`` (in words) and ``checked_utc``.
    """
    import datetime as _dt

    key = _check_key(Path(path), name)
    if use_cache:
        cached = _CHECKS.get(key) or _read_checks().get(key)
        if isinstance(cached, dict) and "passed" in cached:
            _CHECKS[key] = cached
            return cached
    frame = check_frame()
    try:
        candidate = make_backend(path, name, "cpu", signature=signature)
        stats = batch_stats(frame, int(getattr(candidate, "stats_width", 2)))
        output = candidate(frame, stats)
    except EMRestoreError as error:
        result = {"passed": False, "psnr_db": None, "reason": f"{name} did not run: {error.cause}"}
    except RuntimeError as error:  # the runtime refused the graph or its inputs
        result = {"passed": False, "psnr_db": None, "reason": f"{name} did not run: {error}"[:500]}
    else:
        from ..fidelity import psnr

        expected = OnnxBackend(path, device="cpu", signature=signature)(frame, stats)
        value = psnr(output, expected)
        passed = bool(np.isfinite(output).all() and value >= MIN_PSNR_DB)
        result = {"passed": passed, "psnr_db": float(min(value, 999.0)),
                  "reason": f"{name}: {value:.1f} dB against onnxruntime float32 "
                            f"({'≥' if passed else 'below'} {MIN_PSNR_DB:g} dB)"}
    result["checked_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    _CHECKS[key] = result
    if use_cache:
        _store_check(key, result)
    return result


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

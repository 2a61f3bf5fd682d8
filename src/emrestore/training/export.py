"""Export a CGRDN generator to ONNX and check it against PyTorch."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ParameterError

__all__ = ["export_onnx", "ONNX_INPUT", "ONNX_OUTPUT", "DEFAULT_OPSET"]

ONNX_INPUT = "image"
ONNX_OUTPUT = "restored"
DEFAULT_OPSET = 17


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    check_shapes: tuple[tuple[int, int, int], ...] = ((1, 64, 64), (2, 45, 70)),
    seed: int = 0,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``model`` as ONNX with dynamic batch, height and width; verify it.

    The exported graph contains the whole raw-to-raw mapping (per-image normalisation,
    padding to the body's factor, restoration, crop, de-normalisation): input ``image``
    (N, 1, H, W) float32 raw intensities, output ``restored`` of the same shape. The file is
    written atomically (temporary file + rename). After writing, it is run in onnxruntime
    on random inputs of ``check_shapes`` (N, H, W) and compared with PyTorch.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~emrestore.nn.CGRDN` (or a DDP wrapper of one).
    path : path-like
        Output ``.onnx`` file.
    opset : int
        ONNX opset (≥ 17).
    check_shapes : tuple of (N, H, W)
        Shapes of the random parity inputs; include odd, non-square sizes.
    seed : int
        Seed of the random parity inputs.
    metadata : dict, optional
        Extra string key/values stored in the ONNX ``metadata_props``.

    Returns
    -------
    dict
        ``path``, ``sha256``, ``bytes``, ``opset``, ``input``, ``output``, ``check_shapes`` and
        ``max_abs_diff`` (largest |ORT − PyTorch| over the checks [input units]) and
        ``max_rel_diff`` (``max_abs_diff`` / max |PyTorch output|).

    Raises
    ------
    ParameterError
        If ``opset`` < 17.
    """
    if opset < 17:
        raise ParameterError(f"ONNX opset {opset} is too old.", "Use opset 17 or newer.")
    import onnx
    import onnxruntime as ort

    module = getattr(model, "module", model)
    was_training = module.training
    module.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(module.parameters()).device
    example = torch.rand(1, 1, 64, 64, device=device)
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter: it needs no onnxscript, handles the
            # shape-dependent padding with dynamic axes and is stable for conv nets.
            torch.onnx.export(
                module,
                (example,),
                tmp_name,
                dynamo=False,
                input_names=[ONNX_INPUT],
                output_names=[ONNX_OUTPUT],
                dynamic_axes={
                    ONNX_INPUT: {0: "batch", 2: "height", 3: "width"},
                    ONNX_OUTPUT: {0: "batch", 2: "height", 3: "width"},
                },
                opset_version=opset,
                do_constant_folding=True,
            )
        proto = onnx.load(tmp_name)
        props = {"producer": "emrestore", **{k: str(v) for k, v in (metadata or {}).items()}}
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            props["generator_config"] = json.dumps(config.to_dict())
        for key, value in props.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    finally:
        module.train(was_training)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    max_abs = 0.0
    max_ref = 0.0
    module.eval()
    try:
        for n, h, w in check_shapes:
            x = (rng.gamma(2.0, 50.0, size=(n, 1, h, w)) + 10.0).astype(np.float32)
            ort_out = session.run([ONNX_OUTPUT], {ONNX_INPUT: x})[0]
            with torch.inference_mode():
                ref = module(torch.from_numpy(x).to(device)).float().cpu().numpy()
            if ort_out.shape != ref.shape:
                raise RuntimeError(f"ONNX output shape {ort_out.shape} differs from PyTorch {ref.shape}")
            max_abs = max(max_abs, float(np.max(np.abs(ort_out - ref))))
            max_ref = max(max_ref, float(np.max(np.abs(ref))))
    finally:
        module.train(was_training)
    return {
        "path": str(path),
        "sha256": _sha256(path),
        "bytes": path.stat().st_size,
        "opset": opset,
        "input": {"name": ONNX_INPUT, "shape": ["batch", 1, "height", "width"], "dtype": "float32"},
        "output": {"name": ONNX_OUTPUT, "shape": ["batch", 1, "height", "width"], "dtype": "float32"},
        "check_shapes": [list(s) for s in check_shapes],
        "max_abs_diff": max_abs,
        "max_rel_diff": max_abs / max(max_ref, 1e-30),
    }

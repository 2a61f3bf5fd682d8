"""Export a CGRDN generator to ONNX and check it against PyTorch."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ParameterError
from ..io.fingerprint import file_sha256
from ..model.card import EXPORTED_SIGNATURE
from ..model.conditioning import batch_stats
from ..model.graph import optimise_model

__all__ = ["export_onnx", "save_torch_weights", "store_weights_float16", "checkpoint_from_onnx",
           "DEFAULT_OPSET", "WEIGHT_DTYPES"]

DEFAULT_OPSET = 17
#: How the exported file stores the network's weights (computation is float32 either way).
WEIGHT_DTYPES = ("float32", "float16")
#: Float16 storage leaves smaller float32 initializers (scalars, the output bias) as they are:
#: they weigh nothing and may hold small constants that float16 would round badly.
FLOAT16_MIN_SIZE = 16


class _WithStats(torch.nn.Module):
    """Export wrapper: ``forward(image, stats)`` → :meth:`CGRDN.forward_with_stats`."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        return self.model.forward_with_stats(image, stats)


def save_torch_weights(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Write ``{"config": generator config dict, "state_dict": ...}`` (readable with
    ``torch.load(..., weights_only=True)``), atomically; the restore engine's PyTorch backend
    loads ``<model>.pt`` next to ``<model>.onnx``."""
    from .checkpoint import atomic_torch_save

    module = getattr(model, "module", model)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    return atomic_torch_save({"config": module.config.to_dict(), "state_dict": state}, path)


def store_weights_float16(proto: Any) -> int:
    """Store the float32 initializers of an ONNX graph as float16, cast back at load; in place.

    Every float32 initializer of at least :data:`FLOAT16_MIN_SIZE` values becomes a float16
    initializer ``<name>.fp16`` and a ``Cast``
    node (to float32) at the head of the graph that outputs ``<name>``, so the computation
    stays float32: onnxruntime folds the casts into float32 constants when it opens the file,
    so restoring is as fast as from a float32 file. Halves the file; the weights are rounded
    to 11 significant bits (relative error ≤ 2⁻¹¹ ≈ 4.9e-4).

    Parameters
    ----------
    proto : onnx.ModelProto
        The model, changed in place.

    Returns
    -------
    int
        Number of initializers converted.

    Raises
    ------
    ParameterError
        If a weight is outside float16's finite range (|w| > 65504).
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts = []
    kept = []
    for init in graph.initializer:
        values = numpy_helper.to_array(init) if init.data_type == TensorProto.FLOAT else None
        if values is None or values.size < FLOAT16_MIN_SIZE:
            kept.append(init)
            continue
        if float(np.max(np.abs(values))) > float(np.finfo(np.float16).max):
            raise ParameterError(f"Weight {init.name} holds values beyond float16's range (|w| > 65504).",
                                 "Export with float32 weights.")
        half = numpy_helper.from_array(values.astype(np.float16), name=f"{init.name}.fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}.to_float32"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(casts)


def export_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    check_shapes: tuple[tuple[int, int, int], ...] = ((1, 64, 64), (2, 45, 70)),
    seed: int = 0,
    metadata: dict[str, Any] | None = None,
    stats_input: bool = True,
    weights: str = "float32",
    rewrite: bool = True,
) -> dict[str, Any]:
    """Write ``model`` as ONNX with dynamic batch, height and width; verify it.

    The exported graph contains the whole raw-to-raw mapping (normalisation, padding to the
    body's factor, restoration, crop, de-normalisation): input ``image`` (N, 1, H, W) float32
    raw intensities, output ``restored`` of the same shape and units (the names:
    :data:`~emrestore.model.card.EXPORTED_SIGNATURE`). With ``stats_input``
    (default) the graph has a second input ``stats`` (N, 2) = (mean, std) [input units] to
    normalise with, so tiles of one frame can share the frame's statistics (the restore
    engine passes them; for a whole image pass its own mean and std); a noise-conditioned
    generator's ``stats`` is (N, 3), the third column the frame's noise level
    (:func:`emrestore.model.conditioning.noise_level`); without it, each
    input is normalised by its own statistics. The file is written atomically (temporary
    file + rename). After writing, it is run in onnxruntime on random inputs of
    ``check_shapes`` (N, H, W) and compared with PyTorch.

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
    stats_input : bool
        Add the ``stats`` input (see above).
    weights : {"float32", "float16"}
        How the file stores the weights: ``float16`` halves the file (the `paper`
        configuration: 28 → 14 MB) and computes in float32 all the same
        (:func:`store_weights_float16`); the check against PyTorch then also measures the
        rounding of the weights.
    rewrite : bool
        Rewrite the traced graph to move less data, same output
        (:func:`emrestore.model.graph.optimise_model`: pixel-unshuffle and pixel-shuffle fused
        into the neighbouring convolutions, one-input Concats dropped; checked against the
        traced graph to 1e-5 relative, and afterwards against PyTorch as always).

    Returns
    -------
    dict
        ``path``, ``sha256``, ``bytes``, ``opset``, ``weights``, ``input``, ``output``, ``check_shapes``, ``graph_rewrites`` (pass → count) and
        ``max_abs_diff`` (largest |ORT − PyTorch| over the checks [input units]) and
        ``max_rel_diff`` (``max_abs_diff`` / max |PyTorch output|).

    Raises
    ------
    ParameterError
        If ``opset`` < 17.
    """
    if opset < 17:
        raise ParameterError(f"ONNX opset {opset} is too old.", "Use opset 17 or newer.")
    if weights not in WEIGHT_DTYPES:
        raise ParameterError(f"Unknown weight storage {weights!r}.", f"Use one of {', '.join(WEIGHT_DTYPES)}.")
    import onnx
    import onnxruntime as ort

    module = getattr(model, "module", model)
    was_training = module.training
    module.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(module.parameters()).device
    example: tuple[torch.Tensor, ...] = (torch.rand(1, 1, 64, 64, device=device),)
    graph_module: torch.nn.Module = module
    conditioned = bool(getattr(getattr(module, "config", None), "noise_conditioned", False))
    names = replace(EXPORTED_SIGNATURE, stats=EXPORTED_SIGNATURE.stats if stats_input else None,
                    stats_width=3 if conditioned else 2)
    if conditioned and not stats_input:
        raise ParameterError("A noise-conditioned generator is exported with its stats input only.",
                             "Export it with stats_input=True (the default).")
    input_names = [names.image]
    dynamic_axes = {
        names.image: {0: "batch", 2: "height", 3: "width"},
        names.restored: {0: "batch", 2: "height", 3: "width"},
    }
    if names.stats is not None:
        example = (example[0], torch.tensor([[0.5, 0.3, 0.2][:names.stats_width]], device=device))
        graph_module = _WithStats(module)
        input_names.append(names.stats)
        dynamic_axes[names.stats] = {0: "batch"}
    from ..io.atomic import atomic_path

    try:
        with atomic_path(path) as temp, warnings.catch_warnings():
            tmp_name = str(temp)
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter: it needs no onnxscript, handles the
            # shape-dependent padding with dynamic axes and is stable for conv nets.
            torch.onnx.export(
                graph_module,
                example,
                tmp_name,
                dynamo=False,
                input_names=input_names,
                output_names=[names.restored],
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
            )
            proto = onnx.load(tmp_name)
            props = {"producer": "emrestore", **{k: str(v) for k, v in (metadata or {}).items()}}
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "to_dict"):
                props["generator_config"] = json.dumps(config.to_dict())
            if conditioned:  # folded into other constants by the export: kept for checkpoint_from_onnx
                props["noise_conditioning"] = json.dumps(
                    {name: getattr(module, name).detach().float().cpu().tolist()
                     for name in ("noise_vectors", "noise_gates")})
            props["weights"] = weights
            rewrites = optimise_model(proto).applied if rewrite else {}
            if weights == "float16":
                store_weights_float16(proto)
            for key, value in props.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.checker.check_model(proto)
            onnx.save(proto, tmp_name)
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
            feeds = {names.image: x}
            if names.stats is not None:
                # the frame statistics of a tile differ from its own: perturb them
                width = names.stats_width
                stats = batch_stats(x, width) * rng.uniform(0.8, 1.2, size=(n, width)).astype(np.float32)
                feeds[names.stats] = stats
            ort_out = session.run([names.restored], feeds)[0]
            with torch.inference_mode():
                xt = torch.from_numpy(x).to(device)
                if stats_input:
                    ref_t = module.forward_with_stats(xt, torch.from_numpy(stats).to(device))
                else:
                    ref_t = module(xt)
                ref = ref_t.float().cpu().numpy()
            if ort_out.shape != ref.shape:
                raise RuntimeError(f"ONNX output shape {ort_out.shape} differs from PyTorch {ref.shape}")
            max_abs = max(max_abs, float(np.max(np.abs(ort_out - ref))))
            max_ref = max(max_ref, float(np.max(np.abs(ref))))
    finally:
        module.train(was_training)
    return {
        "path": str(path),
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "opset": opset,
        "weights": weights,
        **names.card_entries(),
        "check_shapes": [list(s) for s in check_shapes],
        "graph_rewrites": rewrites,
        "max_abs_diff": max_abs,
        "max_rel_diff": max_abs / max(max_ref, 1e-30),
    }


def checkpoint_from_onnx(model: str | os.PathLike) -> dict[str, Any]:
    """A generator-only checkpoint rebuilt from an exported model (a shipped tag or an ``.onnx`` path).

    :func:`export_onnx` keeps the generator's parameter names (prefixed ``model.`` by the
    export wrapper) as the graph's initializers, float16-stored ones included, and the model
    card holds the training configuration: together they give back the weights, so a run can
    be continued from a shipped model on a machine without the original checkpoint
    (``emrestore train --init-from hrstem``). The payload has what
    :meth:`~emrestore.training.Trainer` needs from a checkpoint: ``config``, ``generator``,
    ``step``, ``pairs_seen``, ``wall_time_s``, ``initialised_from`` and ``path``.

    Raises
    ------
    ParameterError
        The file has no model card with a training configuration, or its initializers do not
        cover the generator's parameters (not exported by emrestore).
    """
    import onnx
    from onnx import numpy_helper

    from ..model.registry import find_model
    from ..nn import build_generator

    info = find_model(model)
    training = info.card.training or {}
    config = training.get("config")
    if not isinstance(config, dict) or "model" not in config:
        raise ParameterError(f"The model card of {info.onnx_path} holds no training configuration.",
                             "Start from a model exported by `emrestore train` / `emrestore export`.")
    generator = build_generator(config["model"])
    proto = onnx.load(str(info.onnx_path))
    initializers = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    meta = {p.key: p.value for p in proto.metadata_props}
    if "noise_conditioning" in meta:  # the conditioning weights, kept whole in the metadata
        for name, values in json.loads(meta["noise_conditioning"]).items():
            initializers[f"model.{name}"] = np.asarray(values, np.float32)
    state = {}
    for name, value in generator.state_dict().items():
        array = initializers.get(f"model.{name}")
        if array is None or tuple(array.shape) != tuple(value.shape):
            raise ParameterError(f"{info.onnx_path} has no weights for the generator's {name} {tuple(value.shape)}.",
                                 "Start from a model exported by `emrestore train` / `emrestore export`.")
        state[name] = torch.from_numpy(np.asarray(array, np.float32).copy())
    return {"config": config, "generator": state, "step": int(training.get("steps") or 0),
            "pairs_seen": int(training.get("pairs_seen") or 0),
            "wall_time_s": float(training.get("wall_time_s") or 0.0),
            "initialised_from": training.get("initialised_from"), "path": str(info.onnx_path)}

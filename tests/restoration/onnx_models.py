"""Small real ONNX networks for restore-engine tests (built with onnx.helper, run by onnxruntime).

They are genuine convolutional networks with seeded random weights: nonlinear, with a
known receptive field, and (optionally) the (mean, std) second input that emrestore's
exported models take.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def make_conv_model(path: Path, *, layers: int = 4, channels: int = 4, takes_stats: bool = True,
                    seed: int = 0, size_multiple: int = 2, card: dict | None = None) -> Path:
    """Write an ONNX model: normalise → `layers` 3×3 convs with ReLU → residual → de-normalise.

    The receptive field is ``2 * layers + 1`` px. With ``takes_stats`` the graph has a
    second input ``stats`` (N, 2) = (mean, std); otherwise it normalises each input by
    its own statistics (like a raw→raw model).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, "H", "W"])]
    if takes_stats:
        inputs.append(helper.make_tensor_value_info("stats", TensorProto.FLOAT, ["N", 2]))
        inits += [numpy_helper.from_array(np.array([0], np.int64), "i0"),
                  numpy_helper.from_array(np.array([1], np.int64), "i1"),
                  numpy_helper.from_array(np.array([2], np.int64), "i2"),
                  numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "shape4")]
        nodes += [helper.make_node("Slice", ["stats", "i0", "i1", "i1"], ["mean2"]),
                  helper.make_node("Slice", ["stats", "i1", "i2", "i1"], ["std2"]),
                  helper.make_node("Reshape", ["mean2", "shape4"], ["mean"]),
                  helper.make_node("Reshape", ["std2", "shape4"], ["std"])]
    else:
        nodes += [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2, 3], keepdims=1),
                  helper.make_node("Sub", ["input", "mean"], ["centred0"]),
                  helper.make_node("Mul", ["centred0", "centred0"], ["sq"]),
                  helper.make_node("ReduceMean", ["sq"], ["var"], axes=[1, 2, 3], keepdims=1),
                  helper.make_node("Sqrt", ["var"], ["std"])]
    nodes += [helper.make_node("Sub", ["input", "mean"], ["centred"]),
              helper.make_node("Div", ["centred", "std"], ["x0"])]
    previous, c_in = "x0", 1
    for k in range(layers):
        c_out = 1 if k == layers - 1 else channels
        weight = (rng.normal(0, 0.4, size=(c_out, c_in, 3, 3))).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f"w{k}"))
        inits.append(numpy_helper.from_array(np.zeros(c_out, np.float32), f"b{k}"))
        nodes.append(helper.make_node("Conv", [previous, f"w{k}", f"b{k}"], [f"c{k}"], pads=[1, 1, 1, 1]))
        if k < layers - 1:
            nodes.append(helper.make_node("Relu", [f"c{k}"], [f"r{k}"]))
            previous = f"r{k}"
        else:
            previous = f"c{k}"
        c_in = c_out
    nodes += [helper.make_node("Add", [previous, "x0"], ["res"]),
              helper.make_node("Mul", ["res", "std"], ["scaled"]),
              helper.make_node("Add", ["scaled", "mean"], ["output"])]
    graph = helper.make_graph(nodes, "test_restorer", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    path.with_suffix(".json").write_text(json.dumps({
        "tag": card.get("tag") if card else None, "modality": "stem", "size_multiple": size_multiple,
        "config_name": f"test-conv{layers}", **(card or {})}))
    return path

"""ONNX graph rewrites that remove data movement from exported CGRDN graphs, output unchanged.

PyTorch exports :class:`torch.nn.PixelUnshuffle` as Unsqueeze → Reshape → Reshape → 6-D
Transpose → Reshape → Squeeze, and the first ``torch.cat`` of every residual-dense block as a
one-input Concat; with the pixel-shuffle (DepthToSpace) they spend 40–57 % of the small presets'
time copying full-resolution tensors of ``channels`` planes (docs/restore.md, "Backends and
precision per CPU"). The passes here rewrite such a graph into one that computes the same
function with fewer copies:

``drop_single_concats``
    A Concat of one input is its input.
``pixel_unshuffle_to_space_to_depth``
    The 6-D pixel-unshuffle becomes ONNX SpaceToDepth; SpaceToDepth orders the output channels
    block-major ((by, bx), c) where the pixel-unshuffle orders them channel-major (c, (by, bx)),
    so the input channels of the following 1×1 convolution are permuted to match.
``fuse_stem_down``
    3×3 stem convolution → pixel-unshuffle → 1×1 convolution (all linear) become one
    (f + 2)×(f + 2) convolution of stride f on the one-plane input: the full-resolution
    ``channels``-plane tensor is never formed.
``fuse_up_out``
    1×1 convolution → pixel-shuffle (DepthToSpace) → k×k output convolution (linear, one output
    plane) become one convolution at the body's resolution with f² output planes, one per
    sub-pixel, then a DepthToSpace of f² planes to one: again no full-resolution
    ``channels``-plane tensor. The 1×1 convolution's bias enters through a plane of ones, so
    that the output convolution's zero padding at the image border is reproduced exactly.

Every new weight is computed *inside the graph* from the original weights by constant
operators (Reshape, Transpose, Conv, ...), which onnxruntime and OpenVINO fold when they load
the file: the original initializers keep their names and values (so
:func:`emrestore.training.export.checkpoint_from_onnx` still reads the generator's weights from a
rewritten file, float16-stored ones included), and the rewrite needs no numerical weight
surgery. :func:`optimise_model` applies the passes and checks the result against the original
graph with onnxruntime on random inputs (:func:`max_relative_difference`).

Needs the ``onnx`` package (``emrestore[train]``); the shipped models are stored rewritten.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EMRestoreError

__all__ = ["PASSES", "DEFAULT_PASSES", "REWRITE_METADATA_KEY", "RewriteReport", "optimise_model",
           "drop_single_concats", "pixel_unshuffle_to_space_to_depth", "fuse_stem_down", "fuse_up_out",
           "max_relative_difference", "applied_rewrites"]

#: ``metadata_props`` key listing the passes applied to a graph (comma-separated).
REWRITE_METADATA_KEY = "graph_rewrites"
#: Largest |rewritten − original| / max |original| accepted by :func:`optimise_model`.
DEFAULT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class RewriteReport:
    """What :func:`optimise_model` did.

    Attributes
    ----------
    applied : dict of str to int
        Pass name → number of rewrites it made.
    max_rel_diff : float or None
        Largest |rewritten − original| / max |original| over the check inputs (None: not checked).
    """

    applied: dict[str, int]
    max_rel_diff: float | None


# ---------------------------------------------------------------------- graph helpers
class _Graph:
    """Producer/consumer index of an ONNX graph and unique-name generation."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.graph = proto.graph
        self._counter = 0
        self.reindex()

    def reindex(self) -> None:
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.output:
                self.producer[name] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.graph_outputs = {o.name for o in self.graph.output}
        self.initializers = {i.name: i for i in self.graph.initializer}
        self.taken = ({i.name for i in self.graph.initializer} | {i.name for i in self.graph.input}
                      | {n.name for n in self.graph.node} | set(self.producer))

    def name(self, stem: str) -> str:
        """A tensor or node name not used in the graph yet."""
        while True:
            self._counter += 1
            candidate = f"{stem}/rw{self._counter}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate

    def sole_consumer(self, tensor: str) -> Any | None:
        """The one node reading ``tensor`` (None when several, none, or it is a graph output)."""
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.graph_outputs else None

    def const(self, values: Any, dtype: Any = np.int64, stem: str = "const") -> str:
        """Add a Constant node holding ``values`` (not an initializer: the graph's initializers
        stay the generator's weights); returns its output."""
        from onnx import helper, numpy_helper

        name = self.name(stem)
        tensor = numpy_helper.from_array(np.asarray(values, dtype=dtype), f"{name}/value")
        self.graph.node.append(helper.make_node("Constant", [], [name], name=self.name(f"{stem}_node"), value=tensor))
        return name

    def node(self, op: str, inputs: list[str], stem: str, out: str | None = None, **attrs: Any) -> str:
        """Make a node (appended; :func:`_sort_topologically` orders the graph); returns its output."""
        from onnx import helper

        output = out or self.name(f"{stem}/{op}")
        self.graph.node.append(helper.make_node(op, inputs, [output], name=self.name(f"{stem}/{op}_node"), **attrs))
        return output

    def remove(self, nodes: list[Any]) -> None:
        ids = {id(n) for n in nodes}
        kept = [n for n in self.graph.node if id(n) not in ids]
        del self.graph.node[:]
        self.graph.node.extend(kept)


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            value = helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _channels(proto: Any) -> dict[str, int]:
    """Channel count (dimension 1) of every tensor whose shape inference gives a fixed one."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    found: dict[str, int] = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        dims = info.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value"):
            found[info.name] = dims[1].dim_value
    for init in proto.graph.initializer:
        if len(init.dims) >= 2:
            found[init.name] = init.dims[1]
    return found


def _weight_dims(g: _Graph, tensor: str) -> list[int] | None:
    """Dims of a constant weight: an initializer or a Cast of one (float16 storage)."""
    if tensor in g.initializers:
        return list(g.initializers[tensor].dims)
    node = g.producer.get(tensor)
    if node is not None and node.op_type == "Cast" and node.input[0] in g.initializers:
        return list(g.initializers[node.input[0]].dims)
    return None


def _is_conv(node: Any, kernel: int | None = None) -> bool:
    """A plain Conv (group 1, stride 1, dilation 1, optional ``kernel``×``kernel``, same padding)."""
    if node is None or node.op_type != "Conv" or _attr(node, "group", 1) != 1:
        return False
    if any(s != 1 for s in _attr(node, "strides", [1, 1])) or any(d != 1 for d in _attr(node, "dilations", [1, 1])):
        return False
    if _attr(node, "auto_pad", "NOTSET") not in ("NOTSET", ""):
        return False
    shape = list(_attr(node, "kernel_shape", []))
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] % 2 == 0:
        return False
    pads = list(_attr(node, "pads", [0, 0, 0, 0]))
    return pads == [shape[0] // 2] * 4 and (kernel is None or shape[0] == kernel)


_UNSHUFFLE_PERM = [0, 1, 3, 5, 2, 4]


@dataclass
class _Unshuffle:
    """A matched pixel-unshuffle chain ``source`` → ... → 1×1 ``conv``."""

    source: str
    nodes: list[Any]
    conv: Any
    factor: int
    channels: int


def _find_unshuffles(g: _Graph, channels: dict[str, int]) -> list[_Unshuffle]:
    """Pixel-unshuffle chains (shape ops around a 6-D Transpose) that feed a 1×1 Conv."""
    shape_ops = ("Reshape", "Unsqueeze", "Squeeze")
    found = []
    for node in list(g.graph.node):
        if node.op_type != "Transpose" or list(_attr(node, "perm", [])) != _UNSHUFFLE_PERM:
            continue
        chain = [node]
        head = node
        while True:  # back to the 4-D tensor the chain starts from
            parent = g.producer.get(head.input[0])
            if parent is None or parent.op_type not in shape_ops or g.sole_consumer(parent.output[0]) is not head:
                break
            chain.insert(0, parent)
            head = parent
        tail = node
        while True:
            child = g.sole_consumer(tail.output[0])
            if child is None or child.op_type not in shape_ops:
                break
            chain.append(child)
            tail = child
        conv = g.sole_consumer(tail.output[0])
        source = head.input[0]
        dims = _weight_dims(g, conv.input[1]) if conv is not None else None
        if not _is_conv(conv, 1) or dims is None or source not in channels or head is node:
            continue
        c = channels[source]
        factor = math.isqrt(dims[1] // c) if dims[1] % c == 0 else 0
        if factor < 2 or factor * factor * c != dims[1]:
            continue
        found.append(_Unshuffle(source, chain, conv, factor, c))
    return found


# ---------------------------------------------------------------------- passes
def drop_single_concats(proto: Any) -> int:
    """Rewire the readers of one-input Concats to the input; returns how many were removed."""
    g = _Graph(proto)
    dropped = []
    for node in list(g.graph.node):
        if node.op_type != "Concat" or len(node.input) != 1 or node.output[0] in g.graph_outputs:
            continue
        source, target = node.input[0], node.output[0]
        for user in g.consumers.get(target, []):
            for k, name in enumerate(user.input):
                if name == target:
                    user.input[k] = source
        dropped.append(node)
    g.remove(dropped)
    return len(dropped)


def pixel_unshuffle_to_space_to_depth(proto: Any) -> int:
    """Replace each pixel-unshuffle feeding a 1×1 Conv by SpaceToDepth, permuting the Conv's
    input channels (in a constant subgraph) to SpaceToDepth's block-major order."""
    g = _Graph(proto)
    matches = _find_unshuffles(g, _channels(proto))
    for m in matches:
        stem = m.conv.name or "unshuffle"
        f2, c = m.factor * m.factor, m.channels
        weight = m.conv.input[1]
        w = g.node("Reshape", [weight, g.const([0, c, f2, 1])], stem)
        w = g.node("Transpose", [w], stem, perm=[0, 2, 1, 3])
        w = g.node("Reshape", [w, g.const([0, c * f2, 1, 1])], stem)
        moved = g.node("SpaceToDepth", [m.source], stem, blocksize=m.factor)
        m.conv.input[0] = moved
        m.conv.input[1] = w
        g.remove(m.nodes)
    return len(matches)


def fuse_stem_down(proto: Any) -> int:
    """Fuse k×k Conv (one input plane) → pixel-unshuffle(f) → 1×1 Conv into one Conv of
    kernel f + k − 1 and stride f (its weight and bias computed in constant subgraphs)."""
    g = _Graph(proto)
    matches = _find_unshuffles(g, _channels(proto))
    fused = 0
    for m in matches:
        stem_conv = g.producer.get(m.source)
        dims = _weight_dims(g, stem_conv.input[1]) if stem_conv is not None else None
        if (not _is_conv(stem_conv) or dims is None or dims[1] != 1 or len(stem_conv.input) < 3
                or len(m.conv.input) < 3 or g.sole_consumer(m.source) is not m.nodes[0]):
            continue
        f, c, k = m.factor, m.channels, dims[2]
        stem = m.conv.name or "down"
        # W_down (O, C·f², 1, 1) as (O, C, f, f): pixel-unshuffle's channel index is c·f² + by·f + bx.
        w_down = g.node("Reshape", [m.conv.input[1], g.const([0, c, f, f])], stem)
        # fused[o, u, v] = Σ_c Σ_{dy+by=u, dx+bx=v} W_down[o, c, by, bx] · K[c, dy, dx]: a full
        # convolution of W_down with the stem kernels, i.e. a correlation with the flipped kernels.
        flipped = g.node("Slice", [stem_conv.input[1], g.const([-1, -1]), g.const([-(2**62), -(2**62)]),
                                   g.const([2, 3]), g.const([-1, -1])], stem)
        flipped = g.node("Transpose", [flipped], stem, perm=[1, 0, 2, 3])  # (1, C, k, k)
        weight = g.node("Conv", [w_down, flipped], stem, pads=[k - 1] * 4)  # (O, 1, f+k-1, f+k-1)
        # bias = b_down + Σ W_down · b_stem
        b_stem = g.node("Reshape", [stem_conv.input[2], g.const([1, c, 1, 1])], stem)
        spread = g.node("ReduceSum", [g.node("Mul", [w_down, b_stem], stem), g.const([1, 2, 3])], stem, keepdims=0)
        bias = g.node("Add", [m.conv.input[2], spread], stem)
        pad = k // 2
        g.node("Conv", [stem_conv.input[0], weight, bias], stem, out=m.conv.output[0],
               kernel_shape=[f + k - 1] * 2, strides=[f, f], pads=[pad] * 4)
        g.remove([stem_conv, *m.nodes, m.conv])
        fused += 1
    return fused


def fuse_up_out(proto: Any) -> int:
    """Fuse 1×1 Conv → DepthToSpace(f) → k×k Conv with one output plane into a Conv with f²
    output planes at the input's resolution and a DepthToSpace of those planes."""
    from onnx import TensorProto, helper

    g = _Graph(proto)
    channels = _channels(proto)
    fused = 0
    for d2s in [n for n in g.graph.node if n.op_type == "DepthToSpace"]:
        up = g.producer.get(d2s.input[0])
        out = g.sole_consumer(d2s.output[0])
        up_dims = _weight_dims(g, up.input[1]) if up is not None else None
        out_dims = _weight_dims(g, out.input[1]) if out is not None else None
        if (not _is_conv(up, 1) or not _is_conv(out) or up_dims is None or out_dims is None
                or g.sole_consumer(up.output[0]) is not d2s or out_dims[0] != 1 or len(up.input) < 3
                or len(out.input) < 3 or up.input[0] not in channels):
            continue
        f, k = int(_attr(d2s, "blocksize")), out_dims[2]
        c_in, f2 = channels[up.input[0]], int(_attr(d2s, "blocksize")) ** 2
        reach = -(-(k // 2) // f)  # context at the low resolution [px]
        side = 2 * reach + 1
        stem = out.name or "up"
        # The fused weight is the original chain's response to unit impulses: one per input plane,
        # plus one for the plane of ones that carries the 1×1 conv's bias.
        square = g.node("ConstantOfShape", [g.const([c_in + 1, c_in + 1])], stem,
                        value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
        impulses = g.node("Reshape", [g.node("EyeLike", [square], stem), g.const([c_in + 1, c_in + 1, 1, 1])], stem)
        impulses = g.node("Pad", [impulses, g.const([0, 0, reach, reach, 0, 0, reach, reach])], stem)
        bias_column = g.node("Reshape", [up.input[2], g.const([-1, 1, 1, 1])], stem)
        w_up = g.node("Concat", [up.input[1], bias_column], stem, axis=1)  # (C·f², C+1, 1, 1)
        response = g.node("Conv", [impulses, w_up], stem)
        response = g.node("DepthToSpace", [response], stem, blocksize=f, mode=_attr(d2s, "mode", "DCR"))
        response = g.node("Conv", [response, out.input[1]], stem, pads=[k // 2] * 4)
        response = g.node("SpaceToDepth", [response], stem, blocksize=f)  # (C+1, f², side, side)
        response = g.node("Slice", [response, g.const([-1, -1]), g.const([-(2**62), -(2**62)]),
                                    g.const([2, 3]), g.const([-1, -1])], stem)
        weight = g.node("Transpose", [response], stem, perm=[1, 0, 2, 3])  # (f², C+1, side, side)
        w_main = g.node("Slice", [weight, g.const([0]), g.const([c_in]), g.const([1])], stem)
        w_ones = g.node("Slice", [weight, g.const([c_in]), g.const([c_in + 1]), g.const([1])], stem)
        bias = g.node("Expand", [out.input[2], g.const([f2])], stem)
        x = up.input[0]
        # a plane of ones (N, 1, h, w) like x
        shape = g.node("Shape", [x], stem)
        ones_shape = g.node("Concat", [g.node("Slice", [shape, g.const([0]), g.const([1])], stem),
                                       g.const([1]), g.node("Slice", [shape, g.const([2]), g.const([4])], stem)],
                            stem, axis=0)
        ones = g.node("ConstantOfShape", [ones_shape], stem,
                      value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]))
        main = g.node("Conv", [x, w_main, bias], stem, kernel_shape=[side, side], pads=[reach] * 4)
        edge = g.node("Conv", [ones, w_ones], stem, kernel_shape=[side, side], pads=[reach] * 4)
        planes = g.node("Add", [main, edge], stem)
        g.node("DepthToSpace", [planes], stem, out=out.output[0], blocksize=f, mode="DCR")
        g.remove([up, d2s, out])
        fused += 1
    return fused


#: The passes by name, in the order :func:`optimise_model` applies them.
PASSES: dict[str, Callable[[Any], int]] = {
    "drop_single_concats": drop_single_concats,
    "fuse_stem_down": fuse_stem_down,
    "pixel_unshuffle_to_space_to_depth": pixel_unshuffle_to_space_to_depth,
    "fuse_up_out": fuse_up_out,
}
#: What the exporter and the shipped models use (fuse_stem_down leaves no pixel-unshuffle for
#: the SpaceToDepth pass; that pass serves graphs whose stem cannot be fused).
DEFAULT_PASSES = tuple(PASSES)


def _sort_topologically(proto: Any) -> None:
    """Order the nodes so that each comes after the producers of its inputs (ONNX requires it)."""
    graph = proto.graph
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        progress = [n for n in pending if all(name in ready for name in n.input)]
        if not progress:
            raise EMRestoreError("The rewritten ONNX graph has a cycle or an undefined input.",
                                 "Report this with the model file; use the graph unrewritten meanwhile.")
        ids = {id(n) for n in progress}
        pending = [n for n in pending if id(n) not in ids]
        ordered.extend(progress)
        ready.update(name for n in progress for name in n.output)
    del graph.node[:]
    graph.node.extend(ordered)


def _drop_dead_nodes(proto: Any) -> None:
    """Remove nodes none of whose outputs is read (left behind by the passes: shape constants)."""
    graph = proto.graph
    while True:
        read = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(name in read for name in n.output)]
        if not dead:
            return
        ids = {id(n) for n in dead}
        kept = [n for n in graph.node if id(n) not in ids]
        del graph.node[:]
        graph.node.extend(kept)


def applied_rewrites(proto: Any) -> list[str]:
    """The pass names recorded in a graph's metadata (empty: not rewritten)."""
    for entry in proto.metadata_props:
        if entry.key == REWRITE_METADATA_KEY:
            return [name for name in entry.value.split(",") if name]
    return []


def max_relative_difference(original: bytes, rewritten: bytes,
                            shapes: tuple[tuple[int, int, int], ...] = ((1, 64, 64), (2, 45, 70)),
                            seed: int = 0) -> float:
    """Largest |rewritten − original| / max |original| of two graphs run by onnxruntime (CPU)
    on gamma-distributed inputs of the (N, H, W) ``shapes`` (a second input gets each input's
    own (mean, std), perturbed)."""
    import onnxruntime as ort

    from .conditioning import batch_stats

    sessions = [ort.InferenceSession(model, providers=["CPUExecutionProvider"]) for model in (original, rewritten)]
    inputs = sessions[0].get_inputs()
    names = [i.name for i in inputs]
    width = inputs[1].shape[1] if len(inputs) > 1 and isinstance(inputs[1].shape[1], int) else 2
    rng = np.random.default_rng(seed)
    worst, scale = 0.0, 0.0
    for n, h, w in shapes:
        x = (rng.gamma(2.0, 50.0, size=(n, 1, h, w)) + 10.0).astype(np.float32)
        feeds = {names[0]: x}
        if len(names) > 1:
            feeds[names[1]] = (batch_stats(x, width) * rng.uniform(0.9, 1.1, size=(n, width))).astype(np.float32)
        a, b = (s.run(None, feeds)[0] for s in sessions)
        worst = max(worst, float(np.max(np.abs(a - b))))
        scale = max(scale, float(np.max(np.abs(a))))
    return worst / max(scale, 1e-30)


def optimise_model(proto: Any, passes: tuple[str, ...] = DEFAULT_PASSES, *, check: bool = True,
                   tolerance: float = DEFAULT_TOLERANCE) -> RewriteReport:
    """Apply the rewrite ``passes`` to an ONNX model in place, and check it still computes the same.

    Parameters
    ----------
    proto : onnx.ModelProto
        The model (changed in place; the passes it records as applied are skipped).
    passes : tuple of str
        Names from :data:`PASSES`.
    check : bool
        Run the original and the rewritten graph with onnxruntime on random inputs
        (:func:`max_relative_difference`) and raise beyond ``tolerance``.
    tolerance : float
        Largest accepted relative difference.

    Returns
    -------
    RewriteReport

    Raises
    ------
    EMRestoreError
        An unknown pass, or a rewritten graph that differs from the original beyond ``tolerance``
        or fails the ONNX checker (the model is then left as it was).
    """
    import onnx

    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise EMRestoreError(f"Unknown graph rewrite(s) {unknown}.", f"Use some of {', '.join(PASSES)}.")
    done = applied_rewrites(proto)
    before = proto.SerializeToString()
    work = onnx.ModelProto()
    work.CopyFrom(proto)
    applied = {}
    for name in passes:
        if name in done:
            continue
        count = PASSES[name](work)
        _drop_dead_nodes(work)
        _sort_topologically(work)
        if count:
            applied[name] = count
    if not applied:
        return RewriteReport({}, None)
    entries = [e for e in work.metadata_props if e.key != REWRITE_METADATA_KEY]
    del work.metadata_props[:]
    work.metadata_props.extend(entries)
    entry = work.metadata_props.add()
    entry.key, entry.value = REWRITE_METADATA_KEY, ",".join([*done, *applied])
    try:
        onnx.checker.check_model(work)
    except onnx.checker.ValidationError as error:
        raise EMRestoreError(f"A graph rewrite produced an invalid ONNX graph ({error}).",
                             "Report this with the model file; use the graph unrewritten meanwhile.") from error
    difference = None
    if check:
        difference = max_relative_difference(before, work.SerializeToString())
        if not difference <= tolerance:
            raise EMRestoreError(
                f"The rewritten graph ({', '.join(applied)}) differs from the original by {difference:.3g} "
                f"(relative), more than {tolerance:g}.",
                "Report this with the model file; use the graph unrewritten meanwhile.")
    proto.CopyFrom(work)
    return RewriteReport(applied, difference)


def optimise_file(path: str | Any, out: str | Any | None = None,
                  passes: tuple[str, ...] = DEFAULT_PASSES) -> RewriteReport:
    """Rewrite the ONNX file ``path`` (see :func:`optimise_model`) into ``out`` (default: in place,
    atomically). A file that needs no rewrite is left as it is (and ``out`` not written)."""
    from pathlib import Path

    import onnx

    from ..io.atomic import atomic_path

    proto = onnx.load(str(path))
    report = optimise_model(proto, passes)
    if report.applied:
        target = Path(out if out is not None else path)
        with atomic_path(target) as temp:
            onnx.save(proto, str(temp))
    return report

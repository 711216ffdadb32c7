"""The one int8 recipe for reward-model ONNX graphs: a turn's score depends on that turn alone.

onnxruntime's dynamic int8 (``quantize_dynamic``) takes each activation's range from the whole
batch it runs in, so a turn's score moved with its batch-mates (up to 0.38 on the 1-5 scale for
the v2 default on iEval turns), and through them the text of one conversation reached the
figures of others. This recipe computes nothing across rows of a batch:

- every ``MatMul`` with a constant 2-D weight ``[K, N]`` gets symmetric int8 weights with one
  scale per output channel (what per-channel dynamic int8 kept), and its input is quantized
  **per row** (per token): scale = max |x| of that row / 127, uint8 with zero point 128. The
  product runs in int8 with exact int32 sums (``MatMulIntegerToFloat``, which also applies the
  channel scales), then each row is multiplied by its own scale. Rows share nothing, and the
  integer sums do not depend on how rows are blocked, so batch-mates, padding rows and batch
  size cannot move a turn's score; MatMuls reading the same input (query, key, value) share
  one quantization of it;
- embedding tables (``Gather`` of a constant 2-D table) are stored int8 with one scale per row
  (one token id), gathered and scaled per token;
- the linear head (one output column) and the sums over the sequence (pooling) run in
  float64, so their float32 results do not depend on the batch's shape either.

A graph quantized the old way turns back into fp32 with exactly the weights it multiplied by
(:func:`dequantize_reward_onnx`), and this recipe then gives back those same int8 weights.

:func:`quantize_reward_int8` is what ``bundle build``, ``export onnx --reward`` and ``distill``
use (through :func:`edge_eval.training.train.quantize_int8`). It needs ``onnx`` (the train or
export extra); scoring needs only onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import MissingDependencyError, QuantizationError

__all__ = [
    "INT8_RECIPE",
    "Int8Recipe",
    "dequantize_reward_onnx",
    "quantize_reward_int8",
]

_MS_DOMAIN = "com.microsoft"


@dataclass(frozen=True, slots=True, kw_only=True)
class Int8Recipe:
    """What a reward graph quantized with :func:`quantize_reward_int8` holds (fixed; no options).

    Attributes:
        label: the fixed text ``bundle.json`` records as ``training.precision``.
        matmuls: MatMuls now run in int8 with per-row activations.
        embeddings: embedding tables now stored int8 per row.
    """

    label: str = (
        "int8 per-row activations x per-channel weights (batch-independent), "
        "int8 per-row embeddings"
    )
    matmuls: int = 0
    embeddings: int = 0


#: The label of the recipe every reward bundle ships with.
INT8_RECIPE = Int8Recipe().label


def _import_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("onnx", "train") from exc
    return onnx, numpy_helper


def _load(path: Path) -> Any:
    onnx, _ = _import_onnx()
    from google.protobuf.message import DecodeError

    try:
        return onnx.load(str(path))
    except (OSError, ValueError, DecodeError) as exc:
        raise QuantizationError(
            "the reward model.onnx cannot be read or is damaged",
            hint="Export it again (edge-eval export onnx --reward).",
        ) from exc


def _save(model: Any, path: Path) -> None:
    onnx, _ = _import_onnx()
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


class _Graph:
    """Initializers by name, consumers by tensor, and helpers to swap nodes in place."""

    def __init__(self, model: Any) -> None:
        _, self.numpy_helper = _import_onnx()
        self.model = model
        self.graph = model.graph
        self.inits = {i.name: i for i in self.graph.initializer}

    def array(self, name: str) -> np.ndarray | None:
        init = self.inits.get(name)
        return None if init is None else self.numpy_helper.to_array(init)

    def add(self, array: np.ndarray, name: str) -> str:
        tensor = self.numpy_helper.from_array(array, name=name)
        self.graph.initializer.append(tensor)
        self.inits[name] = tensor
        return name

    def consumers(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                out.setdefault(name, []).append(node)
        return out

    def producers(self) -> dict[str, Any]:
        return {o: node for node in self.graph.node for o in node.output}

    def prune(self) -> None:
        """Drop nodes whose outputs nobody reads, then unused initializers."""
        outputs = {o.name for o in self.graph.output}
        while True:
            used = set(outputs)
            for node in self.graph.node:
                used.update(node.input)
            dead = [n for n in self.graph.node if not any(o in used for o in n.output if o)]
            if not dead:
                break
            for node in dead:
                self.graph.node.remove(node)
        used = {name for node in self.graph.node for name in node.input}
        for init in list(self.graph.initializer):
            if init.name not in used:
                self.graph.initializer.remove(init)
        self.inits = {i.name: i for i in self.graph.initializer}

    def ensure_domain(self, domain: str) -> None:
        if not any(o.domain == domain for o in self.model.opset_import):
            onnx, _ = _import_onnx()
            self.model.opset_import.append(onnx.helper.make_opsetid(domain, 1))


def _per_channel(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``weight [K, N]`` -> (int8 ``[K, N]``, scale per output channel ``[N]``), symmetric."""
    scale = (np.abs(weight).max(axis=0) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    return np.clip(np.rint(weight / scale), -127, 127).astype(np.int8), scale


def _per_row(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embedding table ``[V, D]`` -> (int8 ``[V, D]``, scale per row ``[V, 1]``), symmetric."""
    scale = (np.abs(table).max(axis=1, keepdims=True) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    return np.clip(np.rint(table / scale), -127, 127).astype(np.int8), scale


def _is_weight(array: np.ndarray | None) -> bool:
    """A 2-D fp32 weight with more than one output column (the one-column head stays)."""
    return (
        array is not None and array.ndim == 2 and array.dtype == np.float32 and array.shape[1] > 1
    )


def _rowwise_matmuls(g: _Graph, helper: Any) -> tuple[list[Any], int]:
    """The graph's nodes with every weight MatMul made per-row int8; and how many were."""
    # positions of the weight MatMuls (protobuf wrappers have no stable identity)
    targets = {
        i
        for i, node in enumerate(g.graph.node)
        if node.op_type == "MatMul" and _is_weight(g.array(node.input[1]))
    }
    if not targets:
        return list(g.graph.node), 0
    zero_point = g.add(np.array(128, dtype=np.uint8), "rowq8_zero_point")
    floor = g.add(np.array(1e-12, dtype=np.float32), "rowq8_floor")
    inv127 = g.add(np.array(1.0 / 127.0, dtype=np.float32), "rowq8_inv127")
    one = g.add(np.array(1.0, dtype=np.float32), "rowq8_one")
    done: set[str] = set()
    nodes: list[Any] = []
    for i, node in enumerate(g.graph.node):
        if i not in targets:
            nodes.append(node)
            continue
        x = node.input[0]
        t = f"{x}_rowq8"
        if x not in done:  # quantize each activation once, where its first reader was
            done.add(x)
            nodes += [
                # max |x| over each row = max(max x, -min x): two reads, no temporary tensor
                helper.make_node("ReduceMax", [x], [f"{t}_hi"], axes=[-1], keepdims=1),
                helper.make_node("ReduceMin", [x], [f"{t}_lo"], axes=[-1], keepdims=1),
                helper.make_node("Neg", [f"{t}_lo"], [f"{t}_nlo"]),
                helper.make_node("Max", [f"{t}_hi", f"{t}_nlo", floor], [f"{t}_max"]),
                helper.make_node("Mul", [f"{t}_max", inv127], [f"{t}_scale"]),
                helper.make_node("Reciprocal", [f"{t}_scale"], [f"{t}_inverse"]),
                helper.make_node("Mul", [x, f"{t}_inverse"], [f"{t}_scaled"]),
                # round half to even, + 128, saturate to uint8: one op
                helper.make_node("QuantizeLinear", [f"{t}_scaled", one, zero_point], [t]),
            ]
        weight = g.array(node.input[1])
        assert weight is not None
        w_q, w_scale = _per_channel(weight)
        w_name = g.add(w_q, f"{node.input[1]}_rowq8")
        s_name = g.add(w_scale, f"{node.input[1]}_rowq8_scale")
        out = node.output[0]
        nodes += [
            # (q - 128) @ w_q in exact int32, times the channel scales: one MLAS call
            helper.make_node(
                "MatMulIntegerToFloat",
                [t, w_name, one, s_name, zero_point],
                [f"{out}_channels"],
                name=f"{out}_rowq8_matmul",
                domain=_MS_DOMAIN,
            ),
            helper.make_node("Mul", [f"{out}_channels", f"{t}_scale"], [out]),
        ]
    return nodes, len(targets)


def _rowwise_gathers(g: _Graph, helper: Any) -> tuple[list[Any], int]:
    """The graph's nodes with every embedding Gather reading an int8 table; and how many."""
    nodes: list[Any] = []
    count = 0
    for node in g.graph.node:
        table = g.array(node.input[0]) if node.op_type == "Gather" else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if table is None or axis != 0 or not _is_weight(table):
            nodes.append(node)
            continue
        q, scale = _per_row(table)
        q_name = g.add(q, f"{node.input[0]}_rowq8")
        s_name = g.add(scale, f"{node.input[0]}_rowq8_scale")
        ids, out = node.input[1], node.output[0]
        nodes += [
            helper.make_node("Gather", [q_name, ids], [f"{out}_q"], axis=0),
            helper.make_node("Cast", [f"{out}_q"], [f"{out}_qf"], to=1),
            helper.make_node("Gather", [s_name, ids], [f"{out}_scale"], axis=0),
            helper.make_node("Mul", [f"{out}_qf", f"{out}_scale"], [out]),
        ]
        count += 1
    return nodes, count


def _float64_tail(g: _Graph, helper: Any) -> tuple[list[Any], int]:
    """Sums over the sequence (pooling) and the small fp32 head, computed in float64.

    onnxruntime's float32 reductions add in an order that depends on the batch's shape, which
    moved pooled features by an ulp or two with the batch; in float64 those orders agree to
    ~1e-16, and the result rounds back to the same float32.
    """
    onnx, _ = _import_onnx()
    inferred = onnx.shape_inference.infer_shapes(g.model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in inferred.graph.input})
    float32, float64 = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE
    nodes: list[Any] = []
    count = 0
    for node in g.graph.node:
        weight = g.array(node.input[1]) if len(node.input) > 1 else None
        # the head: one output column, as MatMul [K, 1] or Gemm with transB [1, K]
        is_head = (
            node.op_type in ("MatMul", "Gemm")
            and weight is not None
            and weight.ndim == 2
            and 1 in weight.shape
        )
        if node.op_type != "ReduceSum" and not is_head:
            nodes.append(node)
            continue
        inputs = []
        for position, name in enumerate(node.input):
            array = g.array(name) if name else None
            if array is not None and array.dtype == np.float32:
                inputs.append(g.add(array.astype(np.float64), f"{name}_f64"))
            elif array is None and name and types.get(name) == float32:
                nodes.append(
                    helper.make_node("Cast", [name], [f"{name}_f64_{count}_{position}"], to=float64)
                )
                inputs.append(f"{name}_f64_{count}_{position}")
            else:
                inputs.append(name)
        out = node.output[0]
        wide = helper.make_node(node.op_type, inputs, [f"{out}_f64"], name=f"{out}_f64_node")
        wide.attribute.extend(node.attribute)
        nodes += [wide, helper.make_node("Cast", [f"{out}_f64"], [out], to=float32)]
        count += 1
    return nodes, count


def quantize_reward_int8(src: Path, dst: Path) -> Int8Recipe:
    """Quantize the fp32 reward graph at ``src`` into ``dst`` with the batch-independent recipe.

    Returns what was done (its :attr:`Int8Recipe.label` goes into ``bundle.json``). Raises
    :class:`~edge_eval.errors.QuantizationError` when the graph has no fp32 weight MatMul (an
    already-quantized graph: turn it back first with :func:`dequantize_reward_onnx`).
    """
    onnx, _ = _import_onnx()
    model = _load(Path(src))
    g = _Graph(model)
    nodes, _ = _float64_tail(g, onnx.helper)  # first: shape inference needs standard ops
    del g.graph.node[:]
    g.graph.node.extend(nodes)
    nodes, matmuls = _rowwise_matmuls(g, onnx.helper)
    if not matmuls:
        raise QuantizationError(
            "the reward graph has no fp32 weight MatMul to quantize (is it int8 already?)",
            hint="Quantize the fp32 export, or turn the int8 graph back with "
            "dequantize_reward_onnx first.",
        )
    del g.graph.node[:]
    g.graph.node.extend(nodes)
    nodes, embeddings = _rowwise_gathers(g, onnx.helper)
    del g.graph.node[:]
    g.graph.node.extend(nodes)
    g.ensure_domain(_MS_DOMAIN)
    g.prune()
    _save(model, Path(dst))
    return Int8Recipe(matmuls=matmuls, embeddings=embeddings)


def dequantize_reward_onnx(src: Path, dst: Path) -> int:
    """Turn a dynamic-int8 reward graph (``quantize_dynamic``) back into fp32; return the count.

    Each ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scales)`` becomes one fp32
    ``MatMul`` with the dequantized weight ``(q - zero_point) * scale``, and each
    ``Gather -> DequantizeLinear`` of an int8 table a ``Gather`` of the dequantized table: the
    weights are exactly those the int8 graph multiplied by, only the activations stay fp32.
    """
    onnx, _ = _import_onnx()
    helper = onnx.helper
    model = _load(Path(src))
    g = _Graph(model)
    consumers = g.consumers()
    producers = g.producers()
    replace: dict[str, Any] = {}  # first output of a node to replace -> new node (None: drop)
    count = 0
    for node in g.graph.node:
        if node.op_type == "MatMulInteger":
            x_q, w_q, _, w_zp = (list(node.input) + [""] * 4)[:4]
            quantizer = producers.get(x_q)
            weight = g.array(w_q)
            if quantizer is None or quantizer.op_type != "DynamicQuantizeLinear" or weight is None:
                continue
            (cast,) = consumers[node.output[0]]
            (scale_mul,) = consumers[cast.output[0]]
            scales_node = producers[scale_mul.input[1]]
            w_scale = g.array(scales_node.input[1])
            zero = g.array(w_zp) if w_zp else np.zeros(1, dtype=weight.dtype)
            if cast.op_type != "Cast" or scale_mul.op_type != "Mul" or w_scale is None:
                raise QuantizationError("an int8 MatMul of the reward graph has an unknown form")
            assert zero is not None
            real = (weight.astype(np.float32) - zero.astype(np.float32)) * w_scale
            name = g.add(real.astype(np.float32), f"{w_q}_dequantized")
            replace[node.output[0]] = helper.make_node(
                "MatMul", [quantizer.input[0], name], list(scale_mul.output), name=node.name
            )
            replace[cast.output[0]] = replace[scale_mul.output[0]] = None
            count += 1
        elif node.op_type == "DequantizeLinear":
            gather = producers.get(node.input[0])
            table = g.array(gather.input[0]) if gather is not None else None
            if gather is None or gather.op_type != "Gather" or table is None:
                continue
            scale = g.array(node.input[1])
            zero = g.array(node.input[2]) if len(node.input) > 2 else None
            assert scale is not None
            offset = np.float32(0) if zero is None else zero.astype(np.float32)
            real = (table.astype(np.float32) - offset) * scale
            name = g.add(real.astype(np.float32), f"{gather.input[0]}_dequantized")
            replace[gather.output[0]] = helper.make_node(
                "Gather", [name, gather.input[1]], list(node.output), name=gather.name
            )
            replace[node.output[0]] = None
            count += 1
    if not count:
        raise QuantizationError("the reward graph has no dynamic-int8 weight to dequantize")
    nodes = [replace.get(n.output[0], n) for n in g.graph.node]
    del g.graph.node[:]
    g.graph.node.extend(n for n in nodes if n is not None)
    g.prune()
    _save(model, Path(dst))
    return count

"""The batch-independent int8 recipe of reward graphs, on a small graph built by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edge_eval.errors import QuantizationError  # noqa: E402
from edge_eval.quantize.reward import (  # noqa: E402
    INT8_RECIPE,
    dequantize_reward_onnx,
    quantize_reward_int8,
)

D, H = 16, 32


def _graph(path: Path) -> Path:
    """ids -> embedding + bias -> MatMul+Add -> Relu -> MatMul -> sum over the sequence -> head."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(50, D)).astype(np.float32), "table"),
        numpy_helper.from_array(rng.normal(size=(D, H)).astype(np.float32) * 0.3, "w1"),
        numpy_helper.from_array(rng.normal(size=D).astype(np.float32), "b0"),
        numpy_helper.from_array(rng.normal(size=H).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=(H, D)).astype(np.float32) * 0.3, "w2"),
        numpy_helper.from_array(rng.normal(size=(D, 1)).astype(np.float32), "head"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["e0"]),
        helper.make_node("Add", ["e0", "b0"], ["e"]),  # like BERT's embedding sum + LayerNorm
        helper.make_node("MatMul", ["e", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
        helper.make_node("ReduceSum", ["h3", "axis1"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "head"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _run(path: Path, ids: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(["score"], {"ids": ids})[0].reshape(-1)


def test_rows_are_scored_on_their_own_and_close_to_fp32(tmp_path: Path) -> None:
    fp32 = _graph(tmp_path / "fp32.onnx")
    int8 = tmp_path / "int8.onnx"
    recipe = quantize_reward_int8(fp32, int8)
    assert recipe.label == INT8_RECIPE and recipe.matmuls == 2 and recipe.embeddings == 1
    ops = [n.op_type for n in onnx.load(str(int8)).graph.node]
    assert ops.count("MatMulIntegerToFloat") == 2 and "DynamicQuantizeLinear" not in ops
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, size=(9, 12))
    batch = _run(int8, ids)
    for i in range(len(ids)):  # alone, and beside one other row: bit-identical
        assert _run(int8, ids[i : i + 1])[0] == batch[i]
        assert _run(int8, ids[[i, (i + 3) % 9]])[0] == batch[i]
    reference = _run(fp32, ids)
    assert np.abs(batch - reference).max() <= 0.05 * np.abs(reference).max()


def test_a_dynamic_int8_graph_comes_back_with_its_own_weights(tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = _graph(tmp_path / "fp32.onnx")
    dynamic = tmp_path / "dynamic.onnx"
    quantize_dynamic(str(fp32), str(dynamic), per_channel=True, weight_type=QuantType.QInt8)
    with pytest.raises(QuantizationError, match="no fp32 weight MatMul"):
        quantize_reward_int8(dynamic, tmp_path / "again.onnx")
    back = tmp_path / "back.onnx"
    assert dequantize_reward_onnx(dynamic, back) >= 2
    requantized = tmp_path / "requantized.onnx"
    quantize_reward_int8(back, requantized)
    old = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(dynamic)).graph.initializer}
    new = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(requantized)).graph.initializer}
    same = [
        name
        for name, array in new.items()
        if name.endswith("_dequantized_rowq8")
        and np.array_equal(array, old[name.removesuffix("_dequantized_rowq8")])
    ]
    assert len(same) == 2  # w1 and w2: the very int8 weights the dynamic graph used

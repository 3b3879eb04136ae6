"""The int8 file's embedding as uint8 rows (`quantize_embeddings`): what ONNX Runtime reads back from it is each
row's values within half a step of that row, and only float tables read by Gather change."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")

import onnx  # noqa: E402
import onnxruntime  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hf_bilstm.onnx.export import quantize_embeddings  # noqa: E402


def write_graph(path, table, other):
    """ids (batch, seq) -> Gather(table) -> + MatMul(other) of the gathered rows: `other` is read by MatMul only."""
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["rows"], axis=0),
        helper.make_node("MatMul", ["rows", "other"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("rows", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(other, "other")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def run(path, ids):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["rows", "out"], {"ids": ids})


def test_rows_come_back_within_half_a_step_and_other_tables_stay_float(tmp_path):
    generator = np.random.default_rng(0)
    table = generator.normal(0, 0.5, (50, 12)).astype(np.float32)
    table[0] = 0.0  # a padding row: one value, read back exactly
    table[7] = 0.25
    other = generator.normal(0, 1, (12, 3)).astype(np.float32)
    path = tmp_path / "model.onnx"
    write_graph(path, table, other)
    ids = np.array([[0, 7, 3, 49], [1, 2, 3, 4]], dtype=np.int64)
    before_rows, _ = run(path, ids)

    quantize_embeddings(str(path))

    model = onnx.load(str(path))
    kinds = {tensor.name: (tensor.data_type, list(tensor.dims)) for tensor in model.graph.initializer}
    assert kinds == {
        "other": (TensorProto.FLOAT, [12, 3]),
        "table_quantized": (TensorProto.UINT8, [50, 12]),
        "table_scale": (TensorProto.FLOAT, [50, 1]),
        "table_min": (TensorProto.FLOAT, [50, 1]),
    }
    rows, out = run(path, ids)
    step = (table.max(axis=1) - table.min(axis=1)) / 255
    assert np.all(np.abs(rows - before_rows) <= step[ids][..., None] / 2 + 1e-6)
    assert np.array_equal(rows[0, 0], table[0]) and np.array_equal(rows[0, 1], table[7])
    np.testing.assert_allclose(out, rows @ other, rtol=1e-5, atol=1e-5)
    # The rows read back are q * scale + min in float32, as onnx_eval.js computes them too.
    tensors = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    expected = (tensors["table_quantized"].astype(np.float32) * tensors["table_scale"]) + tensors["table_min"]
    assert np.array_equal(rows, expected[ids])


def test_a_file_without_gathered_tables_is_left_as_it_was(tmp_path):
    path = tmp_path / "model.onnx"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    before = path.read_bytes()
    quantize_embeddings(str(path))
    assert path.read_bytes() == before

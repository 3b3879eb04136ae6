"""
`torch.export` and `torch.onnx.export(dynamo=True)` of the models as they ship, on the padded and the packed path.

The input checks that read values back to Python (token ids inside the vocabulary, text pairs, the padding side)
are skipped while tracing, so they need not be turned off; the packed path is exported as the padded computation
(a packed sequence's size depends on the lengths' values). The sequence length is fixed per export: torch's own
LSTM/GRU/RNN ops are unrolled over time when decomposed; `hf-bilstm export` (onnx_graph.py) is the graph with a
dynamic length.
"""

import numpy as np
import pytest
import torch

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification

pytestmark = pytest.mark.slow  # tens of seconds per export on 2 cores


def _classifier(**overrides):
    torch.manual_seed(0)
    config = BiLSTMConfig(
        vocab_size=30, embedding_dim=6, hidden_size=5, num_layers=2, id2label={0: "neg", 1: "pos"}, **overrides
    )
    return BiLSTMForSequenceClassification(config).eval()


def _batch(rows=3, length=6):
    ids = torch.randint(2, 30, (rows, length))
    mask = torch.ones(rows, length, dtype=torch.long)
    mask[1, 4:] = 0  # right padding
    mask[2, :2] = 0  # left padding: re-aligned inside the graph
    return ids, mask


@pytest.mark.parametrize("implementation", ["padded", "packed"])
def test_torch_export_with_input_checks_on(implementation):
    model = _classifier(rnn_implementation=implementation, validate_inputs=True)
    ids, mask = _batch()
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(
        model, (ids, mask), dynamic_shapes={"input_ids": {0: batch}, "attention_mask": {0: batch}}
    )
    other_ids, other_mask = _batch(rows=5)
    with torch.no_grad():
        expected = model(other_ids, other_mask).logits
    torch.testing.assert_close(program.module()(other_ids, other_mask).logits, expected)
    # Outside tracing the checks still run.
    with pytest.raises(ValueError, match="outside this model's vocabulary"):
        model(ids + 100, mask)


@pytest.mark.parametrize("implementation", ["padded", "packed"])
def test_onnx_dynamo_export_runs_in_onnxruntime(implementation, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("onnxscript", reason="the onnx extra is not installed")
    model = _classifier(rnn_implementation=implementation)
    ids, mask = _batch()
    path = tmp_path / "model.onnx"
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(
        model,
        (ids, mask),
        str(path),
        dynamo=True,
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_shapes={"input_ids": {0: batch}, "attention_mask": {0: batch}},
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    other_ids, other_mask = _batch(rows=4)
    (logits,) = session.run(["logits"], {"input_ids": other_ids.numpy(), "attention_mask": other_mask.numpy()})
    with torch.no_grad():
        expected = model(other_ids, other_mask).logits.numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)

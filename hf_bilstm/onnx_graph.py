"""The classifier as one traceable graph for ONNX: the same numbers as `BiLSTMForSequenceClassification`, with no
data-dependent Python branches, no packing and no host synchronisation.

`BiLSTMModel._prepare` right-aligns rows with a stable sort only when some row has holes or left padding; here every
batch goes through one scatter that moves each row's tokens to its front in order, which is the same permutation. Each
direction is then a plain padded RNN call (as in `_encode_padded`), so the export holds ONNX `LSTM`/`GRU`/`RNN` nodes
that `onnxruntime.quantization` can quantize.
"""

from __future__ import annotations

import copy
import sys

import torch
from torch import nn

from .modeling_bilstm import BiLSTMForSequenceClassification, _reverse_index

EXPORTER_PREFIX = "exported with: "
OPSET = 18


def _single_direction(rnn: nn.RNNBase, layer: int, suffix: str) -> nn.RNNBase:
    """A one-layer unidirectional copy of one direction (`suffix` "" or "_reverse") of one layer of `rnn`."""
    kind = type(rnn)
    extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    input_size = rnn.input_size if layer == 0 else rnn.hidden_size * (2 if rnn.bidirectional else 1)
    single = kind(input_size, rnn.hidden_size, num_layers=1, batch_first=True, **extra)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(single, f"{name}_l0").copy_(getattr(rnn, f"{name}_l{layer}{suffix}"))
    return single


class ExportableClassifier(nn.Module):
    """`(input_ids, attention_mask) -> logits` of a classifier in eval mode, built for `torch.onnx.export`."""

    def __init__(self, model: BiLSTMForSequenceClassification):
        super().__init__()
        model = copy.deepcopy(model).float().eval()
        config = model.config
        encoder = model.bilstm
        self.embeddings = encoder.embeddings
        self.pool = encoder.pool
        self.classifier = model.classifier
        # Every layer of every direction becomes its own one-layer RNN: the dynamo exporter keeps the sequence length
        # dynamic for those (it fixes it for some multi-layer stacks), and each is one ONNX LSTM/GRU/RNN node.
        if config.bidirectional and config.separate_directions:
            self.mode = "separate"  # two unidirectional stacks; neither sees the other
            stacks = [(encoder.forward_rnn, ""), (encoder.backward_rnn, "")]
        elif config.bidirectional:
            self.mode = "bidirectional"  # each layer feeds both directions into the next
            stacks = [(encoder.rnn, ""), (encoder.rnn, "_reverse")]
        else:
            self.mode = "forward"
            stacks = [(encoder.rnn, "")]
        self.forward_layers = nn.ModuleList(
            [_single_direction(stacks[0][0], i, stacks[0][1]) for i in range(config.num_layers)]
        )
        self.backward_layers = nn.ModuleList(
            [_single_direction(rnn, i, suffix) for rnn, suffix in stacks[1:] for i in range(config.num_layers)]
        )
        self.eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask != 0
        seq_len = input_ids.shape[1]
        taken = mask.long()
        count = taken.sum(dim=1, keepdim=True)  # (batch, 1)
        # Each text token goes to its rank among the row's text tokens, each other one after them: the permutation
        # the stable sort of `_prepare` makes.
        destination = torch.where(mask, taken.cumsum(1) - 1, count + (1 - taken).cumsum(1) - 1)
        ids = torch.zeros_like(input_ids).scatter(1, destination, input_ids)
        positions = torch.arange(seq_len, device=input_ids.device).unsqueeze(0)
        lengths = count.squeeze(1).clamp(min=1)
        text = positions < count  # (batch, seq): the moved text tokens
        valid = positions < lengths.unsqueeze(1)  # an empty row reads one all-zero step, as in the model
        embeds = self.embeddings(ids) * text.unsqueeze(-1).to(torch.float32)
        reverse = _reverse_index(lengths, seq_len).unsqueeze(-1)
        last = (lengths - 1).view(-1, 1, 1)

        def flip(tensor):
            return tensor.gather(1, reverse.expand(-1, -1, tensor.shape[-1]))

        def final(states):
            return states.gather(1, last.expand(-1, 1, states.shape[-1])).squeeze(1)

        if self.mode == "bidirectional":
            layer_input = embeds
            for forward_rnn, backward_rnn in zip(self.forward_layers, self.backward_layers):
                forward_out = forward_rnn(layer_input)[0]
                backward_rev = backward_rnn(flip(layer_input))[0]
                layer_input = torch.cat([forward_out, flip(backward_rev)], dim=-1)
            states = layer_input
        else:
            forward_out = embeds
            for layer in self.forward_layers:
                forward_out = layer(forward_out)[0]
            states = forward_out
            if self.mode == "separate":
                backward_rev = flip(embeds)
                for layer in self.backward_layers:
                    backward_rev = layer(backward_rev)[0]
                states = torch.cat([forward_out, flip(backward_rev)], dim=-1)
        finals = (
            final(forward_out) if self.mode == "forward" else torch.cat([final(forward_out), final(backward_rev)], -1)
        )
        states = states * valid.unsqueeze(-1).to(torch.float32)
        return self.classifier(self.pool(states, finals, valid, lengths))


def _has_dynamic_inputs(path: str) -> bool:
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 2 or any(dim.HasField("dim_value") for dim in dims):
            return False
    return True


def _fold_constants(path: str) -> None:
    """Folds the exporter's reordering of the recurrent weights into initializers, in place: ONNX Runtime's quantizer
    quantizes an LSTM/GRU only when its weights are initializers (onnxscript folds only small tensors by default)."""
    import onnx
    from onnxscript import optimizer

    folded = optimizer.optimize(onnx.load(path), input_size_limit=1 << 30, output_size_limit=1 << 30)
    onnx.save(folded, path)


def _runs_at_other_shapes(model: BiLSTMForSequenceClassification, path: str) -> bool:
    """Whether the file at `path` gives `model`'s logits at batch sizes and lengths other than the export example's."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        for batch, length in ((1, 1), (3, 11), (5, 40)):
            ids = torch.randint(0, model.config.vocab_size, (batch, length))
            mask = torch.ones_like(ids)
            mask[0, length // 2 + 1 :] = 0
            with torch.no_grad():
                expected = model(input_ids=ids, attention_mask=mask).logits.numpy()
            got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
            if got.shape != expected.shape or abs(got - expected).max() > 1e-3:
                return False
    except Exception:  # noqa: BLE001 - onnxruntime's own error types: a shape baked into the graph
        return False
    return True


def export(model: BiLSTMForSequenceClassification, path: str) -> str:
    """Writes `model` as ONNX to `path` (inputs `input_ids`, `attention_mask` with dynamic batch and sequence; output
    `logits`) with the dynamo exporter, or with the TorchScript one where dynamo's graph holds a fixed length; returns
    which exporter was used."""
    model = model.float().eval()
    graph = ExportableClassifier(model)
    ids = torch.full((2, 7), (model.config.pad_token_id + 1) % model.config.vocab_size, dtype=torch.long)
    mask = torch.ones_like(ids)
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["logits"]}
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    try:
        torch.onnx.export(
            graph,
            (ids, mask),
            path,
            dynamo=True,
            opset_version=OPSET,
            external_data=False,
            dynamic_shapes={"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}},
            **names,
        )
        _fold_constants(path)
        if _has_dynamic_inputs(path) and _runs_at_other_shapes(model, path):
            return "torch.onnx.export(dynamo=True)"
    except Exception as error:  # noqa: BLE001 - the exporter raises many types; the TorchScript exporter is next
        print(f"dynamo export failed ({type(error).__name__}); trying the TorchScript exporter", file=sys.stderr)
    # torch 2.13's dynamo exporter fixes the sequence length of a plain nn.RNN, and bakes it into a Reshape for a
    # unidirectional GRU (measured); the TorchScript exporter keeps it dynamic and writes the same ONNX RNN nodes.
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    torch.onnx.export(
        graph,
        (ids, mask),
        path,
        dynamo=False,
        opset_version=17,
        dynamic_axes={**axes, "logits": {0: "batch"}},
        **names,
    )
    if not (_has_dynamic_inputs(path) and _runs_at_other_shapes(model, path)):
        raise RuntimeError("both ONNX exporters fixed the batch or sequence length of this model")
    return "torch.onnx.export(dynamo=False, opset 17)"


if __name__ == "__main__":  # python -m hf_bilstm.onnx_graph FOLDER OUT.onnx (run by hf-bilstm export)
    from .model_loading import load_classifier_folder

    loaded, _ = load_classifier_folder(sys.argv[1], "cpu")
    print(EXPORTER_PREFIX + export(loaded, sys.argv[2]))

"""The classifier as one traceable graph for ONNX: the same numbers as `BiLSTMForSequenceClassification`, with no
data-dependent Python branches, no packing and no host synchronisation.

Each recurrent layer is ONE ONNX `LSTM`/`GRU`/`RNN` node over both of its directions, given every row's length as
`sequence_lens`: ONNX Runtime then reads each row's reverse direction from its own last token, so the graph needs no
reversing gathers, and `onnxruntime.quantization` turns the node into one `DynamicQuantizeLSTM`. The node comes from
a custom torch op (`hf_bilstm::recurrent_layer`) that `torch.onnx.export` translates with `custom_translation_table`:
torch's own RNN modules export without `sequence_lens`.

`BiLSTMModel._prepare` right-aligns rows (the permutation a stable sort of the mask makes) only when some row has
holes or left padding; here every batch goes through one scatter that moves each row's tokens to its front in order,
which is the same permutation.
The graph is sequence-major (`(seq, batch, ...)`), the layout ONNX's recurrent ops and their quantized forms read.
"""

from __future__ import annotations

import copy
import sys

import torch
from torch import nn

from ..modeling_bilstm import BiLSTMForSequenceClassification

EXPORTER_PREFIX = "exported with: "
WRITE_FAILED_PREFIX = "write failed: "  # errno and path of a write the system refused (full disk, read-only)
OPSET = 18
EXPORTER = "torch.onnx.export(dynamo=True, one ONNX recurrent node per layer)"
# Where each of ONNX's gate blocks sits among PyTorch's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h.
_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}
_TORCH_RNN = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _reverse_within_lengths(tensor: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """`tensor` (seq, batch, features) with each row's first `length` steps reversed, the rest in place."""
    positions = torch.arange(tensor.shape[0], device=tensor.device).unsqueeze(1)  # (seq, 1)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (seq, batch)
    return tensor.gather(0, index.unsqueeze(-1).expand_as(tensor))


def _as_torch_gates(tensor: torch.Tensor, kind: str) -> torch.Tensor:
    order = _GATE_ORDER[kind]
    chunks = tensor.chunk(len(order))
    return torch.cat([chunks[order.index(i)] for i in range(len(order))])


@torch.library.custom_op("hf_bilstm::recurrent_layer", mutates_args=())
def recurrent_layer(
    x: torch.Tensor,
    lengths: torch.Tensor,
    w: torch.Tensor,
    r: torch.Tensor,
    b: torch.Tensor,
    kind: str,
    direction: str,
    activation: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    ONNX's `LSTM`/`GRU` (`linear_before_reset=1`, PyTorch's GRU)/`RNN` with `sequence_lens`, from zero states, in
    eager PyTorch: `x` (seq, batch, input), `lengths` (batch,) int32 >= 1, weights in ONNX's layout and gate order.
    Returns `Y` (seq, directions, batch, hidden), zero past each row's length, and `Y_h` (directions, batch, hidden):
    the forward direction's state at the row's last token and the reverse direction's after reading back to its first.
    """
    hidden = r.shape[-1]
    lengths = lengths.long()
    valid = (torch.arange(x.shape[0], device=x.device).unsqueeze(1) < lengths).unsqueeze(-1)  # (seq, batch, 1)
    last = (lengths - 1).view(1, -1, 1).expand(1, -1, hidden)
    outputs, finals = [], []
    for index, reverse in enumerate({"forward": [False], "reverse": [True]}.get(direction, [False, True])):
        extra = {"nonlinearity": activation.lower()} if kind == "rnn" else {}
        rnn = _TORCH_RNN[kind](x.shape[-1], hidden, **extra).to(x.dtype)
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(_as_torch_gates(w[index], kind))
            rnn.weight_hh_l0.copy_(_as_torch_gates(r[index], kind))
            bias_ih, bias_hh = b[index].chunk(2)
            rnn.bias_ih_l0.copy_(_as_torch_gates(bias_ih, kind))
            rnn.bias_hh_l0.copy_(_as_torch_gates(bias_hh, kind))
            states = rnn(_reverse_within_lengths(x, lengths) if reverse else x)[0]
        finals.append(states.gather(0, last).squeeze(0))
        outputs.append((_reverse_within_lengths(states, lengths) if reverse else states) * valid)
    return torch.stack(outputs, 1), torch.stack(finals)


@recurrent_layer.register_fake
def _(x, lengths, w, r, b, kind, direction, activation):
    directions, hidden = w.shape[0], r.shape[-1]
    return x.new_empty(x.shape[0], directions, x.shape[1], hidden), x.new_empty(directions, x.shape[1], hidden)


def _recurrent_layer_onnx(x, lengths, w, r, b, kind: str, direction: str, activation: str):
    """The translation of `recurrent_layer`: one ONNX node (onnxscript, traced by the exporter)."""
    from onnxscript import opset18 as op

    hidden = r.shape[-1]
    if kind == "lstm":
        y, y_h, _ = op.LSTM(x, w, r, b, lengths, direction=direction, hidden_size=hidden)
    elif kind == "gru":
        y, y_h = op.GRU(x, w, r, b, lengths, direction=direction, hidden_size=hidden, linear_before_reset=1)
    else:
        directions = 2 if direction == "bidirectional" else 1
        y, y_h = op.RNN(
            x, w, r, b, lengths, direction=direction, hidden_size=hidden, activations=[activation] * directions
        )
    return y, y_h


class _Layer(nn.Module):
    """One layer's directions of a PyTorch RNN, as ONNX's W (dirs, gates*hidden, input), R and B."""

    def __init__(self, rnn: nn.RNNBase, layer: int, suffixes: tuple[str, ...], direction: str):
        super().__init__()
        self.direction = direction
        order = _GATE_ORDER["lstm" if isinstance(rnn, nn.LSTM) else "gru" if isinstance(rnn, nn.GRU) else "rnn"]

        def onnx_gates(name: str, suffix: str) -> torch.Tensor:
            tensor = getattr(rnn, f"{name}_l{layer}{suffix}", None)
            if tensor is None:  # an RNN built with bias=False
                tensor = rnn.weight_hh_l0.new_zeros(rnn.weight_hh_l0.shape[0])
            chunks = tensor.detach().float().chunk(len(order))
            return torch.cat([chunks[i] for i in order])

        self.register_buffer("w", torch.stack([onnx_gates("weight_ih", s) for s in suffixes]))
        self.register_buffer("r", torch.stack([onnx_gates("weight_hh", s) for s in suffixes]))
        self.register_buffer(
            "b", torch.stack([torch.cat([onnx_gates("bias_ih", s), onnx_gates("bias_hh", s)]) for s in suffixes])
        )


class ExportableClassifier(nn.Module):
    """`(input_ids, attention_mask) -> logits` of a classifier in eval mode, built for `torch.onnx.export`."""

    def __init__(self, model: BiLSTMForSequenceClassification):
        super().__init__()
        model = copy.deepcopy(model).float().eval()
        config = model.config
        encoder = model.bilstm
        self.kind = config.rnn_type
        self.pooling = config.pooling
        self.vocab_size = encoder.embeddings.weight.shape[0]
        weight = encoder.embeddings.weight.detach()
        # One more row, all zero: what every position past a row's text reads (an empty row reads one such step).
        self.register_buffer("embedding", torch.cat([weight, weight.new_zeros(1, weight.shape[1])]))
        if config.bidirectional and config.separate_directions:  # two stacks; neither sees the other
            stacks = [(encoder.forward_rnn, ("",), "forward"), (encoder.backward_rnn, ("",), "reverse")]
        elif config.bidirectional:  # each layer feeds both directions into the next
            stacks = [(encoder.rnn, ("", "_reverse"), "bidirectional")]
        else:
            stacks = [(encoder.rnn, ("",), "forward")]
        self.activation = "Relu" if getattr(stacks[0][0], "nonlinearity", "tanh") == "relu" else "Tanh"  # nn.RNN's
        self.stacks = nn.ModuleList(
            nn.ModuleList(_Layer(rnn, i, suffixes, direction) for i in range(config.num_layers))
            for rnn, suffixes, direction in stacks
        )
        self.classifier = model.classifier
        self.eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask != 0
        seq_len, batch = input_ids.shape[1], input_ids.shape[0]
        taken = mask.long()
        count = taken.sum(dim=1, keepdim=True)  # (batch, 1)
        # Each text token goes to its rank among the row's text tokens, each other one after them: the permutation
        # `_prepare` makes (that of a stable sort of the mask).
        destination = torch.where(mask, taken.cumsum(1) - 1, count + (1 - taken).cumsum(1) - 1)
        ids = torch.zeros_like(input_ids).scatter(1, destination, input_ids)
        positions = torch.arange(seq_len, device=input_ids.device).unsqueeze(0)
        ids = torch.where(positions < count, ids, self.vocab_size)  # past the text: the all-zero row
        embeds = nn.functional.embedding(ids.t(), self.embedding)  # (seq, batch, embedding)
        lengths = count.squeeze(1).clamp(min=1)
        recurrent_lengths = lengths.to(torch.int32)

        states, finals = [], []
        for stack in self.stacks:
            layer_input = embeds
            for layer in stack:
                output, final = torch.ops.hf_bilstm.recurrent_layer(
                    layer_input,
                    recurrent_lengths,
                    layer.w,
                    layer.r,
                    layer.b,
                    self.kind,
                    layer.direction,
                    self.activation,
                )
                # (seq, dirs, batch, hidden) -> (seq, batch, dirs * hidden): the next layer's input
                layer_input = (
                    output[:, 0] if output.shape[1] == 1 else output.permute(0, 2, 1, 3).reshape(seq_len, batch, -1)
                )
            states.append(output)
            finals.append(final)
        states = states[0] if len(states) == 1 else torch.cat(states, dim=1)  # (seq, dirs, batch, hidden)
        pieces = []
        if self.pooling == "last":
            pieces.append(finals[0] if len(finals) == 1 else torch.cat(finals, dim=0))
        if self.pooling in ("max", "max_mean"):
            # Adding the lowest float past each row's end, not masked_fill: ONNX Runtime's broadcasting Where took
            # 8 ms of a 48 ms batch (32 x 512 tokens, 2 cores); an Add over the same tensor is a fraction of that.
            # Each row has a text step, and any state plus that lowest float stays below every real state.
            lowest = torch.finfo(states.dtype).min
            penalty = torch.where(positions < lengths.unsqueeze(1), 0.0, lowest).t().view(seq_len, 1, batch, 1)
            pieces.append((states + penalty).amax(dim=0))
        if self.pooling in ("mean", "max_mean"):
            # the recurrent node's states are zero past each row's length
            pieces.append(states.sum(dim=0) / lengths.view(1, batch, 1).to(states.dtype))
        # (dirs, batch, hidden) each -> (batch, dirs * hidden), forward first, as the model concatenates them
        pooled = torch.cat([piece.permute(1, 0, 2).reshape(batch, -1) for piece in pieces], dim=-1)
        return self.classifier(pooled)


def _has_dynamic_inputs(path: str) -> bool:
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 2 or any(dim.HasField("dim_value") for dim in dims):
            return False
    return True


def _fold_constants(path: str) -> None:
    """Folds what the exporter leaves computable ahead of time into initializers, in place (onnxscript folds only
    small tensors by default; ONNX Runtime's quantizer wants the recurrent weights as initializers)."""
    import onnx
    from onnxscript import optimizer

    folded = optimizer.optimize(onnx.load(path), input_size_limit=1 << 30, output_size_limit=1 << 30)
    onnx.save(folded, path)


def _runs_at_other_shapes(model: BiLSTMForSequenceClassification, path: str) -> bool:
    """Whether the file at `path` gives `model`'s logits at batch sizes and lengths other than the export example's."""
    import onnxruntime

    from .runtime import session_options

    try:
        session = onnxruntime.InferenceSession(path, session_options(onnxruntime), providers=["CPUExecutionProvider"])
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
    `logits`) with the dynamo exporter; returns how it was exported."""
    model = model.float().eval()
    graph = ExportableClassifier(model)
    ids = torch.full((2, 7), (model.config.pad_token_id + 1) % model.config.vocab_size, dtype=torch.long)
    mask = torch.ones_like(ids)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    torch.onnx.export(
        graph,
        (ids, mask),
        path,
        dynamo=True,
        opset_version=OPSET,
        external_data=False,
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_shapes={"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}},
        custom_translation_table={torch.ops.hf_bilstm.recurrent_layer.default: _recurrent_layer_onnx},
    )
    _fold_constants(path)
    if not (_has_dynamic_inputs(path) and _runs_at_other_shapes(model, path)):
        raise RuntimeError("the ONNX exporter fixed the batch or sequence length of this model")
    return EXPORTER


if __name__ == "__main__":  # python -m hf_bilstm.onnx.graph FOLDER OUT.onnx (run by hf-bilstm export)
    from ..errors import failed_write, written_path
    from ..model_loading import load_classifier_folder

    loaded, _ = load_classifier_folder(sys.argv[1], "cpu")
    try:
        print(EXPORTER_PREFIX + export(loaded, sys.argv[2]))
    except Exception as error:
        failed = failed_write(error)
        if failed is None:
            raise
        # A full disk or a read-only folder: told to the parent, which answers it as every command's failed write.
        print(f"{WRITE_FAILED_PREFIX}{failed.errno} {written_path(failed) or sys.argv[2]}")
        sys.exit(1)

"""Recurrent (LSTM / GRU / RNN) text models as transformers `PreTrainedModel`s.

This file is copied next to the weights for ``trust_remote_code`` loading, so it imports only torch, transformers and
``.configuration_bilstm``.
"""

import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import ModelOutput

try:  # transformers >= 5: init functions that skip parameters already loaded from a checkpoint
    from transformers import initialization as init
except ImportError:  # pragma: no cover - older transformers
    from torch.nn import init

try:  # what transformers' gradient checkpointing wraps (4.52 and later)
    from transformers.modeling_layers import GradientCheckpointingLayer
except ImportError:  # pragma: no cover - older transformers, as remote code: the layers run without checkpointing
    GradientCheckpointingLayer = nn.Module

from .configuration_bilstm import BiLSTMConfig

_RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

# Every folder we save can be loaded through all of these (transformers only records the class that was saved).
_AUTO_MAP = {
    "AutoConfig": "configuration_bilstm.BiLSTMConfig",
    "AutoModel": "modeling_bilstm.BiLSTMModel",
    "AutoModelForSequenceClassification": "modeling_bilstm.BiLSTMForSequenceClassification",
    "AutoModelForPreTraining": "modeling_bilstm.BiLSTMForPreTraining",
}


@dataclass
class BiLSTMModelOutput(ModelOutput):
    """
    Output of [`BiLSTMModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, sequence_length, num_directions * hidden_size)`):
            States of the last recurrent layer at every position; zeros at padded positions.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, config.pooled_size)`):
            One vector per text, pooled as `config.pooling` says.
        attention_mask (`torch.BoolTensor` of shape `(batch_size, sequence_length)`):
            The positions that were read as text (an empty text is read as one padding step at position 0).
        hidden_states (`tuple(torch.FloatTensor)`, returned with `output_hidden_states=True`):
            The embeddings as the first layer reads them `(batch_size, sequence_length, embedding_dim)`, then each
            recurrent layer's states `(batch_size, sequence_length, num_directions * hidden_size)` (both directions
            of that layer, forward first), zeros at padded positions; the last one is `last_hidden_state`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    attention_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def _reverse_index(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Index that reverses each row's first `length` positions and leaves the padding in place (an involution)."""
    positions = torch.arange(seq_len, device=lengths.device).unsqueeze(0)  # (1, seq)
    lengths = lengths.unsqueeze(1)  # (batch, 1)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


def _restore_positions(tensor: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Puts `(batch, seq, features)` rows that `_prepare` right-aligned with `order` back at the caller's positions."""
    return torch.zeros_like(tensor).scatter(1, order.unsqueeze(-1).expand_as(tensor), tensor)


def _dropout_and_mask(embeds: torch.Tensor, mask: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`nn.Dropout(p)(embeds)` times `mask` (batch, seq) with one multiply of the embeddings instead of two.

    The noise is drawn exactly as nn.Dropout draws it on a CPU (bernoulli_, then divided by 1 - p), so a seeded run
    trains the same model as before; folding the 0/1 mask into it first changes no value."""
    scale = mask.unsqueeze(-1).to(embeds.dtype)
    if training and p > 0:
        if p >= 1:
            return embeds * 0.0
        scale = torch.empty_like(embeds).bernoulli_(1 - p).div_(1 - p).mul_(scale)
    return embeds * scale


def _exporting() -> bool:
    """Whether torch.export (also under ONNX's dynamo exporter) is tracing this forward (torch >= 2.5 can tell)."""
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return bool(is_exporting is not None and is_exporting())


def _tracing() -> bool:
    """Whether this forward is being traced (torch.compile, torch.export, ONNX's dynamo exporter, jit.trace)."""
    return torch.compiler.is_compiling() or _exporting() or torch.jit.is_tracing()


def checks_inputs(config, tensor: torch.Tensor | None) -> bool:
    """
    Whether `forward` validates `tensor`: `config.validate_inputs`, or where reading a value back is free (CPU).

    Never while tracing: a check reads a value of the inputs back to Python, which a traced graph cannot hold (it
    would be a data-dependent guard); the traced graph then runs like an unchecked GPU batch.
    """
    if tensor is None or _tracing():
        return False
    choice = getattr(config, "validate_inputs", None)
    return tensor.device.type == "cpu" if choice is None else bool(choice)


def _refuse_text_pairs(config, token_type_ids: torch.Tensor | None) -> None:
    # The tokenizer marks the second text of a pair with token type 1; this model reads single texts, and would
    # otherwise read the two as one.
    if checks_inputs(config, token_type_ids) and bool((token_type_ids != 0).any()):
        raise ValueError(
            "This model classifies one text at a time, but it was given a text pair (text_pair=, a "
            '{"text": ..., "text_pair": ...} input, or tokenizer(text, pair)). Classify each text on its own, or join '
            "them into one string yourself if that is what you mean."
        )


def _run_layer(
    rnn: nn.RNNBase, layer: int, suffix: str | None, inputs: torch.Tensor, batch_sizes: torch.Tensor | None = None
) -> torch.Tensor:
    """
    One layer of `rnn` from zero states: one direction (`suffix` "" or "_reverse") over padded `inputs`
    `(batch, seq, features)`, or both directions (`suffix` None) over the `.data` of a `PackedSequence` whose
    `batch_sizes` are given.
    """
    # From `_flat_weights`, as nn.RNNBase.forward reads them: whatever swaps them (DropConnect) acts on both paths.
    flat = dict(zip(rnn._flat_weights_names, rnn._flat_weights))
    suffixes = (suffix,) if suffix is not None else ("", "_reverse")[: 2 if rnn.bidirectional else 1]
    if batch_sizes is None and len(suffixes) > 1:
        raise ValueError("_run_layer runs a padded layer one direction at a time (suffix '' or '_reverse').")
    weights = [
        flat[f"{name}_l{layer}{end}"] for end in suffixes for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    batch = inputs.shape[0] if batch_sizes is None else batch_sizes[0].item()  # batch_sizes live on the CPU
    h0 = inputs.new_zeros(len(suffixes), batch, rnn.hidden_size)
    if isinstance(rnn, nn.LSTM):
        function, state = torch.lstm, (h0, h0)
    else:
        function = torch.gru if isinstance(rnn, nn.GRU) else torch.rnn_tanh
        state = h0
    # The functional forms nn.LSTM / nn.GRU / nn.RNN call themselves: (input, [batch_sizes,] hx, weights,
    # has_biases, num_layers, dropout, train, bidirectional[, batch_first]).
    if batch_sizes is not None:
        return function(inputs, batch_sizes, state, weights, True, 1, 0.0, rnn.training, len(suffixes) == 2)[0]
    return function(inputs, state, weights, True, 1, 0.0, rnn.training, False, True)[0]


class BiLSTMRecurrentLayer(GradientCheckpointingLayer):
    """
    Layer `layer` of the stack `rnn`, all its directions, run once per forward pass: the unit that gradient
    checkpointing recomputes in the backward pass. It has no weights of its own: they stay in the
    `nn.LSTM`/`nn.GRU`/`nn.RNN` modules, under the names every saved model has.
    """

    def forward(self, inputs, reverse, batch_sizes=None, *, rnn: nn.RNNBase, layer: int):
        # The tensors are positional: transformers' checkpoint (use_reentrant=True) passes only those through.
        if batch_sizes is not None or not rnn.bidirectional:  # packed data, or a single direction
            return _run_layer(rnn, layer, None, inputs, batch_sizes)

        # Padded, both directions: the backward one reads each row reversed within its length (`reverse`).
        def flip(tensor):
            return tensor.gather(1, reverse.expand(-1, -1, tensor.shape[-1]))

        backward = flip(_run_layer(rnn, layer, "_reverse", flip(inputs)))
        return torch.cat([_run_layer(rnn, layer, "", inputs), backward], dim=-1)


class BiLSTMPreTrainedModel(PreTrainedModel):
    """Base class: holds the config class, weight initialisation and saving with every auto class mapped."""

    config_class = BiLSTMConfig
    base_model_prefix = "bilstm"
    main_input_name = "input_ids"
    # Over the recurrent layers (BiLSTMModel.encode): each layer's activations are recomputed in the backward pass.
    supports_gradient_checkpointing = True
    _no_split_modules = []

    def _init_weights(self, module: nn.Module):
        # The `init` functions leave alone parameters that from_pretrained has just loaded (transformers#46620);
        # the in-place edits below check the same flag for the same reason.
        std = self.config.initializer_range
        if isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
            for name, param in module.named_parameters():
                if name.startswith("weight_hh"):
                    init.orthogonal_(param)
                elif name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("bias"):
                    init.zeros_(param)
                    # LSTM gates are (input, forget, cell, output): a forget bias of 1 keeps early gradients alive.
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        if not getattr(param, "_is_hf_initialized", False):
                            with torch.no_grad():
                                param[module.hidden_size : 2 * module.hidden_size].fill_(1.0)

    def save_pretrained(self, save_directory, *args, **kwargs):
        auto_map = dict(_AUTO_MAP)
        for key, value in (getattr(self.config, "auto_map", None) or {}).items():
            references = value if isinstance(value, (list, tuple)) else [value]
            # "other/repo--module.Class" names another repository's code: never carried into a saved folder.
            if not any(isinstance(reference, str) and "--" in reference for reference in references):
                auto_map[key] = value
        self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """
        Loads like [`~PreTrainedModel.from_pretrained`], from safetensors only.

        Pickled weights (`pytorch_model.bin`) are refused without being opened: unpickling a stranger's file can run
        code. A truncated or corrupted `model.safetensors` raises an `OSError` that names the file.
        """
        if kwargs.get("use_safetensors") is False:
            raise ValueError(
                "hf_bilstm loads weights from model.safetensors only; use_safetensors=False (a pickled "
                "pytorch_model.bin) is refused because unpickling can run code. Convert the weights once, where you "
                "trust the file: model.load_state_dict(torch.load(path, weights_only=True)); "
                "model.save_pretrained(folder)."
            )
        kwargs["use_safetensors"] = True
        folder = pretrained_model_name_or_path
        if isinstance(folder, (str, os.PathLike)) and os.path.isdir(folder):
            if kwargs.get("subfolder"):
                folder = os.path.join(folder, kwargs["subfolder"])
            names = set(os.listdir(folder)) if os.path.isdir(folder) else set()
            if not names & {"model.safetensors", "model.safetensors.index.json"}:
                pickles = sorted(name for name in names if name.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")))
                found = f"it holds only pickled weights {pickles}, which are never loaded (unpickling can run code)"
                raise OSError(
                    f"No model.safetensors in {folder}: "
                    + (found if pickles else "the folder has no weights (was save_pretrained interrupted?)")
                    + ". Save the model there with model.save_pretrained(folder), which writes safetensors."
                )
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except Exception as error:
            # safetensors' own error is unwrapped by transformers and names no file; this module may not import it.
            if type(error).__name__ != "SafetensorError":
                raise
            raise OSError(
                f"The weights file model.safetensors of {pretrained_model_name_or_path} is truncated or corrupted "
                f"({error}). Save the model again, or download it again with force_download=True."
            ) from error


def _check_embeds_width(config, inputs_embeds, dtype: torch.dtype) -> None:
    # The recurrent layers were built for embedding_dim inputs of the weights' dtype: another width or dtype would fail
    # deep in torch ("mat1 and mat2 must have the same dtype"), or (packed rows of one step) be read silently.
    if inputs_embeds is None:
        return
    shape = f"inputs_embeds must have shape (batch, sequence_length, embedding_dim={config.embedding_dim}), but it has"
    fix = "Build it with model.get_input_embeddings()(input_ids)."
    if inputs_embeds.dim() != 3:
        raise ValueError(f"{shape} {tuple(inputs_embeds.shape)}: {inputs_embeds.dim()} dimensions, not 3. {fix}")
    if inputs_embeds.shape[-1] != config.embedding_dim:
        raise ValueError(
            f"{shape} {tuple(inputs_embeds.shape)}: its last size {inputs_embeds.shape[-1]} is not this model's "
            f"embedding_dim {config.embedding_dim}. {fix}"
        )
    if inputs_embeds.dtype != dtype:
        raise ValueError(
            f"inputs_embeds is {inputs_embeds.dtype}, but this model's weights are {dtype}; cast it with "
            f"inputs_embeds.to({dtype}) (or the model with model.to({dtype})). {fix}"
        )


class BiLSTMModel(BiLSTMPreTrainedModel):
    """
    The bare recurrent encoder: token embeddings, a stack of LSTM/GRU/RNN layers (bi- or unidirectional) and pooling.

    Padding never reaches the states (any padding side): each direction reads exactly a text's `attention_mask`
    tokens, either as plain padded RNN calls or packed (`config.rnn_implementation`), and the initial states are
    zeros, so a text gets the same output alone or inside any padded batch.
    """

    def __init__(self, config: BiLSTMConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        rnn_class = _RNN_CLASSES[config.rnn_type]
        rnn_kwargs = dict(
            input_size=config.embedding_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        if config.bidirectional and config.separate_directions:
            self.forward_rnn = rnn_class(**rnn_kwargs)
            self.backward_rnn = rnn_class(**rnn_kwargs)
        else:
            self.rnn = rnn_class(bidirectional=config.bidirectional, **rnn_kwargs)
        # What gradient checkpointing recomputes, one per layer of each stack (no parameters: no new weight names).
        self.layers = nn.ModuleList(BiLSTMRecurrentLayer() for _ in range(config.num_layers))
        if config.bidirectional and config.separate_directions:
            self.backward_layers = nn.ModuleList(BiLSTMRecurrentLayer() for _ in range(config.num_layers))
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.embeddings = value

    def use_packed_sequences(self, device: torch.device) -> bool:
        """Whether `encode` packs on this device: `config.rnn_implementation`, with "auto" deciding per device."""
        choice = self.config.rnn_implementation
        if _exporting():
            # A packed sequence's size is the sum of the lengths' values, which an exported graph cannot hold
            # (torch.export fails on it); the padded computation gives the same numbers with shapes alone.
            return False
        if choice == "auto":
            # Backpropagating through a packed RNN is ~18x slower than a padded one on CPUs; cuDNN's packed kernels are
            # kept on GPUs until a GPU benchmark shows which is faster there.
            return device.type == "cuda"
        return choice == "packed"

    @staticmethod
    def _run_packed(rnn: nn.RNNBase, embeds: torch.Tensor, lengths: torch.Tensor):
        # pack_padded_sequence wants lengths on the CPU (one host sync)
        packed = pack_padded_sequence(embeds, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, final = rnn(packed)
        if isinstance(final, tuple):  # LSTM returns (h_n, c_n)
            final = final[0]
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=embeds.shape[1])
        return output, final  # (batch, seq, dirs*hidden), (layers*dirs, batch, hidden) in the input's batch order

    def encode(self, inputs_embeds: torch.Tensor, lengths: torch.Tensor, output_hidden_states: bool = False):
        """
        Runs the recurrent stack(s) over right-aligned embeddings.

        Returns `(states, finals)`: the last layer's states `(batch, seq, directions * hidden)`, forward direction
        first, zero at padding, and its final states `(batch, directions * hidden)`. The packed and the padded
        implementation give the same numbers (see `rnn_implementation`). With `output_hidden_states`, returns
        `(states, finals, layer_states)`, one entry per layer; gradient checkpointing also runs layer by layer.
        """
        checkpointing = self.training and any(getattr(layer, "gradient_checkpointing", False) for layer in self.layers)
        if output_hidden_states or checkpointing:
            layers, finals = self._encode_by_layer(inputs_embeds, lengths)
            return (layers[-1], finals, layers) if output_hidden_states else (layers[-1], finals)
        if not self.use_packed_sequences(inputs_embeds.device):
            return self._encode_padded(inputs_embeds, lengths)
        if not self.config.bidirectional:
            output, final = self._run_packed(self.rnn, inputs_embeds, lengths)
            return output, final[-1]
        if not self.config.separate_directions:
            output, final = self._run_packed(self.rnn, inputs_embeds, lengths)
            return output, torch.cat([final[-2], final[-1]], dim=-1)
        # Separate stacks: the backward stack reads each text reversed, so neither direction sees the other.
        reverse = _reverse_index(lengths, inputs_embeds.shape[1]).unsqueeze(-1)  # (batch, seq, 1)
        forward_out, forward_final = self._run_packed(self.forward_rnn, inputs_embeds, lengths)
        reversed_embeds = inputs_embeds.gather(1, reverse.expand_as(inputs_embeds))
        backward_rev, backward_final = self._run_packed(self.backward_rnn, reversed_embeds, lengths)
        backward_out = backward_rev.gather(1, reverse.expand_as(backward_rev))
        return torch.cat([forward_out, backward_out], dim=-1), torch.cat([forward_final[-1], backward_final[-1]], -1)

    def _encode_padded(self, inputs_embeds: torch.Tensor, lengths: torch.Tensor):
        """
        The same computation as the packed path with plain padded RNN calls, which backpropagate far faster on CPUs.

        A forward direction over right-aligned rows reads every text token before any padding, so its states up to
        each row's end are exact. A backward direction is the same run over each row reversed within its own length
        (padding stays at the end), reversed back afterwards. Only what lies past a row's end is wrong, and is zeroed.
        """
        seq_len = inputs_embeds.shape[1]
        valid = (torch.arange(seq_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        last = (lengths - 1).view(-1, 1, 1)  # each row's final position
        reverse = _reverse_index(lengths, seq_len).unsqueeze(-1)  # (batch, seq, 1); an involution

        def flip(tensor):
            return tensor.gather(1, reverse.expand(-1, -1, tensor.shape[-1]))

        def final(states):
            return states.gather(1, last.expand(-1, 1, states.shape[-1])).squeeze(1)

        if not self.config.bidirectional or self.config.separate_directions:
            # Whole unidirectional stacks: one call each; a stack's layers never see past a row's end either.
            forward_out = (self.rnn if not self.config.bidirectional else self.forward_rnn)(inputs_embeds)[0]
            if not self.config.bidirectional:
                return forward_out * valid, final(forward_out)
            backward_rev = self.backward_rnn(flip(inputs_embeds))[0]
        else:
            # A standard bidirectional stack feeds both directions to each next layer: run it layer by layer.
            rnn, layer_input = self.rnn, inputs_embeds
            for layer in range(rnn.num_layers):
                if layer > 0:  # nn.LSTM's dropout: on every layer's output but the last
                    layer_input = nn.functional.dropout(layer_input, rnn.dropout, self.training)
                forward_out = _run_layer(rnn, layer, "", layer_input)
                backward_rev = _run_layer(rnn, layer, "_reverse", flip(layer_input))
                if layer < rnn.num_layers - 1:
                    layer_input = torch.cat([forward_out, flip(backward_rev)], dim=-1)
        states = torch.cat([forward_out, flip(backward_rev)], dim=-1) * valid
        return states, torch.cat([final(forward_out), final(backward_rev)], dim=-1)

    def _encode_by_layer(self, inputs_embeds: torch.Tensor, lengths: torch.Tensor):
        """
        `encode` one layer at a time, on either implementation: each layer's states (both directions, zero at
        padding) are kept for `output_hidden_states`, and with gradient checkpointing each layer is one checkpoint.
        The whole-stack calls of `encode` stay the default: they are what trained every saved model.
        """
        batch, seq_len = inputs_embeds.shape[:2]
        valid = (torch.arange(seq_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        reverse = _reverse_index(lengths, seq_len).unsqueeze(-1)
        packed = self.use_packed_sequences(inputs_embeds.device)
        cpu_lengths = lengths.cpu() if packed else None  # pack_padded_sequence wants them on the CPU (one sync)

        def flip(tensor):
            return tensor.gather(1, reverse.expand(-1, -1, tensor.shape[-1]))

        def stack(rnn, modules, inputs):  # layer by layer, each layer through its checkpointing module
            outputs, sequence = [], None
            if packed:  # the layers pass the packed data on, with dropout on it, as nn.LSTM does (same draws)
                sequence = pack_padded_sequence(inputs, cpu_lengths, batch_first=True, enforce_sorted=False)
                inputs = sequence.data
            for layer in range(rnn.num_layers):
                if layer > 0:  # nn.LSTM's dropout: on every layer's output but the last
                    inputs = nn.functional.dropout(inputs, rnn.dropout, self.training)
                batch_sizes = sequence.batch_sizes if packed else None
                inputs = modules[layer](inputs, reverse, batch_sizes, rnn=rnn, layer=layer)
                if packed:
                    sequence = sequence._replace(data=inputs)
                    outputs.append(pad_packed_sequence(sequence, batch_first=True, total_length=seq_len)[0])
                else:
                    outputs.append(inputs)
            return outputs

        if self.config.bidirectional and self.config.separate_directions:
            # The forward stack first, as encode runs them (the same dropout draws).
            forward_layers = stack(self.forward_rnn, self.layers, inputs_embeds)
            backward_layers = [
                flip(states) for states in stack(self.backward_rnn, self.backward_layers, flip(inputs_embeds))
            ]
            layers = [torch.cat(pair, dim=-1) for pair in zip(forward_layers, backward_layers)]
        else:
            layers = stack(self.rnn, self.layers, inputs_embeds)
        layers = [states * valid for states in layers]
        last, hidden = layers[-1], self.config.hidden_size
        # Final states: the forward direction's at each row's last token, the backward direction's at its first.
        finals = last.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, last.shape[-1])).squeeze(1)
        if self.config.bidirectional:
            finals = torch.cat([finals[:, :hidden], last[:, 0, hidden:]], dim=-1)
        return layers, finals

    def _prepare(self, input_ids, attention_mask, inputs_embeds):
        """Checks the inputs and right-aligns every row, so that packing reads exactly the masked-in tokens."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Give exactly one of input_ids or inputs_embeds.")
        _check_embeds_width(self.config, inputs_embeds, self.embeddings.weight.dtype)
        reference = input_ids if input_ids is not None else inputs_embeds[..., 0]
        if reference.dim() != 2:
            raise ValueError(
                f"input_ids must have shape (batch, sequence_length), got {tuple(reference.shape)}; "
                "for a single text add a batch dimension (input_ids[None])."
            )
        batch, seq_len = reference.shape
        device = reference.device
        check = checks_inputs(self.config, reference)
        if check and input_ids is not None and input_ids.numel():
            low, high = int(input_ids.min()), int(input_ids.max())
            if low < 0 or high >= self.config.vocab_size:
                bad = low if low < 0 else high
                raise ValueError(
                    f"input_ids holds token id {bad}, outside this model's vocabulary [0, {self.config.vocab_size}). "
                    "The tokenizer does not match the model: use the tokenizer saved with it, or set vocab_size "
                    "to the tokenizer's size when building the model."
                )
        if attention_mask is None:
            mask = torch.ones(batch, seq_len, dtype=torch.bool, device=device)
        else:
            if tuple(attention_mask.shape) != (batch, seq_len):
                raise ValueError(
                    f"attention_mask has shape {tuple(attention_mask.shape)} but the inputs have {(batch, seq_len)}."
                )
            mask = attention_mask.to(device=device).bool()
        if seq_len == 0:
            # An empty text (the pipeline turns "" into shape (1, 0)) is read as one padding step.
            seq_len = 1
            mask = torch.zeros(batch, 1, dtype=torch.bool, device=device)
            if input_ids is not None:
                input_ids = torch.full((batch, 1), self.config.pad_token_id, dtype=torch.long, device=device)
            else:
                inputs_embeds = inputs_embeds.new_zeros(batch, 1, inputs_embeds.shape[-1])
        order = None
        # Left padding or holes in the mask: move each row's tokens to the front, keeping their order. Unchecked (on a
        # GPU by default) every batch is re-aligned: a no-op for right padding, and no read-back to find out.
        if seq_len > 1 and (not check or bool((mask[:, 1:] & ~mask[:, :-1]).any())):
            # The permutation a stable descending sort of the mask gives, built with cumsum and scatter (ONNX has no
            # stable sort): each text token goes to its rank among the text, each padding step after all of them.
            as_int = mask.long()
            kept, dropped = as_int.cumsum(1) - 1, as_int.sum(1, keepdim=True) + (1 - as_int).cumsum(1) - 1
            positions = torch.arange(seq_len, device=device).expand(batch, seq_len)
            order = torch.zeros_like(positions).scatter(1, torch.where(mask, kept, dropped), positions)
            mask = mask.gather(1, order)
            if input_ids is not None:
                input_ids = input_ids.gather(1, order)
            else:
                inputs_embeds = inputs_embeds.gather(1, order.unsqueeze(-1).expand_as(inputs_embeds))
        return input_ids, mask, inputs_embeds, order

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> BiLSTMModelOutput | tuple:
        r"""
        output_hidden_states (`bool`, *optional*):
            Also return `hidden_states`: the embeddings and every recurrent layer's states (defaults to
            `config.output_hidden_states`).
        """
        _refuse_text_pairs(self.config, token_type_ids)
        input_ids, mask, inputs_embeds, order = self._prepare(input_ids, attention_mask, inputs_embeds)
        return self._forward_prepared(input_ids, mask, inputs_embeds, order, return_dict, output_hidden_states)

    def _forward_prepared(
        self, input_ids, mask, inputs_embeds, order, return_dict, output_hidden_states=None
    ) -> BiLSTMModelOutput | tuple:
        """`forward` after `_prepare`: the caller that already prepared (the language model) does not do it twice."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if inputs_embeds is None:
            inputs_embeds = self.embeddings(input_ids)
        # Zero what is not text, so an empty row reads one all-zero step whatever its ids say; embedding dropout
        # shares that multiply.
        inputs_embeds = _dropout_and_mask(inputs_embeds, mask, self.embedding_dropout.p, self.training)
        lengths = mask.sum(dim=1).clamp(min=1)
        valid = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)  # (batch, seq)
        embeddings = inputs_embeds
        if output_hidden_states and order is not None:
            # hidden_states[0] is given at the caller's positions; the recurrent layers read it back from there (an
            # exact permutation), so that it lies on the gradient path as transformers' hidden states do.
            embeddings = _restore_positions(inputs_embeds, order)
            inputs_embeds = embeddings.gather(1, order.unsqueeze(-1).expand_as(embeddings))

        # (batch, seq, dirs*hidden), (batch, dirs*hidden)[, per-layer states]
        states, finals, *layers = self.encode(inputs_embeds, lengths, output_hidden_states=output_hidden_states)
        pooled = self.pool(states, finals, valid, lengths)
        hidden_states = (embeddings, *layers[0]) if output_hidden_states else None

        if order is not None:  # put the states back at the positions the caller gave
            states = _restore_positions(states, order)
            if hidden_states is not None:
                restored = (_restore_positions(tensor, order) for tensor in hidden_states[1:-1])
                hidden_states = (embeddings, *restored, states)
            valid = torch.zeros_like(valid).scatter(1, order, valid)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (states, pooled, valid) + ((hidden_states,) if hidden_states is not None else ())
        return BiLSTMModelOutput(
            last_hidden_state=states, pooler_output=pooled, attention_mask=valid, hidden_states=hidden_states
        )

    def pool(self, states, finals, valid, lengths):
        pooling = self.config.pooling
        if pooling == "last":
            return finals
        pieces = []
        if pooling in ("max", "max_mean"):
            # max(dim).values backpropagates through its indices, about half the cost of amax's tie-sharing rule
            filled = torch.where(valid.unsqueeze(-1), states, torch.finfo(states.dtype).min)
            pieces.append(filled.max(dim=1).values)
        if pooling in ("mean", "max_mean"):  # `states` are zero at padding (`encode`): a plain sum is the text's
            pieces.append(states.sum(dim=1) / lengths.unsqueeze(-1).to(states.dtype))
        return torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]


class BiLSTMClassificationHead(nn.Module):
    """Dropout → [Linear → ReLU → dropout] → Linear: the tutorial's fc 128 → 20 → 2 with the default config."""

    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.classifier_dropout)
        if config.classifier_hidden_size > 0:
            self.dense = nn.Linear(config.pooled_size, config.classifier_hidden_size)
            self.activation = nn.ReLU()
            self.out_proj = nn.Linear(config.classifier_hidden_size, config.num_labels)
        else:
            self.dense = None
            self.out_proj = nn.Linear(config.pooled_size, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(pooled)
        if self.dense is not None:
            hidden = self.dropout(self.activation(self.dense(hidden)))
        return self.out_proj(hidden)  # (batch, num_labels)


class BiLSTMForSequenceClassification(BiLSTMPreTrainedModel):
    """
    [`BiLSTMModel`] with a classification / regression head on the pooled vector. Works with `pipeline`,
    `Trainer` and `problem_type` exactly like transformers' own heads; the loss is returned only when `labels` are.
    """

    def __init__(self, config: BiLSTMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bilstm = BiLSTMModel(config)
        self.classifier = BiLSTMClassificationHead(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.bilstm.embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.bilstm.embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        output_hidden_states (`bool`, *optional*):
            Also return the encoder's `hidden_states` (see [`BiLSTMModelOutput`]).
        """
        _refuse_text_pairs(self.config, token_type_ids)
        outputs = self.bilstm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(outputs.pooler_output)
        loss = self.compute_loss(logits, labels) if labels is not None else None
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            output = (logits,) + ((outputs.hidden_states,) if outputs.hidden_states is not None else ())
            return ((loss,) + output) if loss is not None else output
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.to(logits.device)
        if self.config.problem_type is None:
            if self.num_labels == 1:
                self.config.problem_type = "regression"
            elif labels.dtype in (torch.long, torch.int, torch.int16, torch.uint8):
                self.config.problem_type = "single_label_classification"
            else:
                self.config.problem_type = "multi_label_classification"
        if self.config.problem_type == "regression":
            return self.loss_function(labels.to(logits.dtype), logits, self.config)
        if self.config.problem_type == "single_label_classification":
            labels = labels.view(-1)
            # -100 is the ignore index; anything else outside [0, num_labels) would crash on the GPU or mislead.
            bad = (labels != -100) & ((labels < 0) | (labels >= self.num_labels))
            if checks_inputs(self.config, labels) and bool(bad.any()):
                raise ValueError(
                    f"labels hold {labels[bad][0].item()}, outside [0, {self.num_labels}) for a model with "
                    f"id2label={self.config.id2label}; map the dataset's labels to these ids or build the model "
                    "with matching id2label."
                )
        elif self.config.problem_type == "multi_label_classification":
            labels = labels.to(torch.float32)
        # transformers' own sequence-classification loss from here; the logits in fp32 under bf16 autocast.
        return self.loss_function(labels, logits.float(), self.config)


BiLSTMModel.register_for_auto_class("AutoModel")
BiLSTMForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")


@dataclass
class BiLSTMPreTrainingOutput(ModelOutput):
    """
    Output of [`BiLSTMForPreTraining`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given):
            Mean of the forward and backward language-model losses (cross-entropy per predicted token).
        forward_loss / backward_loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given):
            The loss of each direction; `exp` of it is that direction's perplexity over the model's LM vocabulary.
        forward_logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, lm_vocab_size)`):
            Scores of the token that follows each position (returned without `labels`, or with `return_logits=True`).
        backward_logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, lm_vocab_size)`):
            Scores of the token that precedes each position; `None` for a unidirectional model.
        hidden_states (`tuple(torch.FloatTensor)`, returned with `output_hidden_states=True`):
            The encoder's `hidden_states` (see [`BiLSTMModelOutput`]).
    """

    loss: torch.FloatTensor | None = None
    forward_loss: torch.FloatTensor | None = None
    backward_loss: torch.FloatTensor | None = None
    forward_logits: torch.FloatTensor | None = None
    backward_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class BiLSTMForPreTraining(BiLSTMPreTrainedModel):
    """
    A bidirectional language model (ELMo-style) on a [`BiLSTMModel`]: the forward direction predicts the next token,
    the backward direction the previous one, so that the encoder learns from unlabeled text. Its `.bilstm` encoder is
    what `BiLSTMForSequenceClassification.from_pretrained(folder, id2label=...)` starts from (the classifier is new).

    Each direction's states go through their own projection to `embedding_dim` and are scored against the input
    embedding matrix (`lm_head` is tied to it, as `_tied_weights_keys` declares for saving). A bidirectional model
    with more than one layer needs `separate_directions=True`: a standard stacked bidirectional RNN feeds both
    directions to every next layer, so a direction would see the token it has to predict.

    Config attributes read by this head (all optional, saved in `config.json`):
        lm_vocab_size (`int`, defaults to `vocab_size`): only the `lm_vocab_size` lowest token ids are predicted
            (the tokenizer numbers words by frequency, so these are the most frequent ones); rarer target words count
            as `unk_token_id`. The softmax over the vocabulary is the main cost of pretraining, so a cap of 20-30k on a
            50k vocabulary saves time while every word still has its input embedding.
        unk_token_id (`int`, defaults to 1, the `[UNK]` of `train_tokenizer`): the class of rarer target words.
        lm_dropout (`float`, defaults to 0.0): dropout on the states before the projections.
        tie_word_embeddings (`bool`, defaults to `True`): share `lm_head.weight` with the input embedding.
    """

    _tied_weights_keys = {"lm_head.weight": "bilstm.embeddings.weight"}

    def __init__(self, config: BiLSTMConfig):
        if getattr(config, "tie_word_embeddings", None) is None:
            # transformers 5 configs no longer default this; an LM head tied to the input embedding is the point here.
            config.tie_word_embeddings = True
        self._validate_lm_config(config)
        super().__init__(config)
        self.bilstm = BiLSTMModel(config)
        self.lm_dropout = nn.Dropout(getattr(config, "lm_dropout", 0.0))
        self.forward_projection = nn.Linear(config.hidden_size, config.embedding_dim)
        self.backward_projection = (
            nn.Linear(config.hidden_size, config.embedding_dim) if config.bidirectional else None
        )
        self.lm_head = nn.Linear(config.embedding_dim, config.vocab_size)
        self.post_init()

    @staticmethod
    def _validate_lm_config(config: BiLSTMConfig):
        if config.bidirectional and config.num_layers > 1 and not config.separate_directions:
            raise ValueError(
                f"BiLSTMForPreTraining with num_layers={config.num_layers} needs separate_directions=True: in a "
                "stacked bidirectional RNN each layer reads both directions of the layer below, so the forward "
                "direction would see the next token it must predict. Set separate_directions=True (ELMo-style)."
            )
        cap = getattr(config, "lm_vocab_size", None)
        if cap is not None and (
            isinstance(cap, bool) or not isinstance(cap, int) or not 3 <= cap <= config.vocab_size
        ):
            raise ValueError(
                f"BiLSTMConfig.lm_vocab_size must be an integer in [3, vocab_size={config.vocab_size}] or None "
                f"(the whole vocabulary), but it was {cap!r}."
            )
        unk = getattr(config, "unk_token_id", 1)
        if isinstance(unk, bool) or not isinstance(unk, int) or not 0 <= unk < (cap or config.vocab_size):
            raise ValueError(
                f"BiLSTMConfig.unk_token_id must be an id below lm_vocab_size ({cap or config.vocab_size}), "
                f"but it was {unk!r}; it is the class of target words beyond the cap."
            )
        value = getattr(config, "lm_dropout", 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"BiLSTMConfig.lm_dropout must be a number in [0, 1), but it was {value!r}.")

    @property
    def lm_vocab_size(self) -> int:
        return getattr(self.config, "lm_vocab_size", None) or self.config.vocab_size

    def get_input_embeddings(self) -> nn.Embedding:
        return self.bilstm.embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.bilstm.embeddings = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear):
        self.lm_head = value

    def _scores(self, states: torch.Tensor, projection: nn.Linear) -> torch.Tensor:
        cap = self.lm_vocab_size
        logits = nn.functional.linear(
            projection(self.lm_dropout(states)), self.lm_head.weight[:cap], self.lm_head.bias[:cap]
        )  # (..., lm_vocab_size)
        pad = self.config.pad_token_id
        if pad < cap:  # padding is never a target; keeping its score out also keeps the tied pad embedding at zero
            # In place: the matmul's backward does not read its output, and a copy of the logits is the costly part.
            logits[..., pad] = torch.finfo(logits.dtype).min
        return logits

    def _direction_loss(self, states, targets, projection):
        keep = targets != -100
        if not bool(keep.any()):  # e.g. a batch of one-word texts: nothing to predict, and a mean over none is NaN
            return states.sum() * 0.0
        # Scoring only the positions that have a target skips the padding, which is most of a batch's softmax.
        logits = self._scores(states[keep], projection)  # (n_targets, lm_vocab_size)
        return nn.functional.cross_entropy(logits.float(), targets[keep])

    def _align_labels(self, labels: torch.Tensor, mask: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
        """`labels` checked, moved with the inputs' re-alignment (`order`), -100 off the text, rare words as unk."""
        if tuple(labels.shape) != tuple(mask.shape) and not (mask.shape[1] == 1 and labels.shape[1] == 0):
            raise ValueError(f"labels have shape {tuple(labels.shape)} but the inputs have {tuple(mask.shape)}.")
        labels = labels.to(mask.device)
        if labels.shape[1] != mask.shape[1]:  # an empty text was widened to one padding step
            labels = labels.new_full(mask.shape, -100)
        if order is not None:
            labels = labels.gather(1, order)
        labels = labels.masked_fill(~mask, -100)
        high = int(labels.max()) if labels.numel() and checks_inputs(self.config, labels) else -100
        if high >= self.config.vocab_size or (
            checks_inputs(self.config, labels) and bool(((labels < 0) & (labels != -100)).any())
        ):
            raise ValueError(
                f"labels must be token ids in [0, {self.config.vocab_size}) or -100, but they hold "
                f"{labels[(labels >= self.config.vocab_size) | ((labels < 0) & (labels != -100))][0].item()}."
            )
        return torch.where(labels >= self.lm_vocab_size, getattr(self.config, "unk_token_id", 1), labels)

    def _losses(
        self, forward_states: torch.Tensor, backward_states: torch.Tensor | None, labels: torch.Tensor, mask
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The loss (the mean of the directions'), the forward and the backward direction's, on aligned labels."""
        ignore = labels.new_full((labels.shape[0], 1), -100)
        next_tokens = torch.cat([labels[:, 1:], ignore], dim=1)  # target of the forward state at t: token t+1
        forward_loss = self._direction_loss(forward_states, next_tokens, self.forward_projection)
        if backward_states is None:
            return forward_loss, forward_loss, None
        previous_tokens = torch.cat([ignore, labels[:, :-1]], dim=1)  # backward state at t: token t-1
        # The first padding step would "predict" the last word from an empty state: not a target.
        previous_tokens = previous_tokens.masked_fill(~mask, -100)
        backward_loss = self._direction_loss(backward_states, previous_tokens, self.backward_projection)
        return (forward_loss + backward_loss) / 2, forward_loss, backward_loss

    def _logits(
        self, forward_states: torch.Tensor, backward_states: torch.Tensor | None, order: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Both directions' per-position logits, at the positions the caller gave."""
        forward_logits = self._scores(forward_states, self.forward_projection)
        backward_logits = None
        if backward_states is not None:
            backward_logits = self._scores(backward_states, self.backward_projection)
        if order is not None:  # back to the positions the caller gave
            unsort = torch.argsort(order, dim=1).unsqueeze(-1)
            forward_logits = forward_logits.gather(1, unsort.expand_as(forward_logits))
            if backward_logits is not None:
                backward_logits = backward_logits.gather(1, unsort.expand_as(backward_logits))
        return forward_logits, backward_logits

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        return_logits: bool | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> BiLSTMPreTrainingOutput | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            The token ids themselves (as `DataCollatorForLanguageModeling(mlm=False)` gives them), -100 where no
            token is to be predicted. The shift is done here: position `t` of the forward direction is scored on
            the next text token, of the backward direction on the previous one.
        return_logits (`bool`, *optional*):
            Return the per-position logits even when `labels` are given (they are large: batch x length x vocab).
        output_hidden_states (`bool`, *optional*):
            Also return the encoder's `hidden_states` (see [`BiLSTMModelOutput`]).
        """
        _refuse_text_pairs(self.config, token_type_ids)
        # Right-align first so that "next" and "previous" mean the neighbouring text token whatever the padding.
        input_ids, mask, inputs_embeds, order = self.bilstm._prepare(input_ids, attention_mask, inputs_embeds)
        if labels is not None:
            labels = self._align_labels(labels, mask, order)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        # With hidden states, the encoder gives them at the caller's positions; the losses read the aligned states.
        outputs = self.bilstm._forward_prepared(
            input_ids,
            mask,
            inputs_embeds,
            order if output_hidden_states else None,
            return_dict=True,
            output_hidden_states=output_hidden_states,
        )
        states, hidden_states = outputs.last_hidden_state, outputs.hidden_states
        if hidden_states is not None and order is not None:
            states = states.gather(1, order.unsqueeze(-1).expand_as(states))
        hidden = self.config.hidden_size
        forward_states = states[..., :hidden]  # (batch, seq, hidden)
        backward_states = states[..., hidden:] if self.config.bidirectional else None

        loss = forward_loss = backward_loss = forward_logits = backward_logits = None
        if labels is not None:
            loss, forward_loss, backward_loss = self._losses(forward_states, backward_states, labels, mask)
        if labels is None or return_logits:
            forward_logits, backward_logits = self._logits(forward_states, backward_states, order)

        output = BiLSTMPreTrainingOutput(
            loss=loss,
            forward_loss=forward_loss,
            backward_loss=backward_loss,
            forward_logits=forward_logits,
            backward_logits=backward_logits,
            hidden_states=hidden_states,
        )
        # As transformers' models do: the tuple is the output's fields that are set, in their order.
        return output if (return_dict if return_dict is not None else self.config.return_dict) else output.to_tuple()


BiLSTMForPreTraining.register_for_auto_class("AutoModelForPreTraining")

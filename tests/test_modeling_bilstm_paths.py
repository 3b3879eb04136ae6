"""The padded (no-pack) recurrent path computes exactly what the packed path does, outputs and gradients alike."""

import itertools

import pytest
import torch
from helpers import tiny_config

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification
from hf_bilstm.configuration_bilstm import POOLING_TYPES, RNN_TYPES

# (rnn_type, num_layers, bidirectional, separate_directions)
STACKS = [
    (rnn_type, layers, bidirectional, separate)
    for rnn_type, layers, bidirectional in itertools.product(RNN_TYPES, (1, 2, 3), (True, False))
    for separate in ((False, True) if bidirectional else (False,))
]


def ragged_batch(padding_side: str, vocab_size: int = 100, seed: int = 0):
    """Six rows of lengths 9, 1, 4, 8, 2 and 0 (all padding), padded on `padding_side`."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([9, 1, 4, 8, 2, 0])
    seq_len = int(lengths.max())
    positions = torch.arange(seq_len)[None]
    if padding_side == "right":
        mask = positions < lengths[:, None]
    else:
        mask = positions >= seq_len - lengths[:, None]
    input_ids = torch.randint(2, vocab_size, (len(lengths), seq_len), generator=generator)
    return input_ids.masked_fill(~mask, 0), mask.long()


def both_implementations(**overrides):
    """The same weights twice: one model packing, one running padded RNN calls."""
    # no dropout unless asked: the two models are compared in train mode
    config = tiny_config(**{"dropout": 0.0, "embedding_dropout": 0.0, "classifier_dropout": 0.0, **overrides})
    torch.manual_seed(0)
    packed = BiLSTMForSequenceClassification(BiLSTMConfig(**{**config.to_dict(), "rnn_implementation": "packed"}))
    padded = BiLSTMForSequenceClassification(BiLSTMConfig(**{**config.to_dict(), "rnn_implementation": "padded"}))
    padded.load_state_dict(packed.state_dict())
    return packed, padded


@pytest.mark.parametrize("rnn_type, num_layers, bidirectional, separate_directions", STACKS)
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_padded_path_equals_packed_path(rnn_type, num_layers, bidirectional, separate_directions, padding_side):
    input_ids, attention_mask = ragged_batch(padding_side)
    for pooling in POOLING_TYPES:
        packed, padded = both_implementations(
            rnn_type=rnn_type,
            num_layers=num_layers,
            bidirectional=bidirectional,
            separate_directions=separate_directions,
            pooling=pooling,
        )
        # train mode with zero dropout: the training-time kernels, and gradients to compare
        for model in (packed, padded):
            model.train()
        labels = torch.tensor([0, 1, 1, 0, 1, 0])
        outputs = {}
        for name, model in (("packed", packed), ("padded", padded)):
            out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            out.loss.backward()
            states = model.bilstm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            outputs[name] = (out.logits, states)
        torch.testing.assert_close(outputs["padded"][0], outputs["packed"][0], atol=1e-5, rtol=0)
        torch.testing.assert_close(outputs["padded"][1], outputs["packed"][1], atol=1e-5, rtol=0)
        for (name, p_packed), p_padded in zip(packed.named_parameters(), padded.parameters()):
            assert (p_packed.grad is None) == (p_padded.grad is None), name
            if p_packed.grad is not None:
                torch.testing.assert_close(p_padded.grad, p_packed.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_padded_path_applies_dropout_between_layers_like_nn_lstm():
    """With dropout between layers, the padded path's outputs differ run to run in train mode and not in eval."""
    _, padded = both_implementations(num_layers=2, dropout=0.5)
    input_ids, attention_mask = ragged_batch("right")
    padded.train()
    first = padded(input_ids=input_ids, attention_mask=attention_mask).logits
    second = padded(input_ids=input_ids, attention_mask=attention_mask).logits
    assert not torch.allclose(first, second)
    padded.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            padded(input_ids=input_ids, attention_mask=attention_mask).logits,
            padded(input_ids=input_ids, attention_mask=attention_mask).logits,
        )


def test_auto_packs_only_on_cuda():
    model = BiLSTMForSequenceClassification(tiny_config())
    assert model.config.rnn_implementation == "auto"
    assert not model.bilstm.use_packed_sequences(torch.device("cpu"))
    assert model.bilstm.use_packed_sequences(torch.device("cuda"))
    model.config.rnn_implementation = "packed"
    assert model.bilstm.use_packed_sequences(torch.device("cpu"))
    model.config.rnn_implementation = "padded"
    assert not model.bilstm.use_packed_sequences(torch.device("cuda"))


def test_rnn_implementation_is_a_load_time_choice(tmp_path):
    """The same checkpoint loads under either implementation; the choice is not baked into the weights."""
    packed, _ = both_implementations()
    packed.save_pretrained(tmp_path)
    loaded = BiLSTMForSequenceClassification.from_pretrained(tmp_path, rnn_implementation="padded").eval()
    assert loaded.config.rnn_implementation == "padded"
    input_ids, attention_mask = ragged_batch("left")
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(input_ids=input_ids, attention_mask=attention_mask).logits,
            packed.eval()(input_ids=input_ids, attention_mask=attention_mask).logits,
            atol=1e-5,
            rtol=0,
        )


def test_unknown_rnn_implementation_is_refused():
    with pytest.raises(ValueError, match="rnn_implementation must be one of"):
        BiLSTMConfig(rnn_implementation="fast")


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_embedding_dropout_draws_exactly_what_nn_dropout_draws(p):
    """The one-multiply dropout + padding mask keeps nn.Dropout's random stream and values bit for bit, so a seeded
    training run gives the same model as the two-multiply form it replaced (outputs and gradients)."""
    from hf_bilstm.modeling_bilstm import _dropout_and_mask

    embeds = torch.randn(4, 7, 5)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [0] * 7, [1] * 6 + [0]], dtype=torch.bool)
    reference_in = embeds.clone().requires_grad_()
    fused_in = embeds.clone().requires_grad_()
    torch.manual_seed(1)
    reference = torch.nn.Dropout(p).train()(reference_in) * mask.unsqueeze(-1).float()
    torch.manual_seed(1)
    fused = _dropout_and_mask(fused_in, mask, p, training=True)
    assert torch.equal(fused, reference)
    upstream = torch.randn_like(fused)
    reference.backward(upstream)
    fused.backward(upstream)
    assert torch.equal(fused_in.grad, reference_in.grad)
    assert torch.equal(_dropout_and_mask(embeds, mask, p, training=False), embeds * mask.unsqueeze(-1).float())

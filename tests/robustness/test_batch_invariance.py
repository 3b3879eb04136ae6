"""Property: whatever the texts, the batch they share, their order and the padding side, each text's logits equal its
logits alone (to 1e-5), for every rnn_type x pooling, bidirectional or not, with separate direction stacks too."""

import itertools

import pytest
import torch
from helpers import TEXTS, tiny_tokenizer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification
from hf_bilstm.configuration_bilstm import POOLING_TYPES, RNN_TYPES

TOKENIZER = tiny_tokenizer()
WORDS = sorted({word for text in TEXTS for word in TOKENIZER.tokenize(text)})

# (rnn_type, pooling, bidirectional, separate_directions); separate stacks exist only for a bidirectional model.
ARCHS = [
    (rnn_type, pooling, bidirectional, separate)
    for rnn_type, pooling, bidirectional, separate in itertools.product(
        RNN_TYPES, POOLING_TYPES, [True, False], [False, True]
    )
    if bidirectional or not separate
]
_MODELS = {}


# Thousands of tiny forwards: thread hand-offs cost more than they save, most of all on a busy 2-core machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def model_for(rnn_type, pooling, bidirectional, separate):
    key = (rnn_type, pooling, bidirectional, separate)
    if key not in _MODELS:
        torch.manual_seed(len(_MODELS))
        config = BiLSTMConfig(
            vocab_size=len(TOKENIZER),
            embedding_dim=16,
            hidden_size=8,
            num_layers=2,
            rnn_type=rnn_type,
            pooling=pooling,
            bidirectional=bidirectional,
            separate_directions=separate,
            id2label={0: "neg", 1: "pos"},
        )
        model = BiLSTMForSequenceClassification(config).eval()
        with torch.no_grad():  # non-zero biases, so that padding leaking into a state would show
            for param in model.parameters():
                param.add_(torch.randn_like(param) * 0.2)
            model.bilstm.embeddings.weight[config.pad_token_id].zero_()
        _MODELS[key] = model
    return _MODELS[key]


# Texts: known words, unknown strings, emoji/CJK/RTL, punctuation and whitespace in any mix (empty texts included).
piece = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=6),
    st.sampled_from(["😀", "映画", "שלום", "<br />", "!!", "\n", "   "]),
)
texts = st.lists(st.lists(piece, max_size=25).map(" ".join), min_size=1, max_size=5)


@pytest.mark.parametrize("rnn_type, pooling, bidirectional, separate", ARCHS)
@settings(
    max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(batch_texts=texts, data=st.data())
def test_each_text_gets_its_own_logits_in_any_batch(rnn_type, pooling, bidirectional, separate, batch_texts, data):
    model = model_for(rnn_type, pooling, bidirectional, separate)
    order = data.draw(st.permutations(range(len(batch_texts))), label="order")
    side = data.draw(st.sampled_from(["right", "left"]), label="padding side")
    extra = data.draw(st.integers(0, 3), label="extra padding")
    shuffled = [batch_texts[i] for i in order]
    lengths = [len(TOKENIZER(text)["input_ids"]) for text in shuffled]
    batch = TOKENIZER(
        shuffled, padding="max_length", max_length=max(lengths) + extra, padding_side=side, return_tensors="pt"
    )
    with torch.no_grad():
        batched = model(**batch).logits
        for row, text in enumerate(shuffled):
            alone = model(**TOKENIZER(text, return_tensors="pt")).logits  # shape (1, n); n = 0 for an empty text
            torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=0, msg=f"{text!r}")

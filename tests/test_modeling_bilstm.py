import itertools

import pytest
import torch
from helpers import tiny_classifier, tiny_config
from transformers import AutoModel, AutoModelForSequenceClassification

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, BiLSTMModel
from hf_bilstm.configuration_bilstm import POOLING_TYPES, RNN_TYPES

BATCH, SEQ = 5, 7


def random_batch(vocab_size=100, batch=BATCH, seq=SEQ, seed=0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(2, vocab_size, (batch, seq), generator=generator)
    lengths = torch.tensor([seq, 1, 3, seq - 1, 4][:batch])
    attention_mask = (torch.arange(seq)[None] < lengths[:, None]).long()
    return input_ids.masked_fill(attention_mask == 0, 0), attention_mask


ARCHS = list(itertools.product(RNN_TYPES, POOLING_TYPES, [True, False]))


@pytest.mark.parametrize("rnn_type, pooling, bidirectional", ARCHS)
def test_shapes_for_every_architecture(rnn_type, pooling, bidirectional):
    config = tiny_config(rnn_type=rnn_type, pooling=pooling, bidirectional=bidirectional)
    torch.manual_seed(0)
    base = BiLSTMModel(config).eval()
    input_ids, attention_mask = random_batch()
    out = base(input_ids=input_ids, attention_mask=attention_mask)
    directions = 2 if bidirectional else 1
    assert out.last_hidden_state.shape == (BATCH, SEQ, directions * 8)
    assert out.pooler_output.shape == (BATCH, config.pooled_size)
    # padded positions carry no state
    assert torch.all(out.last_hidden_state[attention_mask == 0] == 0)

    model = BiLSTMForSequenceClassification(config).eval()
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    assert logits.shape == (BATCH, 2)


@pytest.mark.parametrize("rnn_type, pooling, bidirectional", ARCHS)
def test_padding_does_not_change_answers(rnn_type, pooling, bidirectional):
    model = tiny_classifier(rnn_type=rnn_type, pooling=pooling, bidirectional=bidirectional)
    input_ids, attention_mask = random_batch()
    with torch.no_grad():
        batched = model(input_ids=input_ids, attention_mask=attention_mask).logits
        for row in range(BATCH):
            length = int(attention_mask[row].sum())
            alone = model(input_ids=input_ids[row : row + 1, :length]).logits
            torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=0)
            # left padding and extra padding give the same answer too
            left = torch.cat([torch.zeros(1, 3, dtype=torch.long), input_ids[row : row + 1, :length]], dim=1)
            left_mask = torch.cat([torch.zeros(1, 3), torch.ones(1, length)], dim=1)
            torch.testing.assert_close(
                model(input_ids=left, attention_mask=left_mask).logits, alone, atol=1e-5, rtol=0
            )


def test_tutorial_last_pooling_reads_the_final_state_of_each_direction():
    model = tiny_classifier(num_layers=1)
    input_ids, attention_mask = random_batch()
    with torch.no_grad():
        out = model.bilstm(input_ids=input_ids, attention_mask=attention_mask)
    lengths = attention_mask.sum(1)
    forward_last = out.last_hidden_state[torch.arange(BATCH), lengths - 1, :8]
    backward_first = out.last_hidden_state[:, 0, 8:]
    torch.testing.assert_close(out.pooler_output, torch.cat([forward_last, backward_first], dim=-1))


def test_separate_directions_keep_the_stacks_apart():
    model = tiny_classifier(num_layers=2, separate_directions=True)
    assert hasattr(model.bilstm, "forward_rnn") and hasattr(model.bilstm, "backward_rnn")
    input_ids, attention_mask = random_batch()
    changed = input_ids.clone()
    changed[0, -1] = 5 if int(input_ids[0, -1]) != 5 else 6
    with torch.no_grad():
        a = model.bilstm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        b = model.bilstm(input_ids=changed, attention_mask=attention_mask).last_hidden_state
    # The forward direction at earlier positions cannot see the last token; the backward one does.
    torch.testing.assert_close(a[0, :-1, :8], b[0, :-1, :8])
    assert not torch.allclose(a[0, :-1, 8:], b[0, :-1, 8:])


@pytest.mark.parametrize("rnn_implementation", ["padded", "packed"])
def test_initial_states_are_zero(rnn_implementation):
    # A one-token text's final states are one cell step from the initial state: from zero, they are exactly what an
    # LSTMCell with the layer's weights gives from zero (the tutorial drew random initial states on every call).
    model = tiny_classifier(num_layers=1, pooling="last", rnn_implementation=rnn_implementation)
    rnn = model.bilstm.rnn
    token = torch.tensor([[5]])
    with torch.no_grad():
        pooled = model.bilstm(input_ids=token).pooler_output[0]
        x = model.bilstm.embeddings(token)[0]
        expected = []
        for suffix in ("", "_reverse"):
            cell = torch.nn.LSTMCell(rnn.input_size, rnn.hidden_size)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(rnn, f"{name}_l0{suffix}"))
            expected.append(cell(x)[0][0])  # LSTMCell starts from zero states when none are given
    torch.testing.assert_close(pooled, torch.cat(expected), rtol=1e-5, atol=1e-6)


def test_unchecked_forward_never_reads_a_value_back_from_the_device():
    # Meta tensors have no values: any int()/bool()/.item() in forward (a GPU pipeline stall) raises here. Off the
    # CPU, validate_inputs=None checks nothing by default, so a classifier's forward and loss must run on them.
    model = tiny_classifier(num_layers=2, pooling="max_mean").to("meta")
    input_ids, attention_mask = random_batch()
    out = model(
        input_ids=input_ids.to("meta"),
        attention_mask=attention_mask.to("meta"),
        token_type_ids=torch.zeros_like(input_ids, device="meta"),
        labels=torch.tensor([0, 1, 1, 0, 1], device="meta"),
    )
    assert out.logits.shape == (BATCH, 2) and out.loss.shape == ()


def test_unchecked_inputs_are_still_realigned_so_left_padding_gives_the_same_answers():
    checked = tiny_classifier(num_layers=2, pooling="max_mean")
    unchecked = tiny_classifier(num_layers=2, pooling="max_mean", validate_inputs=False)
    input_ids, attention_mask = random_batch()
    lengths = attention_mask.sum(1)
    left_ids = torch.stack([row.roll(int(SEQ - n)) for row, n in zip(input_ids, lengths)])
    left_mask = torch.stack([row.roll(int(SEQ - n)) for row, n in zip(attention_mask, lengths)])
    with torch.no_grad():
        right = checked(input_ids=input_ids, attention_mask=attention_mask).logits
        left = unchecked(input_ids=left_ids, attention_mask=left_mask).logits
    torch.testing.assert_close(left, right, rtol=1e-5, atol=1e-6)


def test_validate_inputs_chooses_the_checks():
    input_ids, attention_mask = random_batch()
    bad = input_ids.clone()
    bad[0, 0] = 100  # outside the vocabulary of 100
    for choice in (None, True):  # CPU tensors are checked by default
        with pytest.raises(ValueError, match="outside this model's vocabulary"):
            tiny_classifier(validate_inputs=choice)(input_ids=bad, attention_mask=attention_mask)
    with pytest.raises(IndexError):  # unchecked: the embedding lookup's own error, and no read-back before it
        tiny_classifier(validate_inputs=False)(input_ids=bad, attention_mask=attention_mask)
    with pytest.raises(ValueError, match="validate_inputs must be true, false or null"):
        tiny_config(validate_inputs=1)


def test_loss_only_with_labels_and_backward_reaches_every_parameter():
    model = tiny_classifier(embedding_dropout=0.1, classifier_dropout=0.1).train()
    input_ids, attention_mask = random_batch()
    assert model(input_ids=input_ids, attention_mask=attention_mask).loss is None
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 1, 1, 0, 1]))
    assert out.loss.ndim == 0 and out.loss.item() > 0
    out.loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
    assert torch.all(model.bilstm.embeddings.weight.grad[0] == 0)  # the padding row never learns


def test_problem_types_like_every_hf_head():
    input_ids, attention_mask = random_batch()
    regression = tiny_classifier(id2label={0: "score"})
    targets = torch.rand(BATCH)
    out = regression(input_ids=input_ids, attention_mask=attention_mask, labels=targets)
    assert regression.config.problem_type == "regression" and out.logits.shape == (BATCH, 1)
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits.squeeze(-1), targets))

    multi = tiny_classifier(id2label={0: "a", 1: "b", 2: "c"})
    targets = torch.tensor([[1, 0, 1]] * BATCH, dtype=torch.float)
    out = multi(input_ids=input_ids, attention_mask=attention_mask, labels=targets)
    assert multi.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(out.logits, targets))

    single = tiny_classifier()
    labels = torch.tensor([0, 1, 1, 0, 1])
    out = single(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    assert single.config.problem_type == "single_label_classification"
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))
    labels = torch.tensor([0, -100, 1, -100, 1])  # -100 rows (padding, masked) count for nothing
    out = single(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    kept = labels != -100
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits[kept], labels[kept]))


def test_return_dict_false_gives_tuples():
    model = tiny_classifier()
    input_ids, attention_mask = random_batch()
    loss, logits = model(input_ids, attention_mask, labels=torch.zeros(BATCH, dtype=torch.long), return_dict=False)
    assert loss.ndim == 0 and logits.shape == (BATCH, 2)


def test_classifier_without_hidden_layer():
    model = tiny_classifier(classifier_hidden_size=0)
    assert model.classifier.dense is None and model.classifier.out_proj.in_features == 16


@pytest.mark.parametrize("rnn_type", RNN_TYPES)
def test_save_load_gives_identical_logits_and_keeps_loaded_weights(tmp_path, rnn_type):
    model = tiny_classifier(rnn_type=rnn_type, pooling="max_mean")
    # Move every weight away from what _init_weights would produce, so a re-init after loading shows up.
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.37)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, BiLSTMForSequenceClassification)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    input_ids, attention_mask = random_batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids, attention_mask).logits, model(input_ids, attention_mask).logits)


def test_base_model_loads_from_a_classifier_folder(tmp_path):
    model = tiny_classifier()
    model.save_pretrained(tmp_path)
    base = AutoModel.from_pretrained(tmp_path)
    assert isinstance(base, BiLSTMModel)
    assert torch.equal(base.embeddings.weight, model.bilstm.embeddings.weight)


def test_new_lstm_weights_are_initialised_orthogonal_with_forget_bias():
    model = tiny_classifier(num_layers=1)
    weight_hh = model.bilstm.rnn.weight_hh_l0  # (4*hidden, hidden)
    torch.testing.assert_close(weight_hh.T @ weight_hh, torch.eye(8), atol=1e-4, rtol=0)
    assert torch.all(model.bilstm.rnn.bias_ih_l0[8:16] == 1) and torch.all(model.bilstm.rnn.bias_hh_l0 == 0)
    assert torch.all(model.bilstm.embeddings.weight[0] == 0)


def test_config_defaults_build_a_model():
    model = BiLSTMForSequenceClassification(BiLSTMConfig(vocab_size=50))
    assert model.classifier.dense.in_features == 128 and model.classifier.dense.out_features == 20
    assert model.bilstm.rnn.num_layers == 2 and model.bilstm.rnn.bidirectional and model.bilstm.rnn.hidden_size == 64

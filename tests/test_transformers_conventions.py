"""
What transformers expects of every model, checked directly (the vendored common tests check it again): the config's
`num_hidden_layers`, `hidden_states` through every head, a new head from `from_pretrained(num_labels=N)`, and
gradient checkpointing over the recurrent layers, from Python and from `hf-bilstm train --gradient_checkpointing`.
"""

import json
import os

import pytest
import saved_at_3c0128e
import torch
from helpers import TINY, write_toy_dataset
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from hf_bilstm import BiLSTMConfig, BiLSTMForPreTraining, BiLSTMForSequenceClassification, BiLSTMModel
from hf_bilstm.commands import train as train_cmd

ARCHITECTURES = {
    "stacked": {"rnn_implementation": "padded"},
    "per-direction": {"separate_directions": True},
    "packed": {"rnn_implementation": "packed"},
    "gru": {"rnn_type": "gru", "bidirectional": False},
    "rnn": {"rnn_type": "rnn", "pooling": "max_mean"},
}


def _config(**overrides) -> BiLSTMConfig:
    base = dict(vocab_size=30, embedding_dim=6, hidden_size=5, num_layers=3, dropout=0.3, id2label={0: "a", 1: "b"})
    return BiLSTMConfig(**{**base, **overrides})


def _batch():
    torch.manual_seed(3)
    ids = torch.randint(2, 30, (4, 7))
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[1, 5:] = 0  # right padding
    mask[2, :3] = 0  # left padding
    return ids, mask


def test_num_hidden_layers_is_num_layers():
    config = BiLSTMConfig(num_layers=3)
    assert config.num_hidden_layers == 3 and config.hidden_size == 64
    assert BiLSTMConfig(num_hidden_layers=4).num_layers == 4
    config.num_hidden_layers = 1
    assert config.num_layers == 1 and "num_hidden_layers" not in config.to_dict()


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_hidden_states_are_the_embeddings_then_every_layer(name):
    model = BiLSTMModel(_config(**ARCHITECTURES[name])).eval()
    ids, mask = _batch()
    plain = model(ids, mask)
    out = model(ids, mask, output_hidden_states=True)
    assert plain.hidden_states is None and len(out.hidden_states) == 4
    assert out.hidden_states[0].shape == (4, 7, 6) and out.hidden_states[-1] is out.last_hidden_state
    width = 10 if model.config.bidirectional else 5
    assert all(states.shape == (4, 7, width) for states in out.hidden_states[1:])
    torch.testing.assert_close(out.last_hidden_state, plain.last_hidden_state, rtol=0, atol=0)
    # each layer's states at padding are zero, at the caller's positions (row 2 is left-padded)
    assert all(float(states[2, :3].detach().abs().sum()) == 0 for states in out.hidden_states)
    # the first layer's states are what a one-layer model with the same weights computes
    one_layer = BiLSTMModel(_config(**ARCHITECTURES[name], num_layers=1)).eval()
    one_layer.load_state_dict({k: v for k, v in model.state_dict().items() if "_l1" not in k and "_l2" not in k})
    torch.testing.assert_close(out.hidden_states[1], one_layer(ids, mask).last_hidden_state)
    # config.output_hidden_states asks for them too, and return_dict=False gives the same tensors as a tuple
    model.config.output_hidden_states = True
    as_tuple = model(ids, mask, return_dict=False)
    assert len(as_tuple) == 4 and all(torch.equal(a, b) for a, b in zip(as_tuple[3], out.hidden_states))


def test_hidden_states_through_the_classifier_and_the_language_model():
    ids, mask = _batch()
    classifier = BiLSTMForSequenceClassification(_config()).eval()
    encoder = classifier.bilstm(ids, mask, output_hidden_states=True).hidden_states
    out = classifier(ids, mask, labels=torch.tensor([0, 1, 0, 1]), output_hidden_states=True)
    assert all(torch.equal(a, b) for a, b in zip(out.hidden_states, encoder))
    loss, logits, hidden_states = classifier(ids, mask, labels=torch.tensor([0, 1, 0, 1]), output_hidden_states=True,
                                             return_dict=False)  # fmt: skip
    assert torch.equal(loss, out.loss) and torch.equal(logits, out.logits) and len(hidden_states) == 4

    lm = BiLSTMForPreTraining(_config(separate_directions=True)).eval()
    plain = lm(ids, mask, labels=ids)
    out = lm(ids, mask, labels=ids, output_hidden_states=True)
    torch.testing.assert_close(out.loss, plain.loss, rtol=0, atol=0)  # the losses still read the aligned states
    encoder = lm.bilstm(ids, mask, output_hidden_states=True).hidden_states
    assert len(out.hidden_states) == 4 and all(torch.equal(a, b) for a, b in zip(out.hidden_states, encoder))
    assert [type(x) for x in lm(ids, mask, labels=ids, return_dict=False)] == [torch.Tensor] * 3  # the set fields


def test_from_pretrained_with_another_num_labels_builds_a_new_head(tmp_path):
    folder = str(tmp_path / "three")
    BiLSTMForSequenceClassification(_config(id2label={0: "a", 1: "b", 2: "c"})).save_pretrained(folder)
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):  # transformers' own size check
        BiLSTMForSequenceClassification.from_pretrained(folder, num_labels=5)
    for loader in (BiLSTMForSequenceClassification, AutoModelForSequenceClassification):
        model = loader.from_pretrained(folder, num_labels=5, ignore_mismatched_sizes=True)
        assert model.config.num_labels == 5 and model.classifier.out_proj.out_features == 5
        assert model.config.label2id == {f"LABEL_{i}": i for i in range(5)}
    assert BiLSTMForSequenceClassification.from_pretrained(folder, num_labels=3).config.id2label[2] == "c"
    # A config.json whose own num_labels disagrees with its labels is still refused.
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({**config, "num_labels": 5}, handle)
    with pytest.raises(ValueError, match="num_labels=5 but id2label has 3 entries"):
        BiLSTMForSequenceClassification.from_pretrained(folder)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
@pytest.mark.parametrize("reentrant", [True, False])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(name, reentrant):
    ids, mask = _batch()
    labels = torch.tensor([0, 1, 1, 0])
    model = BiLSTMForSequenceClassification(_config(**ARCHITECTURES[name])).train()

    def step():
        model.zero_grad()
        torch.manual_seed(7)  # the same dropout draws
        loss = model(ids, mask, labels=labels).loss
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    loss, grads = step()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
    assert model.is_gradient_checkpointing and model.bilstm.layers[0].gradient_checkpointing
    calls = []
    model.bilstm.layers[0].register_forward_pre_hook(lambda *_: calls.append(1))
    checkpointed_loss, checkpointed_grads = step()
    assert len(calls) >= 1
    torch.testing.assert_close(checkpointed_loss, loss, rtol=0, atol=0)
    for parameter, grad in grads.items():
        torch.testing.assert_close(checkpointed_grads[parameter], grad, rtol=1e-5, atol=1e-7, msg=parameter)


def test_train_flag_gradient_checkpointing_trains_the_same_weights(tmp_path):
    dataset = write_toy_dataset(tmp_path / "data", n_train=64, n_test=16)
    common = ["--dataset", dataset, *TINY, "--num_layers", "2", "--max_steps", "3", "--seed", "5"]
    quiet = ["--disable_tqdm", "true", "--report_to", "none"]
    weights = []
    for flags in ([], ["--gradient_checkpointing", "true"]):
        out = str(tmp_path / f"run{len(weights)}")
        assert train_cmd.main(common + ["--output_dir", out] + flags + quiet) == 0
        weights.append(load_file(os.path.join(out, "model.safetensors")))
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def test_folders_saved_before_these_changes_still_load(tmp_path):
    # Folders in the layout hf_bilstm wrote at commit 3c0128e (before hidden states, checkpointing modules, the
    # num_labels rule and max_position_embeddings), built now (tests/saved_at_3c0128e.py): they load with every
    # tensor and compute the logits and loss that 3c0128e's code computed for them.
    built = {kind: saved_at_3c0128e.build(tmp_path / kind, kind) for kind in ("classifier", "pretraining")}
    assert "max_position_embeddings" not in json.loads((tmp_path / "classifier" / "config.json").read_text())
    ids, mask = torch.tensor(saved_at_3c0128e.INPUT_IDS), torch.tensor(saved_at_3c0128e.ATTENTION_MASK)
    classifier, info = AutoModelForSequenceClassification.from_pretrained(
        tmp_path / "classifier", output_loading_info=True
    )
    assert not any(info.values()), info  # no missing, unexpected or mismatched tensor
    lm, info = BiLSTMForPreTraining.from_pretrained(tmp_path / "pretraining", output_loading_info=True)
    assert not any(info.values()), info
    classifier, lm = classifier.eval(), lm.eval()
    with torch.no_grad():
        logits = classifier(ids, mask, output_hidden_states=True).logits
        loss = lm(ids, mask, labels=ids).loss
        assert torch.equal(logits, built["classifier"](ids, mask).logits)
    torch.testing.assert_close(logits, torch.tensor(saved_at_3c0128e.CLASSIFIER_LOGITS), rtol=0, atol=1e-6)
    assert abs(float(loss) - saved_at_3c0128e.PRETRAINING_LOSS) < 1e-5
    assert classifier.config.id2label == {0: "neg", 1: "pos", 2: "mixed"}
    assert classifier.config.max_position_embeddings is None

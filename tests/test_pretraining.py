"""BiLSTMForPreTraining and `hf-bilstm pretrain`: no direction sees its target, tied weights, transfer, data."""

import json
import os

import pytest
import torch
from helpers import (
    BLOCK_HF_BILSTM,
    child_result,
    run_child,
    tiny_args,
    tiny_config,
    tiny_imdb,
    tiny_tokenizer,
    write_toy_dataset,
)
from safetensors import safe_open
from transformers import AutoModelForPreTraining, AutoModelForSequenceClassification, pipeline

from hf_bilstm import BiLSTMForPreTraining, BiLSTMForSequenceClassification
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.commands.pretrain import main as pretrain_main
from hf_bilstm.data import UsageError
from hf_bilstm.training.pretraining import pretrain, pretraining_texts

pytestmark = pytest.mark.usefixtures("one_torch_thread")


LM_SHAPES = {
    "one bidirectional layer": dict(num_layers=1, separate_directions=False),
    "two layers, separate stacks": dict(num_layers=2, separate_directions=True),
    "two GRU layers, separate stacks": dict(num_layers=2, separate_directions=True, rnn_type="gru"),
}


def tiny_lm(seed: int = 0, **overrides) -> BiLSTMForPreTraining:
    torch.manual_seed(seed)
    settings = dict(num_layers=1, dropout=0.0, lm_vocab_size=60)
    settings.update(overrides)
    return BiLSTMForPreTraining(tiny_config(**settings)).eval()


@pytest.mark.parametrize("shape", list(LM_SHAPES))
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_no_direction_sees_the_token_it_predicts(shape, padding_side):
    model = tiny_lm(**LM_SHAPES[shape])
    length, pad, k = 9, 3, 4  # change the token at position k of the text
    ids = torch.randint(2, 60, (1, length))
    changed = ids.clone()
    changed[0, k] = 2 + (int(ids[0, k]) - 1) % 58  # another id below the LM cap
    batch = torch.zeros(2, length + pad, dtype=torch.long)
    mask = torch.zeros_like(batch)
    text = slice(0, length) if padding_side == "right" else slice(pad, pad + length)
    batch[0, text], batch[1, text], mask[:, text] = ids, changed, 1
    with torch.no_grad():
        out = model(input_ids=batch, attention_mask=mask)
    forward, backward = out.forward_logits[:, text], out.backward_logits[:, text]
    # Forward states up to k-1 (the one that predicts token k included) read only tokens before k.
    torch.testing.assert_close(forward[0, :k], forward[1, :k], rtol=0, atol=0)
    assert not torch.allclose(forward[0, k], forward[1, k])  # the test can fail: position k does read token k
    # Backward states from k+1 on (the one that predicts token k included) read only tokens after k.
    torch.testing.assert_close(backward[0, k + 1 :], backward[1, k + 1 :], rtol=0, atol=0)
    assert not torch.allclose(backward[0, k], backward[1, k])


def test_stacked_bidirectional_lm_needs_separate_directions():
    with pytest.raises(ValueError, match="separate_directions=True"):
        BiLSTMForPreTraining(tiny_config(num_layers=2, separate_directions=False))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(lm_vocab_size=1000), "lm_vocab_size"),
        (dict(lm_dropout=1.5), "lm_dropout"),
        (dict(unk_token_id=-1), "unk_token_id"),
    ],
)
def test_bad_lm_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        BiLSTMForPreTraining(tiny_config(num_layers=1, **overrides))


def test_loss_is_the_mean_of_both_directions_and_ignores_padding():
    model = tiny_lm()
    ids = torch.randint(2, 100, (2, 7))
    out = model(input_ids=ids, labels=ids)
    assert torch.isclose(out.loss, (out.forward_loss + out.backward_loss) / 2)
    # Words beyond the LM vocabulary count as [UNK]; padding adds nothing, on either side.
    capped = torch.where(ids >= 60, 1, ids)
    logits = model(input_ids=ids).forward_logits[:, :-1]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 60), capped[:, 1:].reshape(-1))
    torch.testing.assert_close(out.forward_loss, expected)
    padded = torch.cat([torch.zeros(2, 3, dtype=torch.long), ids], dim=1)
    mask = (padded != 0).long()
    mask[:, 3:] = 1
    out_padded = model(input_ids=padded, attention_mask=mask, labels=padded)
    torch.testing.assert_close(out_padded.loss, out.loss, rtol=1e-4, atol=1e-5)  # other shapes, other rounding


def test_texts_without_neighbours_give_a_zero_loss_not_nan():
    model = tiny_lm()
    ids = torch.tensor([[5, 0, 0], [7, 0, 0]])
    out = model(input_ids=ids, attention_mask=(ids != 0).long(), labels=ids)
    assert out.loss.item() == 0.0


def test_tied_weights_save_once_and_load_tied(tmp_path):
    model = tiny_lm(num_layers=2, separate_directions=True)
    assert model.lm_head.weight is model.bilstm.embeddings.weight
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as weights:
        keys = set(weights.keys())
    assert "bilstm.embeddings.weight" in keys and "lm_head.weight" not in keys
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["tie_word_embeddings"] is True
    assert config["auto_map"]["AutoModelForPreTraining"] == "modeling_bilstm.BiLSTMForPreTraining"

    loaded, info = AutoModelForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(loaded, BiLSTMForPreTraining)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert loaded.lm_head.weight is loaded.bilstm.embeddings.weight
    loaded.eval()
    ids = torch.randint(2, 100, (2, 6))
    torch.testing.assert_close(loaded(input_ids=ids, labels=ids).loss, model(input_ids=ids, labels=ids).loss)
    # Trained together: a step on the loss moves the one shared matrix.
    loaded.train()
    loaded(input_ids=ids, labels=ids).loss.backward()
    assert loaded.bilstm.embeddings.weight.grad is not None
    assert loaded.bilstm.embeddings.weight.grad[0].abs().sum() == 0  # padding is never a target


def test_lm_to_classifier_transfer_is_exact_and_the_head_is_reported_new(tmp_path):
    model = tiny_lm(num_layers=2, separate_directions=True)
    model.save_pretrained(tmp_path)
    classifier, info = BiLSTMForSequenceClassification.from_pretrained(
        tmp_path, id2label={0: "neg", 1: "pos"}, pooling="max_mean", output_loading_info=True
    )
    assert classifier.config.num_labels == 2 and classifier.config.pooling == "max_mean"
    lm_state = model.bilstm.state_dict()
    classifier_state = classifier.bilstm.state_dict()
    assert lm_state.keys() == classifier_state.keys()
    for name, tensor in lm_state.items():
        assert torch.equal(classifier_state[name], tensor), name
    assert info["missing_keys"] and all(key.startswith("classifier.") for key in info["missing_keys"])
    assert "lm_head.bias" in info["unexpected_keys"]
    # The auto class and the pipeline-facing path reach the same weights.
    auto = AutoModelForSequenceClassification.from_pretrained(tmp_path, id2label={0: "neg", 1: "pos"})
    assert torch.equal(auto.bilstm.embeddings.weight, model.bilstm.embeddings.weight)


def test_tiny_pretraining_lowers_the_lm_loss_and_writes_a_complete_folder(tmp_path):
    results = pretrain(*tiny_args(tmp_path / "lm"), raw=tiny_imdb())
    assert results["lm_eval_loss"] < results["lm_initial_eval_loss"] - 0.5
    folder = tmp_path / "lm"
    for name in ("model.safetensors", "config.json", "modeling_bilstm.py", "tokenizer.json", "README.md"):
        assert (folder / name).exists(), name
    assert not list(folder.glob("*.bin"))  # no pickles in a folder that may be pushed
    saved = json.loads((folder / "pretraining_results.json").read_text())
    assert saved["lm_perplexity"] == pytest.approx(results["lm_perplexity"])
    assert "unsupervised" in (folder / "README.md").read_text()
    classifier = BiLSTMForSequenceClassification.from_pretrained(folder, id2label={0: "neg", 1: "pos"})
    assert classifier.config.pretraining["splits"] == ["train", "unsupervised"]


def test_pretraining_never_reads_the_test_split(tmp_path):
    raw = tiny_imdb()
    texts = pretraining_texts(raw, ["train", "unsupervised"], "text")
    assert len(texts) == 36  # the None and the blank text are dropped
    assert not any("zyzzyva" in text for text in texts["text"])
    for splits in (["train", "test"], ["unsupervised", "Test_clean"]):
        with pytest.raises(UsageError, match="never reads test text"):
            pretraining_texts(raw, splits, "text")
    with pytest.raises(UsageError, match="its splits are"):
        pretraining_texts(raw, ["train", "unlabeled"], "text")
    # End to end: the tokenizer saved with the LM has never seen the test split's words.
    pretrain(*tiny_args(tmp_path / "lm", max_steps=1), raw=raw)
    vocab = json.loads((tmp_path / "lm" / "tokenizer.json").read_text())["model"]["vocab"]
    assert "great" in vocab and "zyzzyva" not in vocab and "quixotry" not in vocab


def test_the_command_refuses_a_test_split_before_loading_anything(tmp_path, capsys):
    from hf_bilstm.cli import main

    code = main(["pretrain", "--output_dir", str(tmp_path), "--dataset", "/nonexistent", "--splits", "train,test"])
    assert code == 2
    assert "never reads test text" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_tokenizer_fits_the_model(tmp_path):
    tokenizer = tiny_tokenizer()
    model = BiLSTMForPreTraining(tiny_config(tokenizer, num_layers=1))
    batch = tokenizer(["a great movie", "boring"], padding=True, return_tensors="pt")
    out = model(**batch, labels=batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100))
    assert torch.isfinite(out.loss)


def test_pretrain_then_finetune_with_the_train_command(tmp_path):
    """LM folder → `hf-bilstm train --model_name_or_path` with fine-tuning tools → a classifier folder that works."""
    dataset = write_toy_dataset(tmp_path / "data", n_train=120, n_test=30, splits=("train", "test"))
    lm = tmp_path / "lm"
    argv = ["--output_dir", str(lm), "--dataset", dataset, "--splits", "train", "--vocab_size", "200"]
    argv += ["--min_frequency", "1", "--embedding_dim", "16", "--hidden_size", "16", "--max_steps", "10"]
    argv += ["--num_proc", "1", "--dataloader_num_workers", "0", "--validation_fraction", "0.1"]
    assert pretrain_main(argv) == 0
    out = tmp_path / "classifier"
    argv = ["--model_name_or_path", str(lm), "--dataset", dataset, "--output_dir", str(out), "--num_train_epochs", "1"]
    argv += ["--per_device_train_batch_size", "16", "--layerwise_lr_decay", "2.6", "--slanted_triangular", "true"]
    argv += ["--adversarial_epsilon", "0.02", "--disable_tqdm", "true", "--report_to", "none"]
    assert train_cmd.main(argv) == 0
    results = json.loads((out / "all_results.json").read_text())
    assert results["test_samples"] == 30 and results["test_accuracy"] * 30 == round(results["test_accuracy"] * 30)
    card = (out / "README.md").read_text()
    assert "pretrained as a bidirectional language model" in card and "`adversarial_epsilon=0.02`" in card
    lm_weights = BiLSTMForPreTraining.from_pretrained(lm).bilstm.embeddings.weight
    classifier = AutoModelForSequenceClassification.from_pretrained(out)
    assert classifier.bilstm.embeddings.weight.shape == lm_weights.shape
    assert not torch.equal(classifier.bilstm.embeddings.weight, lm_weights)  # fine-tuned, from the LM's start
    predictions = pipeline("text-classification", model=str(out))(["a great film", ""])
    assert {p["label"] for p in predictions} <= {"neg", "pos"}


REMOTE_CHILD = (
    BLOCK_HF_BILSTM
    + """
import json
import torch
from transformers import AutoModelForPreTraining

model = AutoModelForPreTraining.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
ids = torch.tensor(json.loads(sys.argv[2]))
print("RESULT " + json.dumps({
    "module": type(model).__module__,
    "tied": model.lm_head.weight is model.bilstm.embeddings.weight,
    "loss": model(input_ids=ids, labels=ids).loss.item(),
}))
"""
)


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_lm_folder_loads_through_remote_code_without_the_package(tmp_path):
    model = tiny_lm(num_layers=2, separate_directions=True)
    model.save_pretrained(tmp_path / "lm")
    ids = torch.randint(2, 100, (2, 6))
    child = child_result(run_child(REMOTE_CHILD, [str(tmp_path / "lm"), json.dumps(ids.tolist())], tmp_path))
    assert "hf_bilstm" not in child["module"] and child["tied"]
    assert child["loss"] == pytest.approx(model(input_ids=ids, labels=ids).loss.item(), rel=1e-5)

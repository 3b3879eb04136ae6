"""Bad input through the Python surfaces: model forward, pipeline, tokenizer, config and model folders.

Each test is a row of the table in docs/robustness.md: the input is either answered correctly or refused with an
error that names the problem and the fix.
"""

import json
import pickle
import re
from pathlib import Path

import huggingface_hub
import pytest
import torch
from helpers import TEXTS, PicklePayload, copy_folder, tiny_classifier, tiny_tokenizer
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, pipeline

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from hf_bilstm.errors import UsageError
from hf_bilstm.inference import predict
from hf_bilstm.model_loading import load_classifier_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A saved tiny classifier whose biases are not zero, so that 'no text' has an answer of its own."""
    path = tmp_path_factory.mktemp("model")
    tokenizer = tiny_tokenizer(model_max_length=32)
    model = tiny_classifier(tokenizer)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
        model.bilstm.embeddings.weight[0].zero_()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model(folder):
    return BiLSTMForSequenceClassification.from_pretrained(folder).eval()


@pytest.fixture(scope="module")
def tokenizer(folder):
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def classifier(folder):
    return pipeline("text-classification", model=str(folder))


def scores(results):
    """{label: score} for one pipeline answer given with top_k=None."""
    return {r["label"]: r["score"] for r in results}


def logits_of(model, input_ids, attention_mask=None):
    with torch.no_grad():
        return model(input_ids=torch.as_tensor(input_ids), attention_mask=attention_mask).logits


def edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (path / "config.json").write_text(json.dumps(config))


# --- text: empty, whitespace, wrong types, long, unicode, unknown words, mixed batches ----------------------------


def test_empty_and_whitespace_only_text_give_the_no_text_answer(model, tokenizer, classifier):
    # Defined behaviour: a text without tokens is read as one padding step, so every such text gets the same answer,
    # the one for an all-zero attention_mask row.
    no_text = logits_of(model, [[0]], torch.zeros(1, 1)).softmax(-1)[0]
    expected = {model.config.id2label[i]: p for i, p in enumerate(no_text.tolist())}
    assert tokenizer("   \n\t  ")["input_ids"] == []
    for text in ["", " ", "   \n\t  ", "<br /><br />"]:
        got = scores(classifier(text, top_k=None))
        assert got == pytest.approx(expected, abs=1e-6), text
    # the pipeline's empty input is a (1, 0) tensor; forward reads it the same way
    torch.testing.assert_close(logits_of(model, torch.zeros(1, 0, dtype=torch.long)).softmax(-1)[0], no_text)


def test_none_is_refused(classifier):
    # Ours: hf_bilstm.inference.predict names the row, where the character cut would fail on len(None).
    with pytest.raises(TypeError, match=r"text #2 is NoneType, not str; .*drop or fill missing texts"):
        predict(classifier, ["a great movie", None])


@pytest.mark.parametrize("bad", [5, 3.5, b"a great movie"])
def test_numbers_and_bytes_are_refused_naming_the_accepted_types(classifier, bad):
    with pytest.raises(TypeError, match=rf"text #1 is {type(bad).__name__}, not str; decode bytes first"):
        predict(classifier, [bad, "a great movie"])
    # a list of strings is answered as the pipeline answers it
    assert [r["label"] for r in predict(classifier, ["a great movie"])] == [classifier("a great movie")[0]["label"]]


def test_train_tokenizer_refuses_missing_texts_naming_the_row():
    with pytest.raises(TypeError, match="text #2 is NoneType"):
        train_tokenizer(["a film", "a movie", None], vocab_size=50, min_frequency=1)
    with pytest.raises(TypeError, match="not one string"):
        train_tokenizer("a film", vocab_size=50)


def test_one_megabyte_review_is_truncated_to_model_max_length(model, tokenizer, classifier):
    review = ("a great movie , i loved the story . " * 30000)[:1_000_000]
    seen = []
    hook = classifier.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True
    )
    try:
        got = scores(classifier(review, truncation=True, top_k=None))
    finally:
        hook.remove()
    # bounded: the model reads at most model_max_length tokens, whatever the text's size
    assert seen[0]["input_ids"].shape == (1, tokenizer.model_max_length)
    head = tokenizer(review[:2000])["input_ids"][: tokenizer.model_max_length]
    expected = logits_of(model, [head]).softmax(-1)[0]
    assert got == pytest.approx({model.config.id2label[i]: p for i, p in enumerate(expected.tolist())}, abs=1e-6)


def test_without_truncation_every_token_is_read(model, tokenizer, classifier):
    # transformers' contract: the pipeline cuts nothing unless asked (truncation=True); the RNN reads any length.
    review = " ".join(TEXTS) * 3
    ids = tokenizer(review)["input_ids"]
    assert len(ids) > tokenizer.model_max_length
    got = scores(classifier(review, top_k=None))
    expected = logits_of(model, [ids]).softmax(-1)[0]
    assert got == pytest.approx({model.config.id2label[i]: p for i, p in enumerate(expected.tolist())}, abs=1e-6)


def test_emoji_cjk_and_rtl_text_are_words_like_any_other(tmp_path):
    texts = ["😀 great film 😀", "映画 が 好き です", "סרט טוב מאוד", "فيلم رائع جدا", "ｆｕｌｌ width"] * 2
    tokenizer = train_tokenizer(texts, vocab_size=100, min_frequency=1)
    model = tiny_classifier(tokenizer)
    unk = tokenizer.unk_token_id
    for text in texts[:4]:
        ids = tokenizer(text)["input_ids"]
        assert ids and unk not in ids, text  # every word of these scripts is in the vocabulary
        assert tokenizer.decode(ids) == text  # and comes back unchanged
    assert tokenizer.tokenize("ｆｕｌｌ") == ["full"]  # NFKC folds full-width letters
    assert tokenizer("ひらがな 🎬")["input_ids"] == [unk, unk]  # unseen scripts are unknown words, not errors
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    results = pipeline("text-classification", model=str(tmp_path))(texts[:4] + ["ひらがな 🎬"])
    assert [r["label"] for r in results] and all(r["label"] in {"neg", "pos"} for r in results)


def test_all_unknown_words_are_read_as_unk_tokens(model, tokenizer, classifier):
    ids = tokenizer("zxq qqv wwxy")["input_ids"]
    assert ids == [tokenizer.unk_token_id] * 3
    expected = logits_of(model, [ids]).softmax(-1)[0]
    got = scores(classifier("zxq qqv wwxy", top_k=None))
    assert got == pytest.approx({model.config.id2label[i]: p for i, p in enumerate(expected.tolist())}, abs=1e-6)
    # three unknown words are still text: not the same answer as no text at all
    assert got != pytest.approx(scores(classifier("", top_k=None)), abs=1e-4)


def test_batch_mixing_empty_and_long_texts_matches_one_by_one(classifier):
    texts = ["", " ".join(TEXTS), "bad", "   ", "a great movie", "zxq", "".join(TEXTS[:2])]
    alone = [scores(classifier(text, top_k=None)) for text in texts]
    batched = [scores(r) for r in classifier(texts, top_k=None, batch_size=len(texts))]
    for text, a, b in zip(texts, alone, batched):
        assert b == pytest.approx(a, abs=1e-5), text


# --- model forward: ids, masks, labels ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", [-1, "vocab_size", "vocab_size+50"])
def test_input_ids_out_of_vocabulary_are_refused(model, bad_id):
    vocab = model.config.vocab_size
    value = {"vocab_size": vocab, "vocab_size+50": vocab + 50}.get(bad_id, bad_id)
    input_ids = torch.tensor([[5, 6, value, 7]])
    with pytest.raises(
        ValueError, match=rf"token id {value}, outside this model's vocabulary \[0, {vocab}\).*tokenizer"
    ):
        model(input_ids=input_ids)


def test_all_zero_attention_mask_row_is_read_as_no_text(model):
    input_ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]])
    batched = logits_of(model, input_ids, mask)
    torch.testing.assert_close(batched[1], logits_of(model, [[0]], torch.zeros(1, 1))[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(batched[0], logits_of(model, [[5, 6, 7, 8]])[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(batched[2], logits_of(model, [[13, 14]])[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("label", [2, -1, 7])
def test_labels_out_of_range_are_refused(model, label):
    input_ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    with pytest.raises(ValueError, match=rf"labels hold {label}, outside \[0, 2\).*id2label"):
        model(input_ids=input_ids, labels=torch.tensor([0, label]))
    # -100 is the ignore index, not a bad label
    loss = model(input_ids=input_ids, labels=torch.tensor([1, -100])).loss
    assert torch.isfinite(loss)


# --- config ---------------------------------------------------------------------------------------------------------


def test_num_labels_not_matching_id2label_is_refused(folder, tmp_path):
    with pytest.raises(ValueError, match="num_labels=3 but id2label has 2 entries"):
        BiLSTMConfig(vocab_size=50, num_labels=3, id2label={0: "neg", 1: "pos"})
    path = copy_folder(folder, tmp_path)
    edit_config(path, num_labels=3)
    with pytest.raises(ValueError, match="num_labels=3 but id2label has 2 entries"):
        AutoModelForSequenceClassification.from_pretrained(path)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("hidden_size", -3, "hidden_size must be a positive integer"),
        ("vocab_size", 0, "vocab_size must be a positive integer"),
        ("rnn_type", "transformer", "rnn_type must be one of"),
        ("pooling", "cls", "pooling must be one of"),
        ("dropout", 1.5, r"dropout must be a number in \[0, 1\)"),
        ("bidirectional", "yes", "bidirectional must be True or False"),
        ("pad_token_id", 10**6, "pad_token_id must be an integer in"),
        ("label2id", {"neg": 0, "pos": 5}, "label2id .* does not match id2label"),
    ],
)
def test_config_json_with_bad_values_fails_on_load(folder, tmp_path, key, value, match):
    path = copy_folder(folder, tmp_path)
    edit_config(path, **{key: value})
    with pytest.raises(ValueError, match=match):
        AutoModelForSequenceClassification.from_pretrained(path)
    with pytest.raises(ValueError, match=match):
        pipeline("text-classification", model=str(path))


def test_config_json_that_is_not_json_fails_on_load(folder, tmp_path):
    # Ours: load_classifier_folder reads config.json with the package's JSON loader: a UsageError (exit 2) naming
    # the file, and a broken folder that exists is not mistaken for a Hub id.
    path = copy_folder(folder, tmp_path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(UsageError) as refused:
        load_classifier_folder(str(path))
    message = str(refused.value)
    assert message.startswith(f"{str(path / 'config.json')!r} is not valid JSON (")
    assert "save the model again" in message and "Hub id" not in message


def test_config_json_of_another_model_type_is_refused(folder, tmp_path):
    path = copy_folder(folder, tmp_path)
    edit_config(path, model_type="distilbert")
    # transformers only warns when a class loads another model's config; a BiLSTM class refuses it
    with pytest.raises(ValueError, match="model_type='distilbert', but a BiLSTMConfig needs 'bilstm'"):
        BiLSTMForSequenceClassification.from_pretrained(path)
    with pytest.raises(ValueError, match="model_type='distilbert'"):
        BiLSTMConfig.from_pretrained(path)


@pytest.mark.parametrize(
    "model_type, match",
    [("no_such_model", "model type `no_such_model` but Transformers does not recognize"), (None, "model_type")],
)
def test_config_json_with_unknown_or_missing_model_type_is_refused(folder, tmp_path, model_type, match):
    path = copy_folder(folder, tmp_path)
    # without auto_map, so that transformers does not stop to ask whether to run the folder's code
    edit_config(path, model_type=model_type, auto_map=None)  # None: the key is removed
    with pytest.raises(ValueError, match=match):
        AutoConfig.from_pretrained(path)
    with pytest.raises(ValueError, match=match):
        AutoModelForSequenceClassification.from_pretrained(path)


# --- model folders: weights missing, damaged, pickled -------------------------------------------------------------


def test_folder_without_weights_names_the_missing_file(folder, tmp_path):
    path = copy_folder(folder, tmp_path)
    (path / "model.safetensors").unlink()
    with pytest.raises(OSError, match="No model.safetensors in .*the folder has no weights"):
        AutoModelForSequenceClassification.from_pretrained(path)
    # the pipeline wraps loading errors in a ValueError that quotes ours
    with pytest.raises(ValueError, match="No model.safetensors in .*the folder has no weights"):
        pipeline("text-classification", model=str(path))


@pytest.mark.parametrize("damage", ["half", "header only", "empty", "header bytes"])
def test_truncated_or_corrupted_safetensors_is_a_clear_error(folder, tmp_path, damage):
    path = copy_folder(folder, tmp_path)
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    if damage == "half":
        data = data[: len(data) // 2]
    elif damage == "header only":
        data = data[:5]
    elif damage == "empty":
        data = b""
    else:
        data = data[:10] + b"\xff" * 10 + data[20:]
    weights.write_bytes(data)
    with pytest.raises(OSError, match="model.safetensors of .* is truncated or corrupted .*Save the model again"):
        AutoModelForSequenceClassification.from_pretrained(path)


def test_pickle_only_folder_is_refused_without_unpickling(folder, tmp_path):
    path = copy_folder(folder, tmp_path)
    (path / "model.safetensors").unlink()
    marker = tmp_path / "pickle-ran"
    (path / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": PicklePayload(marker)}))
    refusal = r"only pickled weights \['pytorch_model.bin'\], which are never loaded"
    with pytest.raises(OSError, match=refusal):
        AutoModelForSequenceClassification.from_pretrained(path)
    with pytest.raises(OSError, match=refusal):
        BiLSTMForSequenceClassification.from_pretrained(path)
    with pytest.raises(ValueError, match=refusal):
        pipeline("text-classification", model=str(path))
    with pytest.raises(ValueError, match="use_safetensors=False .* is refused because unpickling can run code"):
        AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=False)
    assert not marker.exists()
    pickle.loads((path / "pytorch_model.bin").read_bytes())  # the payload is real: unpickling does run it
    assert marker.exists()


# --- tokenizer / model mismatch, offline Hub ------------------------------------------------------------------------


def test_tokenizer_larger_than_the_model_vocabulary_is_refused(folder):
    big = train_tokenizer(TEXTS + [f"word{i}" for i in range(200)], vocab_size=300, min_frequency=1)
    model = BiLSTMForSequenceClassification.from_pretrained(folder)
    assert len(big) > model.config.vocab_size
    classifier = pipeline("text-classification", model=model, tokenizer=big)
    with pytest.raises(ValueError, match="outside this model's vocabulary .*The tokenizer does not match the model"):
        classifier("word199 was great")


def test_hub_unreachable_while_offline_is_a_clear_error(monkeypatch, tmp_path):
    # Ours: a source that is no folder is read as a Hub id; offline, the refusal keeps transformers' reason and adds
    # that it may be a mistyped path, and nothing is written to the cache.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UsageError) as refused:
        load_classifier_folder("someone/not-in-the-cache")
    message = str(refused.value)
    assert message.startswith("'someone/not-in-the-cache': no such folder, and no model of that name could be loaded")
    assert "offline mode" in message and "check the spelling of the path" in message


# --- the docs table -------------------------------------------------------------------------------------------------


def test_docs_table_matches_the_tests():
    """Every test docs/robustness.md names exists, and every test in tests/robustness/ is named there."""
    robustness = Path(__file__).parent
    tests = robustness.parent
    table = (tests.parent / "docs" / "robustness.md").read_text()
    named = set(re.findall(r"`(test_\w+\.py)::(test_\w+)`", table))
    assert named
    files = {path.name: path for path in tests.rglob("test_*.py") if "transformers_common" not in path.parts}
    robustness_files = sorted(path.name for path in robustness.glob("test_*.py"))
    unknown = sorted({file for file, _ in named} - set(files))
    assert not unknown, f"docs/robustness.md names test files that do not exist: {unknown}"
    defined = {}
    for file in {file for file, _ in named} | set(robustness_files):
        defined[file] = set(re.findall(r"^def (test_\w+)\(", files[file].read_text(), re.M))
    missing = sorted(f"{file}::{name}" for file, name in named if name not in defined[file])
    assert not missing, f"docs/robustness.md names tests that do not exist: {missing}"
    unnamed = sorted(
        f"{file}::{name}" for file in robustness_files for name in defined[file] if (file, name) not in named
    )
    assert not unnamed, f"tests missing from the docs/robustness.md table: {unnamed}"

"""Never a wrong answer with exit 0: broken weights, a diverged training, leaked splits, odd labels, ignored flags,
meaningless configs, lines split where the user did not, a byte order mark, text pairs (docs/robustness.md).
"""

import io
import json
import math
import os
import re

import pytest
import torch
from datasets import Dataset
from helpers import (
    PRETRAIN_TINY,
    QUIET,
    TEXTS,
    TINY,
    run_predict,
    save_tiny_model,
    tiny_classifier,
    tiny_tokenizer,
    toy_rows,
    write_toy_dataset,
)
from safetensors.torch import load_file, save_file
from transformers import pipeline

from hf_bilstm import BiLSTMConfig, inference
from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import predict as predict_cmd
from hf_bilstm.commands import predict as prediction
from hf_bilstm.commands import pretrain as pretrain_cmd
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.data import UsageError, prepare_splits

# --- weights that were never loaded ------------------------------------------------------------------------------


def break_weights(folder, how):
    path = folder / "model.safetensors"
    weights = load_file(path)
    if how == "empty":
        weights = {}
    elif how == "no head":
        weights = {k: v for k, v in weights.items() if not k.startswith("classifier.")}
    elif how == "no embeddings":
        weights = {k: v for k, v in weights.items() if "embeddings" not in k}
    elif how == "an unexpected key":
        weights["bilstm.extra.weight"] = torch.zeros(3)
    elif how == "a wrong shape":
        key = next(k for k in weights if k.startswith("classifier.") and k.endswith("weight"))
        weights[key] = torch.zeros(weights[key].shape[0], weights[key].shape[1] + 1)
    elif how == "int32 weights":
        weights = {k: v.to(torch.int32) for k, v in weights.items()}
    elif how in ("NaN", "Inf"):
        key = next(k for k in weights if "weight_hh" in k)
        weights[key][0, 0] = float("nan") if how == "NaN" else float("inf")
    save_file(weights, path, metadata={"format": "pt"})


WEIGHTS = ["empty", "no head", "no embeddings", "an unexpected key", "a wrong shape", "int32 weights", "NaN", "Inf"]
WEIGHT_MESSAGES = {
    "empty": "holds no tensors at all",
    "no head": "lacks ['classifier.",
    "no embeddings": "lacks ['bilstm.embeddings.weight']",
    "an unexpected key": "does not have ['bilstm.extra.weight']",
    "a wrong shape": "of shape",
    "int32 weights": "as int32, not a floating-point type",
    "NaN": "NaN or infinite values in bilstm.",
    "Inf": "NaN or infinite values in bilstm.",
}


@pytest.mark.parametrize("how", WEIGHTS)
def test_weights_that_do_not_match_the_model_are_refused(copy, tmp_path, capsys, how):
    break_weights(copy, how)
    assert run_predict([str(copy), "great movie"]) == (2, [])
    err = capsys.readouterr().err
    assert "Traceback" not in err and WEIGHT_MESSAGES[how] in err and "save_pretrained" in err
    dataset = write_toy_dataset(tmp_path / "toy", n_train=10, n_test=10)
    assert evaluate_cmd.main([str(copy), "--dataset", dataset, "--device", "cpu"]) == 2
    assert WEIGHT_MESSAGES[how] in capsys.readouterr().err


# --- NaN reported as a result ------------------------------------------------------------------------------------


@pytest.mark.parametrize("optim", ["adamw_torch", "sgd"])
def test_a_training_that_diverges_stops_and_claims_no_metric(tmp_path, capsys, optim):
    dataset = write_toy_dataset(tmp_path / "data", n_train=60, n_test=20)
    out = tmp_path / "out"
    argv = ["--dataset", dataset, "--output_dir", str(out), "--learning_rate", "1e30", "--num_train_epochs", "2"]
    assert train_cmd.main([*argv, *TINY, *QUIET, "--max_grad_norm", "0", "--optim", optim]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "training diverged" in err and "Lower --learning_rate" in err
    left = set(os.listdir(out)) if out.exists() else set()
    assert not left & {"README.md", "all_results.json", "test_results.json", "model.safetensors"}


@pytest.mark.parametrize(
    "loss, diverged", [(0.69, False), (25.0, False), (3.46e28, True), (1e5, True), (math.nan, True), (-math.inf, True)]
)
def test_a_loss_that_is_not_finite_or_has_exploded_is_divergence(loss, diverged):
    """Whatever the hardware's rounding makes of --learning_rate 1e30 (NaN, or a finite 1e28), training stops."""
    from transformers import TrainerControl, TrainerState

    from hf_bilstm.training.divergence import DivergenceCallback

    for event, logs in (("on_evaluate", {"metrics": {"eval_loss": loss}}), ("on_log", {"logs": {"loss": loss}})):
        callback, control = DivergenceCallback(1e30), TrainerControl()
        getattr(callback, event)(None, TrainerState(global_step=3), control, **logs)
        assert control.should_training_stop is diverged
        if diverged:
            with pytest.raises(UsageError, match="training diverged: the (validation|training) loss was .* at step 3"):
                callback.raise_if_diverged()


def test_pretraining_that_diverges_stops_and_claims_no_metric(tmp_path, capsys):

    dataset = write_toy_dataset(tmp_path / "data", n_train=60, n_test=20)
    out = tmp_path / "lm"
    argv = ["--dataset", dataset, "--output_dir", str(out), *PRETRAIN_TINY, "--learning_rate", "1e30"]
    assert pretrain_cmd.main([*argv, "--max_grad_norm", "0"]) == 2
    assert "pretraining diverged" in capsys.readouterr().err
    assert not out.exists() or not {"README.md", "model.safetensors"} & set(os.listdir(out))


def test_predict_json_never_prints_nan(model_dir, monkeypatch, capsys):
    monkeypatch.setattr(
        prediction, "predict", lambda c, texts, b, t=None: [{"label": "pos", "score": math.nan} for _ in texts]
    )
    code, lines = run_predict([str(model_dir), "great film", "bad", "--json"])
    assert code == 2 and lines == []  # nothing printed, not even the line before
    assert "score nan" in capsys.readouterr().err


# --- the test split leaks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--validation_split", "test"], "the test split 'test' is also named"),
        (["--train_split", "test"], "the test split 'test' is also named"),
        (["--train_split", "final", "--test_split", "final"], "the test split 'final' is also named"),
        (["--validation_split", "train"], "--validation_split names the training split 'train'"),
        (["--train_split", "test", "--validation_split", "test", "--test_split", ""], "names the training split"),
    ],
)
def test_splits_named_twice_are_refused(tmp_path, capsys, flags, message):
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    assert train_cmd.main(["--dataset", dataset, "--output_dir", str(tmp_path / "out"), *flags, *TINY, *QUIET]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("name", ["valid", "Validation", "dev"])
def test_a_validation_split_the_dataset_lacks_is_refused_not_carved(tmp_path, capsys, name):
    """A mistyped --validation_split is refused; only leaving the flag out carves validation from train."""
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10, splits=("train", "validation", "test"))
    argv = ["--dataset", dataset, "--output_dir", str(tmp_path / "out"), *TINY, *QUIET]
    assert train_cmd.main([*argv, "--validation_split", name]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"no {name!r} split (for model selection)" in err and "'validation'" in err
    assert not (tmp_path / "out").exists()


def _dict(**splits):
    from datasets import DatasetDict

    return DatasetDict({name: Dataset.from_dict(rows) for name, rows in splits.items()})


def test_splits_with_the_same_texts_are_refused_or_deduplicated(capsys):
    train, test = toy_rows(40, 0), toy_rows(20, 1)
    copy_of_test = dict(test)
    with pytest.raises(UsageError, match="validation and test splits are largely the same texts"):
        prepare_splits(_dict(train=train, validation=copy_of_test, test=test))
    with pytest.raises(UsageError, match="train and test splits are largely the same texts"):
        prepare_splits(_dict(train=test, test=test), validation_fraction=0.25)
    # A few duplicates (as IMDB has): dropped from the earlier split, counted, none left in two splits.
    leaky = {"text": train["text"] + test["text"][:2], "label": train["label"] + test["label"][:2]}
    splits = prepare_splits(_dict(train=leaky, test=test), validation_fraction=0.25)
    assert "also in the test split" in capsys.readouterr().err
    texts = [set(split["text"]) for split in (splits.train, splits.validation, splits.test)]
    assert not (texts[0] & texts[2] or texts[1] & texts[2] or texts[0] & texts[1])
    assert len(splits.test) == 20


# --- odd labels --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels, message",
    [
        # (fractions are scores, a regression; lists of labels are multi-label: tests/test_data_files.py)
        ([0, 1, float("nan"), 1], "Row 2: the label is missing"),
        ([0, 1, -1.0, 1], "Row 2: the label is missing"),
        ([{"a": 1}, {"a": 2}, {"a": 1}, {"a": 2}], "Row 0: label {'a': 1} is a dict"),
    ],
)
def test_labels_that_are_not_integers_bools_or_strings_are_refused(tmp_path, capsys, labels, message):
    folder = tmp_path / "data"
    folder.mkdir()
    rows = [{"text": f"{text} {i}", "label": label} for i, (text, label) in enumerate(zip(TEXTS, labels))]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    argv = ["--dataset", str(folder), "--output_dir", str(tmp_path / "out"), "--test_split", ""]
    assert train_cmd.main([*argv, *TINY, *QUIET]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in err


@pytest.mark.parametrize(
    "labels, message",
    [
        (["pos", "neg", "", "pos"], "Row 2: the label is missing"),
        (["pos", "neg", "  ", "pos"], "Row 2: the label is missing"),
        (["pos", "neg", "pos ", "neg"], "Row 2: label 'pos ' has spaces around it"),
        (["pos", "neg", "neg", "\tpos"], "Row 3: label '\\tpos' has spaces around it"),
        (list(range(60)), "holds 60 distinct labels in 60 rows"),
        ([f"review-{i}" for i in range(60)], "holds 60 distinct labels in 60 rows"),
    ],
)
def test_blank_padded_or_one_per_row_labels_are_refused(labels, message):
    """An empty label is a missing one, 'pos ' is not a class apart from 'pos', and a column with about one value per
    row (ids, scores, texts) is not a label column: each would silently become classes."""
    rows = {"text": [f"text {i} {TEXTS[i % len(TEXTS)]}" for i in range(len(labels))], "label": labels}
    with pytest.raises(UsageError, match=re.escape(message)):
        prepare_splits(_dict(train=rows), test_split=None)


def test_whole_float_and_bool_labels_are_classes():
    floats = prepare_splits(
        _dict(train={"text": [f"t{i}" for i in range(8)], "label": [0.0, 1.0] * 4}), test_split=None
    )
    assert floats.label_names == ["0", "1"]
    bools = prepare_splits(
        _dict(train={"text": [f"t{i}" for i in range(8)], "label": [True, False] * 4}), test_split=None
    )
    assert bools.label_names == ["False", "True"]


# --- flags silently ignored --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--num_train_epochs", "0"], "--num_train_epochs must be a number > 0"),
        (["--num_train_epochs", "-1"], "--num_train_epochs must be a number > 0"),
        (["--num_train_epochs", "nan"], "--num_train_epochs must be a number > 0"),
        (["--max_steps", "3", "--num_train_epochs", "2"], "--max_steps and --num_train_epochs both"),
    ],
)
def test_epochs_that_train_nothing_are_refused(tmp_path, capsys, flags, message):
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    assert train_cmd.main(["--dataset", dataset, "--output_dir", str(tmp_path / "out"), *flags, *TINY, *QUIET]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_model_and_optimizer_flags_on_resume_are_honoured_or_refused(tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "data", n_train=40, n_test=10)
    out = str(tmp_path / "out")
    argv = ["--dataset", dataset, "--output_dir", out, *TINY, *QUIET]
    assert train_cmd.main([*argv, "--num_train_epochs", "1", "--learning_rate", "0.01"]) == 0
    capsys.readouterr()
    before = open(os.path.join(out, "model.safetensors"), "rb").read()
    resume = [*argv, "--num_train_epochs", "2", "--resume_from_checkpoint", "last"]
    for flags, named in (
        (["--hidden_size", "32", "--rnn_type", "gru"], ["--hidden_size 32", "--rnn_type gru"]),
        (["--pooling", "max"], ["--pooling max"]),
        (["--min_frequency", "3"], ["--min_frequency"]),
        (["--preset", "base"], ["--preset"]),
        # the Trainer restores these from the checkpoint's optimizer.pt, whatever the flags say
        (["--learning_rate", "0.5"], ["--learning_rate 0.5 (the checkpoint has 0.01)"]),
        (["--weight_decay", "0.3", "--adam_beta2", "0.9"], ["--weight_decay 0.3", "--adam_beta2 0.9"]),
    ):
        assert train_cmd.main([*resume, *flags]) == 2
        err = capsys.readouterr().err
        assert "would be ignored" in err and all(name in err for name in named), err
    assert open(os.path.join(out, "model.safetensors"), "rb").read() == before
    # The same architecture flags as the checkpoint's: honoured. No --learning_rate: the checkpoint's, which the card
    # states (not the preset's default that was never used).
    assert train_cmd.main(resume) == 0
    assert "| learning_rate | 0.01 |" in open(os.path.join(out, "README.md")).read()


# --- config values without meaning ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_labels=0), "num_labels must be at least 1"),
        (dict(num_labels=-2), "num_labels must be at least 1"),
        (dict(id2label={}), "id2label must name at least one label"),
        (dict(problem_type="bogus"), "problem_type must be one of"),
        (dict(id2label={0: "neg", 1: "pos"}, label2id={"neg": 1, "pos": 0}), "does not match id2label"),
        (dict(id2label={1: "neg", 2: "pos"}), "must have the keys 0..1"),
        (dict(id2label={0: "neg", 2: "pos"}), "must have the keys 0..1"),
        (dict(id2label={0: "pos", 1: "pos"}), "names a label twice"),
    ],
)
def test_config_values_without_meaning_are_refused_on_every_path(copy, capsys, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BiLSTMConfig(**kwargs)
    config = json.loads((copy / "config.json").read_text())
    config.update({k: ({str(i): n for i, n in v.items()} if k == "id2label" else v) for k, v in kwargs.items()})
    config.pop("num_labels", None) if "id2label" in kwargs else None
    (copy / "config.json").write_text(json.dumps(config))
    assert run_predict([str(copy), "great film"])[0] == 2
    assert message in capsys.readouterr().err


# --- lines, byte order marks, text pairs ---------------------------------------------------------------------------


def test_predict_gives_one_answer_per_input_line(model_dir, tmp_path):
    lines = ["great\fmovie", "bad\x1cfilm", "fine\x85story", "loved\u2028it", "a great film\r", "bo\rring"]
    path = tmp_path / "texts.txt"
    path.write_bytes("\n".join(lines).encode("utf-8") + b"\r\n")
    for argv, stdin in (([str(model_dir), "--file", str(path)], None), ([str(model_dir)], path.read_bytes())):
        stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8") if stdin is not None else None
        printed = io.StringIO()
        assert predict_cmd.main([*argv, "--json", "--device", "cpu"], stdin=stream, stdout=printed) == 0
        # One JSON object per line even for a reader that splits as str.splitlines does (\x85, \u2028 escaped).
        assert printed.getvalue().splitlines() == printed.getvalue().split("\n")[:-1]
        out = printed.getvalue().split("\n")[:-1]
        assert len(out) == len(lines)
        assert [json.loads(line)["text"] for line in out] == [*lines[:4], "a great film", "bo\rring"]


def test_a_leading_byte_order_mark_is_stripped(model_dir, tmp_path):
    plain = run_predict([str(model_dir), "great movie", "--json"])[1]
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfgreat movie\n")
    stdin = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfgreat movie\n"), encoding="utf-8")
    for argv, stream in (
        ([str(model_dir), "--file", str(path)], None),
        ([str(model_dir)], stdin),
        ([str(model_dir), "\ufeffgreat movie"], None),
    ):
        assert run_predict([*argv, "--json"], stdin=stream)[1] == plain
    # Files joined with cat keep each one's mark at the start of a line: stripped there too, with or without \r\n.
    joined = tmp_path / "joined.txt"
    joined.write_bytes(b"\xef\xbb\xbfgreat movie\n\xef\xbb\xbfgreat movie\r\n\xef\xbb\xbfgreat movie\n")
    assert run_predict([str(model_dir), "--file", str(joined), "--json"])[1] == plain * 3


def test_text_pairs_are_refused_by_a_single_text_model(model_dir):
    tokenizer = tiny_tokenizer()
    model = tiny_classifier(tokenizer)
    classifier = pipeline("text-classification", model=str(model_dir))
    with pytest.raises(ValueError, match="classifies one text at a time"):
        classifier({"text": "a great film", "text_pair": "a bad film"})
    with pytest.raises(ValueError, match="classifies one text at a time"):
        model(**tokenizer("a great film", "a bad film", return_tensors="pt"))
    with pytest.raises(ValueError, match="classifies one text at a time"):
        model.bilstm(**tokenizer(["a film"], ["its pair"], return_tensors="pt"))
    # Single texts, alone or batched, pass their all-zero token types.
    assert classifier(["a great film", "a bad film"], batch_size=2)[0]["label"] in ("neg", "pos")
    # A folder saved before token types were passed on gets them when predict/evaluate load it.
    from hf_bilstm.model_loading import load_classifier_folder

    old = model_dir.parent / "old_tokenizer"
    save_tiny_model(old)
    config = json.loads((old / "tokenizer_config.json").read_text())
    config["model_input_names"] = ["input_ids", "attention_mask"]
    (old / "tokenizer_config.json").write_text(json.dumps(config))
    loaded, loaded_tokenizer = load_classifier_folder(str(old))
    with pytest.raises(ValueError, match="classifies one text at a time"):
        loaded(**loaded_tokenizer("a great film", "a bad film", return_tensors="pt"))


def test_a_tuple_of_texts_to_the_stock_pipeline_is_read_as_a_batch(model_dir):
    """Not refusable here: the tokenizer reads a tuple as a batch (transformers' contract), the model then gets rows
    it cannot tell from a batch of single texts, and the stock pipeline answers for its first row. Pinned, so that
    the docs row changes with transformers."""
    classifier = pipeline("text-classification", model=str(model_dir))
    first = classifier("a great film")[0]
    for same_length in (("a great film", "a bad film"), {"text": ("a great film", "a bad film")}):
        assert classifier(same_length) == first  # the second text gets no answer
    for different_lengths in (("a great film", "a bad film with no story"), {"text": ("a great film", "bad")}):
        with pytest.raises(ValueError, match="Unable to create tensor"):
            classifier(different_lengths)
    # A list answers every text; hf_bilstm's own predict takes any sequence of texts and answers each.
    assert classifier(["a great film", "a bad film"]) == [first, classifier("a bad film")[0]]
    answers = inference.predict(classifier, ("a great film", "a bad film"))
    assert [a["label"] for a in answers] == [first["label"], classifier("a bad film")[0]["label"]]

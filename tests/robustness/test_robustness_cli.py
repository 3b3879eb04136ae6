"""Bad input through the `hf-bilstm` commands and dataset loading: a clear error (exit 2, or 1 for a failed push)
that names the problem and the fix, never a traceback; or a documented, counted skip.

Each test is a row of the table in docs/robustness.md.
"""

import io
import json
import shutil

import pytest
import torch
from datasets import Dataset
from helpers import QUIET, TEXTS, TINY, run_predict, stderr_of, toy_rows, write_toy_dataset
from transformers import pipeline

from hf_bilstm import train_tokenizer
from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import predict as prediction
from hf_bilstm.commands import push as push_cmd
from hf_bilstm.commands import train as train_cmd


def train(argv):
    return train_cmd.main([*argv, *TINY, *QUIET])


# --- hf-bilstm predict: text ------------------------------------------------------------------------------------


def test_predict_file_with_invalid_utf8_is_refused(model_dir, tmp_path, capsys):
    path = tmp_path / "reviews.txt"
    path.write_bytes(b"a great film\ncaf\xe9 latin-1 review\n")
    assert run_predict([str(model_dir), "--file", str(path)])[0] == 2
    err = stderr_of(capsys)
    assert "cannot read it as UTF-8 text" in err and "iconv" in err


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_predict_stdin_with_invalid_utf8_is_refused(model_dir, capsys, errors):
    # Python decodes stdin strictly or, in UTF-8 mode / the C locale, with surrogateescape: both are caught.
    stdin = io.TextIOWrapper(io.BytesIO(b"a great film\ncaf\xe9 review\n"), encoding="utf-8", errors=errors)
    assert run_predict([str(model_dir)], stdin=stdin)[0] == 2
    err = stderr_of(capsys)
    assert "not UTF-8" in err or "not valid UTF-8" in err
    assert "iconv" in err


def test_predict_cuts_a_one_megabyte_review_to_model_max_length(model_dir, tmp_path, monkeypatch):
    path = tmp_path / "long.txt"
    path.write_text(("a great movie and a great story " * 32000)[:1_000_000] + "\nbad\n", encoding="utf-8")
    lengths = []
    load = prediction.load_classifier

    def spying_load(*args, **kwargs):
        classifier = load(*args, **kwargs)
        classifier.model.register_forward_pre_hook(
            lambda module, a, kw: lengths.append(kw["input_ids"].shape[1]), with_kwargs=True
        )
        return classifier

    monkeypatch.setattr(prediction, "load_classifier", spying_load)
    code, lines = run_predict([str(model_dir), "--file", str(path), "--batch_size", "2"])
    assert code == 0 and len(lines) == 2
    assert lengths and max(lengths) == 64  # the tokenizer's model_max_length: memory does not grow with the text


def test_predict_empty_argument_gets_the_no_text_answer(model_dir):
    code, lines = run_predict([str(model_dir), "", "   "])
    assert code == 0 and len(lines) == 2
    reference = pipeline("text-classification", model=str(model_dir))("")[0]
    for line in lines:
        label, score = line.split("\t")
        assert label == reference["label"] and float(score) == pytest.approx(reference["score"], abs=1e-4)


def test_predict_keeps_emoji_cjk_and_rtl_text(model_dir, tmp_path):
    texts = ["😀 great film 😀", "映画 が 好き です", "סרט טוב מאוד", "فيلم رائع جدا"]
    path = tmp_path / "unicode.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    code, lines = run_predict([str(model_dir), "--file", str(path), "--json"])
    assert code == 0
    assert [json.loads(line)["text"] for line in lines] == texts
    assert all(json.loads(line)["label"] in ("neg", "pos") for line in lines)


# --- hf-bilstm predict / evaluate: model folders ------------------------------------------------------------------


def damage(folder, how):
    if how == "no weights":
        (folder / "model.safetensors").unlink()
        return "the folder has no weights"
    if how == "truncated weights":
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
        return "is truncated or corrupted"
    if how == "only a pickle":
        (folder / "model.safetensors").unlink()
        torch.save({"weights": torch.zeros(1)}, folder / "pytorch_model.bin")
        return "only pickled weights ['pytorch_model.bin'], which are never loaded"
    config = json.loads((folder / "config.json").read_text())
    if how == "bad config value":
        config["rnn_type"] = "transformer"
        message = "rnn_type must be one of"
    elif how == "unknown model_type":
        # ... whose auto_map points at the folder's code, planted to leave a mark if it ever ran
        config["model_type"] = "no_such_model"
        for name in ("configuration_bilstm.py", "modeling_bilstm.py"):
            code = (folder / name).read_text()
            (folder / name).write_text(f"open({str(folder / 'code-ran')!r}, 'w').close()\n" + code)
        message = "custom code"
    else:
        raise AssertionError(how)
    (folder / "config.json").write_text(json.dumps(config))
    return message


HOW = ["no weights", "truncated weights", "only a pickle", "bad config value", "unknown model_type"]


@pytest.mark.parametrize("how", HOW)
def test_predict_refuses_a_broken_model_folder(copy, capsys, how):
    message = damage(copy, how)
    assert run_predict([str(copy), "a great film"])[0] == 2
    err = stderr_of(capsys)
    assert "is not a model folder hf-bilstm can load" in err and message in err
    assert not (copy / "code-ran").exists()  # the folder's code is never run, nor offered to run


@pytest.mark.parametrize(
    "how, message",
    [("unknown model_type", "cannot read a model config there"), ("only a pickle", "only pickled weights")],
)
def test_train_from_a_broken_model_folder_is_refused(copy, tmp_path, capsys, how, message):
    damage(copy, how)
    dataset = write_toy_dataset(tmp_path / "toy", n_train=20, n_test=10)
    args = ["--dataset", dataset, "--output_dir", str(tmp_path / "out"), "--model_name_or_path", str(copy)]
    assert train_cmd.main([*args, *QUIET]) == 2
    assert message in stderr_of(capsys)
    assert not (copy / "code-ran").exists()


@pytest.mark.parametrize("how", ["no weights", "bad config value"])
def test_evaluate_refuses_a_broken_model_folder(copy, tmp_path, capsys, how):
    message = damage(copy, how)
    dataset = write_toy_dataset(tmp_path / "toy", n_train=10, n_test=10)
    assert evaluate_cmd.main([str(copy), "--dataset", dataset, "--device", "cpu"]) == 2
    err = stderr_of(capsys)
    assert "is not a model folder hf-bilstm can load" in err and message in err


@pytest.mark.parametrize("words", [20, 300])
def test_tokenizer_of_another_vocabulary_size_is_refused(copy, tmp_path, capsys, words):
    other = train_tokenizer([f"w{i}" for i in range(words)], vocab_size=1000, min_frequency=1)
    other.save_pretrained(copy)  # the folder's weights stay, its tokenizer is replaced
    assert run_predict([str(copy), "a great film"])[0] == 2
    assert "they do not belong together" in stderr_of(capsys)
    dataset = write_toy_dataset(tmp_path / "toy", n_train=10, n_test=10)
    assert evaluate_cmd.main([str(copy), "--dataset", dataset, "--device", "cpu"]) == 2
    assert f"the tokenizer has {len(other)} tokens but the model's vocabulary has" in stderr_of(capsys)


# --- offline ------------------------------------------------------------------------------------------------------


def test_predict_with_a_hub_id_while_offline_is_a_clear_error(offline, capsys):
    assert run_predict(["someone/not-in-the-cache", "a great film"])[0] == 2
    err = stderr_of(capsys)
    assert "couldn't connect to 'https://huggingface.co'" in err and "offline mode" in err


def test_train_on_a_hub_dataset_while_offline_suggests_a_local_folder(offline, tmp_path, capsys):
    assert train(["--dataset", "someone/not-in-the-cache", "--output_dir", str(tmp_path / "out")]) == 2
    err = stderr_of(capsys)
    assert "could not reach the Hugging Face Hub" in err and "--dataset ../shared/data/imdb" in err


def test_push_while_offline_keeps_the_folder_and_prints_the_retry(offline, copy, capsys):
    before = sorted(p.name for p in copy.iterdir())
    code = push_cmd.main([str(copy), "someone/repo", "--license", "mit", "--dataset", "stanfordnlp/imdb"])
    assert code == 1
    err = stderr_of(capsys)
    assert "offline mode is enabled" in err and "nothing was sent" in err and "hf-bilstm push" in err
    assert set(before) <= {p.name for p in copy.iterdir()}  # nothing of the model was removed


# --- hf-bilstm train: datasets -----------------------------------------------------------------------------------


def write_csv(folder, rows, splits=("train", "test")):
    folder.mkdir()
    for split in splits:
        (folder / f"{split}.csv").write_bytes(rows)
    return str(folder)


def test_train_refuses_a_dataset_file_that_is_not_utf8(tmp_path, capsys):
    dataset = write_csv(tmp_path / "data", b"text,label\na great film,1\ncaf\xe9 film,0\n")
    assert train(["--dataset", dataset, "--output_dir", str(tmp_path / "out")]) == 2
    err = stderr_of(capsys)
    assert "cannot read" in err and "train.csv" in err and "UTF-8" in err  # the bad file is named


@pytest.mark.parametrize(
    "row, message",
    [
        (b",1\n", "row 3: column 'text' is None, not a text"),  # a missing text
        (b"a film without a label,\n", "Row 3: the label is missing"),
    ],
)
def test_train_names_the_row_with_a_missing_text_or_label(tmp_path, capsys, row, message):
    good = b"".join(f"{text},{i % 2}\n".encode() for i, text in enumerate(["good film", "bad film", "nice"]))
    dataset = write_csv(tmp_path / "data", b"text,label\n" + good + row)
    args = ["--dataset", dataset, "--output_dir", str(tmp_path / "out"), "--test_split", ""]
    assert train(args) == 2
    assert message.lower() in stderr_of(capsys).lower()


def test_train_wrong_column_names_lists_the_columns(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    rows = toy_rows(20, 0)
    # "body" is not among the usual text column names that train finds by itself ("review" is)
    Dataset.from_dict({"body": rows["text"], "label": rows["label"]}).to_parquet(str(folder / "train.parquet"))
    assert train(["--dataset", str(folder), "--output_dir", str(tmp_path / "out"), "--test_split", ""]) == 2
    err = stderr_of(capsys)
    assert "has no column 'text'; its columns are ['body', 'label']" in err and "--text_column" in err


def test_train_missing_split_lists_the_splits(tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    assert train(["--dataset", dataset, "--output_dir", str(tmp_path / "out"), "--test_split", "final"]) == 2
    err = stderr_of(capsys)
    assert "no 'final' split" in err and "['test', 'train']" in err


def test_evaluate_refuses_labels_the_model_does_not_have(model_dir, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    labels = ["neg", "pos", "neutral"]
    Dataset.from_dict({"text": TEXTS[:3], "label": labels}).to_parquet(str(folder / "test.parquet"))
    assert evaluate_cmd.main([str(model_dir), "--dataset", str(folder), "--device", "cpu"]) == 2
    assert "Row 2: label 'neutral' is not one of the known labels ['neg', 'pos']" in stderr_of(capsys)


# --- hf-bilstm train: output folders ------------------------------------------------------------------------------


def test_train_refuses_to_overwrite_a_trained_model(model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(model_dir, out)
    before = (out / "model.safetensors").read_bytes()
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    assert train(["--dataset", dataset, "--output_dir", str(out)]) == 2
    assert "already holds a model or checkpoints. Pass --overwrite_output_dir" in stderr_of(capsys)
    assert (out / "model.safetensors").read_bytes() == before


def test_train_output_dir_that_is_a_file_is_refused(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    assert train(["--dataset", dataset, "--output_dir", str(blocker)]) == 2
    assert "is a file, not a folder" in stderr_of(capsys)

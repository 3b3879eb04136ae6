"""Unlabelled text (hf_bilstm.unlabelled): --unlabelled_file in every format we read, the dataset's unlabelled splits,
texts built as training rows' texts are, and every refusal."""

import json
import logging

import pytest
from datasets import Dataset, DatasetDict
from helpers import require_imdb, toy_dict, write_csv

from hf_bilstm.arguments import DataArguments, parse_settings
from hf_bilstm.data import load_raw_dataset
from hf_bilstm.data_flags import load_from_flags, prepare_from_flags
from hf_bilstm.errors import UsageError
from hf_bilstm.unlabelled import UNLABELLED_SPLIT_NAMES, has_unlabelled_text, unlabelled_texts

TRAIN = [(f"good fine row {i}", "pos") if i % 2 else (f"bad poor row {i}", "neg") for i in range(40)]
EXTRA = [f"unlabelled text number {i}" for i in range(7)]


def data_args(tmp_path, *argv) -> DataArguments:
    """The DataArguments `hf-bilstm train` builds from argv (every flag check run)."""
    return parse_settings([*argv, "--output_dir", str(tmp_path / "out")]).data


def train_csv(tmp_path) -> str:
    return write_csv(tmp_path / "train.csv", ["text", "label"], TRAIN)


def write_unlabelled(tmp_path, kind: str) -> tuple[str, list[str]]:
    """A file of EXTRA in format `kind` (a label column where the format has one: it is ignored); the extra flags."""
    folder = tmp_path / kind
    folder.mkdir()
    rows = [{"text": text, "label": "pos"} for text in EXTRA]
    if kind == "csv":
        return write_csv(folder / "extra.csv", ["text", "label"], [(r["text"], r["label"]) for r in rows]), []
    if kind == "tsv":
        return write_csv(folder / "extra.tsv", ["text"], [(t,) for t in EXTRA], delimiter="\t"), []
    if kind == "jsonl":
        path = folder / "extra.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return str(path), []
    if kind == "json":
        path = folder / "extra.json"
        path.write_text(json.dumps(rows), encoding="utf-8")
        return str(path), []
    if kind == "parquet":
        path = str(folder / "extra.parquet")
        Dataset.from_dict({"text": EXTRA}).to_parquet(path)
        return path, []
    if kind == "txt":  # one text a line; blank lines are no texts
        path = folder / "extra.txt"
        path.write_text("\n".join(EXTRA[:3]) + "\n\n" + "\n".join(EXTRA[3:]) + "\n", encoding="utf-8")
        return str(path), []
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["csv", "tsv", "json", "jsonl", "parquet", "txt"])
def test_unlabelled_file_in_every_format(tmp_path, kind):
    path, extra = write_unlabelled(tmp_path, kind)
    args = data_args(tmp_path, "--train_file", train_csv(tmp_path), "--unlabelled_file", path, *extra)
    raw = load_from_flags(args)
    assert raw["unlabelled"].column_names == ["text"]  # the text column only: a label column is dropped
    texts, description = unlabelled_texts(raw, args)
    assert texts == EXTRA
    assert description == f"7 texts from --unlabelled_file {path}"
    assert has_unlabelled_text(raw, args) == description


def test_headerless_files_take_column_names(tmp_path):
    """--column_names names the columns of a headerless training file and of a headerless unlabelled file alike; a
    .txt file of one text a line gives the texts of the (single) text column, whatever its name."""
    train = write_csv(tmp_path / "train.csv", None, [(label, text) for text, label in TRAIN])
    extra = write_csv(tmp_path / "extra.csv", None, [("", text) for text in EXTRA])
    args = data_args(tmp_path, "--train_file", train, "--column_names", "label,review", "--text_column", "review",
                     "--unlabelled_file", extra)  # fmt: skip
    assert unlabelled_texts(load_from_flags(args), args)[0] == EXTRA
    lines = tmp_path / "extra.txt"
    lines.write_text("\n".join(EXTRA) + "\n", encoding="utf-8")
    args = data_args(tmp_path, "--train_file", train, "--column_names", "label,review", "--text_column", "review",
                     "--unlabelled_file", str(lines))  # fmt: skip
    raw = load_from_flags(args)
    assert raw["unlabelled"].column_names == ["review"] and unlabelled_texts(raw, args)[0] == EXTRA


def test_joined_columns_equal_the_training_rows_text(tmp_path):
    """Several --text_column columns are joined as for the training rows: the same row gives the same text (a
    missing part included)."""
    rows = [(f"title {i}", "" if i % 5 == 0 else f"body of row {i}", "pos" if i % 2 else "neg") for i in range(40)]
    train = write_csv(tmp_path / "news.csv", ["title", "description", "label"], rows)
    extra = write_csv(tmp_path / "more.csv", ["description", "title"], [(d, t) for t, d, _ in rows])  # other order
    args = data_args(tmp_path, "--train_file", train, "--text_column", "title,description", "--unlabelled_file", extra)
    raw = load_from_flags(args)
    texts, _ = unlabelled_texts(raw, args)
    splits = prepare_from_flags(raw, args, frozenset({"train_file", "text_column", "unlabelled_file"}), seed=0)
    training = {
        text for split in (splits.train, splits.validation, splits.test) for text in split[splits.schema.text_column]
    }
    assert len(texts) == len(rows) and set(texts) == training
    assert "title 0" in texts and "title 1 body of row 1" in texts  # the empty part left out, as in training


def test_a_label_column_is_ignored_and_said_once(tmp_path, caplog):
    path, _ = write_unlabelled(tmp_path, "csv")
    args = data_args(tmp_path, "--train_file", train_csv(tmp_path), "--unlabelled_file", path)
    with caplog.at_level(logging.WARNING, logger="hf_bilstm"):
        load_from_flags(args)
        load_from_flags(args)  # every phase of a recipe loads the data again
    said = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage() and path in r.getMessage()]
    assert len(said) == 1 and "['label']" in said[0]


def test_dataset_splits_and_never_a_split_the_flags_use():
    extra = {name: Dataset.from_dict({"text": [f"{name} {i}" for i in range(3)] + ["", " "]}) for name in
             UNLABELLED_SPLIT_NAMES}  # fmt: skip
    raw = toy_dict(**extra)
    args = DataArguments(dataset=None)
    texts, description = unlabelled_texts(raw, args)
    assert len(texts) == 9 and all(t.strip() for t in texts)
    assert description == "3 texts in split 'unsupervised' and 3 texts in split 'unlabelled' and 3 texts in split " \
        "'unlabeled'"  # fmt: skip
    # row counts, without reading a text: the empty rows count there
    assert has_unlabelled_text(raw, args).startswith("5 texts in split 'unsupervised'")
    args = DataArguments(dataset=None, validation_split="unlabeled", test_split="unsupervised")
    texts, description = unlabelled_texts(raw, args)
    assert texts == ["unlabelled 0", "unlabelled 1", "unlabelled 2"] and description == "3 texts in split 'unlabelled'"
    assert unlabelled_texts(toy_dict(), DataArguments(dataset=None)) == ([], "")
    assert has_unlabelled_text(toy_dict(), DataArguments(dataset=None)) == ""


def test_a_split_without_the_text_column_is_left_out_and_said(caplog):
    raw = toy_dict(unsupervised=Dataset.from_dict({"review": ["a text"]}))
    with caplog.at_level(logging.WARNING, logger="hf_bilstm"):
        assert unlabelled_texts(raw, DataArguments(dataset=None)) == ([], "")
    assert any("has no text column 'text'" in r.getMessage() for r in caplog.records)


def test_the_text_column_training_guesses_is_read(tmp_path):
    """--text_column left out: training reads a column with a usual name (`sentence`); so does the unlabelled side."""
    train = write_csv(tmp_path / "train.csv", ["sentence", "label"], TRAIN)
    extra = write_csv(tmp_path / "extra.csv", ["sentence"], [(t,) for t in EXTRA])
    args = data_args(tmp_path, "--train_file", train, "--unlabelled_file", extra)
    assert unlabelled_texts(load_from_flags(args), args)[0] == EXTRA


def test_refusals(tmp_path):
    train = train_csv(tmp_path)
    with pytest.raises(UsageError, match=r"--unlabelled_file '.*nowhere.csv' does not exist; give a file of texts"):
        data_args(tmp_path, "--train_file", train, "--unlabelled_file", str(tmp_path / "nowhere.csv"))
    with pytest.raises(UsageError, match=r"is also --train_file: its texts would be trained on"):
        data_args(tmp_path, "--train_file", train, "--unlabelled_file", train)
    other = write_csv(tmp_path / "other.csv", ["body", "label"], [(t, y) for t, y in TRAIN])
    args = data_args(tmp_path, "--train_file", train, "--unlabelled_file", other)
    with pytest.raises(UsageError, match=r"has no text column 'text'; its columns are \['body', 'label'\]"):
        load_from_flags(args)
    empty = tmp_path / "empty.csv"
    empty.write_text('text,label\n"",pos\n"  ",neg\n', encoding="utf-8")
    args = data_args(tmp_path, "--train_file", train, "--unlabelled_file", str(empty))
    with pytest.raises(UsageError, match=r"holds no text \(2 rows, all empty in column\(s\) \['text'\]\)"):
        load_from_flags(args)
    two = tmp_path / "two.txt"
    two.write_text("a text\n", encoding="utf-8")
    news = write_csv(tmp_path / "news.csv", ["title", "body", "label"], [(t, t, y) for t, y in TRAIN])
    args = data_args(tmp_path, "--train_file", news, "--text_column", "title,body", "--unlabelled_file", str(two))
    with pytest.raises(UsageError, match=r"holds one text a line, but --text_column joins 2 columns"):
        load_from_flags(args)


def test_refused_beside_a_dataset_with_an_unlabelled_split(tmp_path):
    folder = tmp_path / "data"
    DatasetDict({"train": Dataset.from_dict({"text": [t for t, _ in TRAIN], "label": [y for _, y in TRAIN]}),
                 "unlabelled": Dataset.from_dict({"text": EXTRA})}).save_to_disk(str(folder))  # fmt: skip
    path, _ = write_unlabelled(tmp_path, "txt")
    args = data_args(tmp_path, "--dataset", str(folder), "--unlabelled_file", path)
    with pytest.raises(UsageError, match=r"already has an 'unlabelled' split.*drop --unlabelled_file"):
        load_from_flags(args)
    args = data_args(tmp_path, "--dataset", str(folder))
    assert unlabelled_texts(load_from_flags(args), args) == (EXTRA, "7 texts in split 'unlabelled'")


def test_imdb_unsupervised_split():
    raw = load_raw_dataset(require_imdb("its 50,000 unlabelled reviews"))
    args = DataArguments(dataset=None)
    texts, description = unlabelled_texts(raw, args)
    assert len(texts) == 50_000 and description == "50,000 texts in split 'unsupervised'"
    assert has_unlabelled_text(raw, args) == description


def test_a_data_folders_unlabelled_files_and_folders(tmp_path):
    """In a folder of data files, unlabelled.csv / unsup.txt are the split 'unsupervised' (never train, even beside
    a file that `datasets` would read as train, and a one-text-a-line file beside headerless csv files); in a
    folder-per-class corpus, train/unlabelled/*.txt is no class."""
    files = tmp_path / "files"
    files.mkdir()
    write_csv(files / "data.csv", None, [(label, text) for text, label in TRAIN])
    (files / "unsup.txt").write_text("\n".join(EXTRA) + "\n", encoding="utf-8")
    args = data_args(tmp_path, "--dataset", str(files), "--column_names", "label,review", "--text_column", "review")
    raw = load_from_flags(args)
    assert len(raw["train"]) == len(TRAIN)
    assert unlabelled_texts(raw, args) == (EXTRA, "7 texts in split 'unsupervised'")
    header = tmp_path / "header"
    header.mkdir()
    write_csv(header / "data.csv", ["text", "label"], TRAIN)
    write_csv(header / "unlabelled.csv", ["text"], [(t,) for t in EXTRA])
    args = data_args(tmp_path, "--dataset", str(header))
    raw = load_from_flags(args)
    assert len(raw["train"]) == len(TRAIN) and unlabelled_texts(raw, args)[0] == EXTRA
    corpus = tmp_path / "corpus"
    for i, (text, label) in enumerate(TRAIN + [(t, "unlabelled") for t in EXTRA]):
        (corpus / "train" / label).mkdir(parents=True, exist_ok=True)
        (corpus / "train" / label / f"{i}.txt").write_text(text, encoding="utf-8")
    args = data_args(tmp_path, "--dataset", str(corpus))
    raw = load_from_flags(args)
    assert raw["train"].features["label"].names == ["neg", "pos"]
    assert sorted(unlabelled_texts(raw, args)[0]) == sorted(EXTRA)

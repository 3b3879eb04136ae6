"""hf_bilstm.data: loading errors, splits, labels, the tokenizer's training text, encoding and padding."""

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from helpers import FEATURES, require_imdb, toy_dict, toy_rows, write_toy_dataset

from hf_bilstm import data
from hf_bilstm.data import PaddingCollator, UsageError, encode, load_raw_dataset, prepare_splits, train_tokenizer_on

# --------------------------------------------------------------------------------------------------------------
# loading


def test_local_folder_loads_with_class_labels(tmp_path):
    raw = load_raw_dataset(write_toy_dataset(tmp_path / "toy"))
    assert set(raw) == {"train", "test"}
    assert raw["train"].features["label"].names == ["neg", "pos"]


def test_folder_saved_with_save_to_disk_loads(tmp_path):
    toy_dict(n_train=20, n_test=10).save_to_disk(str(tmp_path / "saved"))
    raw = load_raw_dataset(str(tmp_path / "saved"))
    assert len(raw["train"]) == 20 and raw["test"].features["label"].names == ["neg", "pos"]
    Dataset.from_dict(toy_rows(12, 0), features=FEATURES).save_to_disk(str(tmp_path / "one"))
    assert len(load_raw_dataset(str(tmp_path / "one"))["train"]) == 12  # a lone Dataset is the train split


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        load_raw_dataset(str(tmp_path / "nowhere"))


def test_unreachable_hub_suggests_a_local_folder(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'stanfordnlp/imdb' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(data, "load_dataset", offline)
    with pytest.raises(UsageError, match=r"could not reach the Hugging Face Hub.*--dataset \.\./shared/data/imdb"):
        load_raw_dataset("stanfordnlp/imdb")


def test_unknown_dataset_is_a_clear_error(monkeypatch):
    from datasets.exceptions import DatasetNotFoundError

    def missing(*args, **kwargs):
        raise DatasetNotFoundError("Dataset 'nobody/nothing' doesn't exist on the Hub")

    monkeypatch.setattr(data, "load_dataset", missing)
    with pytest.raises(UsageError, match="not found.*Check the Hub id"):
        load_raw_dataset("nobody/nothing")


# --------------------------------------------------------------------------------------------------------------
# splits and labels


def test_validation_is_carved_stratified_seeded_and_disjoint():
    raw = toy_dict(n_train=400)
    splits = prepare_splits(raw, validation_fraction=0.1, seed=3)
    assert splits.validation_carved
    assert len(splits.validation) == 40 and len(splits.train) == 360
    assert np.bincount(splits.validation["label"]).tolist() == [20, 20]  # stratified
    assert not set(splits.validation["text"]) & set(splits.train["text"])
    again = prepare_splits(raw, validation_fraction=0.1, seed=3)
    assert again.validation["text"] == splits.validation["text"]
    other = prepare_splits(raw, validation_fraction=0.1, seed=4)
    assert other.validation["text"] != splits.validation["text"]
    assert splits.label_names == ["neg", "pos"]


def test_dataset_validation_split_is_used_when_present():
    raw = toy_dict(validation=Dataset.from_dict(toy_rows(30, 7), features=FEATURES))
    splits = prepare_splits(raw)
    assert not splits.validation_carved
    assert len(splits.validation) == 30 and len(splits.train) == 200


def test_caps_take_random_rows_of_every_label():
    # A split sorted by label (like IMDB's): the first rows are all one class, a cap must not take them.
    rows = {"text": [f"text {i}" for i in range(100)], "label": [0] * 50 + [1] * 50}
    test_rows = {"text": [f"test text {i}" for i in range(100)], "label": rows["label"]}
    raw = DatasetDict(
        {"train": Dataset.from_dict(rows, features=FEATURES), "test": Dataset.from_dict(test_rows, features=FEATURES)}
    )
    splits = prepare_splits(raw, max_train_samples=20, max_eval_samples=6, max_test_samples=10)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (20, 6, 10)
    assert set(splits.test["label"]) == {0, 1} and set(splits.train["label"]) == {0, 1}


def test_string_labels_become_class_ids_shared_by_all_splits():
    train = Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": ["pos", "neg", "pos", "neg"]})
    test = Dataset.from_dict({"text": ["e", "f"], "label": ["neg", "pos"]})
    splits = prepare_splits(DatasetDict(train=train, test=test), validation_fraction=0.5)
    assert splits.label_names == ["neg", "pos"]
    assert splits.test["label"] == [0, 1]
    bad_test = Dataset.from_dict({"text": ["e"], "label": ["meh"]})
    with pytest.raises(UsageError, match="'meh' is not one of the known labels"):
        prepare_splits(DatasetDict(train=train, test=bad_test), validation_fraction=0.5)


def test_missing_column_lists_the_columns():
    with pytest.raises(UsageError, match=r"no column 'review'; its columns are \['text', 'label'\].*--text_column"):
        prepare_splits(toy_dict(), text_column="review")
    with pytest.raises(UsageError, match="no column 'sentiment'.*--label_column"):
        prepare_splits(toy_dict(), label_column="sentiment")


def test_missing_split_lists_the_splits():
    with pytest.raises(UsageError, match=r"no 'dev' split.*its splits are \['test', 'train'\]"):
        prepare_splits(toy_dict(), train_split="dev")
    with pytest.raises(UsageError, match="no 'final' split"):
        prepare_splits(toy_dict(), test_split="final")
    assert prepare_splits(toy_dict(), test_split=None).test is None


def test_empty_dataset_is_refused():
    empty = Dataset.from_dict({"text": [], "label": []}, features=FEATURES)
    with pytest.raises(UsageError, match="'train' split is empty"):
        prepare_splits(DatasetDict(train=empty, test=empty))
    with pytest.raises(UsageError, match="test split is empty"):
        prepare_splits(toy_dict(test=empty))


def test_missing_text_or_label_names_the_row():
    rows = toy_rows(20, 0)
    rows["text"][13] = None
    with pytest.raises(UsageError, match="Split 'test', row 13: column 'text' is None"):
        prepare_splits(toy_dict(test=Dataset.from_dict(rows, features=FEATURES)))
    rows = toy_rows(20, 0)
    rows["label"][5] = -1  # the "unlabelled" marker of IMDB's unsupervised split
    with pytest.raises(UsageError, match="Row 5: the label is missing \\(split 'test'\\)"):
        prepare_splits(toy_dict(test=Dataset.from_dict(rows, features=FEATURES)))


def test_single_class_training_split_is_refused():
    one = Dataset.from_dict({"text": ["a", "b"], "label": ["pos", "pos"]})
    with pytest.raises(UsageError, match="at least 2"):
        prepare_splits(DatasetDict(train=one, test=one))


# --------------------------------------------------------------------------------------------------------------
# tokenizer and encoding


def test_tokenizer_never_sees_validation_or_test_text():
    rows = toy_rows(200, 0)
    for i in range(0, 200, 2):  # a word in some training rows only, which may land in validation
        rows["text"][i] += " onlyintrain"
    test = toy_rows(20, 1)
    test["text"] = [text + " onlyintest" for text in test["text"]]
    raw = DatasetDict(
        train=Dataset.from_dict(rows, features=FEATURES), test=Dataset.from_dict(test, features=FEATURES)
    )
    splits = prepare_splits(raw, validation_fraction=0.25, seed=0)
    validation_words = {w for t in splits.validation["text"] for w in t.split()} - {
        w for t in splits.train["text"] for w in t.split()
    }
    tokenizer = train_tokenizer_on(splits.train, "text", vocab_size=1000, max_length=32, min_frequency=1)
    vocab = tokenizer.get_vocab()
    assert "onlyintrain" in vocab and "great" in vocab
    assert "onlyintest" not in vocab
    assert not validation_words & set(vocab)


def test_encode_truncates_and_records_lengths():
    dataset = Dataset.from_dict(toy_rows(30, 0), features=FEATURES)
    tokenizer = train_tokenizer_on(dataset, "text", vocab_size=200, max_length=8, min_frequency=1)
    encoded = encode(dataset, tokenizer, "text", "label")
    assert encoded.column_names == ["input_ids", "length", "labels"]
    assert max(encoded["length"]) == 8
    assert encoded["length"] == [len(ids) for ids in encoded["input_ids"]]
    assert encoded["labels"] == dataset["label"]


def test_padding_collator_pads_each_batch_to_its_longest_row():
    features = [{"input_ids": [5, 6, 7], "labels": 1, "length": 3}, {"input_ids": [8], "labels": 0, "length": 1}]
    batch = PaddingCollator(pad_token_id=0)(features)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}  # length is for the sampler only
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]
    assert PaddingCollator(0, pad_to_multiple_of=4)(features)["input_ids"].shape == (2, 4)


@pytest.mark.slow  # the real IMDB: 50,000 reviews loaded, split and hashed (seconds)
def test_real_imdb_splits():
    splits = prepare_splits(load_raw_dataset(require_imdb("the real IMDB splits")), max_test_samples=1000)
    assert splits.label_names == ["neg", "pos"]
    # 22500 / 2500 carved, less the rows whose text is also in a later split (IMDB holds some reviews twice)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (22467, 2499, 1000)
    texts = [set(split["text"]) for split in (splits.train, splits.validation, splits.test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert np.bincount(splits.validation["label"]).tolist() == [1249, 1250]  # stratified, one duplicate dropped

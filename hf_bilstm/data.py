"""Datasets for training and evaluation: load, check, split, label, train the tokenizer, encode, batch.

The data's way: `load_raw_dataset` (Hub id or folder) → `prepare_splits` (columns, labels, validation carved from
train, sample caps) → `train_tokenizer_on` (train split only) → `encode_splits` (batched, cached `Dataset.map`) →
`PaddingCollator` (dynamic padding per batch).
"""

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, concatenate_datasets, load_dataset, load_from_disk
from datasets.exceptions import DatasetGenerationError, DatasetNotFoundError

from .data_schema import DataSchema
from .errors import UsageError  # noqa: F401  (hf_bilstm.data.UsageError: where it was first defined)
from .logs import get_logger
from .tokenization_bilstm import cut_for_tokenizer, train_tokenizer

logger = get_logger(__name__)

LOCAL_IMDB_HINT = "../shared/data/imdb"


MAX_MODEL_MAX_LENGTH = 10**7  # tokens; a folder without the setting gets transformers' 1e30, meaning "no limit"


# Column of per-class target probabilities (a teacher's) that a training split may carry next to its labels.
SOFT_LABELS = "soft_labels"


def check_tokenizer_length(tokenizer, source: str, or_flag: str = "") -> None:
    """
    Texts are cut to the tokenizer's `model_max_length` (before tokenizing, at a character bound derived from it),
    which is what bounds memory for any input: a tokenizer without a limit (transformers fills in 1e30 when
    tokenizer_config.json has none), or with a value that is not a positive whole number, is refused.
    """
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_MODEL_MAX_LENGTH:
        shown = "absent (no limit)" if isinstance(limit, int) and limit > MAX_MODEL_MAX_LENGTH else repr(limit)
        fix = 'set "model_max_length" in its tokenizer_config.json (hf-bilstm train writes --max_length there).'
        raise UsageError(
            f"{source!r}: its tokenizer's model_max_length is {shown}, but texts are cut to it (which bounds memory "
            f"for any input), so it must be a whole number of tokens from 1 to {MAX_MODEL_MAX_LENGTH:,}. "
            + (f"{or_flag}{fix}" if or_flag else fix[0].upper() + fix[1:])
        )


def check_tokenizer_fits(tokenizer, config, source: str) -> None:
    """Another tokenizer maps words to other embedding rows (a silent wrong answer, or ids past the end): refuse.
    Its `model_max_length` must bound the texts (`check_tokenizer_length`)."""
    check_tokenizer_length(tokenizer, source)
    if len(tokenizer) != config.vocab_size:
        raise UsageError(
            f"{source!r}: the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has "
            f"{config.vocab_size}; they do not belong together. Use the tokenizer saved with the model."
        )


@dataclass
class Splits:
    """The three splits of a run, with columns `text` / `label` already checked and labels as ids."""

    train: Dataset
    validation: Dataset
    test: Dataset | None
    label_names: list[str]
    validation_carved: bool  # True when validation was cut from train (not given by the dataset)
    schema: DataSchema | None = None  # what the model folder remembers of the data (hf_bilstm.data_schema)

    def items(self) -> Iterator[tuple[str, Dataset]]:
        yield "train", self.train
        yield "validation", self.validation
        if self.test is not None:
            yield "test", self.test


def check_dataset_name(name: str) -> str:
    """Refuses an empty `--dataset` or a local path that does not exist; returns the path with `~` expanded."""
    if not name:
        raise UsageError(f"--dataset is empty; give a Hub id (stanfordnlp/imdb) or a folder ({LOCAL_IMDB_HINT}).")
    expanded = os.path.expanduser(name)
    if name.startswith((".", "/", "~")) and not os.path.exists(expanded):
        raise UsageError(
            f"--dataset {name!r}: no such folder. Give an existing folder (for example {LOCAL_IMDB_HINT}) "
            "or a Hub dataset id such as stanfordnlp/imdb."
        )
    if os.path.isfile(expanded):
        raise UsageError(
            f"--dataset {name!r} is a file, not a dataset folder; give the folder that holds the data files (named "
            f"by split: train.parquet, test.csv, ...), e.g. {os.path.dirname(name) or '.'!r}, or a Hub dataset id."
        )
    if name.count("/") > 1 and not os.path.exists(expanded):  # neither a Hub id (USER/NAME) nor a folder
        raise UsageError(
            f"--dataset {name!r}: no such folder (nor a Hub id of the form USER/NAME). Check the spelling of the path."
        )
    return expanded


def _not_local(name: str) -> str:
    """What a dataset error says first when `name` is not a local path: it may be a mistyped folder."""
    return "" if os.path.exists(os.path.expanduser(name)) else "no such folder here, and "


def load_raw_dataset(name: str, config_name: str | None = None, cache_dir: str | None = None) -> DatasetDict:
    """`datasets.load_dataset` on a Hub id or a local folder, with errors that say what to do."""
    expanded = check_dataset_name(name)
    saved = os.path.isdir(expanded) and any(
        os.path.exists(os.path.join(expanded, marker)) for marker in ("dataset_dict.json", "state.json")
    )
    try:
        if saved:  # written by save_to_disk, which load_dataset refuses to read
            loaded = load_from_disk(expanded)
        else:
            loaded = load_dataset(expanded if os.path.exists(expanded) else name, config_name, cache_dir=cache_dir)
    except ConnectionError as error:
        raise UsageError(
            f"--dataset {name!r}: {_not_local(name)}could not reach the Hugging Face Hub ({error}). Check the "
            "spelling of a folder name. When offline, point --dataset at "
            f"a local copy instead, e.g. --dataset {LOCAL_IMDB_HINT} (a folder in the Hub's layout, or one saved "
            "with DatasetDict.save_to_disk)."
        ) from error
    except (DatasetNotFoundError, FileNotFoundError) as error:
        raise UsageError(
            f"--dataset {name!r}: {_not_local(name)}not found ({error}). Check the Hub id (e.g. stanfordnlp/imdb) "
            f"or the spelling of the folder, or give a local folder such as {LOCAL_IMDB_HINT}."
        ) from error
    except ValueError as error:  # e.g. a config name that does not exist
        raise UsageError(f"--dataset {name!r}: {error}") from error
    except DatasetGenerationError as error:  # a data file that cannot be parsed, e.g. a CSV that is not UTF-8
        raise UsageError(
            f"--dataset {name!r}: cannot read its data files ({error.__cause__ or error}). Fix or convert the file "
            "(text files must be UTF-8, e.g. iconv -f latin1 -t utf-8) and run again."
        ) from error
    if isinstance(loaded, Dataset):
        loaded = DatasetDict({"train": loaded})
    return loaded


def _check_split(raw: DatasetDict, split: str, role: str, flag: str) -> Dataset:
    if split not in raw:
        raise UsageError(
            f"The dataset has no {split!r} split (for {role}); its splits are {sorted(raw)}. Choose one with {flag}."
        )
    return raw[split]


def _check_columns(dataset: Dataset, split: str, text_column: str, label_column: str | None) -> None:
    for column, flag in ((text_column, "--text_column"), (label_column, "--label_column")):
        if column is not None and column not in dataset.column_names:
            raise UsageError(
                f"Split {split!r} has no column {column!r}; its columns are {dataset.column_names}. "
                f"Name the right one with {flag}."
            )


def _check_rows(dataset: Dataset, split: str, text_column: str, label_column: str, num_labels: int) -> None:
    """Missing texts or labels are refused by row number: a silently dropped or mislabelled row skews metrics."""
    for start in range(0, len(dataset), 10_000):
        batch = dataset[start : start + 10_000]
        for offset, (text, label) in enumerate(zip(batch[text_column], batch[label_column])):
            row = start + offset
            if not isinstance(text, str):
                raise UsageError(
                    f"Split {split!r}, row {row}: column {text_column!r} is {text!r}, not a text. "
                    "Remove or fill rows with missing text before training (e.g. dataset.filter(...))."
                )
            if label is None or not 0 <= label < num_labels:
                raise UsageError(
                    f"Split {split!r}, row {row}: label {label!r} is not one of the {num_labels} classes "
                    f"(ids 0..{num_labels - 1}); unlabelled rows (-1 or None) must be removed from a labelled split."
                )


# A label column with more distinct values than this, and more than half as many as rows, holds ids, scores or texts:
# nearly every row would be a class of its own (a classifier with one example per class learns nothing).
MAX_LABELS_PER_ROW_CHECK = 50


def check_label_count(names: list[str], rows: int, label_column: str) -> None:
    if len(names) > MAX_LABELS_PER_ROW_CHECK and 2 * len(names) > rows:
        raise UsageError(
            f"Column {label_column!r} holds {len(names):,} distinct labels in {rows:,} rows (e.g. {names[:3]}), so "
            "nearly every row would be a class of its own: it looks like ids, scores or texts, not labels. Name the "
            "label column with --label_column, or map its values to classes first."
        )


def _to_class_label(dataset: Dataset, label_column: str, names: list[str] | None) -> tuple[Dataset, list[str]]:
    """Returns the dataset with `label_column` as a ClassLabel, using `names` when given (to agree across splits)."""
    feature = dataset.features[label_column]
    if isinstance(feature, ClassLabel) and (names is None or list(feature.names) == names):
        return dataset, list(feature.names)
    if isinstance(feature, ClassLabel):  # ClassLabel with other names: map by name
        values = [feature.names[i] if i is not None and i >= 0 else None for i in dataset[label_column]]
    else:  # negative ints are the usual "unlabelled" marker (IMDB's unsupervised split uses -1)
        values = list(dataset[label_column])
        for row, value in enumerate(values):
            if isinstance(value, float):
                # A column of integers with a gap reads as floats (CSV: 1.0, NaN): NaN is a missing label, a whole
                # number is that integer; any other float (0.5) would become a class of its own.
                if math.isnan(value):
                    values[row] = value = None
                elif value.is_integer():
                    values[row] = value = int(value)
            if value is not None and not isinstance(value, (int, str)):  # bool is an int
                raise UsageError(
                    f"Row {row}: label {value!r} is a {type(value).__name__}; labels must be integers, booleans or "
                    f"strings (column {label_column!r}). Convert the column (e.g. dataset.cast_column) or name the "
                    "right one with --label_column."
                )
            if isinstance(value, str) and not value.strip():  # an empty cell of a JSON or text column
                values[row] = None
            elif isinstance(value, str) and value != value.strip():
                # 'pos ' next to 'pos' would be a class of its own (and an unknown label at evaluation)
                raise UsageError(
                    f"Row {row}: label {value!r} has spaces around it, so it would be a class apart from "
                    f"{value.strip()!r}. Strip the labels of column {label_column!r} first (e.g. dataset.map)."
                )
        values = [None if isinstance(v, int) and v < 0 else v for v in values]
    if names is None:
        present = {v for v in values if v is not None}
        names = [str(v) for v in sorted(present, key=lambda v: (isinstance(v, str), v))]
        check_label_count(names, len(values), label_column)
    index = {name: i for i, name in enumerate(names)}
    ids = [index.get(str(v), -1) if v is not None else None for v in values]
    unknown = [(row, v) for row, (v, i) in enumerate(zip(values, ids)) if i == -1]
    if unknown:
        row, value = unknown[0]
        raise UsageError(
            f"Row {row}: label {value!r} is not one of the known labels {names} (those of the training split, "
            "or of the model being evaluated); every split must use the same labels."
        )
    missing = [row for row, i in enumerate(ids) if i is None]
    if missing:  # a ClassLabel column cannot hold them: refuse here, by row, rather than fail in the cast below
        raise UsageError(
            f"Row {missing[0]}: the label is missing ({len(missing)} row(s) without one); unlabelled rows "
            "(-1 or None) must be removed from a labelled split (e.g. dataset.filter(...))."
        )
    dataset = dataset.remove_columns(label_column).add_column(label_column, ids)
    return dataset.cast_column(label_column, ClassLabel(names=names)), names


def _text_hashes(dataset: Dataset, text_column: str) -> list[bytes]:
    return [hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest() for text in dataset[text_column]]


def _without_overlap(train, validation, test, text_column: str):
    """
    No text may be in two of the splits: the test split must stay unseen and validation must not be trained on.
    Splits that are largely the same data (a copy, or one cut from the other) are refused; the few texts that a
    dataset holds twice (IMDB's train and test share 123 reviews) are dropped from the earlier split, and counted.
    """
    roles = [("train", train), ("validation", validation)] + ([("test", test)] if test is not None else [])
    hashes = {name: _text_hashes(dataset, text_column) for name, dataset in roles}
    kept = {name: dataset for name, dataset in roles}
    for later_index in range(len(roles) - 1, 0, -1):
        later = roles[later_index][0]
        later_set = set(hashes[later])
        for earlier, _ in roles[:later_index]:
            shared = [i for i, h in enumerate(hashes[earlier]) if h in later_set]
            if not shared:
                continue
            smaller = min(len(set(hashes[earlier])), len(later_set))
            if len(set(hashes[earlier][i] for i in shared)) * 2 >= smaller:
                raise UsageError(
                    f"The {earlier} and {later} splits are largely the same texts ({len(shared)} of the "
                    f"{len(hashes[earlier])} {earlier} rows are in {later}); a model would be selected or tested on "
                    "what it was trained on. Give splits with distinct texts (--train_split, --validation_split, "
                    "--test_split)."
                )
            drop = set(shared)
            keep = [i for i in range(len(hashes[earlier])) if i not in drop]
            kept[earlier] = kept[earlier].select(keep)
            hashes[earlier] = [hashes[earlier][i] for i in keep]
            logger.warning(
                f"hf-bilstm: dropped {len(drop)} {earlier} row(s) whose text is also in the {later} split "
                "(the dataset holds them twice)."
            )
    return kept["train"], kept["validation"], kept.get("test")


def _cap(dataset: Dataset, max_samples: int | None, seed: int, shuffle: bool) -> Dataset:
    if max_samples is None or max_samples >= len(dataset):
        return dataset
    if max_samples <= 0:
        raise UsageError(f"max_*_samples must be a positive number of rows, but it was {max_samples}.")
    # Datasets are often sorted by label (IMDB: all neg, then all pos): take a seeded random sample, not the head.
    return (dataset.shuffle(seed=seed) if shuffle else dataset).select(range(max_samples))


def check_validation_split_name(validation_split: str, train_split: str) -> None:
    """A --validation_split given as the training split would select the model on its own training texts."""
    if validation_split == train_split:
        raise UsageError(
            f"--validation_split names the training split {train_split!r}: the model would be selected on the texts "
            "it was trained on. Name another split, or leave --validation_split out to hold out "
            "--validation_fraction of the training split."
        )


def prepare_splits(
    raw: DatasetDict,
    text_column: str = "text",
    label_column: str = "label",
    train_split: str = "train",
    validation_split: str = "validation",
    test_split: str | None = "test",
    validation_fraction: float = 0.1,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    max_test_samples: int | None = None,
    seed: int = 42,
    validation_given: bool = False,
) -> Splits:
    """
    Checks columns and rows, turns labels into ids of the training split's `ClassLabel` names, and carves a
    stratified, seeded validation split from train (`validation_fraction`) when the dataset has none.

    Caps (`max_*_samples`) take seeded random rows. The validation split is carved from the whole training split
    before train is capped, so the same seed always holds out the same reviews. `test_split=None` means no test
    split (then no test metrics are reported). `validation_given`: --validation_split was given, so it must name a
    split of the dataset other than train (a typo is refused, not replaced by a carved split).
    """
    if validation_given:
        check_validation_split_name(validation_split, train_split)
    if validation_given and validation_split not in raw:
        _check_split(raw, validation_split, "model selection", "--validation_split (or leave it out to carve one)")
    train = _check_split(raw, train_split, "training", "--train_split")
    _check_columns(train, train_split, text_column, label_column)
    if len(train) == 0:
        raise UsageError(f"The {train_split!r} split is empty; there is nothing to train on.")
    keep = [text_column, label_column]
    train, names = _to_class_label(train.select_columns(keep), label_column, None)
    if len(names) < 2:
        raise UsageError(
            f"The {train_split!r} split has {len(names)} label value(s) {names}; a classifier needs at least 2."
        )
    # Checked before carving and capping, so that a row number is the row's place in the dataset's own split.
    _check_rows(train, train_split, text_column, label_column, len(names))

    if validation_split in raw and validation_split != train_split:
        validation = raw[validation_split]
        _check_columns(validation, validation_split, text_column, label_column)
        validation, _ = _to_class_label(validation.select_columns(keep), label_column, names)
        _check_rows(validation, validation_split, text_column, label_column, len(names))
        carved = False
    else:
        if not 0 < validation_fraction < 1:
            raise UsageError(
                f"--validation_fraction must be in (0, 1) to carve a validation split from {train_split!r}, "
                f"but it was {validation_fraction}."
            )
        counts = np.bincount(np.asarray(train[label_column]), minlength=len(names))
        # Stratifying needs every class at least twice and room for one row of each in validation.
        can_stratify = counts.min() >= 2 and round(validation_fraction * len(train)) >= len(names)
        stratify = label_column if can_stratify else None
        try:
            parts = train.train_test_split(test_size=validation_fraction, stratify_by_column=stratify, seed=seed)
        except ValueError as error:
            raise UsageError(
                f"Cannot carve a {validation_fraction:.0%} validation split from {len(train)} training rows: {error}"
            ) from error
        train, validation, carved = parts["train"], parts["test"], True

    test = None
    if test_split:
        test = _check_split(raw, test_split, "the final test", "--test_split (or --test_split '' for none)")
        _check_columns(test, test_split, text_column, label_column)
        test, _ = _to_class_label(test.select_columns(keep), label_column, names)
        _check_rows(test, test_split, text_column, label_column, len(names))

    train = _cap(train, max_train_samples, seed, shuffle=not carved)
    validation = _cap(validation, max_eval_samples, seed, shuffle=True)
    if test is not None:
        test = _cap(test, max_test_samples, seed, shuffle=True)
    # After the caps: a test text that is never evaluated is no leak, so only the texts in use are compared.
    train, validation, test = _without_overlap(train, validation, test, text_column)
    schema = DataSchema(text_columns=[text_column], label_columns=[label_column], label_names=list(names))
    splits = Splits(train, validation, test, names, carved, schema)
    for split, dataset in splits.items():
        if len(dataset) == 0:
            raise UsageError(f"The {split} split is empty after loading; it needs at least one row.")
    return splits


def prepare_eval_split(
    raw: DatasetDict,
    split: str,
    label_names: list[str],
    text_column: str = "text",
    label_column: str = "label",
    max_samples: int | None = None,
    seed: int = 42,
) -> Dataset:
    """One split for evaluating a trained model: columns checked, labels mapped by name to the model's ids."""
    dataset = _check_split(raw, split, "evaluation", "--split")
    _check_columns(dataset, split, text_column, label_column)
    feature = dataset.features[label_column]
    if isinstance(feature, ClassLabel) and set(feature.names) != set(label_names):
        raise UsageError(
            f"The dataset's labels {feature.names} are not the model's labels {label_names}; evaluate on a dataset "
            "with the same classes."
        )
    dataset, _ = _to_class_label(dataset.select_columns([text_column, label_column]), label_column, label_names)
    _check_rows(dataset, split, text_column, label_column, len(label_names))  # before sampling: true row numbers
    dataset = _cap(dataset, max_samples, seed, shuffle=True)
    if len(dataset) == 0:
        raise UsageError(f"The {split!r} split is empty; there is nothing to evaluate.")
    return dataset


def iter_texts(dataset: Dataset, text_column: str, batch_size: int = 1000) -> Iterator[str]:
    """Streams one column's texts in batches, so the tokenizer trainer never holds the corpus in a Python list."""
    for batch in dataset.iter(batch_size=batch_size):
        yield from batch[text_column]


def train_tokenizer_on(
    train: Dataset,
    text_column: str,
    vocab_size: int,
    max_length: int,
    min_frequency: int = 2,
    truncation_side: str = "right",
    rows_flag: str = "--max_train_samples",
):
    """Trains the word-level tokenizer on the training split only: validation and test text must stay unseen."""
    try:
        return train_tokenizer(
            iter_texts(train, text_column),
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            model_max_length=max_length,
            length=len(train),
            truncation_side=truncation_side,
        )
    except ValueError as error:
        if "no words were found" not in str(error):
            raise
        raise UsageError(no_words_message(len(train), min_frequency, rows_flag)) from error


def no_words_message(rows: int, min_frequency: int, rows_flag: str) -> str:
    """Why a tokenizer could not be trained on the texts a run kept, and which flags fix it."""
    return (
        f"the tokenizer found no word in the {rows:,} training text(s) that occurs at least --min_frequency "
        f"{min_frequency} time(s), so the model would have no vocabulary. Train on more texts ({rows_flag}) or "
        "lower --min_frequency."
    )


def encode(dataset: Dataset, tokenizer, text_column: str, label_column: str | None, num_proc: int | None = None):
    """
    Tokenizes with `Dataset.map(batched=True)` (cached by fingerprint, parallel with `num_proc`), truncating to the
    tokenizer's `model_max_length`. Keeps `input_ids`, `labels` and `length` (real tokens, for length grouping);
    the attention mask is made per batch by `PaddingCollator`.
    """

    def tokenize(batch):
        # Cut before tokenizing: a huge row would otherwise be tokenized whole, only for truncation to drop the rest.
        texts = [cut_for_tokenizer(text, tokenizer) for text in batch[text_column]]
        encoded = tokenizer(texts, truncation=True, max_length=tokenizer.model_max_length, return_attention_mask=False)
        out = {"input_ids": encoded["input_ids"], "length": [len(ids) for ids in encoded["input_ids"]]}
        if label_column is not None:
            out["labels"] = batch[label_column]
        if SOFT_LABELS in batch:  # a teacher's probabilities (hf_bilstm.distillation) travel with their rows
            out[SOFT_LABELS] = batch[SOFT_LABELS]
        return out

    return dataset.map(
        tokenize,
        batched=True,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        remove_columns=dataset.column_names,
        desc="Tokenizing",
    )


def encode_splits(splits: Splits, tokenizer, text_column: str, label_column: str, num_proc: int | None = None):
    """Encodes every split of `splits`; returns a dict split name → encoded `Dataset`."""
    return {name: encode(ds, tokenizer, text_column, label_column, num_proc) for name, ds in splits.items()}


class PaddingCollator:
    """
    Dynamic padding: pads each batch to its own longest row (rounded up to `pad_to_multiple_of`) and builds the
    attention mask. Drops the `length` column that length grouping reads. Plain torch, so the Trainer and a bare
    PyTorch loop batch identically.
    """

    def __init__(self, pad_token_id: int = 0, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        rows = [feature["input_ids"] for feature in features]
        longest = max(len(row) for row in rows) if rows else 0
        if self.pad_to_multiple_of and longest % self.pad_to_multiple_of:
            longest += self.pad_to_multiple_of - longest % self.pad_to_multiple_of
        input_ids = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "labels" in features[0]:
            batch["labels"] = torch.as_tensor([feature["labels"] for feature in features])
        if SOFT_LABELS in features[0]:
            batch[SOFT_LABELS] = torch.as_tensor([feature[SOFT_LABELS] for feature in features], dtype=torch.float32)
        return batch


def with_soft_labelled_rows(splits: Splits, extra: Dataset, text_column: str, label_column: str) -> Dataset:
    """
    The training split plus `extra` rows that carry a teacher's `soft_labels` (one probability per label).

    The training rows get their own labels as one-hot `soft_labels`. Extra rows whose text is also a validation or
    test text are dropped (counted in a warning): training on them, even with a teacher's labels, would leak the
    texts a model is selected and tested on.
    """
    num_labels = len(splits.label_names)
    missing = [c for c in (text_column, SOFT_LABELS) if c not in extra.column_names]
    if missing:
        raise UsageError(f"the extra training rows lack the column(s) {missing}; they need text and soft labels.")
    held_out = set(_text_hashes(splits.validation, text_column))
    if splits.test is not None:
        held_out |= set(_text_hashes(splits.test, text_column))
    keep = [i for i, h in enumerate(_text_hashes(extra, text_column)) if h not in held_out]
    if len(keep) < len(extra):
        logger.warning(
            f"hf-bilstm: dropped {len(extra) - len(keep)} unlabelled row(s) whose text is also in the validation or "
            "test split."
        )
        extra = extra.select(keep)
    soft = np.asarray(extra[SOFT_LABELS], dtype=np.float32)
    if soft.ndim != 2 or soft.shape[1] != num_labels or not np.all(np.isfinite(soft)) or (soft < 0).any():
        raise UsageError(
            f"soft labels must be {num_labels} non-negative probabilities per row (one per label "
            f"{splits.label_names}), but they have shape {soft.shape}."
        )
    soft = soft / np.maximum(soft.sum(axis=1, keepdims=True), 1e-12)
    extra = Dataset.from_dict(
        {
            text_column: extra[text_column],
            label_column: soft.argmax(axis=1).tolist(),
            SOFT_LABELS: soft.tolist(),
        },
        features=None,
    )
    train = splits.train
    one_hot = np.eye(num_labels, dtype=np.float32)[np.asarray(train[label_column])]
    train = Dataset.from_dict(
        {text_column: train[text_column], label_column: train[label_column], SOFT_LABELS: one_hot.tolist()}
    )
    return concatenate_datasets([train, extra])

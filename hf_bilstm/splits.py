"""The splits of a run: columns chosen and checked, labels encoded (hf_bilstm.labels), validation (and test) carved
from train (by whole groups with `group_column`: hf_bilstm.grouped_split), sample caps, and no text in two splits
(`prepare_splits`); one split for evaluation (`prepare_eval_split`)."""

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict

from .data_schema import MULTI_LABEL, REGRESSION, SINGLE_LABEL, DataSchema
from .errors import UsageError
from .grouped_split import SHARED_WORDS, check_group_flags, group_keys, group_source, grouped_carve
from .logs import get_logger

logger = get_logger(__name__)

LOCAL_IMDB_HINT = "../shared/data/imdb"
# The column that carries each training row's group (--group_column NAME) while validation and test are carved, named
# GROUP_PREFIX + NAME; removed before the splits leave `prepare_splits`.
GROUP_PREFIX = "__group__:"


@dataclass
class Splits:
    """The three splits of a run, with columns `text` / `label` already checked and labels as ids."""

    train: Dataset
    validation: Dataset
    test: Dataset | None
    label_names: list[str]
    validation_carved: bool  # True when validation was cut from train (not given by the dataset)
    schema: DataSchema | None = None  # what the model folder remembers of the data (hf_bilstm.data_schema)
    predict: Dataset | None = None  # a test split without labels: predictions only (predict_results.tsv)
    # --group_column: {"column": name, split: number of groups in it} for the splits carved by whole groups
    grouped: dict | None = None

    def items(self) -> Iterator[tuple[str, Dataset]]:
        yield "train", self.train
        yield "validation", self.validation
        if self.test is not None:
            yield "test", self.test


def _split_of_file_name(raw: DatasetDict, name: str) -> str:
    """The split that `datasets` named after a file called `name` (dev.tsv is read as `validation`), else `name`."""
    from .data_files import SPLIT_ALIASES

    alias = SPLIT_ALIASES.get(name)
    files = getattr(raw, "split_files", {}).get(alias, [])
    if name not in raw and any(os.path.basename(path).lower().startswith(name) for path in files):
        return alias
    return name


def _check_split(raw: DatasetDict, split: str, role: str, flag: str) -> Dataset:
    if split not in raw:
        raise UsageError(
            f"The dataset has no {split!r} split (for {role}); its splits are {sorted(raw)}. Choose one with {flag}."
        )
    return raw[split]


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


def text_hashes(dataset: Dataset, text_column: str) -> list[bytes]:
    return [hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest() for text in dataset[text_column]]


def _without_overlap(train, validation, test, text_column: str):
    """
    No text may be in two of the splits: the test split must stay unseen and validation must not be trained on.
    Splits that are largely the same data (a copy, or one cut from the other) are refused; the few texts that a
    dataset holds twice (IMDB's train and test share 123 reviews) are dropped from the earlier split, and counted.
    """
    roles = [("train", train), ("validation", validation)] + ([("test", test)] if test is not None else [])
    hashes = {name: text_hashes(dataset, text_column) for name, dataset in roles}
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
                f"dropped {len(drop)} {earlier} row(s) whose text is also in the {later} split "
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


# Column names that hold texts / labels in public datasets, in the order they are tried when the flag is left out.
TEXT_COLUMN_GUESSES = ("text", "sentence", "review", "content", "message", "question", "document", "comment", "tweet")
LABEL_COLUMN_GUESSES = ("label", "labels", "class", "category", "target", "score", "sentiment", "y")
ID_COLUMN_GUESSES = ("id", "idx", "index", "guid", "ID")


def guessed_text_columns(columns: list[str], texts: list[str]) -> list[str]:
    """`texts`, or when it is the default `text` and the data has no such column, the first column with a usual name
    for texts (`sentence`, `review`, ...) where there is one."""
    if texts == ["text"] and "text" not in columns:
        found = [c for c in TEXT_COLUMN_GUESSES if c in columns]
        return found[:1] or texts
    return texts


def choose_columns(
    dataset: Dataset, split: str, text_column: str, label_column: str, guess: bool
) -> tuple[list[str], list[str]]:
    """
    The text and label columns (comma-separated flags: several text columns are joined; several label columns are
    0/1 columns of a multi-label problem). With `guess` (neither flag given) and the default names absent, a column
    with a usual name (`sentence`, `message`, `category`, ...) is used and the log says which.
    """
    columns = dataset.column_names
    texts = [c.strip() for c in text_column.split(",") if c.strip()]
    labels = [c.strip() for c in label_column.split(",") if c.strip()]
    if guess:
        texts = guessed_text_columns(columns, texts)
    if guess and labels == ["label"] and "label" not in columns:
        found = [c for c in LABEL_COLUMN_GUESSES if c in columns and c not in texts]
        labels = found[:1] or labels
    if guess and (texts != [text_column] or labels != [label_column]):
        logger.warning(f"texts from column(s) {texts}, labels from {labels} (--text_column/--label_column)")
    if columns == ["text"] and labels and labels[0] not in columns:  # a .txt file: one text a line, no labels
        raise UsageError(
            f"Split {split!r} holds texts only (one a line, as a .txt file is read), no labels. Train on a csv/tsv/"
            "jsonl file with a label column, or on a folder per class (train/pos/*.txt, train/neg/*.txt); a file "
            "of texts alone can be a test file (predictions only)."
        )
    for names, flag in ((texts, "--text_column"), (labels, "--label_column")):
        missing = [c for c in names if c not in columns]
        if missing or not names:
            raise UsageError(
                f"Split {split!r} has no column {(missing or names or [''])[0]!r}; its columns are {columns}. "
                f"Name the right one with {flag}"
                + (" (several: comma-separated)." if flag == "--text_column" else " (several 0/1 columns: a,b,c).")
            )
    shared = set(texts) & set(labels)
    if shared:
        raise UsageError(f"column(s) {sorted(shared)} named as text and as label; name distinct columns.")
    return texts, labels


def _with_text(dataset: Dataset, split: str, schema: DataSchema, source: str = "") -> Dataset:
    """`dataset` with the text column(s) joined into `schema.text_column`; a row without text is refused."""
    missing = [c for c in schema.text_columns if c not in dataset.column_names]
    if missing:
        raise UsageError(
            f"{source or 'Split ' + repr(split)} has no text column {missing[0]!r}; its columns are "
            f"{dataset.column_names}, but the training data's were {schema.column_names or schema.text_columns}. "
            "Give files with the same columns as the training data (or name them with --column_names)."
        )
    texts = schema.join_texts({c: dataset[c] for c in schema.text_columns})
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise UsageError(
                f"Split {split!r}, row {row}: column {schema.text_column!r} is {text!r}, not a text. "
                "Remove or fill rows with missing text before training (e.g. dataset.filter(...))."
            )
    if len(schema.text_columns) == 1:
        return dataset
    return dataset.add_column(schema.text_column, texts)


def _labelled(
    dataset: Dataset, split: str, schema: DataSchema, groups: tuple[str, list | None] | None = None
) -> Dataset:
    """Text joined and labels encoded (hf_bilstm.labels); only the two columns the model reads are kept, and each
    row's group when `groups` (column name, values; None values: by shared words) is given (`_carve` uses it)."""
    from .labels import encode_labels

    dataset = _with_text(dataset, split, schema)
    dataset = encode_labels(
        dataset,
        split,
        schema.label_columns,
        schema.label_column,
        schema.problem_type,
        schema.label_separator,
        schema.label_values or schema.label_names,
        schema.label_names,
    )
    dataset = dataset.select_columns([schema.text_column, schema.label_column])
    if groups is None:
        return dataset
    column, keys = groups
    if keys is None:  # --group_by_shared_words: from the text as joined and checked above
        from .shared_word_groups import shared_word_groups

        keys = shared_word_groups(dataset[schema.text_column])
    return dataset.add_column(GROUP_PREFIX + column, keys)


def _group_key(dataset: Dataset) -> str | None:
    """The column that carries the rows' groups (`GROUP_PREFIX` + the --group_column name), if any."""
    return next((column for column in dataset.column_names if column.startswith(GROUP_PREFIX)), None)


def _has_labels(dataset: Dataset, schema: DataSchema) -> bool:
    return all(c in dataset.column_names for c in schema.label_columns)


def _carve(dataset: Dataset, fraction: float, label_column: str, stratify: bool, seed: int, what: str):
    """(rest, carved): a seeded share of `dataset`, stratified by class where every class can give a row; by whole
    groups (hf_bilstm.grouped_split) when the rows carry their group (`_group_key`, from --group_column)."""
    if not 0 < fraction < 1:
        raise UsageError(f"--{what}_fraction must be in (0, 1) to carve a {what} split, but it was {fraction}.")
    key = _group_key(dataset)
    if key is not None:
        labels = dataset[label_column] if stratify else None
        rest, carved = grouped_carve(dataset[key], labels, fraction, seed, what, key.removeprefix(GROUP_PREFIX))
        return dataset.select(rest), dataset.select(carved)
    if stratify:
        counts = np.bincount(np.asarray(dataset[label_column]))
        counts = counts[counts > 0]
        stratify = counts.min() >= 2 and round(fraction * len(dataset)) >= len(counts)
    try:
        parts = dataset.train_test_split(
            test_size=fraction, stratify_by_column=label_column if stratify else None, seed=seed
        )
    except ValueError as error:
        raise UsageError(f"Cannot carve a {fraction:.0%} {what} split from {len(dataset)} rows: {error}") from error
    return parts["train"], parts["test"]


def _group_column(
    train: Dataset, split: str, column: str | None, texts: list[str], labels: list[str], shared_words: bool = False
):
    """(column, the group of every training row) for --group_column, checked; for --group_by_shared_words
    (SHARED_WORDS, None): `_labelled` groups the rows by their joined text; None without either flag."""
    check_group_flags(column, shared_words)
    if shared_words:
        return SHARED_WORDS, None
    if column is None:
        return None
    if column not in train.column_names:
        raise UsageError(
            f"Split {split!r} has no column {column!r} (--group_column); its columns are {train.column_names}. Name "
            "the column that says which group (product, user, author, ...) each row belongs to."
        )
    if column in texts or column in labels:
        raise UsageError(
            f"--group_column {column!r} is also the text or label column; name the column of the groups instead."
        )
    return column, group_keys(train[column], column, split)


def _without_group(splits: Splits) -> Splits:
    """The splits without their group column, and how many groups each carved split holds (`Splits.grouped`)."""
    key = _group_key(splits.train)
    if key is None:
        return splits
    column = key.removeprefix(GROUP_PREFIX)
    grouped = {"column": column}
    for name in ("train", "validation", "test"):
        dataset = getattr(splits, name)
        if dataset is not None and key in dataset.column_names:
            grouped[name] = len(set(dataset[key]))
            setattr(splits, name, dataset.remove_columns(key))
    if len(grouped) == 2:  # train alone kept its groups: nothing was carved
        flag = group_source(column)
        raise UsageError(
            f"{flag} carves validation (and test) by groups, but the data has its own validation and test splits, so "
            f"nothing is carved: leave {flag.split()[0]} out (or the validation split, to carve one)."
        )
    splits.grouped = grouped
    return splits


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
    test_fraction: float | None = None,
    problem_type: str | None = None,
    label_separator: str | None = None,
    label_names: list[str] | None = None,
    names_source: str = "--label_names",
    guess_columns: bool = False,
    column_names: list[str] | None = None,
    group_column: str | None = None,
    group_by_shared_words: bool = False,
) -> Splits:
    """Checks columns and rows, joins several text columns, encodes labels for the problem type (hf_bilstm.labels;
    single-label ids of the training split's `ClassLabel` names), carves a stratified, seeded validation split from
    train (`validation_fraction`) when the dataset has none, and a test split (`test_fraction`) when it has no
    `test_split` and `test_fraction` is given (by whole groups of `group_column`, or of rows sharing rare words with
    `group_by_shared_words`: hf_bilstm.grouped_split); a test split without labels gets predictions only. Caps
    (`max_*_samples`) take seeded random rows after the carve. `test_split=None`: no test split, no test metrics.
    `validation_given`: --validation_split was given (never carved)."""
    if validation_given:
        check_validation_split_name(validation_split, train_split)
    validation_split = _split_of_file_name(raw, validation_split)
    if validation_given and validation_split not in raw:
        _check_split(raw, validation_split, "model selection", "--validation_split (or leave it out to carve one)")
    train = _check_split(raw, train_split, "training", "--train_split")
    texts, labels = choose_columns(train, train_split, text_column, label_column, guess_columns)
    if len(train) == 0:
        raise UsageError(f"The {train_split!r} split is empty; there is nothing to train on.")
    schema = _training_schema(
        train, train_split, texts, labels, problem_type, label_separator, label_names, names_source, column_names
    )
    # Checked before carving and capping, so that a row number is the row's place in the dataset's own split.
    groups = _group_column(train, train_split, group_column, texts, labels, group_by_shared_words)
    train = _labelled(train, train_split, schema, groups)
    stratify = schema.problem_type == SINGLE_LABEL
    train, test, predict, test_carved = _test_split(raw, train, test_split, test_fraction, schema, stratify, seed)

    if validation_split in raw and validation_split != train_split:
        validation, carved = _labelled(raw[validation_split], validation_split, schema), False
    else:
        train, validation = _carve(train, validation_fraction, schema.label_column, stratify, seed, "validation")
        carved = True
    train = _cap(train, max_train_samples, seed, shuffle=not carved)
    validation = _cap(validation, max_eval_samples, seed, shuffle=True)
    if test is not None:
        test = _cap(test, max_test_samples, seed, shuffle=not test_carved)
    # After the caps: a test text that is never evaluated is no leak, so only the texts in use are compared.
    train, validation, test = _without_overlap(train, validation, test, schema.text_column)
    return _not_empty(_without_group(Splits(train, validation, test, schema.label_names, carved, schema, predict)))


def _not_empty(splits: Splits) -> Splits:
    for split, dataset in splits.items():
        if len(dataset) == 0:
            raise UsageError(f"The {split} split is empty after loading; it needs at least one row.")
    return splits


def _training_schema(
    train: Dataset,
    train_split: str,
    texts: list[str],
    labels: list[str],
    problem_type: str | None,
    label_separator: str | None,
    label_names: list[str] | None,
    names_source: str,
    column_names: list[str] | None,
) -> DataSchema:
    """What the training split's columns hold: the problem type, the label names (and values), checked."""
    from .labels import collect_keys, infer_problem_type, values_and_names

    kind, separator = infer_problem_type(train, labels, label_separator, problem_type)
    schema = DataSchema(
        problem_type=kind,
        text_columns=texts,
        label_columns=labels,
        label_separator=separator,
        column_names=list(column_names) if column_names else None,
    )
    feature = train.features[labels[0]]
    if kind == REGRESSION:
        schema.label_names = [labels[0]]
    elif kind == MULTI_LABEL and len(labels) > 1:
        schema.label_names = list(label_names or labels)
        if len(schema.label_names) != len(labels):
            raise UsageError(f"{names_source} names {len(label_names)} labels for {len(labels)} label columns.")
    elif isinstance(feature, ClassLabel) and label_names is None:
        schema.label_names = list(feature.names)
    else:
        keys = collect_keys(train, labels, kind, separator)
        schema.label_values, schema.label_names = values_and_names(keys, label_names, names_source)
        if schema.label_values == schema.label_names:
            schema.label_values = None
    names = schema.label_names
    if kind != REGRESSION:
        check_label_count(names, len(train), schema.label_column)
    if kind == SINGLE_LABEL and len(names) < 2:
        raise UsageError(
            f"The {train_split!r} split has {len(names)} label value(s) {names}; a classifier needs at least 2."
        )
    return schema


def _test_split(raw: DatasetDict, train: Dataset, test_split, test_fraction, schema: DataSchema, stratify, seed):
    """(train, test, predict, test_carved): the dataset's test split (labelled: `test`; without labels: `predict`,
    predictions only), or one carved from train with `test_fraction`, or none (`test_split` empty)."""
    test, predict, test_carved = None, None, False
    if test_split and test_split in raw:
        candidate = raw[test_split]
        if _has_labels(candidate, schema):
            test = _labelled(candidate, test_split, schema)
        else:  # labels absent (GLUE's test.tsv): predictions only, with the file's row ids where it has them
            kept = _with_text(candidate, test_split, schema)
            ids = [c for c in ID_COLUMN_GUESSES if c in kept.column_names]
            schema.id_column = ids[0] if ids else None
            predict = kept.select_columns([schema.text_column, *ids[:1]])
            logger.warning(
                f"the {test_split!r} split has no label column {schema.label_column!r}: it gets "
                "predictions only (predict_results.tsv), no test metrics."
            )
    elif test_split and test_fraction:
        train, test = _carve(train, test_fraction, schema.label_column, stratify, seed, "test")
        test_carved = True
    elif test_split:
        _check_split(raw, test_split, "the final test", "--test_split ('' for none), or carve one: --test_fraction")
    return train, test, predict, test_carved


def prepare_eval_split(
    raw: DatasetDict,
    split: str,
    label_names: list[str] | DataSchema,
    text_column: str = "text",
    label_column: str = "label",
    max_samples: int | None = None,
    seed: int = 42,
) -> Dataset:
    """
    One split for evaluating a trained model: columns checked, texts joined and labels encoded as the training data's
    were (`label_names` is the model folder's `DataSchema`, or for a single-label model the label names alone).
    """
    schema = label_names if isinstance(label_names, DataSchema) else None
    if schema is None:
        schema = DataSchema(text_columns=[text_column], label_columns=[label_column], label_names=list(label_names))
    dataset = _check_split(raw, split, "evaluation", "--split")
    missing = [c for c in schema.label_columns if c not in dataset.column_names]
    if missing:
        raise UsageError(
            f"Split {split!r} has no column {missing[0]!r}; its columns are {dataset.column_names}. "
            "Name the right one with --label_column."
        )
    feature = dataset.features[schema.label_columns[0]]
    if isinstance(feature, ClassLabel) and set(feature.names) != set(schema.label_names):
        raise UsageError(
            f"The dataset's labels {feature.names} are not the model's labels {schema.label_names}; evaluate on a "
            "dataset with the same classes."
        )
    dataset = _labelled(dataset, split, schema)  # before sampling: true row numbers
    dataset = _cap(dataset, max_samples, seed, shuffle=True)
    if len(dataset) == 0:
        raise UsageError(f"The {split!r} split is empty; there is nothing to evaluate.")
    return dataset

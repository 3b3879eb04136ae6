"""From `train`'s data flags to the run's checked splits: which files, which columns, which labels.

The flags are those of transformers' run_classification.py where it has them (`--train_file`, `--validation_file`,
`--test_file`, `--text_column a,b`, `--label_column`), plus `--column_names` for headerless files, `--label_separator`,
`--label_names` (or a `classes.txt` / `labels.txt` beside the data), `--problem_type`, `--test_fraction`,
`--group_column` (validation and test carved by whole groups: hf_bilstm.grouped_split), and `--unlabelled_file`
(texts without labels, for a taught recipe: hf_bilstm.unlabelled).
"""

from __future__ import annotations

import os

from .data import load_raw_dataset
from .data_schema import load_schema
from .errors import UsageError
from .flag_checks import comma_list
from .grouped_split import check_group_flags
from .splits import prepare_splits


def schema_for(
    model: str, config, text_column: str | None, label_column: str | None, column_names: str | None = None
):
    """A model folder's data schema (hf_bilstm.data_schema), with the column flags of evaluate or export on top."""
    schema = load_schema(model, config)
    schema.label_names = [config.id2label[i] for i in range(config.num_labels)]
    if text_column:
        schema.text_columns = comma_list(text_column, "--text_column")
    if label_column:
        schema.label_columns = comma_list(label_column, "--label_column")
    if column_names:
        schema.column_names = comma_list(column_names, "--column_names")
    shared = sorted(set(schema.text_columns) & set(schema.label_columns))
    if shared:  # checked before any data is read
        raise UsageError(
            f"--text_column and --label_column are both {shared[0]!r}; name the column of the texts and the column "
            "of the labels."
        )
    return schema


def file_flags(data_args) -> dict[str, str]:
    """`{split: path}` of the --train_file/--validation_file/--test_file flags given."""
    files = {
        data_args.train_split: data_args.train_file,
        data_args.validation_split: data_args.validation_file,
        data_args.test_split or "test": data_args.test_file,
    }
    return {split: os.path.expanduser(path) for split, path in files.items() if path}


def check_data_flags(data_args, given) -> None:
    """The data flags, before anything is read: files exist, names are well formed, nothing asked twice."""
    from .data_files import builder_for

    texts = comma_list(data_args.text_column, "--text_column")
    labels = comma_list(data_args.label_column, "--label_column")
    shared = sorted(set(texts) & set(labels))
    if shared:
        raise UsageError(
            f"--text_column and --label_column are both {shared[0]!r}; name the column of the texts and the column "
            "of the labels."
        )
    comma_list(data_args.column_names, "--column_names")
    comma_list(data_args.label_names, "--label_names")
    check_group_flags(data_args.group_column, data_args.group_by_shared_words)  # before the data is read
    if data_args.group_column is not None:
        group = data_args.group_column.strip()
        if not group or "," in group:
            raise UsageError(
                f"--group_column {data_args.group_column!r} must name one column (the group of each row: a product, "
                "a user, an author)."
            )
        if group in texts or group in labels:
            raise UsageError(
                f"--group_column {group!r} is also the text or label column; name the column of the groups instead."
            )
    for flag in ("train_file", "validation_file", "test_file"):
        path = getattr(data_args, flag)
        if path is None:
            continue
        if not os.path.isfile(os.path.expanduser(path)):
            what = "is a folder; give --dataset FOLDER for a folder" if os.path.isdir(path) else "does not exist"
            raise UsageError(f"--{flag} {path!r} {what}.")
        builder_for(path)
    from .unlabelled import check_unlabelled_file_flag

    check_unlabelled_file_flag(data_args)
    if data_args.validation_file and "validation_split" in given:
        raise UsageError("--validation_file and --validation_split both choose the validation data; give one.")
    if data_args.test_file and not data_args.test_split:
        raise UsageError("--test_file and --test_split '' (no test split) disagree; give one of them.")
    if data_args.validation_file or data_args.test_file:
        if not data_args.train_file and "dataset" not in given:
            raise UsageError("--validation_file/--test_file need training data too: give --train_file (or --dataset).")


def names_from_flags(data_args) -> tuple[list[str] | None, str]:
    """Label names from --label_names, else a classes.txt / labels.txt beside the data; and where they came from."""
    from .data_files import names_file_beside, read_names_file

    if data_args.label_names:
        return comma_list(data_args.label_names, "--label_names"), "--label_names"
    places = [p for p in (data_args.train_file, data_args.dataset) if p and os.path.exists(os.path.expanduser(p))]
    found = names_file_beside([os.path.expanduser(p) for p in places])
    if found:
        return read_names_file(found), found
    return None, ""


def load_from_flags(data_args, cache_dir=None):
    """The raw DatasetDict the data flags name; --unlabelled_file is its split `unlabelled` (hf_bilstm.unlabelled)."""
    raw = load_raw_dataset(
        data_args.dataset,
        data_args.dataset_config_name,
        cache_dir or data_args.cache_dir,
        files=file_flags(data_args),
        column_names=comma_list(data_args.column_names, "--column_names"),
    )
    if data_args.unlabelled_file:
        from .unlabelled import add_unlabelled_file

        raw = add_unlabelled_file(raw, data_args, cache_dir or data_args.cache_dir)
    return raw


def prepare_from_flags(raw, data_args, given: frozenset, seed: int, max_samples: bool = True):
    """The run's checked splits as the data flags ask (the same carve for every caller with the same seed)."""
    names, source = names_from_flags(data_args)
    test_named = "test_split" in given or bool(data_args.test_file)
    return prepare_splits(
        raw,
        text_column=data_args.text_column,
        label_column=data_args.label_column,
        train_split=data_args.train_split,
        validation_split=data_args.validation_split,
        test_split=data_args.test_split or None,
        validation_fraction=data_args.validation_fraction,
        max_train_samples=data_args.max_train_samples if max_samples else None,
        max_eval_samples=data_args.max_eval_samples if max_samples else None,
        max_test_samples=data_args.max_test_samples if max_samples else None,
        seed=seed,
        validation_given="validation_split" in given,
        test_fraction=None if test_named else data_args.test_fraction,
        problem_type=data_args.problem_type,
        label_separator=data_args.label_separator,
        label_names=names,
        names_source=source or "--label_names",
        guess_columns=not ({"text_column", "label_column"} & set(given)),
        column_names=comma_list(data_args.column_names, "--column_names"),
        group_column=data_args.group_column.strip() if data_args.group_column else None,
        group_by_shared_words=data_args.group_by_shared_words,
    )

"""A run's unlabelled text: the texts without labels that a taught recipe labels with its teacher
(hf_bilstm.training.distillation).

Two places hold it: a split of the dataset named in `UNLABELLED_SPLIT_NAMES` (IMDB's `unsupervised`; a folder-per-class
corpus's `unsup` folder and a data folder's `unlabelled.csv` or `unsup.txt` become that split: hf_bilstm.data_files),
and `--unlabelled_file`, which `load_from_flags`
(hf_bilstm.data_flags) adds as the split `unlabelled` (`add_unlabelled_file`: csv/tsv/json/jsonl/parquet like
--train_file, or txt with one text a line). `unlabelled_texts` builds every non-empty text of those splits the way
training rows' texts are built (several --text_column columns joined by `DataSchema.join_texts`, as
hf_bilstm.splits joins them); `has_unlabelled_text` says whether there is any, from row counts alone.
"""

from __future__ import annotations

import os

from datasets import DatasetDict

from .data_schema import DataSchema
from .errors import UsageError
from .flag_checks import comma_list
from .logs import get_logger
from .splits import LABEL_COLUMN_GUESSES, guessed_text_columns

logger = get_logger(__name__)

# Splits whose rows are texts without labels, in the order their texts are taken.
UNLABELLED_SPLIT_NAMES = ("unsupervised", "unlabelled", "unlabeled")
# The split that --unlabelled_file becomes.
FILE_SPLIT = "unlabelled"

_said: set[str] = set()  # notes logged once per process (every phase of a recipe loads the data again)


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        logger.warning(message)


def text_columns_for(raw: DatasetDict, data_args) -> list[str]:
    """The column(s) training reads its texts from: --text_column, or, left at `text` where the training split has
    no such column, the column training guesses (hf_bilstm.splits.guessed_text_columns)."""
    texts = comma_list(data_args.text_column, "--text_column")
    if data_args.train_split in raw:
        texts = guessed_text_columns(raw[data_args.train_split].column_names, texts)
    return texts


def _joined(dataset, columns: list[str]) -> list:
    """The texts of `dataset`'s rows, its text column(s) joined as for training rows (DataSchema.join_texts)."""
    return DataSchema(text_columns=list(columns)).join_texts({c: dataset[c] for c in columns})


def _is_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _texts(dataset, columns: list[str]) -> list[str]:
    """The non-empty texts of `dataset`."""
    return [text for text in _joined(dataset, columns) if _is_text(text)]


def _splits(raw: DatasetDict, data_args) -> dict[str, list[str]]:
    """{split: its text column(s)} of the unlabelled splits of `raw`, never a split the flags train, select or test
    on; a split without the text column(s) is left out, and the log says so. A split of one column `text` (a file of
    one text a line) gives the texts of a single text column of any name."""
    columns = text_columns_for(raw, data_args)
    taken = {data_args.train_split, data_args.validation_split, data_args.test_split}
    found = {}
    for name in UNLABELLED_SPLIT_NAMES:
        if name not in raw or name in taken:
            continue
        has = raw[name].column_names
        missing = [c for c in columns if c not in has]
        if missing and len(columns) == 1 and has == ["text"]:
            found[name] = has
        elif missing:
            _say_once(
                f"split {name!r} has no text column {missing[0]!r} (its columns are {has}); its rows are not used as "
                "unlabelled text."
            )
        else:
            found[name] = columns
    return found


def _description(name: str, count: int, data_args) -> str:
    texts = f"{count:,} text" + ("" if count == 1 else "s")
    if name == FILE_SPLIT and data_args.unlabelled_file:
        return f"{texts} from --unlabelled_file {data_args.unlabelled_file}"
    return f"{texts} in split {name!r}"


def unlabelled_texts(raw: DatasetDict, data_args) -> tuple[list[str], str]:
    """
    Every non-empty text of the unlabelled splits in `raw` (`UNLABELLED_SPLIT_NAMES`, --unlabelled_file's included;
    never the train, validation or test split the flags name), built as training texts are built, and a description
    for the log and the plan ("50,000 texts in split 'unsupervised'"); ([], "") when there are none.
    """
    texts, parts = [], []
    for name, columns in _splits(raw, data_args).items():
        found = _texts(raw[name], columns)
        if found:
            texts.extend(found)
            parts.append(_description(name, len(found), data_args))
    return texts, " and ".join(parts)


def has_unlabelled_text(raw: DatasetDict, data_args) -> str:
    """`unlabelled_texts`' description (or "" when there is none) from the splits' row counts, without reading a
    text: a row with an empty text counts (--unlabelled_file's rows without text were dropped when it was loaded)."""
    names = _splits(raw, data_args)
    return " and ".join(_description(n, raw[n].num_rows, data_args) for n in names if raw[n].num_rows)


def check_unlabelled_file_flag(data_args) -> None:
    """--unlabelled_file before anything is read: an existing file of a format we read, and no file of the labelled
    data (its texts would be trained on with a teacher's labels)."""
    from .data_files import builder_for

    path = data_args.unlabelled_file
    if path is None:
        return
    expanded = os.path.expanduser(path)
    if not os.path.isfile(expanded):
        what = "is a folder" if os.path.isdir(expanded) else "does not exist"
        raise UsageError(
            f"--unlabelled_file {path!r} {what}; give a file of texts without labels (csv, tsv, json, jsonl, parquet, "
            "or txt with one text a line)."
        )
    builder_for(expanded)
    for flag in ("dataset", "train_file", "validation_file", "test_file"):
        other = os.path.expanduser(getattr(data_args, flag) or "")
        if other and os.path.isfile(other) and os.path.samefile(expanded, other):
            raise UsageError(
                f"--unlabelled_file {path!r} is also --{flag}: its texts would be trained on with a teacher's labels. "
                "Give a file of other texts, without labels."
            )


def add_unlabelled_file(raw: DatasetDict, data_args, cache_dir: str | None = None) -> DatasetDict:
    """`raw` with --unlabelled_file as the split `unlabelled`: its text column(s) only (a label column is ignored,
    and the log says so once), its rows with text only; a file without the text column(s) or without any text is
    refused."""
    from .data_files import BUILDERS, headerless_names, load_file, sniff_text_file

    path = data_args.unlabelled_file
    if FILE_SPLIT in raw:
        raise UsageError(
            f"--unlabelled_file {path!r}: the dataset already has an {FILE_SPLIT!r} split, whose texts are the "
            "unlabelled text; drop --unlabelled_file (or give data without that split)."
        )
    check_unlabelled_file_flag(data_args)
    expanded = os.path.expanduser(path)
    columns = text_columns_for(raw, data_args)
    lines = BUILDERS[os.path.splitext(expanded)[1].lower()][0] == "text" and sniff_text_file(expanded) == "lines"
    # --column_names names headerless csv/tsv columns: the file's, when it is one (as for the training files)
    column_names = headerless_names(expanded, comma_list(data_args.column_names, "--column_names"))
    loaded = load_file(expanded, column_names, cache_dir)
    if lines:  # one text a line: the texts of the training's text column
        if len(columns) > 1:
            raise UsageError(
                f"--unlabelled_file {path!r} holds one text a line, but --text_column joins {len(columns)} columns "
                f"{columns}; give a csv/tsv/jsonl file with those columns."
            )
        if columns[0] != "text":
            loaded = loaded.rename_column("text", columns[0])
    missing = [c for c in columns if c not in loaded.column_names]
    if missing:
        raise UsageError(
            f"--unlabelled_file {path!r} has no text column {missing[0]!r}; its columns are {loaded.column_names}. "
            f"Give it the training data's text column(s) {columns} (a headerless csv/tsv file: the columns of "
            "--column_names, in that order), or one text a line in a .txt file."
        )
    ignored = [c for c in loaded.column_names if c not in columns]
    label_columns = comma_list(data_args.label_column, "--label_column")
    labels = [c for c in ignored if c in label_columns or c in LABEL_COLUMN_GUESSES]
    if labels:
        _say_once(
            f"--unlabelled_file {path}: column(s) {labels} ignored: its texts get their labels from a teacher, not "
            "from the file."
        )
    loaded = loaded.select_columns(columns)
    kept = [row for row, text in enumerate(_joined(loaded, columns)) if _is_text(text)]
    if not kept:
        raise UsageError(
            f"--unlabelled_file {path!r} holds no text ({loaded.num_rows:,} rows, all empty in column(s) {columns}); "
            "give a file with one text per row (a .txt file: one per line)."
        )
    # Rows without text are dropped now, so that the split's row count is its number of texts (has_unlabelled_text).
    raw[FILE_SPLIT] = loaded if len(kept) == loaded.num_rows else loaded.select(kept)
    return raw

"""Loading the user's own data files: one file per split (csv, tsv, json, jsonl, parquet, txt), a folder of them, one
file to carve splits from, or a folder-per-class corpus (`train/pos/*.txt`), with `datasets`' own builders.

Every file is loaded on its own (not all of a folder by one builder), so that a test file without labels (GLUE's
`test.tsv`) or with other columns never breaks loading the other splits, and an error names the file it is about.
A headerless file takes its column names from `--column_names`; a file whose first row looks like data rather than
a header is recognised, and the error says so and names the flag.
"""

from __future__ import annotations

import csv
import os
import re

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, load_dataset
from datasets.data_files import DataFilesDict, get_data_patterns
from datasets.exceptions import DatasetGenerationError

from .errors import UsageError
from .logs import get_logger

logger = get_logger(__name__)

# File extension → (datasets builder, its options). TSV has no quoting: a quote is part of a text (GLUE's way).
BUILDERS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE}),
    ".tab": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
    ".txt": ("text", {}),
}
# Files beside the data that name integer labels, one name a line (AG News' classes.txt, GoEmotions' labels.txt).
NAMES_FILES = ("classes.txt", "labels.txt", "label_names.txt")
# Folders of a folder-per-class corpus (aclImdb's train/unsup) and files of a data folder (unlabelled.txt) that hold
# unlabelled texts: they become the split `unsupervised` (hf_bilstm.unlabelled reads it).
UNLABELLED_FOLDERS = {name: "unsupervised" for name in ("unsup", "unsupervised", "unlabelled", "unlabeled")}
SPLIT_ALIASES = {"dev": "validation", "valid": "validation", "val": "validation"}


def builder_for(path: str) -> tuple[str, dict]:
    """The `datasets` builder and its options for a data file, by extension; any other extension is refused."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in BUILDERS:
        raise UsageError(
            f"{path!r}: cannot read {extension or 'a file without an extension'!r} files; give csv, tsv, json, "
            "jsonl, parquet or txt (one text a line), or a folder of them."
        )
    return BUILDERS[extension]


_NUMBER = re.compile(r"^[-+]?\d+([.,]\d+)?$")


def header_looks_like_data(columns: list[str]) -> str | None:
    """
    Why the column names read from a file's first row look like a row of data (None when they look like a header):
    a name that is a number (`1`, `0.5`), or a sentence (long, several words), is a cell, not a column name.
    """
    names = [str(name).strip() for name in columns]
    for name in names:  # pandas renames a repeated name `X` to `X.1`: a header names each column once
        repeated = re.match(r"^(.*)\.\d+$", name)
        if repeated and repeated.group(1) in names:
            return f"{repeated.group(1)!r} is there twice"
    for name in columns:
        name = str(name).strip()
        if _NUMBER.match(name):
            return f"{name!r} is a number"
        if len(name) > 40 or len(name.split()) > 5:
            return f"{name[:40]!r}... is a text"
    return None


def load_file(path: str, column_names: list[str] | None = None, cache_dir: str | None = None) -> Dataset:
    """One data file as a `Dataset` through `datasets.load_dataset` (its csv/json/parquet/text builders)."""
    if not os.path.isfile(path):
        raise UsageError(f"{path!r}: no such file. Check the path of the data file.")
    builder, options = builder_for(path)
    options = dict(options)
    kind = sniff_text_file(path) if builder == "text" else None
    if kind == "tsv":  # a .txt file of tab-separated columns (GermEval's way) is a TSV file
        builder, options = BUILDERS[".tsv"]
        options = dict(options)
        logger.warning(f"{path}: tab-separated columns; read as a TSV file.")
    if builder == "csv":
        # Only an empty cell is missing: a text "NA" or "null" stays a text; a byte-order mark is no part of a name.
        options.update(keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        if column_names:
            options["column_names"] = list(column_names)
    elif column_names:
        raise UsageError(
            f"--column_names names the columns of csv/tsv files without a header; {path!r} is a {builder} file, "
            "which names its columns itself. Drop --column_names."
        )
    try:
        loaded = load_dataset(builder, data_files={"train": path}, split="train", cache_dir=cache_dir, **options)
    except (DatasetGenerationError, ValueError, UnicodeDecodeError) as error:
        cause = error.__cause__ or error
        if isinstance(cause, UnicodeDecodeError) or "codec" in str(cause):
            fix = "Convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8)."
        elif column_names:
            fix = f"Check that --column_names {','.join(column_names)} gives one name per column of the file."
        else:
            fix = "Check that every row has as many cells as the first (quoted cells for texts with the separator)."
        raise UsageError(f"cannot read {path!r} ({str(cause).splitlines()[0][:200]}). {fix}") from error
    if builder == "csv" and len(loaded.column_names) == 1 and ";" in loaded.column_names[0] and not column_names:
        # a semicolon-separated "CSV" (spreadsheets in many locales write these): read it with its separator
        logger.warning(f"{path}: columns separated by ';'; read with that separator.")
        options["delimiter"] = ";"
        loaded = load_dataset(builder, data_files={"train": path}, split="train", cache_dir=cache_dir, **options)
    if kind == "fasttext":
        loaded = loaded.map(_from_fasttext, batched=True, desc="Reading __label__ prefixes")
        if all(len(found) == 1 for found in loaded["label"]):  # one label a line: single-label
            loaded = loaded.map(lambda row: {"label": row["label"][0]}, desc="One label a line")
    if builder == "csv" and not column_names:
        why = header_looks_like_data(loaded.column_names)
        if why:
            raise UsageError(
                f"{path!r} seems to have no header: its first row became the column names {loaded.column_names[:4]} "
                f"({why}). Name its columns with --column_names (e.g. --column_names "
                f"{','.join(f'col{i}' for i in range(len(loaded.column_names)))}) and choose --text_column and "
                "--label_column among them."
            )
    unnamed = [c for c in loaded.column_names if c.startswith("Unnamed: ")]
    if unnamed and all(v is None for c in unnamed for v in loaded[c][:1000]):  # `a,b,,,`: trailing empty columns
        loaded = loaded.remove_columns(unnamed)
    return loaded


def headerless_names(path: str, column_names: list[str] | None) -> list[str] | None:
    """--column_names for a file of unlabelled texts when it is read as csv/tsv (which they name), else None: a json,
    parquet or one-text-a-line file names its columns itself."""
    builder = builder_for(path)[0]
    return column_names if builder == "csv" or (builder == "text" and sniff_text_file(path) == "tsv") else None


FASTTEXT_PREFIX = "__label__"


def sniff_text_file(path: str) -> str:
    """What a .txt file holds, from its first lines: `fasttext` (`__label__x text`), `tsv` (the same number of
    tabs on every line) or `lines` (one text a line)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = [line.rstrip("\n") for _, line in zip(range(50), handle) if line.strip()]
    if lines and all(line.startswith(FASTTEXT_PREFIX) for line in lines):
        return "fasttext"
    tabs = {line.count("\t") for line in lines}
    if lines and len(tabs) == 1 and tabs != {0}:
        return "tsv"
    return "lines"


def _from_fasttext(batch: dict) -> dict:
    """fastText's `__label__a __label__b text` lines → `text` and `label` (a list when a line has several)."""
    texts, labels = [], []
    for line in batch["text"]:
        tokens = line.split()
        labels.append([t[len(FASTTEXT_PREFIX) :] for t in tokens if t.startswith(FASTTEXT_PREFIX)])
        texts.append(" ".join(t for t in tokens if not t.startswith(FASTTEXT_PREFIX)))
    return {"text": texts, "label": labels}


def data_files_of_folder(folder: str) -> dict[str, list[str]] | None:
    """
    `{split: [files]}` of a folder of csv/tsv/json/jsonl/txt files, by the split names in their file names
    (`datasets`' own patterns). None for a folder that `datasets.load_dataset` reads best itself: the Hub's
    layout of parquet or arrow files (their dataset card keeps the label names).
    """
    patterns = get_data_patterns(folder)
    files = DataFilesDict.from_patterns(patterns, base_path=folder)
    result: dict[str, list[str]] = {}
    unlabelled = []
    for split, paths in files.items():
        kept = [
            str(p)
            for p in paths
            if os.path.splitext(str(p))[1].lower() in BUILDERS
            and os.path.basename(str(p)).lower() not in NAMES_FILES
            and not os.path.basename(str(p)).startswith(".")
        ]
        # `datasets` knows no unlabelled split: its patterns drop unlabelled.csv, or read it into train
        unlabelled += [p for p in kept if _unlabelled_file_name(p)]
        kept = [p for p in kept if not _unlabelled_file_name(p)]
        if kept:
            result[str(split)] = sorted(kept)
    unlabelled += [
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if _unlabelled_file_name(name) and os.path.splitext(name)[1].lower() in BUILDERS
    ]
    if unlabelled:
        result[UNLABELLED_FOLDERS["unsup"]] = sorted(set(unlabelled))
    plain = [p for paths in result.values() for p in paths if not p.endswith(".parquet")]
    return result if plain else None


def _unlabelled_file_name(path: str) -> bool:
    """A data file named for unlabelled texts (unlabelled.csv, unsup.txt), which is no split `datasets` knows."""
    return os.path.splitext(os.path.basename(path))[0].lower() in UNLABELLED_FOLDERS


def class_folders(folder: str) -> DatasetDict | None:
    """
    A folder-per-class corpus as a labelled DatasetDict: `folder/SPLIT/CLASS/*.txt` (split folders become splits,
    aclImdb's layout) or `folder/CLASS/*.txt` (one train split). One file is one text; its folder's name is its
    label. `unsup` folders hold unlabelled texts (split `unsupervised`). None when `folder` is not laid out so.
    """

    def text_dirs(path: str) -> list[str]:
        return sorted(
            name
            for name in os.listdir(path)
            if os.path.isdir(os.path.join(path, name))
            and not name.startswith(".")
            and any(f.endswith(".txt") for f in os.listdir(os.path.join(path, name)))
        )

    subfolders = sorted(n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n)) and n[0] != ".")
    if not subfolders:
        return None
    nested = {name: text_dirs(os.path.join(folder, name)) for name in subfolders}
    if any(nested.values()):  # split folders holding class folders
        layout = {SPLIT_ALIASES.get(name.lower(), name): (os.path.join(folder, name), classes)
                  for name, classes in nested.items() if classes}  # fmt: skip
    elif text_dirs(folder):
        layout = {"train": (folder, text_dirs(folder))}
    else:
        return None
    result = {}
    labelled = sorted({c for _, classes in layout.values() for c in classes if c.lower() not in UNLABELLED_FOLDERS})
    if len(labelled) < 2:
        return None
    features = Features({"text": Value("string"), "label": ClassLabel(names=labelled)})
    for split, (path, classes) in layout.items():
        texts, labels, unlabelled = [], [], []
        for name in classes:
            for file in sorted(os.listdir(os.path.join(path, name))):
                if not file.endswith(".txt"):
                    continue
                file_path = os.path.join(path, name, file)
                try:
                    with open(file_path, encoding="utf-8") as handle:
                        text = handle.read().strip()
                except UnicodeDecodeError as error:
                    raise UsageError(
                        f"{file_path!r} is not UTF-8 ({error.reason}); convert it (iconv -f latin1 -t utf-8)."
                    ) from error
                if name.lower() in UNLABELLED_FOLDERS:
                    unlabelled.append(text)
                else:
                    texts.append(text)
                    labels.append(labelled.index(name))
        if texts:
            result[split] = Dataset.from_dict({"text": texts, "label": labels}, features=features)
        if unlabelled:
            result[UNLABELLED_FOLDERS["unsup"]] = Dataset.from_dict({"text": unlabelled})
    logger.info(f"{folder}: one text per file, labelled by its folder: {labelled}; splits {sorted(result)}")
    return DatasetDict(result)


def load_files(files: dict[str, list[str]], column_names: list[str] | None, cache_dir: str | None) -> DatasetDict:
    """Each split's files loaded one by one (several files of a split must have the same columns)."""
    from datasets import concatenate_datasets

    result = {}
    for split, paths in files.items():
        if split == UNLABELLED_FOLDERS["unsup"]:  # a folder's unlabelled.txt beside headerless csv files
            parts = [load_file(path, headerless_names(path, column_names), cache_dir) for path in paths]
        else:
            parts = [load_file(path, column_names, cache_dir) for path in paths]
        for path, part in zip(paths[1:], parts[1:]):
            if part.column_names != parts[0].column_names:
                raise UsageError(
                    f"{path!r} has the columns {part.column_names} but {paths[0]!r} (the same {split} split) has "
                    f"{parts[0].column_names}; give files with the same columns."
                )
        result[split] = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    loaded = DatasetDict(result)
    loaded.split_files = dict(files)  # which files a split came from: `--validation_split dev` names dev.tsv
    return loaded


def names_file_beside(paths: list[str]) -> str | None:
    """A classes.txt / labels.txt in the folder of the first data file (or the folder itself), if there is one."""
    for path in paths:
        folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        for name in NAMES_FILES:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
    return None


def read_names_file(path: str) -> list[str]:
    """One label name a line; blank lines at the end are ignored, a blank or repeated name is refused."""
    with open(path, encoding="utf-8") as handle:
        names = [line.strip() for line in handle.read().rstrip("\n").split("\n")]
    if not names or any(not n for n in names) or len(set(names)) != len(names):
        raise UsageError(f"{path!r} must hold one distinct label name a line (no blank lines); fix the file.")
    return names

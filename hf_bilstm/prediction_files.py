"""The files of `hf-bilstm predict`: texts from a table (CSV, TSV, JSON lines, Parquet) with its other columns kept,
and the results file (`--output_file`), written atomically and never over a file the user made unless asked.

A table is read with the `datasets` builders (csv with its delimiter, json, parquet), as training reads it; a `.txt`
file stays one text per line (read by `hf_bilstm.prediction`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile

from .errors import UsageError
from .folder import package_file

# extension -> (datasets builder, keyword arguments)
TABLE_FORMATS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
}
RESULT_FORMATS = (".csv", ".tsv", ".txt", ".json", ".jsonl")


def is_table(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in TABLE_FORMATS


def read_table(path: str, column_names: list[str] | None = None) -> dict[str, list]:
    """The columns of a table file, as lists; `column_names` names the columns of a headerless CSV/TSV."""
    from datasets import load_dataset

    builder, options = TABLE_FORMATS[os.path.splitext(path)[1].lower()]
    if column_names:
        if builder != "csv":
            raise UsageError(f"--column_names applies to headerless CSV/TSV files, not to {path!r}.")
        options = dict(options, column_names=column_names)
    if not os.path.isfile(path):
        raise UsageError(f"--file {path!r}: no such file. Check the path.")
    # A throwaway cache: predicting on a file must not leave a copy of it in the user's datasets cache.
    with tempfile.TemporaryDirectory(prefix="hf-bilstm-predict-") as cache:
        try:
            table = load_dataset(builder, data_files={"rows": path}, split="rows", cache_dir=cache, **options)
        except Exception as error:  # the builders' many error types (pandas, pyarrow, json): one line naming the file
            cause = error.__cause__ or error
            raise UsageError(
                f"--file {path!r} cannot be read as a {os.path.splitext(path)[1][1:].upper()} table "
                f"({type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}). Check its format "
                "and that it is UTF-8; a file with one text per line should end in .txt."
            ) from None
        return table.to_dict()


def choose_text_columns(columns: list[str], wanted: list[str] | None, path: str) -> list[str]:
    """The text column(s) to read: `wanted` (the flag, else the training's), else `text`, else the only column."""
    if wanted:
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise UsageError(
                f"--file {path!r} has no column {missing[0]!r}; its columns are {columns}. Pass --text_column with "
                "the column(s) of the texts (a,b for several), or --column_names a,b,c for a file without a header."
            )
        return wanted
    if "text" in columns:
        return ["text"]
    if len(columns) == 1:
        return columns
    raise UsageError(
        f"--file {path!r} has the columns {columns}; pass --text_column with the column of the texts (a,b for several "
        "joined), or --column_names a,b,c if its first row is not a header."
    )


def texts_of(table: dict[str, list], schema) -> list[str]:
    """One text per row: the schema's text columns joined as training joined them (a missing value is empty)."""
    return ["" if text is None else str(text) for text in schema.join_texts(table)]


def check_results_file(path: str, overwrite: bool, inputs: list[str], model: str | None = None) -> str:
    """The results file's format (its extension); refuses a file this run reads, a file the package writes into the
    `model` folder (hf_bilstm.folder.package_file), and an existing file unless `overwrite` (which still never
    replaces an input nor a model folder's file)."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in RESULT_FORMATS:
        raise UsageError(
            f"--output_file {path!r}: give a name ending in .tsv, .csv or .jsonl (the format of the results file)."
        )
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder):
        raise UsageError(
            f"--output_file {path!r}: give a file name in an existing folder ({path!r} is a folder)."
            if os.path.isdir(path)
            else f"--output_file {path!r}: the folder {folder!r} does not exist; create it first (mkdir -p)."
        )
    real = os.path.realpath(os.path.expanduser(path))
    if any(os.path.realpath(os.path.expanduser(source)) == real for source in inputs if source):
        raise UsageError(f"--output_file {path!r} is the file this run reads; choose another name for the results.")
    relative = package_file(model, path) if model else None
    if relative is not None:
        raise UsageError(
            f"--output_file {path!r} is {relative}, a file of the model folder {model!r}; writing the predictions "
            "there would replace it (--overwrite never does). Choose another name, e.g. predictions.tsv."
        )
    if os.path.exists(path) and not overwrite:
        raise UsageError(
            f"--output_file {path!r} already exists; choose another name, or pass --overwrite to replace it."
        )
    return extension


def _cell(value) -> str:
    if isinstance(value, list):
        return ",".join(_cell(item) for item in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def results_text(columns: dict[str, list], extension: str) -> str:
    """The results as CSV, TSV (also for .txt) or JSON lines; a list (multi-label) is joined with commas in a cell."""
    names = list(columns)
    rows = len(columns[names[0]]) if names else 0
    if extension in (".json", ".jsonl"):
        return "".join(
            json.dumps({name: columns[name][row] for name in names}, ensure_ascii=False) + "\n" for row in range(rows)
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="," if extension == ".csv" else "\t", lineterminator="\n")
    writer.writerow(names)
    for row in range(rows):
        writer.writerow([_cell(columns[name][row]) for name in names])
    return buffer.getvalue()

"""What a model folder remembers of the data it was trained on: `data_schema.json`, beside `config.json`.

`hf-bilstm train` writes it; `evaluate`, `predict` and `export` read it (`load_schema`), so that they take the
training's columns, label form and label names without the user repeating the flags (a flag given there still wins).

The file is one JSON object (`"version": 1`):

| key | meaning |
|---|---|
| `problem_type` | `single_label_classification`, `multi_label_classification` or `regression` (also in config.json) |
| `text_columns` | the text column(s); several are joined in this order with `text_separator` (as run_classification) |
| `text_separator` | what joins several text columns (default one space) |
| `label_columns` | the label column; several = one 0/1 column per label (multi-label), in label order |
| `label_separator` | multi-label cells such as `0,3` are split on it (null: labels are a list, or one per cell) |
| `label_names` | one name per model output, in output order (`config.id2label`); regression: `[label column]` |
| `label_values` | the labels as the data wrote them, one per output (`"1"` for AG News' `World`); null: the names |
| `column_names` | the names given to a headerless file's columns (`--column_names`); null: the files have a header |
| `id_column` | a column of row ids (kept in `predict_results.tsv`); null: row numbers are the ids |
| `threshold` | multi-label: a label is predicted when its sigmoid probability is at least this (0.5) |

A folder without the file (trained before it existed) reads as one text column `text`, one label column `label`,
single-label, with the names of `config.id2label`: `schema_from_config`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

SCHEMA_FILE = "data_schema.json"
SCHEMA_VERSION = 1

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)

# Multi-label: a label is on when its sigmoid probability reaches this (documented in the README and the card).
MULTI_LABEL_THRESHOLD = 0.5


@dataclass
class DataSchema:
    """The shape of a model's training data: its columns, how labels are written, and the problem type."""

    problem_type: str = SINGLE_LABEL
    text_columns: list[str] = field(default_factory=lambda: ["text"])
    text_separator: str = " "
    label_columns: list[str] = field(default_factory=lambda: ["label"])
    label_separator: str | None = None
    label_names: list[str] = field(default_factory=list)
    label_values: list[str] | None = None
    column_names: list[str] | None = None
    id_column: str | None = None
    threshold: float = MULTI_LABEL_THRESHOLD
    version: int = SCHEMA_VERSION

    @property
    def text_column(self) -> str:
        """The one column the encoders read: the first text column, or the joined column's name."""
        return self.text_columns[0] if len(self.text_columns) == 1 else "+".join(self.text_columns)

    @property
    def label_column(self) -> str:
        return self.label_columns[0] if len(self.label_columns) == 1 else "+".join(self.label_columns)

    def join_texts(self, batch: dict) -> list:
        """The texts of a batch (column → list) with several text columns joined; None where a part is missing."""
        columns = [batch[name] for name in self.text_columns]
        if len(columns) == 1:
            return list(columns[0])
        joined = []
        for parts in zip(*columns):
            present = [part for part in parts if part is not None]
            joined.append(self.text_separator.join(str(part) for part in present) if present else None)
        return joined

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"


def save_schema(folder: str, schema: DataSchema) -> str:
    """Writes `folder/data_schema.json` atomically (the package's one atomic write); returns its path."""
    from .folder import write_atomically

    return write_atomically(os.path.join(folder, SCHEMA_FILE), schema.to_json())


def schema_from_config(config) -> DataSchema:
    """The schema of a folder without `data_schema.json`: IMDB-style columns, the config's labels and problem type."""
    names = [config.id2label[i] for i in range(config.num_labels)]
    problem_type = getattr(config, "problem_type", None) or SINGLE_LABEL
    return DataSchema(problem_type=problem_type, label_names=names)


def schema_from_dict(values: dict, source: str = SCHEMA_FILE) -> DataSchema:
    """A `DataSchema` from the file's JSON object; a value of the wrong form is refused with the file's name."""
    from .errors import UsageError

    known = {name for name in DataSchema.__dataclass_fields__}
    if not isinstance(values, dict):
        raise UsageError(f"{source} is not a JSON object; train the model again (or delete the file).")
    schema = DataSchema(**{key: value for key, value in values.items() if key in known})
    problems = []
    if schema.problem_type not in PROBLEM_TYPES:
        problems.append(f"problem_type {schema.problem_type!r} is not one of {list(PROBLEM_TYPES)}")
    for name in ("text_columns", "label_columns", "label_names"):
        value = getattr(schema, name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
            problems.append(f"{name} must be a non-empty list of strings, not {value!r}")
    if problems:
        raise UsageError(f"{source}: {'; '.join(problems)}. Train the model again (or delete the file).")
    return schema


def load_schema(model: str, config=None) -> DataSchema:
    """
    The `DataSchema` of a model folder (or Hub id: the file is fetched with the model's other files).

    Without the file, `schema_from_config(config)` when a config is given (a folder from before the file existed),
    else the defaults.
    """
    path = os.path.join(os.path.expanduser(model), SCHEMA_FILE)
    if not os.path.isdir(os.path.expanduser(model)):
        try:
            from transformers.utils import cached_file

            path = cached_file(model, SCHEMA_FILE, _raise_exceptions_for_missing_entries=False) or ""
        except OSError:
            path = ""
    if not path or not os.path.isfile(path):
        return schema_from_config(config) if config is not None else DataSchema()
    from .json_files import read_json

    values = read_json(path, fix="train the model again (or delete the file)")
    return schema_from_dict(values, path)

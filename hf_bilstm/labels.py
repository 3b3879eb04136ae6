"""Labels as the user's data writes them → what the model trains on, for the three problem types.

- single-label: one class per row (a string, an integer, a ClassLabel) → a class id;
- multi-label: a list column, a cell such as `0,3` (`--label_separator`, inferred when cells hold commas), or
  several 0/1 columns (`--label_column a,b,c`) → one 0/1 float per label (BCE loss, threshold 0.5);
- regression: float scores (a column with a value that is not a whole number) → one float (MSE loss).

`--problem_type` overrides the inference. Integer labels get names from `--label_names` or a `classes.txt` /
`labels.txt` beside the data: values 0..n-1 are indexes, values 1..n (AG News) are 1-based. The labels as the data
writes them are kept as `label_values` in the model folder's `data_schema.json`, so `evaluate` maps them the same way.
"""

from __future__ import annotations

import math

from datasets import ClassLabel, Dataset, Sequence, Value

from .data_schema import MULTI_LABEL, PROBLEM_TYPES, REGRESSION, SINGLE_LABEL
from .errors import UsageError
from .logs import get_logger

logger = get_logger(__name__)

MISSING = object()  # a cell without a label


def cell_key(value, column: str, row: int):
    """A label cell in the one form labels are compared in (a string; whole floats as integers); MISSING if empty."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if value.is_integer():  # a column of integers with a gap reads as floats (CSV: 1.0, NaN)
            return str(int(value)) if value >= 0 else MISSING
        raise UsageError(
            f"Row {row}: label {value!r} of column {column!r} is a fraction, which is no class: for scores, train a "
            "regression with --problem_type regression."
        )
    if isinstance(value, int):
        return str(value) if value >= 0 else MISSING  # negative ints mark unlabelled rows (IMDB's -1)
    if isinstance(value, str):
        if not value.strip():
            return MISSING
        if value != value.strip():
            raise UsageError(
                f"Row {row}: label {value!r} has spaces around it, so it would be a class apart from "
                f"{value.strip()!r}. Strip the labels of column {column!r} first (e.g. dataset.map)."
            )
        return value
    raise UsageError(
        f"Row {row}: label {value!r} is a {type(value).__name__}; labels must be integers, booleans or strings "
        f"(column {column!r}), lists of them (multi-label) or float scores (regression). Convert the column, or name "
        "the right one with --label_column."
    )


def _is_list_feature(feature) -> bool:
    return isinstance(feature, (Sequence, list)) or type(feature).__name__ in ("List", "LargeList")


def infer_problem_type(
    dataset: Dataset, label_columns: list[str], label_separator: str | None, given: str | None
) -> tuple[str, str | None]:
    """The problem type (and the label separator in use) of the training split's labels, or `given`."""
    if given is not None and given not in PROBLEM_TYPES:
        raise UsageError(f"--problem_type {given!r} is not one of {list(PROBLEM_TYPES)}.")
    feature = dataset.features[label_columns[0]]
    sample = [v for v in dataset[label_columns[0]][:10_000] if v is not None]
    if given is not None:
        if given == REGRESSION and len(label_columns) > 1:
            raise UsageError("--problem_type regression takes one --label_column of scores, not several columns.")
        if given == MULTI_LABEL and len(label_columns) == 1 and not _is_list_feature(feature) and not label_separator:
            label_separator = ","
        return given, label_separator if given == MULTI_LABEL else None
    if len(label_columns) > 1 or _is_list_feature(feature):
        return MULTI_LABEL, None
    if label_separator:
        return MULTI_LABEL, label_separator
    if isinstance(feature, Value) and feature.dtype in ("string", "large_string"):
        if any("," in v for v in sample):
            logger.warning(
                f"labels like {next(v for v in sample if ',' in v)!r} in column {label_columns[0]!r}: "
                "a multi-label problem, labels split on ','. (--problem_type single_label_classification if the "
                "commas belong to class names.)"
            )
            return MULTI_LABEL, ","
    if isinstance(feature, Value) and feature.dtype.startswith("float"):
        if any(isinstance(v, float) and not math.isnan(v) and not v.is_integer() for v in sample):
            logger.warning(f"column {label_columns[0]!r} holds scores: a regression (MSE loss).")
            return REGRESSION, None
    return SINGLE_LABEL, None


def _order(keys) -> list[str]:
    """Label values in their natural order: numbers numerically, then strings."""
    return sorted(keys, key=lambda k: (0, int(k), "") if k.lstrip("-").isdigit() else (1, 0, k))


def values_and_names(keys: set[str], names: list[str] | None, source: str) -> tuple[list[str], list[str]]:
    """
    `(label_values, label_names)`: the values as the data writes them, one per class in id order, and their names.
    With `names` (from --label_names or a names file) integer values 0..n-1 or 1..n index them, and string values
    must be among them.
    """
    if names is None:
        values = _order(keys)
        return values, list(values)
    if all(k.lstrip("-").isdigit() for k in keys):
        ints = sorted(int(k) for k in keys)
        if ints and ints[0] >= 0 and ints[-1] < len(names):
            return [str(i) for i in range(len(names))], list(names)
        if ints and ints[0] >= 1 and ints[-1] <= len(names):
            logger.warning(f"labels 1..{len(names)} are 1-based: label 1 is {names[0]!r} ({source}).")
            return [str(i) for i in range(1, len(names) + 1)], list(names)
        raise UsageError(
            f"the labels run from {ints[0]} to {ints[-1]}, but {source} names {len(names)} classes: they must be "
            f"0..{len(names) - 1} or 1..{len(names)}. Give one name per class."
        )
    unknown = sorted(keys - set(names))
    if unknown:
        raise UsageError(f"labels {unknown[:5]} are not among the names {names} of {source}; give every class a name.")
    return list(names), list(names)


def collect_keys(dataset: Dataset, label_columns: list[str], problem_type: str, separator: str | None) -> set[str]:
    """Every label value of a split (multi-label: every part of every cell)."""
    keys: set[str] = set()
    column = label_columns[0]
    for row, value in enumerate(dataset[column]):
        for part in _parts(value, column, row, problem_type, separator):
            keys.add(part)
    return keys


def _parts(value, column: str, row: int, problem_type: str, separator: str | None) -> list[str]:
    if problem_type != MULTI_LABEL:
        key = cell_key(value, column, row)
        return [] if key is MISSING else [key]
    if isinstance(value, (list, tuple)):
        parts = [cell_key(v, column, row) for v in value]
    elif isinstance(value, str) and separator:
        parts = [cell_key(v.strip(), column, row) for v in value.split(separator)]
    else:
        parts = [cell_key(value, column, row)]
    return [p for p in parts if p is not MISSING]


def encode_labels(
    dataset: Dataset,
    split: str,
    label_columns: list[str],
    target: str,
    problem_type: str,
    separator: str | None,
    label_values: list[str],
    label_names: list[str] | None = None,
) -> Dataset:
    """
    `dataset` with its labels in column `target` as the model trains on them: a ClassLabel id (single-label), one
    0/1 float per label (multi-label) or a float (regression). A row without a label is refused by its row number.
    """
    column = label_columns[0]
    if problem_type == REGRESSION:
        out, feature = _scores(dataset[column], split, column), Value("float32")
    elif problem_type == MULTI_LABEL and len(label_columns) > 1:
        out, feature = _on_off_columns(dataset, split, label_columns), Sequence(Value("float32"))
    elif problem_type == MULTI_LABEL:
        out = _label_sets(dataset[column], split, column, separator, label_values)
        feature = Sequence(Value("float32"))
    else:
        out = _class_ids(dataset, split, column, label_values)
        feature = ClassLabel(names=list(label_names or label_values))
    keep = [c for c in dataset.column_names if c not in label_columns and c != target]
    dataset = dataset.select_columns(keep).add_column(target, out)
    return dataset.cast_column(target, feature)


def _scores(values, split: str, column: str) -> list[float]:
    """Regression: each row's score as a finite float."""
    out = []
    for row, value in enumerate(values):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise UsageError(
                f"Split {split!r}, row {row}: the score {value!r} of column {column!r} is not a number; "
                "remove or fill rows without a score."
            )
        out.append(number)
    return out


def _on_off_columns(dataset: Dataset, split: str, label_columns: list[str]) -> list[list[float]]:
    """Multi-label from several 0/1 columns: one 0/1 float per column."""
    out = []
    for row, cells in enumerate(zip(*(dataset[c] for c in label_columns))):
        vector = []
        for name, cell in zip(label_columns, cells):
            if cell not in (0, 1, True, False, 0.0, 1.0):
                raise UsageError(
                    f"Split {split!r}, row {row}: column {name!r} holds {cell!r}; with several --label_column "
                    "columns each must be 0 or 1 (is this label on for the row?)."
                )
            vector.append(float(cell))
        out.append(vector)
    return out


def _label_sets(values, split: str, column: str, separator: str | None, label_values: list[str]) -> list[list[float]]:
    """Multi-label from one column (a list, or a cell such as `0,3`): one 0/1 float per known label."""
    index = {value: i for i, value in enumerate(label_values)}
    out = []
    for row, value in enumerate(values):
        vector = [0.0] * len(label_values)
        for part in _parts(value, column, row, MULTI_LABEL, separator):
            if part not in index:
                raise UsageError(
                    f"Split {split!r}, row {row}: label {part!r} is not one of the training split's labels "
                    f"{label_values}; every split must use the same labels."
                )
            vector[index[part]] = 1.0
        out.append(vector)
    return out


def _class_ids(dataset: Dataset, split: str, column: str, label_values: list[str]) -> list[int]:
    """Single-label: each row's class id among `label_values` (a ClassLabel id is read as its name first)."""
    index = {value: i for i, value in enumerate(label_values)}
    feature_in = dataset.features[column]
    out = []
    for row, value in enumerate(dataset[column]):
        if isinstance(feature_in, ClassLabel) and isinstance(value, int) and value >= 0:
            value = feature_in.names[value]
        key = cell_key(value, column, row)
        if key is MISSING:
            raise UsageError(
                f"Row {row}: the label is missing (split {split!r}); unlabelled rows (-1 or empty) must be "
                "removed from a labelled split (e.g. dataset.filter(...))."
            )
        if key not in index:
            raise UsageError(
                f"Row {row}: label {key!r} is not one of the known labels {label_values} (split {split!r}; those "
                "of the training split, or of the model being evaluated); every split must use the same labels."
            )
        out.append(index[key])
    return out

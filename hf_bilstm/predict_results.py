"""`predict_results.tsv`: what a trained model predicts for a test split without labels (run_classification's
do_predict), one row per text with its id (the file's id column, else the row number) and the prediction: a label
name, the labels at or above the threshold joined by the label separator (multi-label), or a score (regression)."""

from __future__ import annotations

import os

import numpy as np

from .data_schema import MULTI_LABEL, MULTI_LABEL_THRESHOLD, REGRESSION, DataSchema
from .folder import write_atomically
from .problem_types import decisions

PREDICT_RESULTS = "predict_results.tsv"


def predictions_from_logits(logits, problem_type: str, label_names: list[str], threshold=MULTI_LABEL_THRESHOLD):
    """Each row's prediction: a label name, the names at or above `threshold` (multi-label), or a score."""
    decided = decisions(problem_type, logits, threshold)
    if problem_type == REGRESSION:
        return [float(value) for value in decided]
    if problem_type == MULTI_LABEL:
        return [[label_names[i] for i in np.flatnonzero(row)] for row in decided]
    return [label_names[int(i)] for i in decided]


def write_predict_results(folder: str, logits, ids: list, schema: DataSchema) -> str:
    """Writes `folder/predict_results.tsv` (header `<id column>\\tprediction`) through a temporary file."""
    predictions = predictions_from_logits(logits, schema.problem_type, schema.label_names, schema.threshold)
    path = os.path.join(folder, PREDICT_RESULTS)
    lines = [f"{schema.id_column or 'index'}\tprediction\n"]
    for row_id, prediction in zip(ids, predictions):
        if schema.problem_type == REGRESSION:
            shown = f"{prediction:.4f}"
        elif schema.problem_type == MULTI_LABEL:
            shown = (schema.label_separator or ",").join(prediction)
        else:
            shown = prediction
        lines.append(f"{row_id}\t{shown}\n")
    return write_atomically(path, "".join(lines))

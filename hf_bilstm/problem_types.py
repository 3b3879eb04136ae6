"""What a classifier's logits answer, for each of transformers' three problem types.

- `single_label_classification`: one label per text, the argmax; its score is the softmax probability.
- `multi_label_classification`: every label whose sigmoid probability is at least the threshold (0.5 unless the
  model folder's `data_schema.json` or the caller says otherwise), possibly none; each with its probability.
- `regression`: the score itself (the raw output, no sigmoid), one number per text.

These are the readings of transformers' `pipeline("text-classification")` (softmax / sigmoid / none, chosen from
`config.problem_type`), so `hf-bilstm predict`, the pipeline and the ONNX export's checks agree.
"""

from __future__ import annotations

import numpy as np

from .data_schema import MULTI_LABEL, MULTI_LABEL_THRESHOLD, REGRESSION, SINGLE_LABEL

__all__ = ["MULTI_LABEL", "MULTI_LABEL_THRESHOLD", "REGRESSION", "SINGLE_LABEL", "answers", "decisions"]


def problem_type_of(config) -> str:
    """The config's `problem_type`; without one, as the model's loss infers it (one output = regression)."""
    if getattr(config, "problem_type", None):
        return config.problem_type
    return REGRESSION if config.num_labels == 1 else SINGLE_LABEL


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def decisions(problem_type: str, logits, threshold: float = MULTI_LABEL_THRESHOLD) -> np.ndarray:
    """What the model decides for each row of `logits` (batch, num_labels): class ids (batch,) for single-label,
    0/1 per label (batch, num_labels) for multi-label, scores (batch,) for regression."""
    logits = np.asarray(logits, dtype=np.float64)
    if problem_type == MULTI_LABEL:
        return (sigmoid(logits) >= threshold).astype(np.int64)
    if problem_type == REGRESSION:
        return logits[:, 0]
    return logits.argmax(-1)


def answers(config, logits, threshold: float | None = None) -> list[dict]:
    """One answer per row of `logits`: `{"label", "score"}` (single-label), `{"labels", "scores"}` (multi-label: the
    labels at or above the threshold, most probable first, with their probabilities) or `{"score"}` (regression)."""
    problem_type = problem_type_of(config)
    # float32 as the pipeline's postprocess computes: the same scores to the last digit
    logits = np.asarray(logits, dtype=np.float32)
    names = [config.id2label[i] for i in range(logits.shape[-1])]
    if problem_type == REGRESSION:
        return [{"score": float(row[0])} for row in logits]
    if problem_type == MULTI_LABEL:
        limit = MULTI_LABEL_THRESHOLD if threshold is None else threshold
        found = []
        for row in sigmoid(logits):
            chosen = sorted((i for i in range(len(row)) if row[i] >= limit), key=lambda i: -row[i])
            found.append({"labels": [names[i] for i in chosen], "scores": [float(row[i]) for i in chosen]})
        return found
    probabilities = softmax(logits)
    return [{"label": names[int(row.argmax())], "score": float(row.max())} for row in probabilities]

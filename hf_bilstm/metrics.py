"""The metrics of every problem type, defined once: `train` reports them through the Trainer, `evaluate` directly.

- single-label: `accuracy`, `f1` (macro F1 over the classes present in labels or predictions, like scikit-learn),
  and per class `precision_<name>`, `recall_<name>`, `f1_<name>`;
- multi-label: a label is predicted when its sigmoid probability is at least 0.5 (`MULTI_LABEL_THRESHOLD`):
  `f1_micro`, `f1_macro` (`f1` is the macro figure too), `accuracy` (every label of the row right), per label as above;
- regression: `mse`, `pearson` (and `spearman`).

`BEST_METRIC` is what model selection reads for each problem type unless --metric_for_best_model is given.
"""

from __future__ import annotations

import numpy as np

from .data_schema import MULTI_LABEL, MULTI_LABEL_THRESHOLD, REGRESSION, SINGLE_LABEL
from .problem_types import decisions

# problem type → (metric, greater is better): the model selection's default
BEST_METRIC = {SINGLE_LABEL: ("accuracy", True), MULTI_LABEL: ("f1_micro", True), REGRESSION: ("mse", False)}


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return float(precision), float(recall), float(f1)


def single_label_metrics(predictions, labels, label_names: list[str] | None = None) -> dict[str, float]:
    """Accuracy and macro F1 (over the classes that occur in labels or predictions), per class P/R/F1 with names."""
    predictions, labels = np.asarray(predictions).reshape(-1), np.asarray(labels).reshape(-1)
    keep = labels != -100
    predictions, labels = predictions[keep], labels[keep]
    f1s, per_class = [], {}
    for c in np.union1d(labels, predictions):
        tp = np.sum((predictions == c) & (labels == c))
        fp = np.sum((predictions == c) & (labels != c))
        fn = np.sum((predictions != c) & (labels == c))
        precision, recall, f1 = _prf(tp, fp, fn)
        f1s.append(f1)
        if label_names is not None and 0 <= c < len(label_names):
            name = label_names[int(c)]
            per_class.update({f"precision_{name}": precision, f"recall_{name}": recall, f"f1_{name}": f1})
    metrics = {
        "accuracy": float(np.mean(predictions == labels)) if len(labels) else 0.0,
        "f1": float(np.mean(f1s)) if f1s else 0.0,
    }
    metrics.update(per_class)
    return metrics


def multi_label_metrics(logits, labels, label_names: list[str] | None = None, threshold=MULTI_LABEL_THRESHOLD):
    """Micro and macro F1 of the labels whose probability reaches `threshold`, subset accuracy, per label P/R/F1."""
    predicted = decisions(MULTI_LABEL, logits, threshold).astype(bool)
    truth = np.asarray(labels) >= 0.5
    tp = (predicted & truth).sum(axis=0)
    fp = (predicted & ~truth).sum(axis=0)
    fn = (~predicted & truth).sum(axis=0)
    metrics = {"f1_micro": _prf(tp.sum(), fp.sum(), fn.sum())[2]}
    per_label = [_prf(*counts) for counts in zip(tp, fp, fn)]
    metrics["f1_macro"] = metrics["f1"] = float(np.mean([f1 for _, _, f1 in per_label])) if per_label else 0.0
    metrics["accuracy"] = float(np.mean(np.all(predicted == truth, axis=1))) if len(truth) else 0.0
    for i, (precision, recall, f1) in enumerate(per_label):
        if label_names is not None and i < len(label_names):
            name = label_names[i]
            metrics.update({f"precision_{name}": precision, f"recall_{name}": recall, f"f1_{name}": f1})
    return metrics


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def regression_metrics(predictions, labels) -> dict[str, float]:
    """Mean squared error, Pearson and Spearman correlation of the predicted and true scores."""
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)

    def ranks(x):
        return np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(np.float64)

    return {
        "mse": float(np.mean((predictions - labels) ** 2)) if len(labels) else 0.0,
        "pearson": _pearson(predictions, labels),
        "spearman": _pearson(ranks(predictions), ranks(labels)),
    }


def metrics_for(problem_type: str, logits, labels, label_names: list[str] | None = None) -> dict[str, float]:
    """The metrics of `problem_type` from a model's logits and the true labels."""
    logits = np.asarray(logits)
    if problem_type == REGRESSION:
        return regression_metrics(logits.reshape(-1), labels)
    if problem_type == MULTI_LABEL:
        return multi_label_metrics(logits, labels, label_names)
    return single_label_metrics(np.argmax(logits, axis=-1), labels, label_names)


class ComputeMetrics:
    """The Trainer's `compute_metrics` for one problem type and its label names."""

    def __init__(self, problem_type: str = SINGLE_LABEL, label_names: list[str] | None = None):
        self.problem_type, self.label_names = problem_type, label_names

    def __call__(self, eval_pred) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        return metrics_for(self.problem_type, logits, eval_pred.label_ids, self.label_names)


def per_class_table(metrics: dict, prefix: str, label_names: list[str], labels=None) -> dict[str, dict[str, float]]:
    """`{name: {"precision", "recall", "f1", "support"}}` from a split's flat metrics (`{prefix}_precision_<name>`,
    ...) and its labels (ids, or 0/1 rows for multi-label) for the rows of each class; {} when there are none."""
    support = None
    if labels is not None and len(labels):
        labels = np.asarray(labels)
        width = len(label_names)
        support = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels.astype(int), minlength=width)
    table = {}
    for i, name in enumerate(label_names):
        values = {key: metrics.get(f"{prefix}_{key}_{name}") for key in ("precision", "recall", "f1")}
        if all(value is None for value in values.values()):
            continue
        if support is not None and i < len(support):
            values["support"] = int(support[i])
        table[name] = values
    return table

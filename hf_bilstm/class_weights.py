"""`--class_weights balanced`: a loss that weighs rare classes up, as the Trainer's `compute_loss_func`.

Single-label: cross-entropy with weight n_rows / (n_classes * rows of the class) per class (scikit-learn's
"balanced"). Multi-label: binary cross-entropy with each label's positives weighted by its negatives / positives
(`pos_weight`). Regression has no classes: refused.
"""

from __future__ import annotations

import numpy as np
import torch

from .data_schema import MULTI_LABEL, REGRESSION
from .errors import UsageError


def balanced_weights(labels, problem_type: str, num_labels: int) -> torch.Tensor:
    """The weights of `--class_weights balanced` from the training split's labels."""
    if problem_type == REGRESSION:
        raise UsageError("--class_weights weighs classes, but this is a regression (scores); drop --class_weights.")
    labels = np.asarray(labels)
    if problem_type == MULTI_LABEL:
        positives = labels.sum(axis=0)
        negatives = len(labels) - positives
        weights = negatives / np.maximum(positives, 1.0)
    else:
        counts = np.bincount(labels.astype(np.int64), minlength=num_labels).astype(np.float64)
        weights = len(labels) / (num_labels * np.maximum(counts, 1.0))
    return torch.tensor(weights, dtype=torch.float32)


class WeightedLoss:
    """The Trainer's `compute_loss_func(outputs, labels, num_items_in_batch)` with per-class weights."""

    def __init__(self, problem_type: str, weights: torch.Tensor):
        self.problem_type, self.weights = problem_type, weights

    def __call__(self, outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"].float()
        weights = self.weights.to(logits.device)
        if self.problem_type == MULTI_LABEL:
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weights)
        return torch.nn.functional.cross_entropy(logits, labels.long(), weight=weights)

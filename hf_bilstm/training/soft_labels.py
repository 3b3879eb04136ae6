"""The student's training rows of `--preset cpu-best`: the training split with one-hot `soft_labels` plus a
teacher's soft-labelled rows, none of them a validation or test text."""

import numpy as np
from datasets import Dataset, concatenate_datasets

from ..encoding import SOFT_LABELS
from ..errors import UsageError
from ..logs import get_logger
from ..splits import Splits, text_hashes

logger = get_logger(__name__)


def with_soft_labelled_rows(splits: Splits, extra: Dataset, text_column: str, label_column: str) -> Dataset:
    """
    The training split plus `extra` rows that carry a teacher's `soft_labels` (one probability per label).

    The training rows get their own labels as one-hot `soft_labels`. Extra rows whose text is also a validation or
    test text are dropped (counted in a warning): training on them, even with a teacher's labels, would leak the
    texts a model is selected and tested on.
    """
    num_labels = len(splits.label_names)
    missing = [c for c in (text_column, SOFT_LABELS) if c not in extra.column_names]
    if missing:
        raise UsageError(f"the extra training rows lack the column(s) {missing}; they need text and soft labels.")
    held_out = set(text_hashes(splits.validation, text_column))
    if splits.test is not None:
        held_out |= set(text_hashes(splits.test, text_column))
    keep = [i for i, h in enumerate(text_hashes(extra, text_column)) if h not in held_out]
    if len(keep) < len(extra):
        logger.warning(
            f"dropped {len(extra) - len(keep)} unlabelled row(s) whose text is also in the validation or "
            "test split."
        )
        extra = extra.select(keep)
    soft = np.asarray(extra[SOFT_LABELS], dtype=np.float32)
    if soft.ndim != 2 or soft.shape[1] != num_labels or not np.all(np.isfinite(soft)) or (soft < 0).any():
        raise UsageError(
            f"soft labels must be {num_labels} non-negative probabilities per row (one per label "
            f"{splits.label_names}), but they have shape {soft.shape}."
        )
    soft = soft / np.maximum(soft.sum(axis=1, keepdims=True), 1e-12)
    extra = Dataset.from_dict(
        {
            text_column: extra[text_column],
            label_column: soft.argmax(axis=1).tolist(),
            SOFT_LABELS: soft.tolist(),
        },
        features=None,
    )
    train = splits.train
    one_hot = np.eye(num_labels, dtype=np.float32)[np.asarray(train[label_column])]
    train = Dataset.from_dict(
        {text_column: train[text_column], label_column: train[label_column], SOFT_LABELS: one_hot.tolist()}
    )
    return concatenate_datasets([train, extra])

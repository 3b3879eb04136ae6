"""A split carved by whole groups (`--group_column`): when several rows share a product, a user or a movie, a random
carve puts the same group on both sides, and validation then rates a model that learned the group's words above what
it reads on unseen groups. Here every group goes wholly to one side.

The carve is a deterministic, seeded group shuffle that keeps the label ratio close (not scikit-learn's
StratifiedGroupKFold, which is not a dependency): the groups are taken in a seeded random order, and each one joins the
carved split when that brings the carved split's row counts per label closer to `fraction` of each label's rows in all
(squared distance); so the carved split ends near `fraction` of the rows with about the labels' ratio. Without labels
to stratify by (multi-label, regression) only the number of rows is matched.
"""

import math

import numpy as np

from .errors import UsageError
from .logs import get_logger

logger = get_logger(__name__)

# The groups' name when --group_by_shared_words made them from the texts (hf_bilstm.shared_word_groups), not a column.
SHARED_WORDS = "--group_by_shared_words"


def group_source(column: str) -> str:
    """Where the groups came from, as messages name it: the flag, or `--group_column 'product'`."""
    return SHARED_WORDS if column == SHARED_WORDS else f"--group_column {column!r}"


def check_group_flags(column: str | None, shared_words: bool) -> None:
    """--group_column and --group_by_shared_words are two answers to one question: one of them, or neither."""
    if column is not None and shared_words:
        raise UsageError(
            f"--group_column {column!r} and --group_by_shared_words both say how to group the rows; give one."
        )


def group_keys(values: list, column: str, split: str) -> list[str]:
    """The group of every row as a string (so 7 and "7" are one group); a missing group is refused, naming the row."""
    keys = []
    for row, value in enumerate(values):
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if missing or not str(value).strip():
            raise UsageError(
                f"Split {split!r}, row {row}: --group_column {column!r} is empty ({value!r}); every row needs its "
                "group to be carved by groups. Fill it (e.g. one group per row: its own id) or drop those rows."
            )
        keys.append(str(value).strip())
    if len(set(keys)) < 2:
        raise UsageError(
            f"--group_column {column!r} holds one group ({keys[0]!r}) in all {len(keys):,} rows of split {split!r}: "
            "no group can be held out. Name the column of the groups (product, user, ...) or leave --group_column out."
        )
    return keys


def grouped_carve(
    keys: list[str], labels: list[int] | None, fraction: float, seed: int, what: str, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, carved): row indices, in row order, with no group on both sides; `labels` (class ids) stratify, None
    matches the number of rows only. Too few or too large groups for the fraction asked: a UsageError."""
    names, inverse = np.unique(np.asarray(keys), return_inverse=True)
    classes = np.zeros(len(keys), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    counts = np.zeros((len(names), int(classes.max()) + 1))
    np.add.at(counts, (inverse, classes), 1)  # rows of each label in each group
    target = fraction * counts.sum(axis=0)
    carved_counts, chosen = np.zeros(counts.shape[1]), np.zeros(len(names), dtype=bool)
    for group in np.random.default_rng(seed).permutation(len(names)):
        after = carved_counts + counts[group]
        if np.sum((after - target) ** 2) < np.sum((carved_counts - target) ** 2):
            carved_counts, chosen[group] = after, True
    in_carve = chosen[inverse]
    rest, carved = np.flatnonzero(~in_carve), np.flatnonzero(in_carve)
    if len(carved) == 0 or len(rest) == 0:
        sizes = counts.sum(axis=1)
        raise UsageError(
            f"Cannot carve a {fraction:.0%} {what} split by {group_source(column)}: its {len(names):,} groups hold "
            f"{len(keys):,} rows, the smallest {int(sizes.min()):,}, so no set of whole groups comes near "
            f"{fraction:.0%} of the rows. Give data with more (smaller) groups, change --{what}_fraction, or give "
            f"the {what} rows as a file (--{what}_file)."
        )
    logger.warning(
        f"{what} carved by {group_source(column)}: {len(carved):,} rows ({len(carved) / len(keys):.1%}; asked "
        f"{fraction:.0%}) in {int(chosen.sum()):,} groups, {len(names) - int(chosen.sum()):,} groups left; no group "
        "on both sides."
    )
    return rest, carved

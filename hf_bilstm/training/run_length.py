"""How long `train` trains when the flags do not say: the preset's epochs, or more of them on a small training set.

A preset's epoch count was chosen on IMDB: 22,500 training reviews are 352 optimizer steps an epoch at batch 64, so
the `cpu` preset's 4 epochs are ~1,400 steps. A training set of a few thousand rows gets only a few hundred steps from
the same 4 epochs, too few for an embedding learned from scratch. Measured on TREC-6 (4,889 questions, 77 steps an
epoch; CPU, 2 cores): 4 epochs reached test accuracy 0.864 / macro F1 0.853, 12 epochs 0.878-0.882 / 0.870-0.874
(TF-IDF + logistic regression: 0.880 / 0.877); SMS spam (4,347 messages) 0.986 / 0.968 with 4 epochs, 0.989 / 0.977
with 15 (benchmarks/results/*-own-data*.json). So a training set that would get fewer than `MIN_OPTIMIZER_STEPS`
steps trains for more epochs, at most `MAX_EPOCHS`, and only while the whole run reads at most `MAX_TOKENS` training
tokens: on short texts a 2-core CPU trains ~4,000-6,000 tokens/s, so the longer run still ends within minutes (AG News,
250k tokens an epoch, keeps its 4). The best epoch on validation is kept as always. IMDB and larger sets are untouched.
"""

import dataclasses
import math

from transformers import TrainingArguments

from ..logs import get_logger

logger = get_logger(__name__)

MIN_OPTIMIZER_STEPS = 1000
MAX_EPOCHS = 15
MAX_TOKENS = 1_000_000


def steps_per_epoch(training_args: TrainingArguments, train_rows: int) -> int:
    """Optimizer steps in one pass over `train_rows` rows: batches of every device, gradient accumulation included."""
    rows_per_batch = training_args.train_batch_size * max(training_args.world_size, 1)
    batches = math.ceil(train_rows / max(rows_per_batch, 1))
    return max(batches // max(training_args.gradient_accumulation_steps, 1), 1)


def epochs_for_training_set(
    training_args: TrainingArguments, given, train_rows: int, train_tokens: int
) -> TrainingArguments:
    """
    The arguments with more epochs when the training set is small (see the module's text); unchanged when
    `--num_train_epochs` or `--max_steps` was given, or the preset's epochs already make `MIN_OPTIMIZER_STEPS` steps.
    `train_tokens`: the tokens of one pass over the training rows.
    """
    if "num_train_epochs" in given or "max_steps" in given or training_args.max_steps > 0 or train_rows <= 0:
        return training_args
    per_epoch = steps_per_epoch(training_args, train_rows)
    epochs = training_args.num_train_epochs
    if per_epoch * epochs >= MIN_OPTIMIZER_STEPS or epochs >= MAX_EPOCHS:
        return training_args
    more = min(math.ceil(MIN_OPTIMIZER_STEPS / per_epoch), MAX_EPOCHS, MAX_TOKENS // max(train_tokens, 1))
    if more <= epochs:
        return training_args
    logger.info(
        f"{train_rows:,} training rows are {per_epoch:,} optimizer steps an epoch: training {more} epochs instead of "
        f"the preset's {epochs:g}, {per_epoch * more:,} steps, as a small training set needs (the best epoch on "
        "validation is kept; --num_train_epochs sets it)"
    )
    return dataclasses.replace(training_args, num_train_epochs=float(more))

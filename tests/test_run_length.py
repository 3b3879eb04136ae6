"""More epochs for a small training set (hf_bilstm.training.run_length), unless the flags set the run's length."""

import json

import pytest
from helpers import QUIET, TINY, write_toy_dataset
from transformers import TrainingArguments

from hf_bilstm.commands import train as train_cmd
from hf_bilstm.training.run_length import (
    MAX_EPOCHS,
    MAX_TOKENS,
    MIN_OPTIMIZER_STEPS,
    epochs_for_training_set,
    steps_per_epoch,
)


def args(tmp_path, **kwargs):
    kwargs.setdefault("per_device_train_batch_size", 64)
    kwargs.setdefault("num_train_epochs", 4)
    return TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", **kwargs)


def test_steps_per_epoch_counts_batches_and_gradient_accumulation(tmp_path):
    assert steps_per_epoch(args(tmp_path), 4889) == 77
    assert steps_per_epoch(args(tmp_path, gradient_accumulation_steps=2), 4889) == 38
    assert steps_per_epoch(args(tmp_path), 10) == 1


@pytest.mark.parametrize(
    "rows, tokens, epochs",
    [
        (4889, 50_000, 13),  # TREC-6: 77 steps an epoch
        (4347, 84_000, 11),  # SMS spam: 68 steps an epoch, 15 wanted, 11 x 84k tokens fit in MAX_TOKENS
        (300, 3_000, MAX_EPOCHS),  # 5 steps an epoch: capped
        (5400, 249_000, 4),  # AG News: long enough texts that the preset's 4 epochs stand
        (16000, 200_000, 4),  # 250 steps an epoch: the preset's 4 epochs make 1,000 steps
        (22500, 5_000_000, 4),  # IMDB's carved train split: untouched
    ],
)
def test_a_small_training_set_gets_more_epochs(tmp_path, rows, tokens, epochs):
    out = epochs_for_training_set(args(tmp_path), set(), rows, tokens)
    assert out.num_train_epochs == epochs
    if epochs > 4:
        assert tokens * epochs <= MAX_TOKENS
        # as many as the first of the three limits allows
        enough_steps = steps_per_epoch(out, rows) * epochs >= MIN_OPTIMIZER_STEPS
        assert enough_steps or epochs == MAX_EPOCHS or tokens * (epochs + 1) > MAX_TOKENS


@pytest.mark.parametrize("given", [{"num_train_epochs"}, {"max_steps"}])
def test_the_users_length_wins(tmp_path, given):
    extra = {"max_steps": 10} if "max_steps" in given else {}
    assert epochs_for_training_set(args(tmp_path, **extra), given, 300, 3000).num_train_epochs == 4


def test_train_runs_and_records_the_longer_run(tmp_path):
    data = write_toy_dataset(tmp_path / "data", n_train=120, n_test=20)
    out = tmp_path / "model"
    argv = ["--dataset", data, "--output_dir", str(out), *TINY, *QUIET, "--logging_steps", "1000"]
    assert train_cmd.main(argv) == 0
    results = json.loads((out / "all_results.json").read_text())
    assert results["epoch"] == MAX_EPOCHS  # 108 training rows: 2 steps an epoch
    card = (out / "README.md").read_text()
    assert f"num_train_epochs: {MAX_EPOCHS}" in card or f"num_train_epochs | {MAX_EPOCHS}" in card, card

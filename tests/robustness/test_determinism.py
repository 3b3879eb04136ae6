"""Determinism: `hf-bilstm train` with the same seed gives the same metrics and weights on the CPU; another seed
does not (so the seed, not luck, is what makes two runs agree)."""

import json
import os

import pytest
import torch
from helpers import single_torch_thread, write_toy_dataset
from safetensors.torch import load_file

from hf_bilstm.commands import train as train_cmd

# Dropout and length-grouped shuffling on, so that every random source of a run is exercised.
ARGS = [
    "--embedding_dim", "16", "--hidden_size", "8", "--num_layers", "1", "--vocab_size", "100",
    "--embedding_dropout", "0.2", "--classifier_dropout", "0.2", "--learning_rate", "0.01",
    "--per_device_train_batch_size", "16", "--num_train_epochs", "2",
    "--disable_tqdm", "true", "--report_to", "none", "--use_cpu", "true",
]  # fmt: skip
METRICS = ("train_loss", "eval_accuracy", "eval_loss", "eval_f1", "test_accuracy", "test_loss", "test_f1")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    dataset = write_toy_dataset(root / "data", n_train=160, n_test=40)
    folders = {}
    with single_torch_thread():
        for name, seed in (("first", 11), ("again", 11), ("other seed", 12)):
            folders[name] = str(root / name.replace(" ", "-"))
            argv = ["--dataset", dataset, "--output_dir", folders[name], "--seed", str(seed), *ARGS]
            assert train_cmd.main(argv) == 0
    return folders


def metrics(folder):
    with open(os.path.join(folder, "all_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    return {key: results[key] for key in METRICS}


def weights(folder):
    return load_file(os.path.join(folder, "model.safetensors"))


def tokenizer(folder):
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as handle:
        saved = json.load(handle)
    # The Rust tokenizer serialises whatever truncation/padding its last call left set; the rest is the tokenizer.
    saved.pop("truncation")
    saved.pop("padding")
    return saved


def test_same_seed_gives_the_same_metrics_and_weights(runs):
    assert metrics(runs["again"]) == metrics(runs["first"])
    first, again = weights(runs["first"]), weights(runs["again"])
    assert first.keys() == again.keys()
    for name in first:
        assert torch.equal(first[name], again[name]), name
    assert tokenizer(runs["first"]) == tokenizer(runs["again"])


def test_another_seed_gives_another_run(runs):
    first, other = weights(runs["first"]), weights(runs["other seed"])
    assert any(not torch.equal(first[name], other[name]) for name in first)
    assert metrics(runs["other seed"])["train_loss"] != metrics(runs["first"])["train_loss"]

"""Tiny models and tokenizers shared by the tests (vocab ~100, embedding 16, hidden 8: seconds on a CPU)."""

import json
import os
import subprocess
import sys

import torch

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer

TEXTS = [
    "A great movie!<br />I loved the acting and the story.",
    "Terrible, boring film. The plot made no sense.",
    "Wonderful direction, great music, a joy to watch.",
    "Awful acting; I fell asleep. Worst movie of the year.",
    "The story was fine but the ending was bad.",
    "I loved it, a great film with great actors.",
] * 3
LABELS = {0: "neg", 1: "pos"}


def tiny_tokenizer(model_max_length: int = 64):
    return train_tokenizer(TEXTS, vocab_size=100, min_frequency=1, model_max_length=model_max_length)


def tiny_config(tokenizer=None, **overrides) -> BiLSTMConfig:
    vocab_size = len(tokenizer) if tokenizer is not None else 100
    kwargs = dict(vocab_size=vocab_size, embedding_dim=16, hidden_size=8, id2label=dict(LABELS))
    kwargs.update(overrides)
    return BiLSTMConfig(**kwargs)


def tiny_classifier(tokenizer=None, seed: int = 0, **overrides) -> BiLSTMForSequenceClassification:
    torch.manual_seed(seed)
    return BiLSTMForSequenceClassification(tiny_config(tokenizer, **overrides)).eval()


def save_tiny_model(folder, **overrides):
    """Writes a complete tiny model folder (weights, config, code, tokenizer) and returns (model, tokenizer)."""
    tokenizer = tiny_tokenizer()
    model = tiny_classifier(tokenizer, **overrides)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def run_child(code: str, args: list[str], tmp_path) -> subprocess.CompletedProcess:
    """Runs `python -c code *args` offline with an empty HF_HOME; stdin is closed, so a y/N prompt cannot hang it."""
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", PYTHONPATH="")
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def child_result(result: subprocess.CompletedProcess) -> dict:
    """The JSON that a child printed on its last line starting with `RESULT `."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])

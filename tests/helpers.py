"""Tiny models and tokenizers shared by the tests (vocab ~100, embedding 16, hidden 8: seconds on a CPU)."""

import json
import os
import random
import subprocess
import sys

import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

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


# Toy and real datasets

IMDB = os.environ.get("HF_BILSTM_IMDB") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "imdb"
)

POSITIVE = ["great", "wonderful", "loved", "excellent", "superb", "moving"]
NEGATIVE = ["awful", "boring", "terrible", "worst", "dull", "waste"]
FILLER = [f"word{i}" for i in range(40)] + ["the", "a", "film", "movie", "story", "actors", "and", "was", "it"]
FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})


def toy_rows(n: int, seed: int) -> dict:
    """Texts of filler words with a few sentiment words: learnable by a tiny model in a few steps."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = rng.choices(FILLER, k=rng.randint(6, 20))
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
        texts.append(" ".join(words))
        labels.append(label)
    return {"text": texts, "label": labels}


def write_toy_dataset(folder, n_train: int = 200, n_test: int = 60, splits=("train", "test")) -> str:
    """A local dataset folder in the Hub's parquet layout (ClassLabel kept), like ../shared/data/imdb."""
    os.makedirs(folder, exist_ok=True)
    for seed, split in enumerate(splits):
        rows = toy_rows(n_train if split == "train" else n_test, seed)
        Dataset.from_dict(rows, features=FEATURES).to_parquet(os.path.join(folder, f"{split}.parquet"))
    return str(folder)


def toy_dict(n_train=200, n_test=40, **extra_splits) -> DatasetDict:
    splits = {"train": Dataset.from_dict(toy_rows(n_train, 0), features=FEATURES)}
    splits["test"] = Dataset.from_dict(toy_rows(n_test, 1), features=FEATURES)
    splits.update(extra_splits)
    return DatasetDict(splits)

"""Tiny models and tokenizers shared by the tests (vocab ~100, embedding 16, hidden 8: seconds on a CPU)."""

import csv
import dataclasses
import importlib.util
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from transformers import TrainingArguments

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from hf_bilstm.commands import predict as predict_cmd
from hf_bilstm.training.pretraining import PretrainingArguments, training_arguments

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


def import_blocker(*packages: str) -> str:
    """The first lines of a child script in which every import of `packages` (and their modules) fails."""
    return f"""
import sys

class BlockPackages:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {packages!r}:
            raise ImportError(name + " is blocked in this process")
        return None

sys.meta_path.insert(0, BlockPackages())
"""


# A child that must not see the installed package can load a folder only through the code files saved next to its
# weights (trust_remote_code).
BLOCK_HF_BILSTM = import_blocker("hf_bilstm")


@contextmanager
def single_torch_thread():
    """One torch thread for the block: tiny models on 2 shared cores run faster without thread hand-offs (up to 40x
    for RNN steps), and the same kernels give the same floating-point sums as a 1-thread child process."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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


def run_at_once(commands: list[list[str]], timeout: float = 300, **kwargs) -> list[subprocess.CompletedProcess]:
    """Runs `commands` as processes started together (their imports of torch and transformers then share the 2 cores
    instead of waiting for each other) and returns each one's CompletedProcess (text output), in order. stdin is
    closed; output goes to files, so that a child that writes much cannot block on a full pipe."""
    started = []
    for command in commands:
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True, **kwargs)
        started.append((command, process, out, err))
    try:
        for _, process, _, _ in started:
            process.wait(timeout=timeout)
    finally:
        for _, process, _, _ in started:
            if process.poll() is None:  # a timeout: none is left running
                process.kill()
                process.wait()
    done = []
    for command, process, out, err in started:
        out.seek(0), err.seek(0)
        done.append(subprocess.CompletedProcess(command, process.returncode, out.read(), err.read()))
        out.close(), err.close()
    return done


def child_result(result: subprocess.CompletedProcess) -> dict:
    """The JSON that a child printed on its last line starting with `RESULT `."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


# Toy and real datasets

IMDB = os.environ.get("HF_BILSTM_IMDB") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "imdb"
)


def require_imdb(what: str) -> str:
    """The real IMDB copy for a test: skipped (saying why) where it is absent, but a failure under CI=true, where a
    missing copy would otherwise pass silently."""
    if not os.path.isdir(IMDB):
        message = f"../shared/data/imdb (the real IMDB copy) is absent; {what} needs it (or HF_BILSTM_IMDB=FOLDER)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + ". CI=true: provide the data.", pytrace=False)
        pytest.skip(message)
    return IMDB


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


def write_csv(path, header, data, delimiter=","):
    """A csv (or, with a tab delimiter, tsv) file of `data` rows, under a `header` row unless it is None; its path."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        if header:
            writer.writerow(header)
        writer.writerows(data)
    return str(path)


def toy_dict(n_train=200, n_test=40, **extra_splits) -> DatasetDict:
    splits = {"train": Dataset.from_dict(toy_rows(n_train, 0), features=FEATURES)}
    splits["test"] = Dataset.from_dict(toy_rows(n_test, 1), features=FEATURES)
    splits.update(extra_splits)
    return DatasetDict(splits)


TINY = ["--embedding_dim", "16", "--hidden_size", "8", "--num_layers", "1", "--vocab_size", "100"]

QUIET = ["--disable_tqdm", "true", "--report_to", "none", "--use_cpu", "true"]


def run_predict(argv, stdin=None, device: str | None = "cpu"):
    """`hf-bilstm predict argv` in this process: (exit code, stdout lines). `stdin` is a stream or a string;
    `device=None` leaves `--device` to argv."""
    if isinstance(stdin, str):
        stdin = io.StringIO(stdin)
    out = io.StringIO()
    code = predict_cmd.main([*argv, *(["--device", device] if device else [])], stdin=stdin, stdout=out)
    return code, out.getvalue().splitlines()


def run_push(argv, capsys):
    """`hf-bilstm push argv` in this process: (exit code, stdout, stderr); never a traceback."""
    from hf_bilstm.commands import push as push_cmd

    code = push_cmd.main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return code, captured.out, captured.err


def stderr_of(capsys) -> str:
    """What a command wrote on stderr, which never holds a traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


def error_line(capsys) -> str:
    """The last line of stderr that holds `error:` (a command's one error line)."""
    return [line for line in stderr_of(capsys).splitlines() if "error:" in line][-1]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (free when asked; connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_folder(folder, tmp_path, name: str = "copy") -> Path:
    """A private copy of `folder` under `tmp_path`, which a test may damage."""
    target = Path(tmp_path) / name
    shutil.copytree(folder, target)
    return target


PRETRAIN_TINY = ["--vocab_size", "100", "--min_frequency", "1", "--embedding_dim", "16", "--hidden_size", "8"]
PRETRAIN_TINY += ["--max_steps", "2", "--num_proc", "1", "--dataloader_num_workers", "0", "--splits", "train"]
PRETRAIN_TINY += ["--validation_fraction", "0.2", "--block_size", "8"]

TEST_RESULTS = {"test_accuracy": 0.8125, "test_f1": 0.8, "test_loss": 0.45}

CARD = """---
license: apache-2.0
datasets:
- stanfordnlp/imdb
language: en
tags:
- sentiment
---

# tiny-bilstm

A tiny test model.
"""


def make_model_folder(folder: Path, card: str | None = CARD, seed: int = 0) -> torch.nn.Module:
    """A complete trained-model folder as `hf-bilstm train` leaves it, including files that must NOT be pushed."""
    model, _ = save_tiny_model(folder, seed=seed)
    if card is not None:
        (folder / "README.md").write_text(card)
    (folder / "test_results.json").write_text(json.dumps(TEST_RESULTS))
    (folder / "training_args.bin").write_bytes(b"\x80\x04pickle")  # the Trainer's pickle: never uploaded
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"\x80\x04pickle")
    return model


def tiny_imdb() -> DatasetDict:
    """train / unsupervised / test splits; the test split alone holds the words 'zyzzyva' and 'quixotry'."""
    return DatasetDict(
        train=Dataset.from_dict({"text": TEXTS, "label": [i % 2 for i in range(len(TEXTS))]}),
        unsupervised=Dataset.from_dict({"text": [t.upper() for t in TEXTS] + [None, "  "], "label": [-1] * 20}),
        test=Dataset.from_dict({"text": ["zyzzyva quixotry zyzzyva"] * 6, "label": [0, 1] * 3}),
    )


def tiny_args(output_dir, **overrides) -> tuple[PretrainingArguments, TrainingArguments]:
    """`pretrain`'s two argument objects for a seconds-long run; `overrides` go to whichever has the field."""
    settings = dict(
        dataset="tiny",
        vocab_size=100,
        min_frequency=1,
        lm_vocab_size=None,
        embedding_dim=16,
        hidden_size=16,
        block_size=12,
        validation_fraction=0.2,
        embedding_dropout=0.0,
        lm_dropout=0.0,
        num_proc=1,
    )
    training = dict(
        max_steps=30,
        per_device_train_batch_size=8,
        learning_rate=2e-2,
        warmup_steps=0,
        lr_scheduler_type="constant",
        logging_steps=1000,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    own = {field.name for field in dataclasses.fields(PretrainingArguments)}
    for key, value in overrides.items():
        (settings if key in own else training)[key] = value
    return PretrainingArguments(**settings), training_arguments(str(output_dir), **training)


class PicklePayload:
    """Unpickling this object writes a marker file: stands for a pickle that runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def train_briefly(model, tokenizer, texts, labels, steps=60):
    """A few steps on the toy data, so that logits are decisive and int8 rounding cannot flip a near tie."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    target = torch.tensor(labels)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=target).loss
        loss.backward()
        optimizer.step()
    return model.eval()


def snapshot(folder) -> dict:
    """Every file under `folder` (relative path → bytes): what a refused command must leave as it was."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            files[os.path.relpath(path, folder)] = open(path, "rb").read()
    return files


def toy_with_unlabelled(folder, n_train: int = 160, n_test: int = 40, n_unlabelled: int = 120) -> str:
    """Toy train/test splits plus an `unsupervised` split (as IMDB's), saved with `save_to_disk`."""
    splits = {"train": Dataset.from_dict(toy_rows(n_train, 0), features=FEATURES)}
    splits["test"] = Dataset.from_dict(toy_rows(n_test, 1), features=FEATURES)
    texts = toy_rows(n_unlabelled, seed=7)["text"]
    splits["unsupervised"] = Dataset.from_dict({"text": texts, "label": [0] * len(texts)}, features=FEATURES)
    DatasetDict(splits).save_to_disk(str(folder))
    return str(folder)


SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(monkeypatch, name: str):
    """scripts/NAME.py as a module, with scripts/ first on sys.path as when it runs (it imports its neighbours, such
    as run_record)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

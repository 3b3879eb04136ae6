"""Round 3, run size (issue 33, point 4): `--max_train_seconds` and `--max_train_samples` are checked once for every
preset before any work, the row cap reaches every split trained on (cpu-best's unlabelled split, word vectors'
splits), every phase keeps to the budget, and a run that overshoots says so on stderr (docs/robustness.md)."""

import json
import os
import time

import numpy as np
import pytest
from helpers import PRETRAIN_TINY, QUIET, TINY, toy_rows, toy_with_unlabelled, write_toy_dataset

from hf_bilstm.commands import pretrain as pretrain_cmd
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.training import distillation, time_budget
from hf_bilstm.training.distillation import RESULTS_NAME, cap_rows, label_in_time
from hf_bilstm.training.linear_teacher import LinearTeacher

RECIPE_TINY = [*TINY, "--min_frequency", "1", "--num_train_epochs", "1", "--per_device_train_batch_size", "16"]


def one_error_line(capsys, flag: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and flag in lines[0], err
    return lines[0]


@pytest.fixture(scope="module")
def unlabelled_dataset(tmp_path_factory):
    """train 160 / test 40 rows plus an `unsupervised` split of 120 texts, as IMDB's."""
    return toy_with_unlabelled(tmp_path_factory.mktemp("data") / "with-unlabelled")


@pytest.mark.parametrize("preset", ["cpu-best", "cpu", "tutorial", "base"])
@pytest.mark.parametrize("seconds", ["0", "-5", "nan", "inf", "-inf"])
def test_a_bad_time_budget_is_refused_for_every_preset_before_any_work(tmp_path, capsys, preset, seconds):
    # On main cpu-best read 0 as "the default 3,300 s" and ran a negative budget; nan/inf reached the Trainer.
    out = tmp_path / "out"
    argv = ["--preset", preset, "--dataset", str(tmp_path / "absent"), "--output_dir", str(out)]
    assert train_cmd.main([*argv, f"--max_train_seconds={seconds}", *QUIET]) == 2
    line = one_error_line(capsys, "--max_train_seconds")
    assert "> 0" in line and not out.exists() and not (tmp_path / "out-recipe").exists()


@pytest.mark.parametrize("flag, value", [("--max_train_seconds", "nan"), ("--max_train_seconds", "-1"),
                                         ("--max_texts", "0")])  # fmt: skip
def test_pretrain_checks_its_run_size_flags_before_any_work(tmp_path, capsys, flag, value):
    out = tmp_path / "lm"
    argv = ["--dataset", str(tmp_path / "absent"), "--output_dir", str(out), *PRETRAIN_TINY, flag, value]
    assert pretrain_cmd.main(argv) == 2
    one_error_line(capsys, flag)
    assert not out.exists()


def test_the_linear_teacher_stops_at_its_deadline():
    train, validation = toy_rows(600, 0), toy_rows(60, 1)
    teacher = LinearTeacher(epochs=4, batch_size=16)
    teacher.fit(train["text"], train["label"], validation["text"], validation["label"], deadline=time.time() - 1)
    assert teacher.stopped_by_time_budget and len(teacher.history) == 1  # one batch, then scored and stopped
    assert 0.0 <= teacher.eval_accuracy <= 1.0


def test_the_unlabelled_cap_is_a_seeded_sample_in_order():
    texts = [f"text {i}" for i in range(100)]
    kept = cap_rows(texts, 10, seed=3)
    assert len(kept) == 10 and kept == cap_rows(texts, 10, seed=3) and kept != texts[:10]
    assert kept == sorted(kept, key=texts.index) and cap_rows(texts, None, 3) is texts


def test_cpu_best_caps_the_unlabelled_split_and_says_when_it_overshoots(tmp_path, unlabelled_dataset, capsys,
                                                                       monkeypatch):  # fmt: skip
    monkeypatch.setattr(time_budget, "RECIPE_MINIMUM_SECONDS", 0.0)  # a budget that loading alone spends
    out = tmp_path / "best"
    argv = ["--preset", "cpu-best", "--dataset", unlabelled_dataset, "--output_dir", str(out), *RECIPE_TINY, *QUIET]
    argv += ["--max_train_samples", "30", "--max_train_seconds", "0.5"]
    assert train_cmd.main(argv) == 0
    record = json.loads((out / RESULTS_NAME).read_text())
    # On main the unlabelled split was never capped: 120 rows next to the 30 labelled ones.
    assert record["phases"]["soft_labels"]["unlabelled_rows"] == 30
    assert record["phases"]["student"]["train_rows"] <= 60
    assert "stopped_by_time_budget" in record["phases"]["linear_teacher"]
    assert record["time_budget_seconds"] == 0.5 and record["within_budget"] is False
    err = capsys.readouterr().err
    assert "over its time budget of 0.5 s" in err, err[-2000:]


def test_a_single_run_that_overshoots_its_budget_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(time_budget, "MINIMUM_SECONDS", 0.0)
    dataset = write_toy_dataset(tmp_path / "data", n_train=60, n_test=20)
    out = tmp_path / "out"
    argv = ["--preset", "cpu", "--dataset", dataset, "--output_dir", str(out), *TINY, "--min_frequency", "1"]
    argv += ["--num_train_epochs", "1", "--max_train_seconds", "0.001", *QUIET]
    assert train_cmd.main(argv) == 0
    err = capsys.readouterr().err
    assert "over its time budget of 0.001 s" in err and os.path.isfile(out / "model.safetensors")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_soft_labels_are_cut_to_the_rows_that_fit_measured_on_the_first_chunks(monkeypatch):
    # Each chunk of 10 rows costs 1 s: with 3.5 s, the third chunk says a fourth would not fit.
    clock = Clock()
    monkeypatch.setattr(distillation.time, "time", clock)
    monkeypatch.setattr(distillation, "LABEL_CHUNK_ROWS", 10)
    texts = [f"text {i}" for i in range(100)]

    def label(chunk):
        clock.now += 1
        return np.array([[float(text.split()[1]), 0.0] for text in chunk])

    kept, probabilities = label_in_time(label, texts, seconds=3.5, seed=1)
    assert len(kept) == 30 and list(kept) == sorted(kept) and list(kept) != list(range(30))  # a sample, in order
    assert [texts[i] for i in kept] == [f"text {int(p)}" for p in probabilities[:, 0]]  # each row its own label
    clock.now = 0.0
    kept, _ = label_in_time(label, texts, seconds=-1, seed=1)  # nothing left: the measuring chunk only
    assert len(kept) == 10
    kept, probabilities = label_in_time(label, texts, seconds=1000, seed=1)
    assert list(kept) == list(range(100)) and list(probabilities[:, 0]) == list(range(100))


def test_cpu_best_gives_each_phase_a_share_of_what_is_left_and_logs_the_soft_label_cut(
    tmp_path, unlabelled_dataset, capsys, monkeypatch
):
    # The soft labels' share is made 0 so that the cut does not depend on this machine's speed: the first chunk
    # (8 rows) measures, and nothing more fits.
    monkeypatch.setattr(distillation, "SOFT_LABELS_BUDGET_SHARE", 0.0)
    monkeypatch.setattr(distillation, "LABEL_CHUNK_ROWS", 8)
    out = tmp_path / "best"
    argv = ["--preset", "cpu-best", "--dataset", unlabelled_dataset, "--output_dir", str(out), *RECIPE_TINY, *QUIET]
    assert train_cmd.main([*argv, "--max_train_seconds", "300"]) == 0
    record = json.loads((out / RESULTS_NAME).read_text())
    phases = record["phases"]
    assert record["time_budget_seconds"] == 300 and 0 <= record["loading_seconds"] < 300
    # Each phase was given its share of what was left when it started: loading (and earlier phases) counted.
    assert phases["linear_teacher"]["given_seconds"] <= 0.2 * (300 - record["loading_seconds"]) + 0.1
    assert phases["soft_labels"]["given_seconds"] == 0
    left = 300 - record["loading_seconds"] - phases["linear_teacher"]["seconds"] - phases["soft_labels"]["seconds"]
    assert 0 < phases["student"]["given_seconds"] <= left + 0.3
    assert phases["student"]["training_seconds"] <= phases["student"]["given_seconds"]
    soft = phases["soft_labels"]
    assert soft["unlabelled_rows"] == 8 and soft["unlabelled_rows_available"] == 120 and soft["cut_by_time_budget"]
    err = capsys.readouterr().err
    assert "soft labels: the time budget allowed 0 s for them, so 8 of the 120 unlabelled rows were labelled" in err
    assert phases["student"]["train_rows"] <= 160 + 8

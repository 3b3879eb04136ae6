"""--max_train_seconds: training stops early within its budget and leaves a complete model folder that says so."""

import json
import os

import pytest
from helpers import TINY, tiny_args, tiny_imdb, write_toy_dataset

from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.data import UsageError
from hf_bilstm.training import time_budget
from hf_bilstm.training.pretraining import pretrain
from hf_bilstm.training.time_budget import TimeBudgetCallback

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class State:
    def __init__(self, max_steps):
        self.epoch, self.global_step, self.max_steps = 0.0, 0, max_steps


class Control:
    should_training_stop = False


def epochs_until_stopped(budget: float, epoch_seconds: float, epochs: int, monkeypatch):
    """Drives the callback through `epochs` epochs of `epoch_seconds` each (10 steps per epoch) on a fake clock."""
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    callback, state, control = TimeBudgetCallback(budget), State(max_steps=10 * epochs), Control()
    callback.on_train_begin(None, state, control)
    for epoch in range(1, epochs + 1):
        for _ in range(10):
            clock.now += epoch_seconds / 10
            state.global_step += 1
            state.epoch = state.global_step / 10
            callback.on_step_end(None, state, control)
            if control.should_training_stop:
                return epoch - 1 + (state.global_step % 10) / 10, callback
        callback.on_epoch_end(None, state, control)
        if control.should_training_stop:
            return epoch, callback
    return epochs, callback


def test_stops_at_the_epoch_end_when_the_next_epoch_would_not_fit(monkeypatch):
    done, callback = epochs_until_stopped(budget=25, epoch_seconds=10, epochs=5, monkeypatch=monkeypatch)
    assert done == 2 and callback.stopped and callback.stopped_at_epoch == 2.0  # 20 s + 10 s > 25 s


def test_a_budget_that_fits_never_stops(monkeypatch):
    done, callback = epochs_until_stopped(budget=31, epoch_seconds=10, epochs=3, monkeypatch=monkeypatch)
    assert done == 3 and not callback.stopped
    # The last epoch is never "stopped" even when a further one would not fit.
    done, callback = epochs_until_stopped(budget=35, epoch_seconds=10, epochs=3, monkeypatch=monkeypatch)
    assert done == 3 and not callback.stopped


def test_stops_mid_epoch_once_the_budget_is_spent(monkeypatch):
    done, callback = epochs_until_stopped(budget=5, epoch_seconds=10, epochs=3, monkeypatch=monkeypatch)
    assert done == pytest.approx(0.5) and callback.stopped


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_a_budget_must_be_positive(seconds):
    with pytest.raises(ValueError, match="positive number of seconds"):
        TimeBudgetCallback(seconds)


def test_train_command_stops_early_and_leaves_a_complete_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(time_budget, "MINIMUM_SECONDS", 0.0)  # a budget that loading alone spends
    dataset = write_toy_dataset(tmp_path / "data", n_train=160, n_test=40)
    out = tmp_path / "out"
    argv = ["--dataset", dataset, "--output_dir", str(out), *TINY, "--per_device_train_batch_size", "16"]
    argv += ["--num_train_epochs", "50", "--disable_tqdm", "true", "--report_to", "none"]
    assert train_cmd.main(argv + ["--max_train_seconds", "0"]) == 2
    assert "--max_train_seconds" in capsys.readouterr().err and not (out / "model.safetensors").exists()
    assert train_cmd.main(argv + ["--max_train_seconds", "0.001"]) == 0  # spent after the first step
    assert "training stops after its first step" in capsys.readouterr().err
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 1  # 50 epochs were asked for
    results = json.loads((out / "all_results.json").read_text())
    # The figures describe the model that was kept: evaluating the saved folder gives them again.
    capsys.readouterr()
    assert evaluate_cmd.main([str(out), "--dataset", dataset, "--split", "test", "--device", "cpu"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test_accuracy"] == results["test_accuracy"] and again["test_samples"] == results["test_samples"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "README.md"):
        assert os.path.exists(out / name), name
    assert "stopped early by the 0 s time budget" in (out / "README.md").read_text()


def test_pretrain_stops_within_its_budget_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(time_budget, "MINIMUM_SECONDS", 0.0)  # a budget that loading alone spends
    results = pretrain(*tiny_args(tmp_path / "lm", max_steps=500, max_train_seconds=0.001), raw=tiny_imdb())
    assert results["steps"] == 1 and results["time_budget"]["stopped_training"]
    assert (tmp_path / "lm" / "model.safetensors").exists()
    assert "stopped by the 0 s time budget" in (tmp_path / "lm" / "README.md").read_text()
    with pytest.raises(UsageError, match="--max_train_seconds"):
        pretrain(*tiny_args(tmp_path / "lm2", max_train_seconds=0), raw=tiny_imdb())
    monkeypatch.undo()
    with pytest.raises(UsageError, match="below the 10 s"):
        pretrain(*tiny_args(tmp_path / "lm3", max_train_seconds=5), raw=tiny_imdb())


def test_pretrain_counts_its_loading_and_reserves_its_final_evaluation(tmp_path):
    results = pretrain(*tiny_args(tmp_path / "lm", max_steps=2, max_train_seconds=600), raw=tiny_imdb())
    budget = results["time_budget"]
    assert budget["seconds"] == 600 and budget["spent_before_training_seconds"] > 0
    assert budget["training_seconds"] == pytest.approx(600 - budget["spent_before_training_seconds"], abs=0.11)
    assert budget["reserved_for_final_evaluation_seconds"] > 0 and not budget["stopped_training"]


def test_the_final_reading_is_reserved_from_the_training_speed_before_any_evaluation(monkeypatch):
    # 10 s epochs of 100 tokens: a validation token costs half a training token's 0.1 s, so reading 100 tokens
    # after training is 5 s. With 22 s, a second epoch (10 s) and the reading (5 s) do not fit after the first.
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    callback = TimeBudgetCallback(22, train_tokens=100, final_tokens=100)
    state, control = State(max_steps=30), Control()
    callback.on_train_begin(None, state, control)
    for step in range(1, 11):
        clock.now += 1
        state.global_step, state.epoch = step, step / 10
        callback.on_step_end(None, state, control)
    assert not control.should_training_stop
    callback.on_epoch_end(None, state, control)
    assert callback.stopped and callback.stopped_at_epoch == 1.0
    assert callback.summary()["reserved_for_final_evaluation_seconds"] == pytest.approx(5.0)
    # Without the reading to reserve, the same budget runs a second epoch.
    done, plain = epochs_until_stopped(budget=22, epoch_seconds=10, epochs=3, monkeypatch=monkeypatch)
    assert done == 2


def test_a_measured_evaluation_sets_the_reserve(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    callback = TimeBudgetCallback(100, train_tokens=100, evaluation_tokens=50, final_tokens=100, budget=120,
                                  spent_before=20)  # fmt: skip
    state, control = State(max_steps=30), Control()
    callback.on_train_begin(None, state, control)
    clock.now += 10
    state.global_step, state.epoch = 10, 1.0
    callback.on_epoch_end(None, state, control)
    clock.now += 4  # the epoch's validation: 50 tokens in 4 s
    callback.on_evaluate(None, state, control)
    # The next step reserves the stopped epoch's validation and the final reading at the measured 0.08 s a token.
    clock.now += 1
    callback.on_step_end(None, state, control)
    assert callback.reserved == pytest.approx(0.08 * 150)
    summary = callback.summary()
    assert summary["seconds"] == 120 and summary["training_seconds"] == 100
    assert summary["spent_before_training_seconds"] == 20


def test_a_single_run_counts_its_loading_against_the_budget(tmp_path):
    dataset = write_toy_dataset(tmp_path / "data", n_train=60, n_test=20)
    out = tmp_path / "out"
    argv = ["--dataset", dataset, "--output_dir", str(out), *TINY, "--num_train_epochs", "1"]
    assert train_cmd.main([*argv, "--max_train_seconds", "600", "--disable_tqdm", "true", "--report_to", "none"]) == 0
    results = json.loads((out / "all_results.json").read_text())
    assert results["time_budget_seconds"] == 600
    # Training was given what loading and tokenizing left (both rounded to 0.1 s), and reserved the final reading.
    assert 0 < results["time_budget_training_seconds"] <= 600 - results["data_runtime"] + 0.2
    assert results["time_budget_reserved_seconds"] >= 0


@pytest.mark.parametrize("preset, seconds, minimum", [("cpu", "5", "10"), ("tutorial", "9.5", "10"),
                                                      ("cpu-best", "20", "30")])  # fmt: skip
def test_a_budget_too_small_for_any_work_is_refused_naming_the_minimum(tmp_path, capsys, preset, seconds, minimum):
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    out = tmp_path / "out"
    argv = ["--preset", preset, "--dataset", dataset, "--output_dir", str(out), "--max_train_seconds", seconds]
    capsys.readouterr()
    assert train_cmd.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"below the {minimum} s" in lines[0] and f"--max_train_seconds {minimum} or more" in err
    assert not out.exists() and not (tmp_path / "out-recipe").exists()


def test_the_first_step_measures_no_speed_for_the_reserve(monkeypatch):
    # The first step carries the start-up (and, with length grouping, the longest batch): an estimate from it alone
    # would stop a run at once. From the second step on, the steps after the first set it.
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    callback = TimeBudgetCallback(50, train_tokens=100, final_tokens=10_000)
    state, control = State(max_steps=100), Control()
    callback.on_train_begin(None, state, control)
    clock.now += 30  # a slow first step
    state.global_step, state.epoch = 1, 0.1
    callback.on_step_end(None, state, control)
    assert not control.should_training_stop and callback.reserved == 0
    clock.now += 1  # 10 tokens in 1 s: reading 10,000 at half that cost takes 500 s, more than is left
    state.global_step, state.epoch = 2, 0.2
    callback.on_step_end(None, state, control)
    assert control.should_training_stop and callback.reserved == pytest.approx(500)

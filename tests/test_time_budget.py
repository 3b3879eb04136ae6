"""--max_train_seconds: training stops early within its budget and leaves a complete model folder that says so."""

import json
import math
import os

import pytest
import torch
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


def started(callback: TimeBudgetCallback, max_steps: int, monkeypatch):
    """`callback` begun on a fake clock: (clock, state, control)."""
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    state, control = State(max_steps=max_steps), Control()
    callback.on_train_begin(None, state, control)
    return clock, state, control


def epochs_until_stopped(budget: float, epoch_seconds: float, epochs: int, monkeypatch):
    """Drives the callback through `epochs` epochs of `epoch_seconds` each (10 steps per epoch) on a fake clock."""
    callback = TimeBudgetCallback(budget)
    clock, state, control = started(callback, 10 * epochs, monkeypatch)
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
    callback = TimeBudgetCallback(22, train_tokens=100, final_tokens=100)
    clock, state, control = started(callback, 30, monkeypatch)
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
    callback = TimeBudgetCallback(100, train_tokens=100, evaluation_tokens=50, final_tokens=100, budget=120,
                                  spent_before=20)  # fmt: skip
    clock, state, control = started(callback, 30, monkeypatch)
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
    callback = TimeBudgetCallback(50, train_tokens=100, final_tokens=10_000)
    clock, state, control = started(callback, 100, monkeypatch)
    clock.now += 30  # a slow first step
    state.global_step, state.epoch = 1, 0.1
    callback.on_step_end(None, state, control)
    assert not control.should_training_stop and callback.reserved == 0
    clock.now += 1  # 10 tokens in 1 s: reading 10,000 at half that cost takes 500 s, more than is left
    state.global_step, state.epoch = 2, 0.2
    callback.on_step_end(None, state, control)
    assert control.should_training_stop and callback.reserved == pytest.approx(500)


# ------------------------------------------------------------------------------------------ a schedule over the budget
class Args:
    """The TrainingArguments fields a fitted schedule reads."""

    def __init__(self, shape="cosine", warmup=0.1):
        self.lr_scheduler_type, self.warmup_steps = shape, warmup

    def get_warmup_steps(self, steps):
        return int(self.warmup_steps) if self.warmup_steps >= 1 else math.ceil(steps * self.warmup_steps)


def fitted(budget, max_steps, monkeypatch, shape="cosine"):
    """A fitted callback begun on a fake clock with a real LambdaLR at peak rate 1.0: (callback, clock, state,
    control, scheduler)."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    callback = TimeBudgetCallback(budget, fit_schedule=True)
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    state, control = State(max_steps=max_steps), Control()
    callback.on_train_begin(Args(shape), state, control, lr_scheduler=scheduler)
    return callback, clock, state, control, scheduler


def step(callback, clock, state, control, scheduler, seconds):
    clock.now += seconds
    state.global_step += 1
    scheduler.optimizer.step()
    scheduler.step()
    callback.on_step_end(None, state, control)
    return scheduler.get_last_lr()[0]


def test_a_fitted_schedule_warms_up_and_decays_over_the_time_budget(monkeypatch):
    # 1,000 planned steps at 1 s each would take 1,000 s; the budget is 100 s: the schedule runs over the time.
    callback, clock, state, control, scheduler = fitted(100, 1000, monkeypatch)
    assert scheduler.get_last_lr()[0] == 0.0  # warmup starts at zero
    rates = [step(callback, clock, state, control, scheduler, 1.0) for _ in range(100)]
    assert rates[4] == pytest.approx(0.5)  # 5 s of a 10 s warmup
    assert rates[9] == pytest.approx(1.0)  # warmup over after 10 % of the time
    assert rates[54] == pytest.approx(0.5)  # half-way through the cosine decay
    assert rates[-1] == pytest.approx(0.0, abs=1e-12) and control.should_training_stop
    assert state.global_step == 100 and callback.stopped
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))  # decays monotonically
    assert callback.summary()["schedule_fitted_to_budget"] is True


def test_a_fitted_schedule_follows_the_steps_when_they_end_first(monkeypatch):
    # 20 planned steps of 1 s in a 1,000 s budget: the steps are the progress; the rate is at 0 by the last one.
    callback, clock, state, control, scheduler = fitted(1000, 20, monkeypatch, shape="linear")
    rates = [step(callback, clock, state, control, scheduler, 1.0) for _ in range(20)]
    assert rates[1] == pytest.approx(1.0) and rates[10] == pytest.approx(0.5) and rates[-1] == 0.0
    assert not callback.stopped


def test_a_fitted_schedule_lets_the_next_epoch_start(monkeypatch):
    # Without fitting, the epoch end stops a run whose next epoch would not fit; fitted, the decay ends it on time.
    callback, clock, state, control, scheduler = fitted(25, 50, monkeypatch)
    for _ in range(10):
        step(callback, clock, state, control, scheduler, 1.0)
    state.epoch = 1.0
    callback.on_epoch_end(None, state, control)
    assert not control.should_training_stop


def test_a_fitted_schedule_refuses_a_shape_it_cannot_lay_over_time(monkeypatch):
    with pytest.raises(UsageError, match="--lr_scheduler_type polynomial"):
        fitted(100, 10, monkeypatch, shape="polynomial")


def test_fit_schedule_needs_a_budget(tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    argv = ["--dataset", dataset, "--output_dir", str(tmp_path / "out"), "--fit_schedule_to_budget", "true"]
    assert train_cmd.main(argv) == 2
    assert "give --max_train_seconds too" in capsys.readouterr().err

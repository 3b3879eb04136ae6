"""The plan block `hf-bilstm train` prints before its first step, the measured estimate, and the slow-CPU warning."""

import json
import os
import re

import pytest
import torch
from helpers import TINY, write_toy_dataset
from safetensors.torch import load_file
from transformers import TrainerControl, TrainerState, TrainingArguments

from hf_bilstm import logs
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.cpu_threads import describe as describe_wait_policy
from hf_bilstm.training import run_plan
from hf_bilstm.training import trainer as training
from hf_bilstm.training.run_plan import RunPlanCallback

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_train_prints_the_plan_then_an_estimate_then_where_the_folder_is(tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "data", n_train=160, n_test=40)
    out = str(tmp_path / "run")
    argv = ["--dataset", dataset, "--output_dir", out, *TINY, "--per_device_train_batch_size", "16"]
    assert train_cmd.main(argv + ["--num_train_epochs", "2", "--disable_tqdm", "true", "--report_to", "none"]) == 0
    captured = capsys.readouterr()
    printed = captured.err + captured.out  # the plan and estimate are logged (stderr); the last line is printed
    with open(os.path.join(out, "all_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    parameters = sum(tensor.numel() for tensor in load_file(os.path.join(out, "model.safetensors")).values())

    plan = printed[printed.index("Training plan:") :].splitlines()[1:7]
    assert plan[0].startswith("  preset: cpu  (--preset auto: no GPU")
    assert plan[1] == f"  device: CPU, 1 threads, {describe_wait_policy()}; precision: fp32"
    assert plan[2] == "  recurrent path: padded, no packing (rnn_implementation='auto')"
    assert plan[3] == f"  parameters: {parameters:,}"
    assert plan[4] == (
        f"  rows: train {results['train_samples']:,}, validation {results['eval_samples']:,}, "
        f"test {results['test_samples']:,}"
    )
    steps = -(-results["train_samples"] // 16) * 2
    assert re.fullmatch(
        rf"  training: 2 epochs, {steps} steps \({steps // 2} per epoch\), batch 16, [\d,]+ tokens per epoch", plan[5]
    )
    # the estimate comes after the plan and before the end line, which names the folder
    estimate = printed.index("Measured ")
    assert printed.index("Training plan:") < estimate < printed.index(f"the model is in {out}")
    assert "This run needs over" not in printed


def end_step(callback, args, state, monkeypatch, *, now, global_step, tokens):
    """The callback's view of a step ending at clock time `now` with `tokens` real tokens seen so far."""
    monkeypatch.setattr(run_plan.time, "perf_counter", lambda: now)
    state.global_step, state.num_input_tokens_seen = global_step, tokens
    callback.on_step_end(args, state, TrainerControl())


@pytest.mark.parametrize("tokens_per_second, warned", [(500.0, True), (50_000.0, False)])
def test_a_cpu_run_expected_to_take_over_an_hour_is_warned_with_the_faster_preset(
    tmp_path, capsys, monkeypatch, tokens_per_second, warned
):
    logs.show_progress()  # as `hf-bilstm train` does: the estimate is an information message
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, num_train_epochs=4, report_to="none")
    state = TrainerState(max_steps=1400)
    callback = RunPlanCallback("base", "by hand", {"train": 22_371}, train_tokens=5_000_000, faster_preset="cpu")
    end_step(callback, args, state, monkeypatch, now=100.0, global_step=1, tokens=20_000)
    # 20 s and 20 steps later at tokens_per_second; 4 epochs of 5M tokens to go through
    seen = 20_000 + int(tokens_per_second * 20)
    end_step(callback, args, state, monkeypatch, now=120.0, global_step=21, tokens=seen)
    printed = capsys.readouterr().err
    remaining = (20_000_000 - seen) / tokens_per_second
    assert f"Measured {tokens_per_second:,.0f} tokens/s over steps 2-21" in printed
    assert f"about {run_plan.minutes(remaining)} more" in printed
    warning = "This run needs over 60.0 min on this CPU. `--preset cpu` is sized for a CPU"
    assert (warning in printed) is warned


@pytest.mark.parametrize("tokens_per_second, warned", [(1_489.0, True), (20_000.0, False)])
def test_a_collapse_below_the_presets_reference_is_one_line_with_cause_and_fix(
    tmp_path, capsys, monkeypatch, tokens_per_second, warned
):
    # cpu-best's README run printed "1,489 tokens/s, 9.4 h more" with one other process busy (issue 29)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(run_plan, "other_processes_cores", lambda *args: 1.0)  # one core kept busy by others
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, num_train_epochs=4, report_to="none")
    state = TrainerState(max_steps=1400)
    reference = run_plan.REFERENCE_TOKENS_PER_SECOND["cpu-best"]
    callback = RunPlanCallback("cpu-best", "", {"train": 22_371}, train_tokens=5_000_000, reference=reference)
    end_step(callback, args, state, monkeypatch, now=100.0, global_step=1, tokens=20_000)
    seen = 20_000 + int(tokens_per_second * 20)
    end_step(callback, args, state, monkeypatch, now=120.0, global_step=21, tokens=seen)
    lines = [line for line in capsys.readouterr().err.splitlines() if "other processes are probably" in line]
    assert len(lines) == (1 if warned else 0)
    if warned:
        assert f"1,489 tokens/s is 19x below this preset's {reference:,}" in lines[0]
        assert "GOMP_SPINCOUNT=300" in lines[0] or "--torch_threads 1" in lines[0]


@pytest.mark.parametrize(
    "environment, spins",
    [
        ({"OMP_WAIT_POLICY": "ACTIVE"}, True),
        ({}, True),  # libgomp's default: 300,000 spins
        ({"GOMP_SPINCOUNT": "30000"}, True),
        ({"GOMP_SPINCOUNT": "10k"}, True),
        ({"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "infinite"}, True),
        ({"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "300"}, False),  # what hf_bilstm sets
        ({"GOMP_SPINCOUNT": "1000"}, False),
        ({"OMP_WAIT_POLICY": "passive"}, False),
    ],
)
def test_the_collapse_line_names_the_fix_that_applies(monkeypatch, environment, spins):
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    line = run_plan.collapse_line(1_000.0, 40_000.0, 2, 1.0)
    assert "40x below" in line and "(other processes kept 1.0 of" in line
    assert ("set GOMP_SPINCOUNT=300 before torch starts" in line) is spins
    assert ("--torch_threads 1" in line) is not spins


def test_the_collapse_line_scales_with_threads(monkeypatch):
    # one thread: half the 2-thread reference is expected, so 8,000 tokens/s is no collapse
    assert run_plan.collapse_line(8_000.0, 40_000.0, 1, None) is None
    assert run_plan.collapse_line(6_000.0, 40_000.0, 1, None) is not None


def test_a_slower_cpu_with_nothing_else_running_is_no_collapse():
    # an idle older CPU trains 3x below the reference: no other process was seen, so no warning
    assert run_plan.collapse_line(4_300.0, 13_150.0, 2, 0.05) is None
    assert run_plan.collapse_line(4_300.0, 13_150.0, 2, 0.9) is not None
    assert run_plan.collapse_line(4_300.0, 13_150.0, 2, None) is not None  # not measurable: the speed alone decides


def test_the_reference_applies_only_to_the_presets_own_model():
    assert (
        training.reference_speed("cpu", frozenset({"dataset", "num_train_epochs", "max_train_samples"}))
        == (run_plan.REFERENCE_TOKENS_PER_SECOND["cpu"])
    )
    for flag in ("hidden_size", "max_length", "bf16", "per_device_train_batch_size"):
        assert training.reference_speed("cpu", frozenset({flag})) is None
    assert training.reference_speed(None, frozenset()) is None

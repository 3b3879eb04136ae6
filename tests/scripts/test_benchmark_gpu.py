"""scripts/benchmark_gpu.py at toy size on a CPU: the Trainer-vs-bare-loop measurement runs, and CPU results are
kept out of benchmarks/results (which holds GPU results only)."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_script, single_torch_thread, write_toy_dataset

from hf_bilstm.commands import train as train_cmd

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_gpu.py"


def test_trainer_and_bare_loop_epochs_are_measured(tmp_path, monkeypatch):
    bench = load_script(monkeypatch, "benchmark_gpu")
    with single_torch_thread():
        args = argparse.Namespace(dataset=write_toy_dataset(tmp_path / "data"), work_dir=str(tmp_path), tiny=True)
        # The folder that the full run would leave (tokenizer + config), made in-process to save a process start.
        assert train_cmd.main(bench.train_argv(args, "tutorial") + ["--disable_tqdm", "true"]) == 0
        result = bench.overhead(args, "tutorial")
    assert result["trainer_epoch_seconds"] > 0 and result["bare_epoch_seconds"] > 0
    ratio = result["trainer_epoch_seconds"] / result["bare_epoch_seconds"]
    assert result["trainer_over_bare"] == pytest.approx(ratio, rel=0.05)  # from the unrounded seconds
    assert result["bare_tokens_per_second"] > 0


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_cpu_results_never_land_in_benchmarks_results():
    results = SCRIPT.parent.parent / "benchmarks" / "results"
    before = set(os.listdir(results)) if results.is_dir() else set()
    command = [sys.executable, str(SCRIPT), "--tiny", "--results_dir", str(results)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "GPU results only" in result.stderr
    assert (set(os.listdir(results)) if results.is_dir() else set()) == before

"""scripts/benchmark_cpu_presets.py --seeds: one run per seed, and ONE JSON with the mean and sample standard deviation
of the test and validation figure, rewritten as each run finishes."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TINY, load_script, write_toy_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_cpu_presets.py"


def fake_run(seed: int, metric: str = "accuracy", test=0.8, validation=0.9, wall=10.0) -> dict:
    return {"seed": seed, "metric": metric, f"test_{metric}": test, f"eval_{metric}": validation} | {
        "wall_seconds": wall,
        "device": "CPU: test, 2 cores",
        "date": "2026-12-06",
    }


def test_the_summary_has_mean_and_sample_sd_and_says_when_seeds_are_missing(monkeypatch):
    bench = load_script(monkeypatch, "benchmark_cpu_presets")
    runs = [fake_run(42, test=0.80, validation=0.90, wall=10), fake_run(43, test=0.90, validation=0.92, wall=14)]
    summary = bench.summarize("cpu", "cpu", [42, 43, 44], runs, "python scripts/x.py", "abc")
    assert summary["complete"] is False and summary["seeds"] == [42, 43, 44] and summary["seeds_done"] == [42, 43]
    assert summary["test_accuracy_mean"] == pytest.approx(0.85)
    assert summary["test_accuracy_std"] == pytest.approx(statistics.stdev([0.8, 0.9]))  # n-1, not n
    assert summary["test_accuracy_std"] != pytest.approx(statistics.pstdev([0.8, 0.9]))
    assert summary["eval_accuracy_mean"] == pytest.approx(0.91) and "n-1" in summary["std"]
    assert (summary["wall_seconds_max"], summary["wall_seconds_mean"]) == (14, 12.0)
    assert {"preset", "device", "date", "command", "commit", "runs"} <= set(summary)
    done = bench.summarize("cpu", "cpu", [42, 43], runs, "c", "abc")
    assert done["complete"] is True
    one = bench.summarize("cpu", "cpu", [42, 43], runs[:1], "c", "abc")
    assert one["test_accuracy_mean"] == 0.8 and one["test_accuracy_std"] is None  # no spread from one run


def test_other_metrics_are_named_and_a_validation_only_run_has_no_test_fields(monkeypatch):
    bench = load_script(monkeypatch, "benchmark_cpu_presets")
    runs = [fake_run(1, "pearson", test=0.6, validation=0.62), fake_run(2, "pearson", test=0.7, validation=0.64)]
    summary = bench.summarize("scores", "cpu", [1, 2], runs, "c", "abc")
    assert summary["metric"] == "pearson" and summary["test_pearson_mean"] == pytest.approx(0.65)
    assert "test_accuracy_mean" not in summary and summary["eval_pearson_std"] == pytest.approx(0.01414, abs=1e-4)
    validation_only = [fake_run(1, test=None), fake_run(2, test=None, validation=0.8)]
    summary = bench.summarize("ablation", "cpu", [1, 2], validation_only, "c", "abc")
    assert "test_accuracy_mean" not in summary and summary["eval_accuracy_mean"] == pytest.approx(0.85)
    with pytest.raises(ValueError, match="different metrics"):
        bench.summarize("mixed", "cpu", [1, 2], [fake_run(1), fake_run(2, "pearson")], "c", "abc")


@pytest.mark.parametrize(
    "argv, seeds",
    [
        ([], None),  # today's single run: no --seed passed, one record
        (["--seeds", "1"], None),
        (["--seeds", "3"], [42, 43, 44]),
        (["--seed_list", "42", "1", "2"], [42, 1, 2]),
        (["--seeds", "3", "--seed_list", "42", "1", "2"], [42, 1, 2]),
    ],
)
def test_which_seeds_run(monkeypatch, tmp_path, argv, seeds):
    bench = load_script(monkeypatch, "benchmark_cpu_presets")
    chosen, written = [], []

    def train_once(name, preset, run_argv, output_dir, commit):
        chosen.append(run_argv)
        return {"date": "2026-12-06"}

    monkeypatch.setattr(bench, "train_once", train_once)
    monkeypatch.setattr(bench, "summarize", lambda *args: {"metric": "accuracy"})
    monkeypatch.setattr(bench, "write_json", lambda record, path: written.append(path))
    assert bench.main([*argv, "--dataset", "d", "--work_dir", "w", "--results_dir", str(tmp_path)]) == 0
    if seeds is None:
        assert len(chosen) == 1 and "--seed" not in chosen[0] and written[0].endswith("-cpu-preset-auto.json")
        return
    assert [run[run.index("--seed") + 1] for run in chosen] == [str(seed) for seed in seeds]
    assert len({run[run.index("--output_dir") + 1] for run in chosen}) == len(seeds)  # a folder per seed
    assert set(written) == {written[0]} and written[0].endswith(f"-cpu-preset-auto-{len(seeds)}-seeds.json")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "2", "--seed_list", "42", "1", "2"], "disagree"),
        (["--seeds", "0"], "at least 1"),
        (["--seed_list", "1", "1"], "twice"),
        (["--seeds", "2", "--", "--seed", "7"], "--seed among the flags"),
    ],
)
def test_ambiguous_seeds_are_refused(monkeypatch, argv, message):
    bench = load_script(monkeypatch, "benchmark_cpu_presets")
    with pytest.raises(SystemExit, match=message):
        bench.main(argv)


@pytest.mark.slow  # two `hf-bilstm train` processes (torch and transformers imported in each: tens of seconds)
def test_two_tiny_seeds_end_to_end(tmp_path):
    dataset = write_toy_dataset(tmp_path / "data", n_train=320, n_test=80)
    results = tmp_path / "results"
    command = [sys.executable, str(SCRIPT), "--preset", "cpu", "--seeds", "2", "--dataset", dataset]
    command += ["--work_dir", str(tmp_path / "work"), "--results_dir", str(results), "--"]
    command += ["--max_train_samples", "256", "--max_eval_samples", "64", "--max_test_samples", "64"]
    command += ["--max_steps", "3", *TINY, "--disable_tqdm", "true"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = results.glob("*-cpu-preset-cpu-2-seeds.json")
    summary = json.loads(path.read_text())
    assert summary["complete"] is True and summary["seeds"] == [42, 43] and summary["preset"] == "cpu"
    runs = summary["runs"]
    assert [run["seed"] for run in runs] == [42, 43]
    assert all(f"--seed {run['seed']}" in run["command"] for run in runs)
    assert 250 <= runs[0]["splits"]["train"] <= 256 and runs[0]["splits"]["eval"] <= 64  # capped (less any duplicate)
    tests = [run["test_accuracy"] for run in runs]
    assert summary["test_accuracy_mean"] == pytest.approx(statistics.fmean(tests))
    assert summary["test_accuracy_std"] == pytest.approx(statistics.stdev(tests))
    assert summary["eval_accuracy_mean"] == pytest.approx(statistics.fmean(run["eval_accuracy"] for run in runs))
    assert summary["wall_seconds_max"] == max(run["wall_seconds"] for run in runs)
    folders = {Path(run["command"].split("--output_dir ")[1].split()[0]) for run in runs}
    assert len(folders) == 2 and all((folder / "model.safetensors").exists() for folder in folders)

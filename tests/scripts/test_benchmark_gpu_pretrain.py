"""scripts/benchmark_gpu_pretrain.py end to end at toy size on a CPU, so that a GPU session's one run of it does not
fail on a broken script: every phase runs (the candidates side by side, as on a GPU), the report has the shape the
issue asks for, and the test split is read by the final evaluation only.

The script runs in this process (loaded from its file); its fine-tuning candidates still run side by side as
`hf-bilstm train` processes, and its serial phases (`pretrain`, the final `evaluate`) call the same `hf-bilstm`
command in this process instead of a fresh one, which saves two process starts (torch and transformers imported
again: seconds each on 2 cores)."""

import json
import sys
import time
from pathlib import Path

import pytest
from helpers import load_script, single_torch_thread, write_toy_dataset

from hf_bilstm import cli

# Minutes-scale on 2 cores: `pytest -m "not slow"` leaves it out of the quick loop; CI runs it.
pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_gpu_pretrain.py"


def test_whole_pipeline_runs_and_reports_in_the_benchmark_shape(tmp_path, monkeypatch):
    splits = ("train", "test", "unsupervised")
    dataset = write_toy_dataset(tmp_path / "data", n_train=400, n_test=120, splits=splits)
    # Like IMDB's own card: a split name other than train/validation/test is declared in the README's configs.
    files = "".join(f"  - split: {split}\n    path: {split}.parquet\n" for split in splits)
    (tmp_path / "data" / "README.md").write_text(f"---\nconfigs:\n- config_name: default\n  data_files:\n{files}---\n")
    work = tmp_path / "work"
    bench = load_script(monkeypatch, "benchmark_gpu_pretrain")

    def run_here(subcommand: str, argv: list[str], commands: list[str]) -> float:
        """The script's `run` (one `hf-bilstm SUBCOMMAND ARGV`, its wall seconds), in this process."""
        started = time.perf_counter()
        bench.cli_command(subcommand, argv, commands)  # noted in the report as the script notes it
        assert cli.main([subcommand, *argv]) == 0, (subcommand, argv)
        return time.perf_counter() - started

    monkeypatch.setattr(bench, "run", run_here)
    # What the side-by-side `hf-bilstm train` processes inherit.
    for name, value in (("OMP_NUM_THREADS", "1"), ("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_OFFLINE", "1")):
        monkeypatch.setenv(name, value)
    argv = [str(SCRIPT), "--tiny", "--side_by_side", "--dataset", dataset, "--work_dir", str(work)]
    monkeypatch.setattr(sys, "argv", argv)
    with single_torch_thread():
        assert bench.main() == 0

    (report_file,) = (work / "results").glob("*-pretrain-tiny.json")  # one file, rewritten after every phase
    report = json.loads(report_file.read_text())
    assert report["complete"] is True and report["tiny"] is True
    assert {"device", "date", "command", "commit"} <= set(report)
    (run,) = report["runs"]
    assert run["recipe"] == "pretrain+finetune"
    # The report quotes the one test evaluation, of the 100 rows --tiny samples: a share of 100 rows.
    test = json.loads((work / "test_metrics.json").read_text())
    assert test["test_samples"] == 100 and run["test_accuracy"] == test["test_accuracy"]
    assert run["test_accuracy"] * 100 == pytest.approx(round(run["test_accuracy"] * 100))
    (lm_results,) = work.glob("**/pretraining_results.json")
    assert run["lm_perplexity"] == json.loads(lm_results.read_text())["lm_perplexity"]
    assert set(run["candidates_eval_accuracy"]) == {"plain", "tools", "vat"}
    assert run["eval_accuracy"] == max(run["candidates_eval_accuracy"].values())  # chosen on validation
    assert run["total_seconds"] > 0 and run["seconds_per_phase"]["test_evaluation"] > 0
    assert run["time_budget"]["lm"]["stopped_training"] is False

    # Test text is read once, by the final evaluation: the LM's tokenizer never saw it and no fine-tune measured it.
    commands = run["commands"]
    assert [c for c in commands if "--split test" in c] == [commands[-1]]
    assert all("--test_split ''" in c for c in commands if c.startswith("hf-bilstm train"))
    for name in ("plain", "tools", "vat"):
        assert "test_accuracy" not in json.loads((work / f"finetune-{name}" / "all_results.json").read_text())

"""scripts/benchmark_gpu_pretrain.py end to end at toy size on a CPU, so that a GPU session's one run of it does not
fail on a broken script: every phase runs (the candidates side by side, as on a GPU), the report has the shape the
issue asks for, and the test split is read by the final evaluation only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_toy_dataset

# Minutes-scale on 2 cores: `pytest -m "not slow"` leaves it out of the quick loop; CI runs it.
pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_gpu_pretrain.py"


def test_whole_pipeline_runs_and_reports_in_the_benchmark_shape(tmp_path):
    splits = ("train", "test", "unsupervised")
    dataset = write_toy_dataset(tmp_path / "data", n_train=400, n_test=120, splits=splits)
    # Like IMDB's own card: a split name other than train/validation/test is declared in the README's configs.
    files = "".join(f"  - split: {split}\n    path: {split}.parquet\n" for split in splits)
    (tmp_path / "data" / "README.md").write_text(f"---\nconfigs:\n- config_name: default\n  data_files:\n{files}---\n")
    work = tmp_path / "work"
    command = [sys.executable, str(SCRIPT), "--tiny", "--side_by_side", "--dataset", dataset, "--work_dir", str(work)]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

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

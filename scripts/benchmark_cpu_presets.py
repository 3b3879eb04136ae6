"""Full-size CPU runs: `hf-bilstm train` on the whole IMDB, timed from the command's start, as a user runs it.

Each run is a fresh process with an empty `datasets` cache (tokenizing is part of the measured wall time, as on a
fresh machine). Test and validation accuracy, training seconds and tokens per second come from the run's
`all_results.json`; one JSON per run goes to --results_dir (default benchmarks/results) as it finishes:
`<date>-cpu-preset-<name>.json` with device, date, command, commit and the figures.

    python scripts/benchmark_cpu_presets.py --preset cpu                      # README command 1 (preset auto)
    python scripts/benchmark_cpu_presets.py --preset cpu --name cpu-fp32 -- --bf16 false
    python scripts/benchmark_cpu_presets.py --preset cpu-best                 # the distilled recipe, all phases
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hf_bilstm.cpu_threads  # noqa: F401  before torch loads: its threads spin only briefly (cpu_threads)

# isort: split
import torch
from run_record import cpu_name, git_commit, write_json  # beside this script

REPO = Path(__file__).resolve().parent.parent


def make_record(name: str, preset: str, argv: list[str], output_dir: str, commit: str, wall: float | None) -> dict:
    """The result JSON of one finished run, read from its output folder (a run without a test split has no test
    figures: validation-only ablations)."""
    with open(os.path.join(output_dir, "all_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    with open(os.path.join(output_dir, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    # Validation accuracy after each epoch: shows whether the best epoch was the last and how much epochs differ.
    with open(os.path.join(output_dir, "trainer_state.json"), encoding="utf-8") as handle:
        history = json.load(handle).get("log_history", [])
    # (the evaluation logged after the "train_loss" summary is the final one, of the restored best checkpoint)
    end = next((i for i, entry in enumerate(history) if "train_loss" in entry), len(history))
    by_epoch = [
        {"epoch": entry["epoch"], "eval_accuracy": entry["eval_accuracy"], "eval_loss": entry.get("eval_loss")}
        for entry in history[:end]
        if "eval_accuracy" in entry
    ]
    record = {
        "benchmark": "full-size training on a CPU (scripts/benchmark_cpu_presets.py)",
        "name": name,
        "preset": preset,
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "date": datetime.date.today().isoformat(),
        "command": shlex.join(["hf-bilstm", "train", *argv]),
        "commit": commit,
        "test_accuracy": results.get("test_accuracy"),
        "test_f1": results.get("test_f1"),
        "eval_accuracy": results.get("eval_accuracy"),
        "wall_seconds": None
        if wall is None
        else round(wall, 1),  # the whole command: loading, tokenizer, tokenizing, training, evaluations
        # seconds per phase: loading + tokenizer + tokenizing, word vectors, training (with the per-epoch validation
        # passes), the final validation and test passes
        "phase_seconds": {
            key[:-8]: results[key]
            for key in ("data_runtime", "word_vectors_runtime", "train_runtime", "eval_runtime", "test_runtime")
            if key in results
        },
        "train_seconds": results["train_runtime"],  # training incl. the per-epoch validation passes
        "train_tokens_per_second": results["train_tokens_per_second"],
        "epochs": results.get("epoch"),
        "eval_accuracy_by_epoch": by_epoch,
        "splits": {
            key[:-8]: results[key] for key in ("train_samples", "eval_samples", "test_samples") if key in results
        },
        # seconds and epochs of the word2vec phase (--word_vectors_epochs), absent when it did not run
        "word_vectors": {key[13:]: value for key, value in results.items() if key.startswith("word_vectors_")} or None,
        "model": {key: config.get(key) for key in ("embedding_dim", "hidden_size", "num_layers", "vocab_size")},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    # A recipe of several phases (--preset cpu-best) records each phase; the figures above are its student's.
    recipe_path = os.path.join(output_dir, "recipe_results.json")
    if os.path.exists(recipe_path):
        with open(recipe_path, encoding="utf-8") as handle:
            recipe = json.load(handle)
        record["phase_seconds"] = {name: phase["seconds"] for name, phase in recipe["phases"].items()}
        record["recipe"] = recipe
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="auto", help="what --preset to pass (auto: leave it out, as README does)")
    parser.add_argument("--name", default=None, help="result name (default: the preset)")
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--work_dir", default="/tmp/hf_bilstm_cpu_presets")
    parser.add_argument("--results_dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("extra", nargs="*", help="flags for hf-bilstm train, after --")
    args = parser.parse_args()
    name = args.name or args.preset
    output_dir = os.path.join(args.work_dir, name)
    argv = ["--dataset", args.dataset, "--output_dir", output_dir, "--overwrite_output_dir", "true"]
    if args.preset != "auto":
        argv = ["--preset", args.preset, *argv]
    argv += args.extra
    command = [sys.executable, "-m", "hf_bilstm.cli", "train", *argv]
    commit = git_commit()  # the code this run imports: read now, the repository may move on while it trains
    print(f"=== {name}: {shlex.join(command)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hf-datasets-cache-") as cache:
        env = dict(os.environ, HF_DATASETS_CACHE=cache)  # nothing tokenized before: a fresh machine's wall time
        started = time.time()
        subprocess.run(command, check=True, cwd=REPO, stdin=subprocess.DEVNULL, env=env)
        wall = time.time() - started
    record = make_record(name, args.preset, argv, output_dir, commit, wall)
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"{record['date']}-cpu-preset-{name}.json")
    write_json(record, path)
    print(json.dumps(record, indent=2), flush=True)
    print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Full-size CPU runs: `hf-bilstm train` on the whole IMDB, timed from the command's start, as a user runs it.

Each run is a fresh process with an empty `datasets` cache (tokenizing is part of the measured wall time, as on a
fresh machine). Test and validation figures, training seconds and tokens per second come from the run's
`all_results.json`; one JSON per run goes to --results_dir (default benchmarks/results) as it finishes:
`<date>-cpu-preset-<name>.json` with device, date, command, commit and the figures.

With `--seeds N` (or `--seed_list 42 1 2`) the preset runs once per seed (42, 43, ... by default), each in its own
process, output folder and empty cache, and ONE JSON, `<date>-cpu-preset-<name>-<N>-seeds.json`, is rewritten as each
run finishes: every run's record, and the mean and sample standard deviation (n-1) of the test and validation figure
over the runs done (`complete: false` until every seed has run). The figure is accuracy, or the run's own headline
metric where it reports another (multi-label: micro F1; regression: Pearson), named in the fields
(`test_pearson_mean`, ...); a run without a test split (validation only) has no test fields.

    python scripts/benchmark_cpu_presets.py --preset cpu                      # README command 1 (preset auto)
    python scripts/benchmark_cpu_presets.py --preset cpu --seeds 3            # mean ± sd of seeds 42, 43, 44
    python scripts/benchmark_cpu_presets.py --preset cpu --name cpu-fp32 -- --bf16 false
    python scripts/benchmark_cpu_presets.py --preset cpu-best                 # the distilled recipe, all phases
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
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
FIRST_SEED = 42  # hf-bilstm train's default seed: `--seeds N` runs 42, 43, ...
# The figure a run is judged by, per problem type (as scripts/benchmark_own_data.py reports them).
HEADLINE_METRIC = {
    "single_label_classification": "accuracy",
    "multi_label_classification": "f1_micro",
    "regression": "pearson",
}
STD_NOTE = "sample standard deviation (n-1 denominator) over the runs done; null with fewer than 2 runs"


def make_record(name: str, preset: str, argv: list[str], output_dir: str, commit: str, wall: float | None) -> dict:
    """The result JSON of one finished run, read from its output folder (a run without a test split has no test
    figures: validation-only ablations)."""
    with open(os.path.join(output_dir, "all_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    with open(os.path.join(output_dir, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    metric = HEADLINE_METRIC.get(config.get("problem_type") or "single_label_classification", "accuracy")
    # The validation figure after each epoch: shows whether the best epoch was the last and how much epochs differ.
    with open(os.path.join(output_dir, "trainer_state.json"), encoding="utf-8") as handle:
        history = json.load(handle).get("log_history", [])
    # (the evaluation logged after the "train_loss" summary is the final one, of the restored best checkpoint)
    end = next((i for i, entry in enumerate(history) if "train_loss" in entry), len(history))
    by_epoch = [
        {"epoch": entry["epoch"], f"eval_{metric}": entry[f"eval_{metric}"], "eval_loss": entry.get("eval_loss")}
        for entry in history[:end]
        if f"eval_{metric}" in entry
    ]
    record = {
        "benchmark": "full-size training on a CPU (scripts/benchmark_cpu_presets.py)",
        "name": name,
        "preset": preset,
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "date": datetime.date.today().isoformat(),
        "command": shlex.join(["hf-bilstm", "train", *argv]),
        "commit": commit,
        "metric": metric,  # the figure this run is judged by (HEADLINE_METRIC)
        f"test_{metric}": results.get(f"test_{metric}"),
        "test_f1": results.get("test_f1"),
        f"eval_{metric}": results.get(f"eval_{metric}"),
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
        f"eval_{metric}_by_epoch": by_epoch,
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


def seeds_of(args, extra: list[str]) -> list[int] | None:
    """The seeds to run (None: one run as hf-bilstm train's default, without --seed); refused when ambiguous."""
    if args.seed_list and args.seeds is not None and args.seeds != len(args.seed_list):
        raise SystemExit(f"--seeds {args.seeds} and --seed_list {args.seed_list} disagree; give one of them.")
    if args.seeds is not None and args.seeds < 1:
        raise SystemExit(f"--seeds must be at least 1, but it was {args.seeds}.")
    if len(set(args.seed_list or [])) != len(args.seed_list or []):
        raise SystemExit(f"--seed_list {args.seed_list} names a seed twice; give each once.")
    if not args.seed_list and args.seeds in (None, 1):
        return None  # today's single run
    seeds = args.seed_list or [FIRST_SEED + i for i in range(args.seeds)]
    if any(flag == "--seed" or flag.startswith("--seed=") for flag in extra):
        raise SystemExit("--seed among the flags for hf-bilstm train: give the seeds with --seeds or --seed_list.")
    return seeds


def spread(values: list[float]) -> tuple[float | None, float | None]:
    """(mean, sample standard deviation) of the values there are; None where there are too few."""
    values = [value for value in values if value is not None]
    mean = statistics.fmean(values) if values else None
    return mean, statistics.stdev(values) if len(values) > 1 else None


def summarize(name: str, preset: str, seeds: list[int], runs: list[dict], command: str, commit: str) -> dict:
    """The one JSON of a several-seed benchmark: each run's record, and the mean and sample standard deviation of
    its test and validation figure (named after the metric, `test_accuracy_mean`, ...) over the runs done."""
    metrics = {run["metric"] for run in runs}
    if len(metrics) > 1:
        raise ValueError(f"the runs report different metrics {sorted(metrics)}; they cannot be averaged")
    metric = metrics.pop() if metrics else "accuracy"
    summary = {
        "benchmark": "full-size training on a CPU, one run per seed (scripts/benchmark_cpu_presets.py --seeds)",
        "name": name,
        "preset": preset,
        "seeds": seeds,
        "seeds_done": [run["seed"] for run in runs],
        "complete": len(runs) == len(seeds),
        "metric": metric,
        "std": STD_NOTE,
    }
    for split in ("test", "eval"):
        values = [run.get(f"{split}_{metric}") for run in runs]
        if all(value is None for value in values):  # a validation-only run reads no test split
            continue
        summary[f"{split}_{metric}_mean"], summary[f"{split}_{metric}_std"] = spread(values)
        summary[f"{split}_{metric}_by_seed"] = values
    walls = [run["wall_seconds"] for run in runs if run["wall_seconds"] is not None]
    summary["wall_seconds_max"] = max(walls) if walls else None
    summary["wall_seconds_mean"] = round(statistics.fmean(walls), 1) if walls else None
    first = runs[0] if runs else {}
    summary.update(
        device=first.get("device") or f"CPU: {cpu_name()}, {os.cpu_count()} cores",
        date=first.get("date") or datetime.date.today().isoformat(),
        command=command,
        commit=commit,
        runs=runs,
    )
    return summary


def train_argv(args, output_dir: str, seed: int | None = None) -> list[str]:
    """hf-bilstm train's flags for one run: the preset (none for auto, as README leaves it out), the data, the
    output folder, the seed when one is given, then the flags after --."""
    argv = [] if args.preset == "auto" else ["--preset", args.preset]
    argv += ["--dataset", args.dataset, "--output_dir", output_dir, "--overwrite_output_dir", "true"]
    argv += [] if seed is None else ["--seed", str(seed)]
    return argv + args.extra


def train_once(name: str, preset: str, argv: list[str], output_dir: str, commit: str) -> dict:
    """One `hf-bilstm train` in a fresh process with an empty `datasets` cache, and its record."""
    command = [sys.executable, "-m", "hf_bilstm.cli", "train", *argv]
    print(f"=== {name}: {shlex.join(command)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hf-datasets-cache-") as cache:
        env = dict(os.environ, HF_DATASETS_CACHE=cache)  # nothing tokenized before: a fresh machine's wall time
        started = time.time()
        subprocess.run(command, check=True, cwd=REPO, stdin=subprocess.DEVNULL, env=env)
        wall = time.time() - started
    return make_record(name, preset, argv, output_dir, commit, wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="auto", help="what --preset to pass (auto: leave it out, as README does)")
    parser.add_argument("--name", default=None, help="result name (default: the preset)")
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--work_dir", default="/tmp/hf_bilstm_cpu_presets")
    parser.add_argument("--results_dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument(
        "--seeds", type=int, default=None, help="run the preset with this many seeds (42, 43, ...): mean and sd"
    )
    parser.add_argument("--seed_list", type=int, nargs="+", default=None, help="run with these seeds instead")
    parser.add_argument("extra", nargs="*", help="flags for hf-bilstm train, after --")
    args = parser.parse_args(argv)
    seeds = seeds_of(args, args.extra)
    name = args.name or args.preset
    commit = git_commit()  # the code this run imports: read now, the repository may move on while it trains
    os.makedirs(args.results_dir, exist_ok=True)
    if seeds is None:  # one run as hf-bilstm train's defaults make it: one record, one file
        output_dir = os.path.join(args.work_dir, name)
        record = train_once(name, args.preset, train_argv(args, output_dir), output_dir, commit)
        path = os.path.join(args.results_dir, f"{record['date']}-cpu-preset-{name}.json")
        write_json(record, path)
        print(json.dumps(record, indent=2), flush=True)
        print(f"wrote {path}", flush=True)
        return 0
    command = shlex.join(["python", "scripts/benchmark_cpu_presets.py", *(sys.argv[1:] if argv is None else argv)])
    today = datetime.date.today().isoformat()
    path = os.path.join(args.results_dir, f"{today}-cpu-preset-{name}-{len(seeds)}-seeds.json")
    runs = []
    for seed in seeds:
        output_dir = os.path.join(args.work_dir, name, f"seed-{seed}")  # each seed its own folder
        run_argv = train_argv(args, output_dir, seed)
        record = train_once(f"{name}, seed {seed}", args.preset, run_argv, output_dir, commit)
        record["seed"] = seed
        runs.append(record)
        summary = summarize(name, args.preset, seeds, runs, command, commit)
        write_json(summary, path)  # after every run: a stopped benchmark leaves the runs done (complete: false)
        metric = summary["metric"]
        means = {split: summary.get(f"{split}_{metric}_mean") for split in ("test", "eval")}
        print(f"=== {name}: {len(runs)} of {len(seeds)} seeds done, {metric} means {means}; wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

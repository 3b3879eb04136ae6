"""Own data, as shipped: `hf-bilstm train` with default training flags on the six datasets of ../shared/data/own (see
its SOURCES.md), each loaded with flags only, against TF-IDF (word uni+bigrams) + a linear model trained on the same
rows.

For each dataset: one `hf-bilstm train` run (a fresh process, wall time from its start), its test figures from
`all_results.json`; then the baseline on the splits that run used (the same files, flags and seed give the same rows:
the script reads them with the train command's own functions): TfidfVectorizer(ngram_range=(1, 2), sublinear_tf) with
logistic regression (one per label for multi-label, a label at probability >= 0.5) or, for a score, ridge regression;
its C (alpha) chosen on the validation split, as the model's best epoch is. Both are scored by `hf_bilstm.metrics`.
Figures: accuracy (multi-label: micro F1; regression: Pearson) and macro F1 (regression: MSE).

    flock /work/cpu.lock python scripts/benchmark_own_data.py              # all six, writes the results JSON
    python scripts/benchmark_own_data.py --only trec sms-spam --seeds 42 1 2  # 3 seeds: mean and spread
    python scripts/benchmark_own_data.py --only trec --quick                # smoke test: 300 rows, 1 epoch, no JSON

Writes benchmarks/results/<date>-own-data[-<datasets>][-N-seeds].json (device, date, command, commit, per dataset
both figures and times; with several seeds, each dataset's mean and spread).
scikit-learn is a dev-only dependency (`pip install -e ".[dev]"`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hf_bilstm.cpu_threads  # noqa: F401  before torch loads: its threads spin only briefly (cpu_threads)

# isort: split
import numpy as np
import torch
from run_record import cpu_name, git_commit, write_json  # beside this script

REPO = Path(__file__).resolve().parent.parent
OWN = REPO.parent / "shared" / "data" / "own"
TIME_LIMIT_SECONDS = 300  # the target: each dataset trained in at most 5 minutes on 2 cores

# name -> the flags that load it as shipped (relative to the data folder); everything else is train's defaults.
DATASETS = {
    # header question,category; train.csv + test.csv, validation carved from train
    "trec": ["--dataset", "trec", "--text_column", "question", "--label_column", "category"],
    # GLUE TSV: dev.tsv is the labelled held-out split (test.tsv has no labels), validation carved from train
    "sst2": ["--train_file", "sst2/train.tsv", "--test_file", "sst2/dev.tsv", "--text_column", "sentence"],
    # text,score in [0, 1]: regression, inferred from the fractions
    "sst5-scores": ["--dataset", "sst5-scores", "--label_column", "score"],
    # headerless label,title,description, labels 1-4 named by classes.txt beside the files
    "agnews": [
        "--dataset",
        "agnews",
        "--column_names",
        "label,title,description",
        "--text_column",
        "title,description",
    ],
    # headerless text<TAB>labels<TAB>id, labels like 3,4 (multi-label), named by labels.txt
    "goemotions": ["--dataset", "goemotions", "--column_names", "text,labels,id", "--label_column", "labels"],
    # one Kaggle csv class,message,,, (trailing empty columns): validation and test carved from it
    "sms-spam": ["--dataset", "sms-spam/spam.csv", "--text_column", "message", "--label_column", "class"],
}
# problem type -> (headline metric, second metric, greater is better for the second)
FIGURES = {
    "single_label_classification": ("accuracy", "f1"),
    "multi_label_classification": ("f1_micro", "f1"),
    "regression": ("pearson", "mse"),
}
QUICK = ["--max_train_samples", "300", "--num_train_epochs", "1"]
DEFAULT_SEED = 42  # TrainingArguments' default: the run a user gets


def data_flags(name: str, data_dir: Path) -> list[str]:
    """The dataset's flags with its paths under `data_dir`."""
    flags = list(DATASETS[name])
    for i, value in enumerate(flags[:-1]):
        if value in ("--dataset", "--train_file", "--validation_file", "--test_file"):
            flags[i + 1] = str(data_dir / flags[i + 1])
    return flags


def train_model(argv: list[str]) -> tuple[dict, float]:
    """`hf-bilstm train ARGV` in a fresh process with an empty datasets cache; its all_results.json and wall time."""
    command = [sys.executable, "-m", "hf_bilstm.cli", "train", *argv]
    print(f"=== {shlex.join(command)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hf-datasets-cache-") as cache:
        env = dict(os.environ, HF_DATASETS_CACHE=cache)
        started = time.time()
        subprocess.run(command, check=True, cwd=REPO, stdin=subprocess.DEVNULL, env=env)
        wall = time.time() - started
    output_dir = argv[argv.index("--output_dir") + 1]
    with open(os.path.join(output_dir, "all_results.json"), encoding="utf-8") as handle:
        return json.load(handle), wall


def splits_of(argv: list[str]):
    """The splits `hf-bilstm train ARGV` trains, selects and tests on: read by the train command's own functions."""
    from hf_bilstm.arguments import parse_settings
    from hf_bilstm.data_flags import load_from_flags
    from hf_bilstm.training.trainer import splits_from_flags

    settings = parse_settings(argv)
    return splits_from_flags(load_from_flags(settings.data), settings)


def baseline(splits) -> dict:
    """TF-IDF uni+bigrams and a linear model fitted on train, C/alpha chosen on validation, scored on test."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from hf_bilstm.metrics import metrics_for

    schema = splits.schema
    problem_type = schema.problem_type
    started = time.time()

    def columns(split):
        texts = ["" if text is None else text for text in split[schema.text_column]]
        return texts, np.asarray(split[schema.label_column])

    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = map(
        columns, (splits.train, splits.validation, splits.test)
    )
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train_m = vectorizer.fit_transform(train_x)
    valid_m, test_m = vectorizer.transform(valid_x), vectorizer.transform(test_x)
    headline = FIGURES[problem_type][0]
    best = None
    for strength in (0.5, 2.0, 8.0, 32.0):
        model = fitted_linear(problem_type, strength, train_m, train_y)
        outputs = linear_outputs(problem_type, model, valid_m, len(splits.label_names))
        score = metrics_for(problem_type, outputs, valid_y)[headline]
        if best is None or score > best[0]:
            best = (score, strength, model)
    _, strength, model = best
    figures = metrics_for(problem_type, linear_outputs(problem_type, model, test_m, len(splits.label_names)), test_y)
    return {
        "model": "TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) + " + linear_name(problem_type, strength),
        "figures": {key: figures[key] for key in FIGURES[problem_type]},
        "seconds": round(time.time() - started, 1),
        "rows": {"train": len(train_x), "validation": len(valid_x), "test": len(test_x)},
    }


def fitted_linear(problem_type: str, strength: float, train_m, train_y):
    """The baseline's linear model at one regularisation strength, fitted on the training rows' TF-IDF matrix."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier

    if problem_type == "regression":
        return Ridge(alpha=1.0 / strength).fit(train_m, train_y.astype(float))
    linear = LogisticRegression(C=strength, max_iter=2000)
    if problem_type == "multi_label_classification":
        return OneVsRestClassifier(linear).fit(train_m, train_y.astype(int))
    return linear.fit(train_m, train_y)


def linear_outputs(problem_type: str, model, matrix, num_labels: int):
    """What `metrics_for` reads, as the BiLSTM's logits: predictions for regression, logits for multi-label (sigmoid >=
    0.5 where the logit >= 0), and per-class log-probabilities otherwise (argmax = the predicted class id)."""
    if problem_type == "regression":
        return model.predict(matrix)
    if problem_type == "multi_label_classification":
        return model.decision_function(matrix)
    scores = np.full((matrix.shape[0], num_labels), -np.inf)
    scores[:, model.classes_] = model.predict_log_proba(matrix)
    return scores


def linear_name(problem_type: str, strength: float) -> str:
    if problem_type == "regression":
        return f"Ridge(alpha={1.0 / strength:g})"
    one_per_label = " one per label" if problem_type == "multi_label_classification" else ""
    return f"LogisticRegression(C={strength:g}){one_per_label}"


def run_dataset(name: str, data_dir: Path, work_dir: Path, quick: bool, seed: int = DEFAULT_SEED) -> dict:
    output_dir = work_dir / name
    argv = [*data_flags(name, data_dir), "--output_dir", str(output_dir), "--overwrite_output_dir", "true"]
    argv += [] if seed == DEFAULT_SEED else ["--seed", str(seed)]
    argv += QUICK if quick else []
    results, wall = train_model(argv)
    splits = splits_of(argv)
    problem_type = splits.schema.problem_type
    ours = {key: results.get(f"test_{key}") for key in FIGURES[problem_type]}
    theirs = baseline(splits)
    headline, second = FIGURES[problem_type]
    lower_better = second == "mse"
    gaps = {
        headline: ours[headline] - theirs["figures"][headline],
        second: (theirs["figures"][second] - ours[second])
        if lower_better
        else ours[second] - theirs["figures"][second],
    }
    record = {
        "dataset": name,
        "seed": seed,
        "command": shlex.join(["hf-bilstm", "train", *argv]),
        "problem_type": problem_type,
        "rows": {
            key[:-8]: results[key] for key in ("train_samples", "eval_samples", "test_samples") if key in results
        },
        "hf_bilstm": {"figures": ours, "wall_seconds": round(wall, 1), "epochs": results.get("epoch")},
        "baseline": theirs,
        # positive: ours is better (for MSE: lower); the target is each gap >= -0.01 (within 1 point, or above)
        "ours_minus_baseline": gaps,
        "within_1_point_or_above": all(gap >= -0.01 for gap in gaps.values()),
        "within_time_limit": wall <= TIME_LIMIT_SECONDS,
    }
    print(json.dumps(record, indent=2), flush=True)
    return record


def seed_summary(name: str, records: list[dict]) -> dict:
    """Mean and spread (sample standard deviation) over the seeds of one dataset, judged on the means."""
    problem_type = records[0]["problem_type"]
    headline, second = FIGURES[problem_type]
    lower_better = second == "mse"

    def spread(values):
        return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}

    ours = {key: spread([r["hf_bilstm"]["figures"][key] for r in records]) for key in (headline, second)}
    theirs = {key: spread([r["baseline"]["figures"][key] for r in records]) for key in (headline, second)}
    gaps = {
        headline: ours[headline]["mean"] - theirs[headline]["mean"],
        second: (theirs[second]["mean"] - ours[second]["mean"])
        if lower_better
        else ours[second]["mean"] - theirs[second]["mean"],
    }
    walls = [r["hf_bilstm"]["wall_seconds"] for r in records]
    return {
        "dataset": name,
        "seeds": [r["seed"] for r in records],
        "hf_bilstm": ours,
        "baseline": theirs,
        "ours_minus_baseline_of_means": gaps,
        "within_1_point_or_above": all(gap >= -0.01 for gap in gaps.values()),
        "wall_seconds": {"max": max(walls), "mean": float(np.mean(walls))},
        "within_time_limit": max(walls) <= TIME_LIMIT_SECONDS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=str(OWN), help="the folder of the six datasets (../shared/data/own)")
    parser.add_argument(
        "--only", nargs="*", choices=list(DATASETS), help="run these datasets only (the JSON's name lists them)"
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[DEFAULT_SEED],
        help="train (and carve) with each seed; with several, the JSON has each dataset's mean and spread",
    )
    parser.add_argument("--quick", action="store_true", help="300 training rows, 1 epoch: a smoke test (no JSON)")
    parser.add_argument("--work_dir", default="/tmp/hf_bilstm_own_data")
    parser.add_argument("--results_dir", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    commit = git_commit()  # the code this run imports: read now, the repository may move on while it trains
    started = datetime.datetime.now(datetime.timezone.utc)
    names = args.only or list(DATASETS)
    records = [
        run_dataset(name, Path(args.data_dir), Path(args.work_dir), args.quick, seed)
        for name in names
        for seed in args.seeds
    ]
    summary = {
        "benchmark": "own data as shipped vs TF-IDF uni+bigram linear baseline (scripts/benchmark_own_data.py)",
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}",
        "date": started.date().isoformat(),
        "started_utc": started.isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "commit": commit,
        "datasets": records,
    }
    if len(args.seeds) > 1:
        summary["over_seeds"] = [seed_summary(name, [r for r in records if r["dataset"] == name]) for name in names]
    for record in records:
        headline, second = FIGURES[record["problem_type"]]
        ours, theirs = record["hf_bilstm"]["figures"], record["baseline"]["figures"]
        print(
            f"{record['dataset']:<12} {headline} {ours[headline]:.4f} vs {theirs[headline]:.4f}, {second} "
            f"{ours[second]:.4f} vs {theirs[second]:.4f}, {record['hf_bilstm']['wall_seconds']:.0f} s",
            flush=True,
        )
    for line in summary.get("over_seeds", []):
        print(json.dumps(line), flush=True)
    if args.quick:
        return 0
    os.makedirs(args.results_dir, exist_ok=True)
    name = "own-data" + ("-" + "-".join(args.only) if args.only else "")
    name += f"-{len(args.seeds)}-seeds" if len(args.seeds) > 1 else ""
    path = os.path.join(args.results_dir, f"{summary['date']}-{name}.json")
    write_json(summary, path)
    print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

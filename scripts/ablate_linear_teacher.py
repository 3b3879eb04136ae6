"""Validation-only ablation of the taught recipes' linear teacher (`hf_bilstm.training.linear_teacher`): n-gram order,
learning rate and L2, each fitted on the recipe's own training rows and scored on its own validation carve, over
several seeds (each seed is another carve, as `hf-bilstm train --seed` makes it). The test split is never read.

    python scripts/ablate_linear_teacher.py --variants 2,0.01,1e-6 3,0.01,1e-6 --seeds 42 43 44 \\
        --output benchmarks/results/DATE-linear-teacher-ablation.json

A variant is ORDER,LEARNING_RATE,L2 (the shipped teacher: 2,0.01,1e-6). The JSON is rewritten after every fit:
each variant's validation accuracy per seed, its mean and sample standard deviation, the features and the seconds
a fit took (the recipe's budget pays them).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from run_record import run_header, write_json  # beside this script

REPO = Path(__file__).resolve().parent.parent
SHIPPED = "2,0.01,1e-6"


def parse_variant(text: str) -> dict:
    order, learning_rate, l2 = text.split(",")
    return {"order": int(order), "learning_rate": float(learning_rate), "l2": float(l2)}


def recipe_splits(dataset: str, seed: int):
    """The labelled splits exactly as `hf-bilstm train --preset cpu-taught --seed SEED` carves them."""
    from hf_bilstm.arguments import parse_settings
    from hf_bilstm.data_flags import load_from_flags
    from hf_bilstm.training.trainer import splits_from_flags

    with tempfile.TemporaryDirectory() as output_dir:
        argv = ["--preset", "cpu-taught", "--dataset", dataset, "--output_dir", output_dir, "--seed", str(seed)]
        run = parse_settings(argv)
        return splits_from_flags(load_from_flags(run.data), run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--variants", nargs="+", default=[SHIPPED], help="ORDER,LEARNING_RATE,L2 each")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    variants = {text: parse_variant(text) for text in args.variants}

    from hf_bilstm.training.linear_teacher import LinearTeacher

    record = {
        **run_header("linear teacher ablation on validation (scripts/ablate_linear_teacher.py)"),
        "shipped": SHIPPED,
        "test_split_read": False,
        "variants": {text: {**settings, "by_seed": {}} for text, settings in variants.items()},
    }
    for seed in args.seeds:
        splits = recipe_splits(args.dataset, seed)
        text, label = splits.schema.text_column, splits.schema.label_column
        train = list(splits.train[text]), list(splits.train[label])
        validation = list(splits.validation[text]), list(splits.validation[label])
        for name, settings in variants.items():
            started = time.time()
            teacher = LinearTeacher(num_labels=len(splits.label_names), seed=seed, **settings)
            teacher.fit(*train, *validation)
            entry = record["variants"][name]
            entry["by_seed"][str(seed)] = {
                "eval_accuracy": teacher.eval_accuracy,
                "by_epoch": teacher.history,
                "features": len(teacher.vocabulary),
                "seconds": round(time.time() - started, 1),
            }
            accuracies = [run["eval_accuracy"] for run in entry["by_seed"].values()]
            entry["eval_accuracy_mean"] = statistics.mean(accuracies)
            entry["eval_accuracy_std"] = statistics.stdev(accuracies) if len(accuracies) > 1 else None
            entry["seconds_max"] = max(run["seconds"] for run in entry["by_seed"].values())
            write_json(record, args.output)
            seconds = entry["by_seed"][str(seed)]["seconds"]
            print(f"seed {seed} {name}: validation {teacher.eval_accuracy:.4f} in {seconds} s", flush=True)


if __name__ == "__main__":
    main()

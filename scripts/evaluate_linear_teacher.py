"""The linear teacher of `--preset cpu-best` alone on the test split: a baseline figure for the README.

Fits `hf_bilstm.training.linear_teacher.LinearTeacher` on the recipe's training rows (the same carve and seed),
keeps its best validation epoch and reads the test split once. Not used by the recipe, nor for any of its choices.

    python scripts/evaluate_linear_teacher.py --dataset ../shared/data/imdb
"""

import argparse
import json
import time

import numpy as np

from hf_bilstm.data import load_raw_dataset, prepare_splits
from hf_bilstm.training.linear_teacher import LinearTeacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="../shared/data/imdb")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    started = time.time()
    splits = prepare_splits(load_raw_dataset(args.dataset), seed=args.seed)
    teacher = LinearTeacher(num_labels=len(splits.label_names), seed=args.seed).fit(
        list(splits.train["text"]), list(splits.train["label"]),
        list(splits.validation["text"]), list(splits.validation["label"]),
    )  # fmt: skip
    predicted = teacher.predict_proba(list(splits.test["text"])).argmax(axis=1)
    accuracy = float((predicted == np.asarray(splits.test["label"])).mean())
    print(json.dumps({
        "linear_teacher_eval_accuracy": teacher.eval_accuracy,
        "linear_teacher_test_accuracy": accuracy,
        "seconds": round(time.time() - started, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

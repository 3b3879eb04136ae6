"""The Trainer's evaluation of a model folder on IMDB test reviews, in the split's own order against longest first
(hf_bilstm.training.length_grouping.longest_first, what `train` evaluates with): seconds and the metrics of each,
alternating runs, one JSON.

    python scripts/benchmark_evaluation_order.py runs/bilstm-imdb --rows 5000 --output benchmarks/results/X.json
"""

import argparse
import os
import sys
import time

import hf_bilstm.cpu_threads  # noqa: F401  before torch loads, as in `train`

# isort: split
import torch
from datasets import load_dataset
from run_record import run_header, write_json  # beside this script
from transformers import TrainingArguments

from hf_bilstm.encoding import encode
from hf_bilstm.inference import load_model
from hf_bilstm.training.length_grouping import longest_first
from hf_bilstm.training.trainer import build_trainer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument(
        "--dataset", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "imdb")
    )
    parser.add_argument("--rows", type=int, default=5000, help="test reviews, a seeded sample")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    model, tokenizer = load_model(args.model, "cpu")
    test = load_dataset(args.dataset, split="test").shuffle(seed=0).select(range(args.rows))
    encoded = encode(test, tokenizer, "text", "label")
    training = TrainingArguments(
        output_dir="/tmp/hf-bilstm-evaluation-order", per_device_eval_batch_size=256, report_to="none", use_cpu=True
    )
    trainer = build_trainer(model, training, {"train": encoded, "validation": encoded}, tokenizer)
    runs = []
    for pair in range(args.pairs):
        for order, dataset in (("as given", encoded), ("longest first", longest_first(encoded))):
            started = time.perf_counter()
            metrics = trainer.evaluate(eval_dataset=dataset)
            runs.append({"order": order, "pair": pair, "seconds": round(time.perf_counter() - started, 2),
                         "eval_accuracy": metrics["eval_accuracy"], "eval_loss": metrics["eval_loss"]})  # fmt: skip
            print(runs[-1], flush=True)
    mean = {o: sum(r["seconds"] for r in runs if r["order"] == o) / args.pairs for o in ("as given", "longest first")}
    write_json(
        {
            **run_header(
                "Trainer.evaluate, split order vs longest first (scripts/benchmark_evaluation_order.py)",
                f", torch threads {torch.get_num_threads()}",
            ),
            "model": os.path.abspath(args.model),
            "rows": args.rows,
            "batch_size": 256,
            "runs": runs,
            "mean_seconds": mean,
            "speedup": round(mean["as given"] / mean["longest first"], 2),
        },
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

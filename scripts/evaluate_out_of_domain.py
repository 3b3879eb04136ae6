"""IMDB models on text they were not trained on: SST-2's validation sentences (short movie-review snippets from
another source), to see whether a recipe that gains on IMDB does so by memorising IMDB.

SST-2's labels are 0/1 (negative/positive); the IMDB models' are `neg`/`pos`: the file is rewritten with those names
in a temporary folder (nothing is written beside the data), then `hf-bilstm evaluate` reads it once per model. One
JSON with each model's accuracy and the mean and sample standard deviation of each group.

    python scripts/evaluate_out_of_domain.py --group cpu-taught runs/taught-42 runs/taught-43 \
        --group cpu runs/cpu-43 runs/cpu-44 --output benchmarks/results/2026-12-06-out-of-domain-sst2.json
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

from run_record import run_header, write_json  # beside this script

SST2_DEV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "own", "sst2")


def relabelled(source: str, folder: str, names=("neg", "pos")) -> str:
    """`source` (a tsv of `sentence` and 0/1 `label`) with the labels as `names`, written into `folder`."""
    path = os.path.join(folder, "sst2-dev-named.tsv")
    with open(source, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if rows[0] != ["sentence", "label"]:
        raise SystemExit(f"{source}: expected the columns sentence, label, not {rows[0]}")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(rows[0])
        writer.writerows([sentence, names[int(label)]] for sentence, label in rows[1:])
    return path


def evaluate(model: str, path: str) -> dict:
    command = [sys.executable, "-m", "hf_bilstm.cli", "evaluate", model, "--test_file", path]
    command += ["--text_column", "sentence", "--label_column", "label", "--device", "cpu"]
    out = subprocess.run(command, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", nargs="+", action="append", required=True, metavar=("NAME", "MODEL"))
    parser.add_argument("--sst2_dev", default=os.path.join(SST2_DEV, "dev.tsv"))
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    record = {
        **run_header("IMDB models on SST-2 validation sentences (scripts/evaluate_out_of_domain.py)"),
        "data": os.path.abspath(args.sst2_dev),
        "std": "sample standard deviation (n-1); null with one model",
        "groups": {},
    }
    with tempfile.TemporaryDirectory(prefix="hf-bilstm-ood-") as folder:
        path = relabelled(args.sst2_dev, folder)
        for name, *models in args.group:
            results = {model: evaluate(model, path) for model in models}
            values = [result["test_accuracy"] for result in results.values()]
            record["groups"][name] = {
                "accuracy_by_model": {model: result["test_accuracy"] for model, result in results.items()},
                "accuracy_mean": statistics.fmean(values),
                "accuracy_std": statistics.stdev(values) if len(values) > 1 else None,
                "rows": results[models[0]].get("test_samples"),
            }
            print(name, record["groups"][name], flush=True)
    write_json(record, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

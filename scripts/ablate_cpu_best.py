"""Validation-only ablations of `--preset cpu-best`: the student taught by one teacher, or by a weighted mix.

Reuses a finished recipe's BiLSTM teacher (its `<output_dir>-recipe/teacher` folder), refits the linear teacher (half
a minute), labels the unlabelled split with the chosen teacher weights and trains the student without reading the test
split (ablations are read on validation only). One JSON per run goes to --results_dir.

    python scripts/ablate_cpu_best.py --teacher_folder runs/cpu-best-recipe/teacher --weights 1,0 --name bilstm-only
    python scripts/ablate_cpu_best.py --teacher_folder runs/cpu-best-recipe/teacher --weights 0,1 --name linear-only

The student is the preset's (1x192 since b09876a); the recorded linear-only ablation had the 1x128 one: add
`-- --hidden_size 128` to rerun it as it was.
"""

import argparse
import datetime
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
from benchmark_cpu_presets import make_record  # noqa: E402
from run_record import git_commit, write_json  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher_folder", required=True, help="a finished cpu-best recipe's teacher folder")
    parser.add_argument("--weights", required=True, help="BiLSTM,linear teacher weights, e.g. 1,0 or 0,1")
    parser.add_argument("--name", required=True)
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--work_dir", default="/tmp/hf_bilstm_cpu_best_ablations")
    parser.add_argument("--results_dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("extra", nargs="*", help="flags for hf-bilstm train, after --")
    args = parser.parse_args()
    weights = tuple(float(w) for w in args.weights.split(","))
    if len(weights) != 2 or min(weights) < 0 or sum(weights) <= 0:
        parser.error("--weights takes two non-negative numbers, not both 0: BiLSTM,linear")
    weights = tuple(w / sum(weights) for w in weights)

    from hf_bilstm.arguments import parse_settings
    from hf_bilstm.presets import DISTILLED_PRESET, PRESETS
    from hf_bilstm.training.distillation import train_distilled

    output_dir = os.path.join(args.work_dir, args.name)
    argv = ["--preset", DISTILLED_PRESET, "--dataset", args.dataset, "--output_dir", output_dir]
    argv += ["--overwrite_output_dir", "true", *args.extra]
    command = shlex.join(["python", "scripts/ablate_cpu_best.py", *sys.argv[1:]])
    commit = git_commit()
    run = parse_settings(argv)
    # The test split only takes its texts out of train, validation and the unlabelled rows (as in the recipe, so
    # that validation is the same 2,481 rows); it is never evaluated here.
    settings = dict(PRESETS[DISTILLED_PRESET].distillation, teacher_weights=weights, read_test=False)
    settings["bilstm_teacher"] = os.path.abspath(args.teacher_folder)
    started = time.time()
    train_distilled(run, command, settings)
    record = make_record(args.name, DISTILLED_PRESET, argv, output_dir, commit, time.time() - started)
    record["benchmark"] = "cpu-best ablation on validation (scripts/ablate_cpu_best.py)"
    record["command"] = command
    record["teacher_weights"] = {"bilstm": weights[0], "linear": weights[1]}
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"{datetime.date.today().isoformat()}-cpu-best-ablation-{args.name}.json")
    write_json(record, path)
    print(f"=== {args.name}: validation {record['eval_accuracy']:.4f}; {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""GPU benchmark of issue 6: tokenizer → LM pretraining → fine-tuning → test, the whole pipeline in one command.

1. `hf-bilstm pretrain` on the text of train + unsupervised (never test): tokenizer, then the bidirectional LM.
2. `hf-bilstm train --model_name_or_path LM` once per fine-tuning candidate (`--candidates`), with the test split
   switched off: the candidates are compared on the validation split carved from train.
3. `hf-bilstm evaluate` of the best candidate on the test split: the only time test is read.

Writes one JSON file into --results_dir (default benchmarks/results, GPU only) in the shape of the training benchmark:
`device`, `date`, `command`, `commit`, `runs: [{"recipe": "pretrain+finetune", "test_accuracy", "eval_accuracy",
"lm_perplexity", "total_seconds", "seconds_per_phase", ...}]`. `--tiny` (or BENCH_TINY=1) runs at toy size for a
CPU try; its results never go to benchmarks/results.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

from benchmark_gpu import REPO, choose_results_dir, write_report  # the same results rules

# The language model: ELMo-style 1 x 768 BiLSTM (measured: ~38 s per epoch over IMDB's 20 M tokens on an H100,
# 92.1-92.4 % after a plain fine-tune). A 30k-word softmax cap over the 50k vocabulary keeps the LM epoch cheap.
LM_ARGS = [
    "--splits", "train,unsupervised", "--vocab_size", "50000", "--lm_vocab_size", "30000", "--max_length", "1000",
    "--embedding_dim", "400", "--hidden_size", "768", "--num_layers", "1", "--block_size", "400",
    "--per_device_train_batch_size", "64", "--learning_rate", "2e-3", "--num_train_epochs", "4",
    "--dropout", "0.1", "--embedding_dropout", "0.1", "--lm_dropout", "0.1", "--logging_steps", "200",
]  # fmt: skip
# Fine-tuning shared by every candidate: whole reviews (1000 tokens), max+mean pooling, one linear head.
FINETUNE_ARGS = [
    "--max_length", "1000", "--pooling", "max_mean", "--classifier_hidden_size", "0", "--classifier_dropout", "0.3",
    "--embedding_dropout", "0.2", "--per_device_train_batch_size", "32", "--num_train_epochs", "3",
    "--learning_rate", "1e-3", "--weight_decay", "0.01", "--save_total_limit", "1", "--logging_steps", "100",
]  # fmt: skip
# Candidates, chosen between on validation. "tools": ULMFiT's discriminative rates and slanted triangular schedule,
# AWD-LSTM's word dropout, Miyato et al.'s adversarial embeddings (perturbation 2 % of the embeddings' norm).
CANDIDATES = {
    "plain": ["--lr_scheduler_type", "cosine", "--warmup_steps", "0.1"],
    "tools": [
        "--learning_rate", "2e-3", "--layerwise_lr_decay", "2.6", "--slanted_triangular", "true",
        "--word_dropout", "0.1", "--adversarial_epsilon", "0.02",
    ],
}  # fmt: skip
TINY_LM = [
    "--max_texts", "400", "--vocab_size", "2000", "--lm_vocab_size", "1000", "--embedding_dim", "16",
    "--hidden_size", "16", "--max_steps", "20", "--block_size", "64", "--num_proc", "1",
    "--validation_fraction", "0.05",
]  # fmt: skip
TINY_FINETUNE = [
    "--max_train_samples", "300", "--max_eval_samples", "100", "--num_train_epochs", "1", "--max_length", "128",
]  # fmt: skip


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", default=os.environ.get("HF_BILSTM_IMDB") or str(REPO.parent / "shared" / "data" / "imdb")
    )
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--work_dir", default="/tmp/hf_bilstm_pretrain_benchmark", help="model folders go here")
    parser.add_argument("--results_dir", default=None, help="default: benchmarks/results (GPU), else work_dir")
    parser.add_argument("--tiny", action="store_true", default=os.environ.get("BENCH_TINY") == "1")
    return choose_results_dir(parser, parser.parse_args())


def run(subcommand: str, argv: list[str], commands: list[str]) -> float:
    """Runs `hf-bilstm SUBCOMMAND ARGV` in a fresh process (what a user runs); returns its wall seconds."""
    commands.append(shlex.join(["hf-bilstm", subcommand, *argv]))
    print(f"\n=== {commands[-1]}", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hf_bilstm.cli", subcommand, *argv], check=True, cwd=REPO, stdin=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def main() -> int:
    args = parse()
    os.makedirs(args.work_dir, exist_ok=True)
    os.makedirs(args.results_dir, exist_ok=True)
    commands, phases = [], {}
    started = time.perf_counter()

    lm_dir = os.path.join(args.work_dir, "lm")
    lm_argv = ["--dataset", args.dataset, "--output_dir", lm_dir, *LM_ARGS, *(TINY_LM if args.tiny else [])]
    phases["pretrain"] = run("pretrain", lm_argv, commands)
    lm = read_json(os.path.join(lm_dir, "pretraining_results.json"))
    for name, seconds in lm["seconds_per_phase"].items():
        phases[f"pretrain.{name}"] = seconds

    candidates = {}
    for name in args.candidates:
        out = os.path.join(args.work_dir, f"finetune-{name}")
        argv = ["--model_name_or_path", lm_dir, "--dataset", args.dataset, "--output_dir", out, "--test_split", ""]
        argv += ["--overwrite_output_dir", "true", *FINETUNE_ARGS, *CANDIDATES[name]]
        argv += TINY_FINETUNE if args.tiny else []
        phases[f"finetune.{name}"] = run("train", argv, commands)
        candidates[name] = read_json(os.path.join(out, "all_results.json"))["eval_accuracy"]
    best = max(candidates, key=candidates.get)  # chosen on validation only

    test_file = os.path.join(args.work_dir, "test_metrics.json")
    argv = [os.path.join(args.work_dir, f"finetune-{best}"), "--dataset", args.dataset, "--split", "test"]
    argv += ["--output_file", test_file, *(["--max_samples", "100"] if args.tiny else [])]
    phases["test_evaluation"] = run("evaluate", argv, commands)
    test = read_json(test_file)
    total = time.perf_counter() - started

    run_result = {
        "recipe": "pretrain+finetune",
        "test_accuracy": test.get("test_accuracy", test.get("accuracy")),
        "eval_accuracy": candidates[best],
        "lm_perplexity": lm["lm_perplexity"],
        "total_seconds": round(total, 1),
        "within_10_minutes": total <= 600,
        "seconds_per_phase": {name: round(seconds, 1) for name, seconds in phases.items()},
        "finetune_candidate": best,
        "candidates_eval_accuracy": candidates,
        "lm_train_tokens": lm["train_tokens"],
        "commands": commands,
    }
    write_report(args, "scripts/benchmark_gpu_pretrain.sh", [run_result], kind="-pretrain")
    return 0


if __name__ == "__main__":
    sys.exit(main())

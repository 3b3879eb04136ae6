"""GPU benchmark: train the presets on the full IMDB, then measure the Trainer's overhead against a bare PyTorch loop.

For each preset:
1. `hf-bilstm train --preset P` on the whole dataset (a fresh process, exactly what a user runs): test and validation
   accuracy, training seconds and tokens per second come from its `all_results.json`.
2. The same model (fresh weights, same seed) and the same encoded training split, one epoch twice: once with the
   `Trainer` (built by `hf_bilstm.training.trainer.build_trainer`, no evaluation or saving) and once with a bare
   PyTorch loop doing the same work (same sampler, collator, optimizer, schedule, precision, clipping).
   Ratio = Trainer / bare.

Writes one JSON file per benchmark run into --results_dir (default benchmarks/results, GPU only). `--tiny` (or
BENCH_TINY=1) runs everything at toy size, for trying the script on a CPU; its results never go to
benchmarks/results.
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import hf_bilstm.cpu_threads  # noqa: F401  before torch loads: its threads spin only briefly (cpu_threads)

# isort: split
import torch
from run_record import git_commit  # beside this script

REPO = Path(__file__).resolve().parent.parent
GPU_RESULTS = REPO / "benchmarks" / "results"
TINY_ARGS = [
    "--max_train_samples", "400", "--max_eval_samples", "100", "--max_test_samples", "100", "--num_train_epochs", "1",
    "--max_length", "64", "--vocab_size", "2000", "--embedding_dim", "16", "--hidden_size", "8",
]  # fmt: skip


def benchmark_parser(description: str, work_dir: str) -> argparse.ArgumentParser:
    """The flags every GPU benchmark takes: --dataset, --work_dir, --results_dir, --tiny."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--dataset", default=os.environ.get("HF_BILSTM_IMDB") or str(REPO.parent / "shared" / "data" / "imdb")
    )
    parser.add_argument("--work_dir", default=work_dir, help="model folders go here")
    parser.add_argument("--results_dir", default=None, help="default: benchmarks/results (GPU), else work_dir")
    parser.add_argument("--tiny", action="store_true", default=os.environ.get("BENCH_TINY") == "1")
    return parser


def parse() -> argparse.Namespace:
    parser = benchmark_parser(__doc__.split("\n\n")[0], "/tmp/hf_bilstm_benchmark")
    parser.add_argument("--presets", nargs="+", default=["tutorial", "base"])
    parser.add_argument("--skip_overhead", action="store_true", help="only the full training runs")
    return choose_results_dir(parser, parser.parse_args())


def choose_results_dir(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """benchmarks/results receives full-size GPU results only; anything else stays in the work folder."""
    on_gpu = torch.cuda.is_available()
    if args.results_dir is None:
        args.results_dir = str(GPU_RESULTS) if on_gpu and not args.tiny else os.path.join(args.work_dir, "results")
    if Path(args.results_dir).resolve() == GPU_RESULTS.resolve() and (args.tiny or not on_gpu):
        parser.error("benchmarks/results holds full-size GPU results only; give --results_dir elsewhere.")
    return args


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    import platform

    return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"


def write_report(
    args: argparse.Namespace, script: str, runs: list[dict], kind: str = "", path: Path | None = None, **extra
) -> Path:
    """
    Writes the results JSON (device, date, command, commit, versions, runs, `extra`) into args.results_dir, under a
    new dated name or into `path` (rewriting a report written earlier in the same run).
    """
    import transformers

    now = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "device": device_name(),
        "date": now.isoformat(timespec="seconds"),
        "command": shlex.join([script, *sys.argv[1:]]),
        "commit": git_commit(),
        "tiny": args.tiny,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        **extra,
        "runs": runs,
    }
    print(json.dumps(report, indent=2), flush=True)
    if path is None:
        slug = "".join(c if c.isalnum() else "-" for c in report["device"]).strip("-").lower()
        path = Path(args.results_dir) / f"{now:%Y%m%d-%H%M%S}-{slug}{kind}{'-tiny' if args.tiny else ''}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return path


def train_argv(args, preset: str) -> list[str]:
    argv = ["--preset", preset, "--dataset", args.dataset, "--output_dir", os.path.join(args.work_dir, preset)]
    argv += ["--overwrite_output_dir", "true", "--save_total_limit", "1"]
    return argv + (TINY_ARGS if args.tiny else [])


def full_training(args, preset: str) -> dict:
    argv = train_argv(args, preset)
    command = [sys.executable, "-m", "hf_bilstm.cli", "train", *argv]
    print(f"\n=== {preset}: {shlex.join(command)}", flush=True)
    started = time.time()
    subprocess.run(command, check=True, cwd=REPO, stdin=subprocess.DEVNULL)
    with open(os.path.join(args.work_dir, preset, "all_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    return {
        "preset": preset,
        "command": shlex.join(["hf-bilstm", "train", *argv]),
        "test_accuracy": results.get("test_accuracy"),
        "test_f1": results.get("test_f1"),
        "eval_accuracy": results.get("eval_accuracy"),
        "train_seconds": results["train_runtime"],  # includes the per-epoch validation passes
        "tokens_per_second": results["train_tokens_per_second"],
        "epochs": results.get("epoch"),
        "wall_seconds": round(time.time() - started, 1),
    }


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def overhead(args, preset: str) -> dict:
    """One epoch with the Trainer vs the same epoch in a bare loop; returns seconds, tokens/s and the ratio."""
    training_args, train, validation, tokenizer, fresh_model = overhead_inputs(args, preset)
    trainer_seconds, device = trainer_epoch(fresh_model(), training_args, train, validation, tokenizer)
    bare_seconds = bare_epoch(fresh_model().to(device).train(), training_args, train, tokenizer, device)
    tokens = int(sum(train["length"]))
    return {
        "trainer_epoch_seconds": round(trainer_seconds, 4),
        "bare_epoch_seconds": round(bare_seconds, 4),
        "bare_tokens_per_second": round(tokens / bare_seconds, 1),
        "trainer_over_bare": round(trainer_seconds / bare_seconds, 3),
    }


def overhead_inputs(args, preset: str):
    """The run's arguments for one epoch without evaluation or saving, its encoded train and validation splits, the
    full run's tokenizer, and a function that makes the same freshly seeded model each time."""
    from transformers import AutoTokenizer, set_seed

    from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification
    from hf_bilstm.arguments import parse_args
    from hf_bilstm.data import encode, load_raw_dataset, prepare_splits

    folder = os.path.join(args.work_dir, preset)
    argv = train_argv(args, preset)
    argv[argv.index("--output_dir") + 1] = os.path.join(args.work_dir, f"{preset}-overhead")
    argv += ["--num_train_epochs", "1", "--eval_strategy", "no", "--save_strategy", "no"]
    argv += ["--load_best_model_at_end", "false", "--logging_steps", "100000", "--disable_tqdm", "true"]
    model_args, data_args, training_args = parse_args(argv)
    splits = prepare_splits(
        load_raw_dataset(data_args.dataset),
        validation_fraction=data_args.validation_fraction,
        max_train_samples=data_args.max_train_samples,
        max_eval_samples=data_args.max_eval_samples,
        test_split=None,
        seed=training_args.seed,
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    train = encode(splits.train, tokenizer, "text", "label")
    validation = encode(splits.validation, tokenizer, "text", "label")
    config = BiLSTMConfig.from_pretrained(folder)

    def fresh_model():
        set_seed(training_args.seed)
        return BiLSTMForSequenceClassification(config)

    return training_args, train, validation, tokenizer, fresh_model


def trainer_epoch(model, training_args, train, validation, tokenizer) -> tuple[float, "torch.device"]:
    """Seconds of one epoch with the Trainer, and the device it ran on."""
    from hf_bilstm.training.trainer import build_trainer

    trainer = build_trainer(model, training_args, {"train": train, "validation": validation}, tokenizer)
    _sync()
    started = time.perf_counter()
    trainer.train()
    _sync()
    return time.perf_counter() - started, trainer.args.device


def bare_epoch(model, training_args, train, tokenizer, device) -> float:
    """Seconds of the same epoch in bare PyTorch: the same sampler, collator, optimizer, schedule, precision and
    clipping, nothing else."""
    loader = bare_loader(training_args, train, tokenizer, device)
    optimizer, scheduler = bare_optimizer(model, training_args, steps=len(loader), device=device)
    dtype = torch.bfloat16 if training_args.bf16 else torch.float16 if training_args.fp16 else None
    scaler = torch.amp.GradScaler(enabled=dtype == torch.float16)
    _sync()
    started = time.perf_counter()
    for batch in loader:
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(**batch).loss
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), training_args.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    _sync()
    return time.perf_counter() - started


def bare_loader(training_args, train, tokenizer, device) -> torch.utils.data.DataLoader:
    """The Trainer's training loader, rebuilt: length-grouped batches, the package's collator, its worker settings."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from hf_bilstm.data import PaddingCollator

    batch_size = training_args.per_device_train_batch_size
    return torch.utils.data.DataLoader(
        train,
        batch_size=batch_size,
        sampler=LengthGroupedSampler(batch_size, lengths=list(train["length"])),
        collate_fn=PaddingCollator(tokenizer.pad_token_id),
        num_workers=training_args.dataloader_num_workers,
        pin_memory=training_args.dataloader_pin_memory and device.type == "cuda",
        persistent_workers=training_args.dataloader_persistent_workers and training_args.dataloader_num_workers > 0,
    )


def bare_optimizer(model, training_args, steps: int, device):
    """The Trainer's AdamW and learning-rate schedule for `steps` steps."""
    from transformers import get_scheduler

    # The Trainer's grouping: weight decay on everything but biases (the model has no normalisation layers).
    decay = [p for n, p in model.named_parameters() if "bias" not in n]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": training_args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=training_args.learning_rate,
        fused=device.type == "cuda",
    )
    warmup = training_args.warmup_steps
    warmup = int(warmup * steps) if 0 < warmup < 1 else int(warmup)
    return optimizer, get_scheduler(training_args.lr_scheduler_type, optimizer, warmup, steps)


def main() -> int:
    args = parse()
    os.makedirs(args.work_dir, exist_ok=True)
    os.makedirs(args.results_dir, exist_ok=True)
    runs = []
    for preset in args.presets:
        run = full_training(args, preset)
        if not args.skip_overhead:
            run.update(overhead(args, preset))
        runs.append(run)
        print(json.dumps(run, indent=2), flush=True)
    write_report(args, "scripts/benchmark_gpu.sh", runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU training speed: real tokens per second for each preset, packed vs padded RNN path, fp32 vs bf16 autocast, and
the Trainer against a bare PyTorch loop doing the same work. Under 10 minutes on 2 cores.

For each preset: its tokenizer (trained on the IMDB training split at the preset's vocabulary size) encodes the first
rows of the training split; batches come from the Trainer's own dataloader (length-grouped, dynamic padding), so
every measurement sees the same batches.
1. Bare loop, each (rnn_implementation, precision): one warm-up step on the shortest batch, then forward + backward
   + clipping + AdamW steps for --seconds (at least one step; a packed `base` step takes minutes on 2 cores, which
   is the point being measured): real (non-padding) tokens per second.
2. Trainer vs bare loop, in the configuration `hf-bilstm train` uses on this machine: the Trainer trains --steps
   steps (no evaluation, no saving), the bare loop the same --steps batches; their times per step are compared. An
   epoch is steps x time per step, so the ratio is the Trainer's time per epoch over the bare loop's.
3. The Trainer again in the other precision (bf16 autocast if the default is fp32), tokens per second only: what
   `--bf16 true` buys through the Trainer.

Writes benchmarks/results/<date>-cpu-training.json (device, date, command, commit, every figure).
    python scripts/benchmark_cpu_training.py
    python scripts/benchmark_cpu_training.py --tiny --results_dir /tmp/bench   # toy size, seconds

`--busy N` measures a busy CPU instead (writes <date>-cpu-training-busy.json): for each preset, the Trainer's
tokens/s over --steps steps, each in a fresh process started as a new user's shell would (scripts/busy_benchmark.py):
idle and with N other CPU-bound processes running, side by side; and --ab_pairs alternating idle pairs of the
threading policy before and after the change (before: libgomp's default spinning), to show what it costs idle.
    python scripts/benchmark_cpu_training.py --busy 1 --presets cpu base
"""

import argparse
import dataclasses
import datetime
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import hf_bilstm.cpu_threads  # noqa: F401  before torch loads: its threads spin only briefly (cpu_threads)

# isort: split
import torch

REPO = Path(__file__).resolve().parent.parent
from busy_benchmark import ARMS, busy_flag, busy_processes, child_setup, run_child, summarize_pairs  # noqa: E402
from run_record import cpu_name, git_commit, write_json  # noqa: E402

# The target: with one other busy process, training keeps at least this share of its idle speed.
TARGET_BUSY_SHARE = 0.45


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--presets", nargs="+", default=["tutorial", "base", "cpu"])
    parser.add_argument("--seconds", type=float, default=8.0, help="bare-loop measuring time per configuration")
    parser.add_argument("--steps", type=int, default=30, help="steps of the Trainer-vs-bare comparison")
    parser.add_argument("--results_dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--tiny", action="store_true", help="toy sizes, for trying the script")
    busy_flag(parser)
    parser.add_argument("--ab_pairs", type=int, default=3, help="with --busy: idle before/after pairs per preset")
    parser.add_argument("--child_data", help=argparse.SUPPRESS)
    parser.add_argument("--child_arm", help=argparse.SUPPRESS)
    return parser.parse_args()


def build(args, preset: str, work_dir: str, data: bool = True):
    """The preset's tokenizer, encoded training rows and TrainingArguments, as `hf-bilstm train` would make them
    (`data=False`: the model settings and TrainingArguments only)."""
    from hf_bilstm.arguments import parse_args
    from hf_bilstm.data import encode, load_raw_dataset, prepare_splits, train_tokenizer_on
    from hf_bilstm.presets import resolve

    argv = ["--preset", preset, "--output_dir", os.path.join(work_dir, preset), "--dataset", args.dataset]
    argv += ["--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false"]
    argv += ["--disable_tqdm", "true", "--logging_steps", "50"]
    if args.tiny:
        argv += ["--embedding_dim", "16", "--hidden_size", "8", "--vocab_size", "2000", "--max_length", "64"]
    model_args, data_args, training_args = parse_args(argv)
    model_settings, tokenizer_settings = resolve(model_args)
    if not data:
        return model_settings, None, None, training_args
    splits = prepare_splits(load_raw_dataset(args.dataset), test_split=None, seed=training_args.seed)
    tokenizer = train_tokenizer_on(splits.train, "text", **tokenizer_settings)
    rows = training_args.per_device_train_batch_size * (args.steps + 40)
    train = encode(splits.train.select(range(min(rows, len(splits.train)))), tokenizer, "text", "label")
    return model_settings, tokenizer, train, training_args


def fresh_model(model_settings: dict, tokenizer, implementation: str, seed: int):
    from transformers import set_seed

    from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification

    set_seed(seed)
    config = BiLSTMConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        id2label={0: "neg", 1: "pos"},
        rnn_implementation=implementation,
        **model_settings,
    )
    return BiLSTMForSequenceClassification(config).train()


def trainer_for(model, training_args, train, tokenizer, max_steps: int):
    from hf_bilstm.training.trainer import build_trainer

    trainer_args = dataclasses.replace(training_args, max_steps=max_steps)
    return build_trainer(model, trainer_args, {"train": train, "validation": None}, tokenizer)


def bare_steps(
    model, training_args, batches, seconds: float | None, bf16: bool, warm_up=None
) -> tuple[int, int, float]:
    """Trains on `batches` like the Trainer's inner loop; returns (steps, real tokens, seconds), warm-up excluded.

    The warm-up step runs on `warm_up` if given (else on the first batch, which is then not counted)."""
    decay = [p for n, p in model.named_parameters() if "bias" not in n]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": training_args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=training_args.learning_rate,
    )

    def step(batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), training_args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(batches[0] if warm_up is None else warm_up)  # warm-up: one-time allocations and kernel choices
    steps = tokens = 0
    started = time.perf_counter()
    for batch in batches[1:] if warm_up is None else batches:
        step(batch)
        steps += 1
        tokens += int(batch["attention_mask"].sum())
        if seconds is not None and time.perf_counter() - started >= seconds:
            break
    return steps, tokens, time.perf_counter() - started


def measure_preset(args, preset: str, work_dir: str) -> dict:
    model_settings, tokenizer, train, training_args = build(args, preset, work_dir)
    seed = training_args.seed
    # The Trainer's own batches (same sampler, same collator), listed once for every bare-loop measurement.
    loader = trainer_for(fresh_model(model_settings, tokenizer, "padded", seed), training_args, train, tokenizer, 1)
    batches = list(loader.get_train_dataloader())
    shortest = min(batches, key=lambda batch: batch["input_ids"].shape[1])
    result = {"training_args": {"bf16_default": bool(training_args.bf16)}, "paths": {}}
    for implementation in ("packed", "padded"):
        for bf16 in (False, True):
            model = fresh_model(model_settings, tokenizer, implementation, seed)
            steps, tokens, seconds = bare_steps(model, training_args, batches, args.seconds, bf16, shortest)
            key = f"{implementation}_{'bf16' if bf16 else 'fp32'}"
            result["paths"][key] = {"tokens_per_second": round(tokens / seconds, 1), "steps": steps}
            print(f"{preset} {key}: {tokens / seconds:,.0f} tokens/s over {steps} steps", flush=True)

    # Trainer vs bare loop, as `hf-bilstm train` runs here (the default path and precision on this machine).
    steps = min(args.steps, len(batches) - 1)
    model = fresh_model(model_settings, tokenizer, "auto", seed)
    trainer = trainer_for(model, training_args, train, tokenizer, steps)
    started = time.perf_counter()
    trainer.train()
    trainer_seconds = time.perf_counter() - started
    trainer_tokens = trainer.state.num_input_tokens_seen
    model = fresh_model(model_settings, tokenizer, "auto", seed)
    # the bare loop's warm-up step is one of the `steps` batches, as the Trainer's first step is: same work
    bare_count, bare_tokens, bare_seconds = bare_steps(model, training_args, batches[:steps], None, training_args.bf16)
    bare_per_step = bare_seconds / bare_count
    trainer_per_step = trainer_seconds / steps
    result["trainer_vs_bare"] = {
        "steps": steps,
        "precision": "bf16" if training_args.bf16 else "fp32",
        "trainer_seconds_per_step": round(trainer_per_step, 4),
        "bare_seconds_per_step": round(bare_per_step, 4),
        "trainer_tokens_per_second": round(trainer_tokens / trainer_seconds, 1) if trainer_tokens else None,
        "bare_tokens_per_second": round(bare_tokens / bare_seconds, 1),
        "trainer_over_bare": round(trainer_per_step / bare_per_step, 3),
    }
    print(f"{preset} trainer vs bare: {result['trainer_vs_bare']}", flush=True)

    other = not training_args.bf16
    model = fresh_model(model_settings, tokenizer, "auto", seed)
    trainer = trainer_for(model, dataclasses.replace(training_args, bf16=other, use_cpu=True), train, tokenizer, steps)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    result["trainer_other_precision"] = {
        "steps": steps,
        "precision": "bf16" if other else "fp32",
        "trainer_tokens_per_second": round(trainer.state.num_input_tokens_seen / seconds, 1),
    }
    print(f"{preset} trainer, other precision: {result['trainer_other_precision']}", flush=True)
    return result


def save_preset_data(args, preset: str, work_dir: str) -> str:
    """The preset's tokenizer and encoded rows in a folder, for the measuring child processes to load."""
    _, tokenizer, train, _ = build(args, preset, work_dir)
    folder = os.path.join(work_dir, f"{preset}-data")
    tokenizer.save_pretrained(folder)
    train.save_to_disk(os.path.join(folder, "train"))
    return folder


def child_trainer(args, preset: str) -> None:
    """In a child process: the Trainer trains the preset's model for --steps steps; prints its tokens/s."""
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    setup = child_setup(args.child_arm)
    argv_work = tempfile.mkdtemp(prefix="hf-bilstm-busy-child-")
    model_settings, _, _, training_args = build(args, preset, argv_work, data=False)
    tokenizer = AutoTokenizer.from_pretrained(args.child_data)
    train = load_from_disk(os.path.join(args.child_data, "train"))
    model = fresh_model(model_settings, tokenizer, "auto", training_args.seed)
    trainer = trainer_for(model, training_args, train, tokenizer, args.steps)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = trainer.state.num_input_tokens_seen
    print("RESULT " + json.dumps({**setup, "steps": args.steps, "seconds": round(seconds, 2), "tokens": tokens}))


def measure_busy(args, preset: str, work_dir: str) -> dict:
    """Idle vs busy (as shipped) and the idle A/B pairs, each a fresh process; tokens/s through the Trainer."""
    data = save_preset_data(args, preset, work_dir)
    child_args = ["--presets", preset, "--dataset", args.dataset, "--child_data", data]
    child_args += ["--tiny"] if args.tiny else []

    def run(arm: str, busy: int, steps: int = args.steps) -> float:
        with busy_processes(busy):
            result = run_child(arm, __file__, [*child_args, "--steps", str(steps)])
        rate = result["tokens"] / result["seconds"]
        print(f"{preset} {arm} busy={busy}: {rate:,.0f} tokens/s {result}", flush=True)
        return round(rate, 1)

    idle, busy = run("after", 0), run("after", args.busy)
    pairs = {arm: [] for arm in ARMS}
    for _ in range(args.ab_pairs):
        for arm in ARMS:
            pairs[arm].append(run(arm, 0))
    # Before the change a busy CPU runs 20-50x slower: a few steps give its rate without spending half an hour.
    before_steps = max(3, args.steps // 4)
    busy_before = run("before", args.busy, before_steps)
    idle_after = [idle, *pairs["after"]]
    return {
        "steps": args.steps,
        "before_change_busy_steps": before_steps,
        "busy_over_mean_idle_after": round(busy / (sum(idle_after) / len(idle_after)), 3),
        "idle_tokens_per_second": idle,
        "busy_tokens_per_second": busy,
        "busy_over_idle": round(busy / idle, 3),
        "target_busy_over_idle_min": TARGET_BUSY_SHARE,
        "met": busy / idle >= TARGET_BUSY_SHARE,
        "before_change_busy_tokens_per_second": busy_before,
        "before_change_busy_over_idle": round(busy_before / sum(pairs["before"]) * len(pairs["before"]), 3),
        "idle_ab_before_after": summarize_pairs(pairs),
    }


def main_busy(args) -> int:
    started = time.time()
    record = {
        "benchmark": "CPU training speed, idle vs busy (scripts/benchmark_cpu_training.py --busy)",
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, torch's default threads",
        "date": datetime.date.today().isoformat(),
        "command": shlex.join(["python", "scripts/benchmark_cpu_training.py", *sys.argv[1:]]),
        "commit": git_commit(),
        "tiny": args.tiny,
        "busy_processes": args.busy,
        "note": (
            "Trainer tokens/s (real tokens) over the first --steps steps of a fresh process, first step included. "
            "after = as shipped (GOMP_SPINCOUNT=300 and OMP_WAIT_POLICY=PASSIVE chosen by hf_bilstm); before = torch "
            "loaded before hf_bilstm chooses "
            "(libgomp's default spinning). busy = N pure-Python CPU-bound processes running."
        ),
        "presets": {},
    }
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"{record['date']}-cpu-training-busy.json")
    with tempfile.TemporaryDirectory(prefix="hf-bilstm-cpu-busy-") as work_dir:
        for preset in args.presets:
            record["presets"][preset] = measure_busy(args, preset, work_dir)
            record["wall_seconds"] = round(time.time() - started, 1)
            write_json(record, path)
    print(f"wrote {path} ({record['wall_seconds']:.0f} s)", flush=True)
    return 0


def main() -> int:
    args = parse()
    if args.tiny:
        args.seconds, args.steps = min(args.seconds, 1.0), min(args.steps, 6)
    if args.child_arm:
        child_trainer(args, args.presets[0])
        return 0
    if args.busy:
        return main_busy(args)
    started = time.time()
    record = {
        "benchmark": "CPU training speed (scripts/benchmark_cpu_training.py)",
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "date": datetime.date.today().isoformat(),
        "command": shlex.join(["python", "scripts/benchmark_cpu_training.py", *sys.argv[1:]]),
        "commit": git_commit(),
        "torch": torch.__version__,
        "tiny": args.tiny,
        "note": "tokens/s count real (non-padding) tokens; forward + backward + clipping + AdamW per step",
        "presets": {},
    }
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"{record['date']}-cpu-training.json")
    with tempfile.TemporaryDirectory(prefix="hf-bilstm-cpu-bench-") as work_dir:
        for preset in args.presets:
            record["presets"][preset] = measure_preset(args, preset, work_dir)
            record["wall_seconds"] = round(time.time() - started, 1)
            write_json(record, path)
    print(f"wrote {path} ({record['wall_seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gradient checkpointing on a CPU: the memory it saves and the time it costs, at the `base` preset's size.

Each configuration runs in a fresh process (so that its peak resident memory is its own): a
`BiLSTMForSequenceClassification` with the `base` preset's model (embedding 300, 1x256 BiLSTM, max+mean pooling,
50,000-word vocabulary, the padded path that CPUs use), one warm-up step, then --steps timed training steps
(forward, backward, AdamW) on batches of 64 texts of 1,000 tokens (the preset's batch and length: long documents,
every row full). The token ids are random: an RNN's time and memory do not depend on which words it reads.
Reported per configuration: seconds per step, peak resident memory, and the peak's growth over the memory held
before the first step (the activations and gradients a step needs). Also with 2 layers, where checkpointing has more
to drop.

Writes benchmarks/results/<date>-cpu-gradient-checkpointing.json (device, date, command, commit, every figure).
    python scripts/benchmark_gradient_checkpointing.py
    python scripts/benchmark_gradient_checkpointing.py --tiny --results_dir /tmp/bench   # toy size, seconds
"""

import argparse
import datetime
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
from run_record import cpu_name, git_commit, write_json  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per configuration")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--length", type=int, default=1000, help="tokens per text")
    parser.add_argument("--results_dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--tiny", action="store_true", help="toy sizes, for trying the script")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one configuration, as JSON, run in this process
    return parser.parse_args()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(setting: dict) -> dict:
    import torch

    from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification

    try:
        from hf_bilstm.presets import PRESETS

        base = PRESETS["base"].model
    except ImportError:  # before the presets had a module of their own (plain dicts then)
        from hf_bilstm.training import PRESETS

        base = PRESETS["base"]["model"]

    torch.manual_seed(0)
    model_args = base if not setting["tiny"] else {"embedding_dim": 16, "hidden_size": 8}
    sizes = {"vocab_size": 50_000 if not setting["tiny"] else 500, **model_args, "num_layers": setting["num_layers"]}
    config = BiLSTMConfig(**sizes, rnn_implementation="padded", id2label={0: "neg", 1: "pos"})
    model = BiLSTMForSequenceClassification(config).train()
    if setting["checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    batch, length = setting["batch_size"], setting["length"]
    ids = torch.randint(2, config.vocab_size, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    labels = torch.randint(0, 2, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()

    step()  # warm-up: AdamW's state and the allocator's pools exist from here on
    held = current_rss_mib()
    start = time.perf_counter()
    for _ in range(setting["steps"]):
        step()
    seconds = (time.perf_counter() - start) / setting["steps"]
    return {
        **setting,
        "model": sizes,
        "seconds_per_step": round(seconds, 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "rss_before_timed_steps_mib": round(held, 1),
        # what a step adds at its peak over the weights, optimizer state and data held between steps
        "step_peak_growth_mib": round(peak_rss_mib() - held, 1),
    }


def main() -> int:
    args = parse()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    if args.tiny:
        args.batch_size, args.length = 4, 32
    results = []
    for num_layers in (1, 2):
        for checkpointing in (False, True):
            setting = dict(num_layers=num_layers, checkpointing=checkpointing, steps=args.steps, tiny=args.tiny,
                           batch_size=args.batch_size, length=args.length)  # fmt: skip
            child = subprocess.run([sys.executable, __file__, "--child", json.dumps(setting)], check=True,
                                   capture_output=True, text=True, cwd=REPO)  # fmt: skip
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    for num_layers in (1, 2):
        plain, checkpointed = (r for r in results if r["num_layers"] == num_layers)
        checkpointed["time_vs_plain"] = round(checkpointed["seconds_per_step"] / plain["seconds_per_step"], 3)
        checkpointed["peak_rss_vs_plain"] = round(checkpointed["peak_rss_mib"] / plain["peak_rss_mib"], 3)
        growth = checkpointed["step_peak_growth_mib"] / max(plain["step_peak_growth_mib"], 1e-9)
        checkpointed["step_peak_growth_vs_plain"] = round(growth, 3)
    import torch

    report = {
        "device": f"CPU ({cpu_name()}), {os.cpu_count()} cores, torch {torch.__version__}",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + shlex.join(sys.argv),
        "commit": git_commit(),
        "what": "training step of the base preset's classifier on 64 x 1000-token texts, with and without gradient "
        "checkpointing over the recurrent layers; fresh process per row (peak resident memory)",
        "results": results,
    }
    os.makedirs(args.results_dir, exist_ok=True)
    date = datetime.date.today().isoformat()
    path = os.path.join(args.results_dir, f"{date}-cpu-gradient-checkpointing{'-tiny' if args.tiny else ''}.json")
    write_json(report, path)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU serving speed of every preset's architecture with three backends: `torch` (eager PyTorch), `onnxruntime` fp32
and `onnxruntime` int8 (both written by `hf-bilstm export`).

For each preset and backend, in a fresh process (so that its peak RSS is its own): reviews per second and p50/p99
latency for single reviews (batch 1) and for batches of 32, on IMDB test reviews cut to 512 tokens, the way
`hf-bilstm predict` feeds them (longest first, so similar lengths share a batch). Also the model file's size. Speed
does not depend on the weights, so the models are untrained (int8 rounds them all the same); the tokenizer is trained
on IMDB's train split and only the test reviews' texts are read (no label).

    python scripts/benchmark_cpu_inference.py [--dataset ../shared/data/imdb] [--output benchmarks/results/X.json]

`--busy N` measures a busy CPU instead: for each backend, in fresh processes started as a new user's shell would
(scripts/busy_benchmark.py), idle and with N other CPU-bound processes running, side by side, and --ab_pairs
alternating idle pairs of the threading policy before and after the change (before: libgomp's and ONNX Runtime's
default spinning).
    python scripts/benchmark_cpu_inference.py --busy 1 --presets cpu --output benchmarks/results/X-busy.json
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hf_bilstm.cpu_threads  # noqa: F401  before torch loads: its threads spin only briefly (cpu_threads)

REPO = Path(__file__).resolve().parent.parent
from busy_benchmark import ARMS, busy_flag, busy_processes, child_setup, run_child, summarize_pairs  # noqa: E402
from run_record import write_json  # noqa: E402

# The target: with one other busy process, batch-32 serving keeps at least this share of its idle speed.
TARGET_BUSY_SHARE = 0.45
BACKENDS = ("torch", "onnxruntime-fp32", "onnxruntime-int8")
TARGET_SPEEDUP = 2.0  # int8 over torch, reviews/s at batch 32, CPU default preset
TARGET_P50_MS = 10.0  # single review, int8, CPU default preset


def build_folder(preset: str, dataset: str, max_length: int, folder: str) -> None:
    """An untrained model of `preset`'s architecture with an IMDB tokenizer, saved and exported (fp32 and int8)."""
    from datasets import load_dataset

    from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification
    from hf_bilstm.data import iter_texts
    from hf_bilstm.onnx.export import FP32_FILE, INT8_FILE, export_fp32, quantize_int8
    from hf_bilstm.onnx.runtime import REPORT_FILE, export_binding
    from hf_bilstm.presets import PRESETS
    from hf_bilstm.tokenization_bilstm import train_tokenizer

    recipe = PRESETS[preset]
    imdb = load_dataset(dataset, split="train")
    tokenizer_settings = dict(recipe.tokenizer)
    tokenizer = train_tokenizer(
        iter_texts(imdb, "text"),
        vocab_size=tokenizer_settings.pop("vocab_size"),
        model_max_length=max_length,
        **{key: value for key, value in tokenizer_settings.items() if key in ("truncation_side", "lowercase")},
    )
    config = BiLSTMConfig(vocab_size=len(tokenizer), id2label={0: "neg", 1: "pos"}, **recipe.model)
    BiLSTMForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
    export_fp32(folder, os.path.join(folder, "onnx", FP32_FILE))
    quantize_int8(os.path.join(folder, "onnx", FP32_FILE), os.path.join(folder, "onnx", INT8_FILE))
    # The report that binds the graphs to these weights and this tokenizer (the ONNX Runtime loader checks it).
    files = {name: os.path.join(folder, "onnx", name) for name in (FP32_FILE, INT8_FILE)}
    with open(os.path.join(folder, "onnx", REPORT_FILE), "w", encoding="utf-8") as handle:
        json.dump(export_binding(folder, files), handle, indent=2)


def measure(folder: str, backend: str, texts: list[str], single: int, batch_size: int) -> dict:
    """Runs in the child process: latency of single reviews and throughput of batches, then this process's peak RSS."""
    import torch

    from hf_bilstm.inference import load_classifier, predict

    kind = "torch" if backend == "torch" else "onnxruntime"
    classifier = load_classifier(folder, "cpu", kind, quantized=backend.endswith("int8"))
    predict(classifier, texts[:batch_size], batch_size)  # warm-up
    latencies = []
    for text in texts[:single]:
        start = time.perf_counter()
        predict(classifier, [text], 1)
        latencies.append((time.perf_counter() - start) * 1000)
    batch_latencies = []
    start_all = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        start_batch = time.perf_counter()
        predict(classifier, texts[start : start + batch_size], batch_size)
        batch_latencies.append((time.perf_counter() - start_batch) * 1000)
    seconds = time.perf_counter() - start_all

    def quantiles(values):
        ordered = sorted(values)
        nearest_rank = max(math.ceil(0.99 * len(ordered)) - 1, 0)
        return {"p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(ordered[nearest_rank], 2)}

    onnx = {"torch": None, "onnxruntime-fp32": "model.onnx", "onnxruntime-int8": "model_quantized.onnx"}[backend]
    weights = os.path.join(folder, "onnx", onnx) if onnx else os.path.join(folder, "model.safetensors")
    return {
        "batch_1": {
            "reviews": single,
            "reviews_per_second": round(single / (sum(latencies) / 1000), 1),
            **quantiles(latencies),
        },
        f"batch_{batch_size}": {
            "reviews": len(texts),
            "reviews_per_second": round(len(texts) / seconds, 1),
            **quantiles(batch_latencies),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "file_mb": round(os.path.getsize(weights) / 1e6, 2),
        "torch_threads": torch.get_num_threads(),
    }



def _onnxruntime_version() -> str:
    try:
        import onnxruntime
    except ImportError:
        return "not installed"
    return onnxruntime.__version__


def child(args) -> None:
    from datasets import load_dataset

    setup = child_setup(args.child_arm) if args.child_arm else {}
    texts = list(load_dataset(args.dataset, split="test").shuffle(seed=0).select(range(args.texts))["text"])
    measured = measure(args.child_folder, args.child_backend, texts, args.single, args.batch_size)
    print("RESULT " + json.dumps({**measured, **setup}))


def measure_busy(args, folder: str) -> dict:
    """Per backend: idle vs busy (as shipped), the idle A/B pairs and busy before the change, each a fresh process."""
    batch = f"batch_{args.batch_size}"
    child_args = ["--dataset", args.dataset, "--texts", str(args.texts), "--single", str(args.single)]
    child_args += ["--batch_size", str(args.batch_size), "--child_folder", folder]
    result = {}
    for backend in BACKENDS:

        def run(arm: str, busy: int) -> dict:
            with busy_processes(busy):
                measured = run_child(arm, __file__, [*child_args, "--child_backend", backend])
            rates = {key: measured[key]["reviews_per_second"] for key in ("batch_1", batch)}
            print(backend, arm, f"busy={busy}", json.dumps(rates), measured.get("OMP_WAIT_POLICY"), flush=True)
            return rates

        idle, busy = run("after", 0), run("after", args.busy)
        pairs = {key: {arm: [] for arm in ARMS} for key in ("batch_1", batch)}
        for _ in range(args.ab_pairs):
            for arm in ARMS:
                rates = run(arm, 0)
                for key in pairs:
                    pairs[key][arm].append(rates[key])
        busy_before = run("before", args.busy)
        result[backend] = {
            key: {
                "idle_reviews_per_second": idle[key],
                "busy_reviews_per_second": busy[key],
                "busy_over_idle": round(busy[key] / idle[key], 3),
                "before_change_busy_reviews_per_second": busy_before[key],
                "before_change_busy_over_idle": round(
                    busy_before[key] / (sum(pairs[key]["before"]) / len(pairs[key]["before"])), 3
                ),
                "idle_ab_before_after": summarize_pairs(pairs[key]),
            }
            for key in ("batch_1", batch)
        }
        result[backend][batch]["target_busy_over_idle_min"] = TARGET_BUSY_SHARE
        result[backend][batch]["met"] = busy[batch] / idle[batch] >= TARGET_BUSY_SHARE
    return result


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get("HF_BILSTM_IMDB") or str(REPO.parent / "shared" / "data" / "imdb")
    parser.add_argument("--dataset", default=default)
    parser.add_argument("--texts", type=int, default=512, help="test reviews classified in batches")
    parser.add_argument("--single", type=int, default=200, help="test reviews classified one at a time")
    parser.add_argument("--max_length", type=int, default=512, help="tokens read per review")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--presets", default="cpu,tutorial,base")
    parser.add_argument("--output", help="write the results as JSON here (rewritten after each preset)")
    busy_flag(parser)
    parser.add_argument("--ab_pairs", type=int, default=3, help="with --busy: idle before/after pairs per backend")
    parser.add_argument("--child_folder", help=argparse.SUPPRESS)
    parser.add_argument("--child_backend", help=argparse.SUPPRESS)
    parser.add_argument("--child_arm", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.child_folder:
        return child(args)
    result = result_header(args)
    for preset in args.presets.split(","):
        with tempfile.TemporaryDirectory() as folder:
            build_folder(preset, args.dataset, args.max_length, folder)
            if args.busy:
                result["runs"].append({"preset": preset, **measure_busy(args, folder)})
                if args.output:
                    write_json(result, args.output)
                continue
            result["runs"].append(measure_idle(args, preset, folder))
        if args.output:
            write_json(result, args.output)
    cpu = next(run for run in result["runs"] if run["preset"] == "cpu") if "cpu" in args.presets else None
    cpu = None if args.busy else cpu
    if cpu:
        result["targets"] = targets_of(cpu)
        print(json.dumps(result["targets"]))
    if args.output:
        write_json(result, args.output)


def result_header(args) -> dict:
    """The results file before the first run: device, date, command, commit and what is measured."""
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    result = {
        "device": (
            f"CPU ({platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), onnxruntime {_onnxruntime_version()} (CPU provider)"
        ),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "commit": commit,
        "reviews": args.texts,
        "single_reviews": args.single,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "runs": [],
    }
    if args.busy:
        result["busy_processes"] = args.busy
        result["note"] = (
            "Each figure from a fresh process started without OMP_*/GOMP_* variables. after = as shipped "
            "(GOMP_SPINCOUNT=300 and OMP_WAIT_POLICY=PASSIVE chosen by hf_bilstm, ONNX Runtime threads stop spinning "
            "when a run ends); "
            "before = the code before the change (torch loaded first: libgomp's default spinning; ONNX Runtime's "
            "defaults). "
            "busy = N pure-Python CPU-bound processes running."
        )
    return result


def measure_idle(args, preset: str, folder: str) -> dict:
    """One preset's folder served by each backend in a fresh process, and int8's speed-up over torch."""
    run = {"preset": preset}
    for backend in BACKENDS:
        command = [sys.executable, __file__, "--dataset", args.dataset, "--texts", str(args.texts)]
        command += ["--single", str(args.single), "--batch_size", str(args.batch_size)]
        command += ["--child_folder", folder, "--child_backend", backend]
        done = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"{preset} {backend} failed:\n{done.stderr[-3000:]}")
        run[backend] = json.loads(lines[-1][len("RESULT ") :])
        print(preset, backend, json.dumps(run[backend]), flush=True)
    batch = f"batch_{args.batch_size}"
    run["int8_speedup_over_torch"] = round(
        run["onnxruntime-int8"][batch]["reviews_per_second"] / run["torch"][batch]["reviews_per_second"], 2
    )
    run["int8_speedup_over_torch_batch_1"] = round(
        run["onnxruntime-int8"]["batch_1"]["reviews_per_second"] / run["torch"]["batch_1"]["reviews_per_second"],
        2,
    )
    return run


def targets_of(cpu: dict) -> dict:
    """The issue's targets, checked on the `cpu` preset's run."""
    p50 = cpu["onnxruntime-int8"]["batch_1"]["p50_ms"]
    return {
        "int8_speedup_over_torch": {
            "target": TARGET_SPEEDUP,
            "measured": cpu["int8_speedup_over_torch"],
            "met": cpu["int8_speedup_over_torch"] >= TARGET_SPEEDUP,
        },
        "single_review_p50_ms": {"target": TARGET_P50_MS, "measured": p50, "met": p50 <= TARGET_P50_MS},
    }


if __name__ == "__main__":
    main()

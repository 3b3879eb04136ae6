"""Every client an HF user might serve an exported folder with, against `hf-bilstm predict`, on IMDB test reviews:
labels agreeing (fp32 and int8), the largest score difference, and reviews per second on this machine.

    python scripts/compare_clients.py runs/bilstm-imdb --reviews 1000 \\
        --optimum_python /work/venv-optimum/bin/python --demo \\
        --output benchmarks/results/DATE-clients.json

Clients: `hf-bilstm predict` (PyTorch; ONNX Runtime fp32 and int8), the README's raw ONNX Runtime example (run with
torch blocked), Optimum's ORTModelForSequenceClassification in its pipeline (in the environment of
--optimum_python: Optimum pins transformers 4.x), transformers.js on Node through the folder's hf_bilstm.js
(js/node_modules: `cd js && npm ci`), the folder's onnx_eval.js on Node (the graph in plain JavaScript, as the demo
page runs it: javascript-onnx-eval), and with --demo the demo page in headless Chromium (first answer after
navigation start). int8 runs one text at a time everywhere (its answers then do not depend on the batch).
Run it alone on the machine (`flock /work/cpu.lock` here): it reports speeds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run_record import write_json

ROOT = Path(__file__).resolve().parent.parent
BLOCK_TORCH = """
import sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name == "hf_bilstm" or name.startswith("hf_bilstm."):
            raise ImportError(name + " is blocked: this client must run without it")
sys.meta_path.insert(0, BlockTorch())
"""
RUN_TEXTS = """
import json, time
texts = json.load(open(sys.argv[1], encoding="utf-8"))
started = time.perf_counter()
answers = classify(texts) if not QUANTIZED else [answer for text in texts for answer in classify([text])]
seconds = time.perf_counter() - started
json.dump({"answers": [{"label": label, "score": score} for label, score in answers], "seconds": seconds},
          open(sys.argv[2], "w"))
"""
OPTIMUM_CHILD = """
import json, sys, time
folder, texts_file, out_file, name = sys.argv[1:]
from optimum.onnxruntime import ORTModelForSequenceClassification
from transformers import AutoTokenizer, pipeline
import transformers, optimum.version
texts = json.load(open(texts_file, encoding="utf-8"))
model = ORTModelForSequenceClassification.from_pretrained(folder, subfolder="onnx", file_name=name,
                                                          trust_remote_code=True)
classifier = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(folder))
batch_size = 1 if "quantized" in name else 32
started = time.perf_counter()
answers = classifier(texts, truncation=True, batch_size=batch_size)
seconds = time.perf_counter() - started
json.dump({"answers": answers, "seconds": seconds,
           "versions": {"transformers": transformers.__version__, "optimum": optimum.version.__version__}},
          open(out_file, "w"))
"""


def readme_onnxruntime_example() -> str:
    """The README's "ONNX Runtime without torch" code block, as a user copies it."""
    section = (ROOT / "README.md").read_text().split("### ONNX Runtime without torch", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_reviews(count: int, seed: int) -> list[str]:
    from datasets import load_dataset

    path = ROOT.parent / "shared" / "data" / "imdb"
    test = load_dataset(str(path), split="test").shuffle(seed=seed).select(range(count))
    return list(test["text"])


def compare(answers: list[dict], reference: list[dict]) -> dict:
    same = sum(a["label"] == b["label"] for a, b in zip(answers, reference))
    return {
        "label_agreement": same / len(reference),
        "labels_differing": len(reference) - same,
        "max_score_difference": max(abs(a["score"] - b["score"]) for a, b in zip(answers, reference)),
    }


def run_python_predict(folder: str, texts: list[str], backend: str, quantized: bool) -> dict:
    from hf_bilstm.inference import load_classifier, predict

    classifier = load_classifier(folder, "cpu", backend, quantized)
    predict(classifier, texts[:32])  # warm-up
    started = time.perf_counter()
    answers = predict(classifier, texts, batch_size=32)
    return {"answers": [dict(label=a["label"], score=float(a["score"])) for a in answers],
            "seconds": time.perf_counter() - started}


def run_child(command: list[str], out: Path) -> dict:
    # onnx_eval.js sums int8 products as this machine's ONNX Runtime does (its default: exactly, as with VNNI).
    from hf_bilstm.onnx.javascript import onnxruntime_int8_products

    env = {**os.environ, "HF_BILSTM_INT8_PRODUCTS": onnxruntime_int8_products()}
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def run_raw_onnxruntime(folder: str, texts_file: Path, work: Path, quantized: bool) -> dict:
    code = readme_onnxruntime_example().replace('"runs/bilstm-imdb"', repr(folder))
    if quantized:
        code = code.replace("onnx/model.onnx", "onnx/model_quantized.onnx")
    script = work / f"raw_ort_{int(quantized)}.py"
    script.write_text(BLOCK_TORCH + code + f"\nQUANTIZED = {quantized}\n" + RUN_TEXTS)
    out = work / f"raw_ort_{int(quantized)}.json"
    return run_child([sys.executable, str(script), str(texts_file), str(out)], out)


def run_optimum(python: str, folder: str, texts_file: Path, work: Path, quantized: bool) -> dict:
    script, out = work / "optimum_child.py", work / f"optimum_{int(quantized)}.json"
    script.write_text(OPTIMUM_CHILD)
    name = "model_quantized.onnx" if quantized else "model.onnx"
    return run_child([python, str(script), folder, str(texts_file), str(out), name], out)


def run_transformers_js(folder: str, texts_file: Path, work: Path, quantized: bool) -> dict:
    out = work / f"js_{int(quantized)}.json"
    command = ["node", str(ROOT / "js" / "classify.mjs"), folder, str(texts_file), str(out)]
    return run_child(command + (["--quantized"] if quantized else []), out)


def run_onnx_eval(folder: str, texts_file: Path, work: Path, quantized: bool) -> dict:
    out = work / f"onnx_eval_{int(quantized)}.json"
    command = ["node", str(ROOT / "js" / "onnx_eval.mjs"), folder, str(texts_file), str(out)]
    return run_child(command + (["--quantized"] if quantized else []), out)


def run_demo(folder: str, texts: list[str], work: Path, screenshot: str | None) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", folder],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        texts_file, out = work / "demo_texts.json", work / "demo.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        command = ["node", str(ROOT / "js" / "demo_check.mjs"), f"http://127.0.0.1:{port}/demo/", str(texts_file),
                   str(out)] + ([screenshot] if screenshot else [])
        runs = [run_child(command, out) for _ in range(3)]  # a fresh browser profile each time: no cached code
    finally:
        server.terminate()
        server.wait()
    return {
        "first_answer_ms": [run["first_answer_ms"] for run in runs],
        "answers": runs[0]["answers"],
        "engine": runs[0]["engine"],
        "timings": [run["timings"] for run in runs],
        "run_ms": [[answer["run_ms"] for answer in run["answers"]] for run in runs],
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="an exported folder (hf-bilstm export FOLDER --quantize int8)")
    parser.add_argument("--reviews", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="which test reviews (a shuffle of the test split)")
    parser.add_argument("--optimum_python", help="a Python with optimum[onnxruntime] (transformers 4.x)")
    parser.add_argument("--demo", action="store_true", help="also time the demo page (needs FOLDER/demo, chromium)")
    parser.add_argument("--screenshot", help="where to save the demo page's screenshot (PNG)")
    parser.add_argument("--output", required=True)
    return parser.parse_args()


def main() -> None:
    args = parse()
    folder = os.path.abspath(args.model)
    texts = test_reviews(args.reviews, args.seed)
    work = Path(tempfile.mkdtemp(prefix="compare-clients-"))
    texts_file = work / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    results, clients = {}, {}
    for quantized in (False, True):
        measure_clients(args, folder, texts, texts_file, work, quantized, clients, results)
    if args.demo:
        results["demo page in headless chromium (int8)"] = measure_demo(args, folder, texts, work, clients)
    shutil.rmtree(work, ignore_errors=True)
    write_json(report_of(args, folder, texts, results), args.output)
    print(json.dumps(results, indent=1))


def measure_clients(args, folder, texts, texts_file, work, quantized, clients, results) -> None:
    """Every client at one precision (fp32 or int8) into `clients`, and each one's agreement with hf-bilstm predict
    (onnxruntime, same precision) and its speed into `results`."""
    precision = "int8" if quantized else "fp32"
    reference = run_python_predict(folder, texts, "onnxruntime", quantized)
    clients[f"hf-bilstm predict (onnxruntime {precision})"] = reference
    if not quantized:
        clients["hf-bilstm predict (torch fp32)"] = run_python_predict(folder, texts, "torch", False)
    clients[f"raw onnxruntime, README example ({precision})"] = run_raw_onnxruntime(
        folder, texts_file, work, quantized)
    if args.optimum_python:
        clients[f"optimum pipeline ({precision})"] = run_optimum(
            args.optimum_python, folder, texts_file, work, quantized)
    clients[f"transformers.js on node ({precision})"] = run_transformers_js(folder, texts_file, work, quantized)
    clients[f"javascript-onnx-eval on node ({precision})"] = run_onnx_eval(folder, texts_file, work, quantized)
    for name, run in clients.items():
        if name in results or precision not in name:
            continue
        results[name] = {
            **compare(run["answers"], reference["answers"]),
            "reviews_per_second": round(len(texts) / run["seconds"], 1),
            **({"versions": run["versions"]} if "versions" in run else {}),
        }


def measure_demo(args, folder, texts, work, clients) -> dict:
    """The demo page's answers to five reviews and to a review of 400 tokens or more (what typing at the end of a long
    review costs per keystroke) against hf-bilstm predict's (int8), and its first answer's time and steps."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    lengths = [len(encoding.ids) for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]
    longest = max(range(len(texts)), key=lengths.__getitem__)
    long = next((i for i, length in enumerate(lengths) if length >= 400), longest)
    chosen = [0, 1, 2, 3, 4, long]
    demo = run_demo(folder, [texts[i] for i in chosen], work, args.screenshot)
    reference = [clients["hf-bilstm predict (onnxruntime int8)"]["answers"][i] for i in chosen]
    shown = [{"label": a["label"], "score": a["scores"][a["label"]]} for a in demo["answers"]]
    return {
        **compare(shown, reference),
        "engine": demo["engine"],
        "first_answer_ms_after_navigation_start": demo["first_answer_ms"],
        "steps_ms_after_navigation_start": demo["timings"],
        "answer_ms_in_page_per_review": demo["run_ms"],
        "review_tokens": [lengths[i] for i in chosen],
        "reviews": len(chosen),
    }


def report_of(args, folder, texts, results) -> dict:
    """The results file: what was compared, on which device and versions, when, by which command at which commit."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    import onnxruntime
    import torch
    import transformers

    return {
        "what": "exported folder served by each client vs hf-bilstm predict on IMDB test reviews",
        "device": f"CPU ({platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__}, "
                  f"onnxruntime {onnxruntime.__version__}, transformers {transformers.__version__}",
        "date": datetime.date.today().isoformat(),
        "command": "python " + " ".join(sys.argv),
        "commit": commit,
        "model": folder,
        "reviews": len(texts),
        "reference": "hf-bilstm predict --backend onnxruntime (fp32), with --quantized (int8); batch 32",
        "clients": results,
    }


if __name__ == "__main__":
    main()

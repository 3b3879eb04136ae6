"""The int8 file's embedding as uint8 rows (`hf_bilstm.onnx.export.quantize_embeddings`) against the fp32 embedding
it had before: IMDB test accuracy, labels agreeing with fp32 and with the old int8 file, and onnx_eval.js (the demo
page's evaluator) against ONNX Runtime on the new file; all int8 runs one text at a time, as `predict` runs int8.

    python scripts/compare_int8_embedding.py FOLDER --reviews 2000 --output benchmarks/results/DATE-int8-embedding.json

FOLDER: an exported folder whose onnx/model_quantized.onnx still has the fp32 embedding (exported before this change).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from run_record import cpu_name, git_commit, write_json

ROOT = Path(__file__).resolve().parent.parent


PAIRS = [
    ("int8_uint8_embedding", "int8_fp32_embedding"),
    ("int8_uint8_embedding", "fp32"),
    ("int8_fp32_embedding", "fp32"),
    ("onnx_eval_js_uint8_embedding", "int8_uint8_embedding"),
]


def ort_logits(path: str, ids: list[list[int]]) -> np.ndarray:
    """ONNX Runtime's logits (one thread) for each row of ids, one row at a time."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = (
        {"input_ids": np.asarray([row], np.int64), "attention_mask": np.ones((1, len(row)), np.int64)} for row in ids
    )
    return np.concatenate([session.run(["logits"], feed)[0] for feed in feeds])


def js_logits(path: str, ids: list[list[int]], work: str) -> np.ndarray:
    """onnx_eval.js's logits (js/onnx_eval.mjs --logits) for each row of ids."""
    ids_file, js_file = os.path.join(work, "ids.json"), os.path.join(work, "js.json")
    with open(ids_file, "w") as handle:
        json.dump(ids, handle)
    subprocess.run(["node", str(ROOT / "js" / "onnx_eval.mjs"), "--logits", path, ids_file, js_file], check=True)
    with open(js_file) as handle:
        return np.asarray(json.load(handle)["logits"], np.float32)


def every_logits(model: str, ids: list[list[int]]) -> tuple[dict, dict]:
    """{client: logits} for fp32, the int8 file as exported, the same with its embedding quantized, and onnx_eval.js on
    the latter; and each file's size."""
    from hf_bilstm.onnx.export import quantize_embeddings

    work = tempfile.mkdtemp()
    try:
        old = os.path.join(model, "onnx", "model_quantized.onnx")
        new = os.path.join(work, "model_quantized.onnx")
        shutil.copyfile(old, new)
        quantize_embeddings(new)
        files = {
            "fp32": os.path.join(model, "onnx", "model.onnx"),
            "int8_fp32_embedding": old,
            "int8_uint8_embedding": new,
        }
        logits = {name: ort_logits(path, ids) for name, path in files.items()}
        logits["onnx_eval_js_uint8_embedding"] = js_logits(new, ids, work)
        return logits, {name: os.path.getsize(path) for name, path in files.items()}
    finally:
        shutil.rmtree(work)


def comparison(logits: dict, labels: np.ndarray) -> dict:
    """Accuracy of each client, and for each of PAIRS the share of equal labels and the largest score difference."""
    predicted = {name: values.argmax(axis=1) for name, values in logits.items()}
    shifted = {name: np.exp(values - values.max(axis=1, keepdims=True)) for name, values in logits.items()}
    positive = {name: (values / values.sum(axis=1, keepdims=True))[:, 1] for name, values in shifted.items()}
    return {
        "accuracy": {name: float((values == labels).mean()) for name, values in predicted.items()},
        "agreement": {
            f"{a} vs {b}": {
                "labels": float((predicted[a] == predicted[b]).mean()),
                "differing": int((predicted[a] != predicted[b]).sum()),
                "max_probability_difference": float(np.abs(positive[a] - positive[b]).max()),
            }
            for a, b in PAIRS
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an exported folder with onnx/model.onnx and onnx/model_quantized.onnx")
    parser.add_argument("--reviews", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="which test reviews (a shuffle of the test split)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    import onnxruntime as ort
    from datasets import load_dataset
    from transformers import AutoTokenizer

    test = load_dataset(args.data, split="test").shuffle(seed=args.seed).select(range(args.reviews))
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    ids = [tokenizer(text, truncation=True)["input_ids"] for text in test["text"]]
    logits, sizes = every_logits(args.model, ids)
    result = {
        "what": "the int8 file, its embedding as uint8 rows vs fp32: accuracy and agreement on IMDB test reviews",
        "date": datetime.date.today().isoformat(),
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores; onnxruntime {ort.__version__} (1 thread); node",
        "commit": git_commit(),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "reviews": args.reviews,
        "seed": args.seed,
        "bytes": sizes,
        **comparison(logits, np.asarray(test["label"])),
    }
    write_json(result, args.output)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

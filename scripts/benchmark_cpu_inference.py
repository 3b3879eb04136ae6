"""CPU serving speed: reviews per second for each preset's architecture, through `pipeline("text-classification")`
with the texts as given and through `hf-bilstm predict`'s batching (similar lengths together).

Speed does not depend on the weights, so the models are untrained; the tokenizer is trained on IMDB's train split
and the reviews are IMDB test reviews (their texts only; no label is read).

    python scripts/benchmark_cpu_inference.py [--dataset ../shared/data/imdb] [--texts 512] [--output FILE.json]
"""

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch
from datasets import load_dataset
from transformers import pipeline

from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification
from hf_bilstm.data import iter_texts
from hf_bilstm.prediction import predict
from hf_bilstm.tokenization_bilstm import train_tokenizer
from hf_bilstm.training import PRESETS

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get("HF_BILSTM_IMDB") or str(REPO.parent / "shared" / "data" / "imdb")
    parser.add_argument("--dataset", default=default)
    parser.add_argument("--texts", type=int, default=512, help="test reviews to classify")
    parser.add_argument("--max_length", type=int, default=512, help="tokens read per review")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()

    imdb = load_dataset(args.dataset)
    texts = list(imdb["test"].shuffle(seed=0).select(range(args.texts))["text"])
    runs = []
    for preset, recipe in PRESETS.items():
        tokenizer = train_tokenizer(
            iter_texts(imdb["train"], "text"),
            vocab_size=recipe["tokenizer"]["vocab_size"],
            model_max_length=args.max_length,
        )
        config = BiLSTMConfig(vocab_size=len(tokenizer), id2label={0: "neg", 1: "pos"}, **recipe["model"])
        model = BiLSTMForSequenceClassification(config).eval()
        classifier = pipeline(
            "text-classification",
            model=model,
            tokenizer=tokenizer,
            device="cpu",
            truncation=True,
            batch_size=args.batch_size,
        )
        classifier(texts[: args.batch_size])  # warm-up
        start = time.perf_counter()
        classifier(texts)
        pipeline_seconds = time.perf_counter() - start
        start = time.perf_counter()
        predict(classifier, texts, args.batch_size)
        predict_seconds = time.perf_counter() - start
        runs.append(
            {
                "preset": preset,
                "parameters": model.num_parameters(),
                "pipeline_reviews_per_second": round(len(texts) / pipeline_seconds, 1),
                "predict_reviews_per_second": round(len(texts) / predict_seconds, 1),
            }
        )
        print(json.dumps(runs[-1]))
    result = {
        "device": f"CPU ({platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()})",
        "date": time.strftime("%Y-%m-%d"),
        "command": "python scripts/benchmark_cpu_inference.py",
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "texts": len(texts),
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "runs": runs,
    }
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

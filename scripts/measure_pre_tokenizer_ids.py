"""The Split regex pre-tokenizer (what transformers.js reads as Python does) against the Whitespace one hf_bilstm used
before: the same words on every IMDB text (train, test, unsupervised), after the same normalizer.

    python scripts/measure_pre_tokenizer_ids.py --output benchmarks/results/DATE-pre-tokenizer-ids.json
"""

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

from datasets import load_dataset
from tokenizers import pre_tokenizers

from hf_bilstm.tokenization_bilstm import PRE_TOKENIZER_PATTERN, build_normalizer, build_pre_tokenizer

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    normalizer = build_normalizer(lowercase=True)
    old, new = pre_tokenizers.Whitespace(), build_pre_tokenizer()
    counts, differing = {}, []
    for split in ("train", "test", "unsupervised"):
        texts = load_dataset(args.dataset, split=split)["text"]
        counts[split] = len(texts)
        for text in texts:
            # Raw and normalized: the pre-tokenizer sees normalized text in the tokenizer; raw text is a harder case.
            for form in (text, normalizer.normalize_str(text)):
                if old.pre_tokenize_str(form) != new.pre_tokenize_str(form):
                    differing.append(form[:200])
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    report = {
        "what": "Whitespace vs Split regex pre-tokenizer: identical words (hence WordLevel ids) on IMDB texts",
        "pattern": PRE_TOKENIZER_PATTERN,
        "date": datetime.date.today().isoformat(),
        "command": "python " + " ".join(sys.argv),
        "commit": commit,
        "texts": counts,
        "texts_checked_raw_and_normalized": 2 * sum(counts.values()),
        "differing": len(differing),
        "differing_examples": differing[:5],
    }
    Path(args.output).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({key: report[key] for key in ("texts", "differing")}))


if __name__ == "__main__":
    main()

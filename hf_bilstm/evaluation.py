"""`hf-bilstm evaluate`: a trained model folder on any split of a dataset → accuracy, macro F1 and loss."""

import argparse
import json
import sys

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from .data import PaddingCollator, UsageError, check_tokenizer_fits, encode, load_raw_dataset, prepare_eval_split
from .training import classification_metrics


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-bilstm evaluate",
        description="Evaluate a trained model folder on one split of a dataset; prints the metrics as JSON.",
        allow_abbrev=False,
    )
    parser.add_argument("model", help="model folder (or Hub id) written by hf-bilstm train")
    parser.add_argument("--dataset", default="stanfordnlp/imdb", help="Hub dataset id or local folder")
    parser.add_argument("--dataset_config_name", "--dataset-config-name", default=None)
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--text_column", "--text-column", default="text")
    parser.add_argument("--label_column", "--label-column", default="label")
    parser.add_argument("--max_samples", "--max-samples", type=int, default=None, help="seeded random subset")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch_size", "--batch-size", type=int, default=128)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1… (default: cuda when available)")
    parser.add_argument("--output_file", "--output-file", default=None, help="also write the metrics JSON here")
    return parser


def load_model(path: str, device: str | None = None):
    """The model and tokenizer of a folder, with a clear error when it is not a trained classifier folder."""
    import hf_bilstm  # noqa: F401  (registers the Auto classes, so no remote code is needed)

    try:
        # trust_remote_code=False: never run (or offer to run) code from the folder; hf_bilstm is imported above.
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError) as error:  # ValueError: a config.json with bad values
        raise UsageError(f"{path!r} is not a model folder hf-bilstm can load ({error}).") from error
    check_tokenizer_fits(tokenizer, model.config, path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


@torch.no_grad()
def evaluate_dataset(model, tokenizer, encoded, batch_size: int = 128, prefix: str = "eval") -> dict[str, float]:
    """Accuracy, macro F1 and mean cross-entropy over `encoded` (input_ids, labels, length), longest first."""
    order = np.argsort(-np.asarray(encoded["length"]), kind="stable")  # similar lengths together: little padding
    collate = PaddingCollator(tokenizer.pad_token_id)
    device = next(model.parameters()).device
    predictions, labels, losses = [], [], []
    for start in range(0, len(order), batch_size):
        rows = encoded[order[start : start + batch_size].tolist()]
        batch = collate([{"input_ids": ids, "labels": y} for ids, y in zip(rows["input_ids"], rows["labels"])])
        inputs = {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}
        logits = model(**inputs).logits
        target = batch["labels"].to(device)
        losses.append(torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum").item())
        predictions.append(logits.argmax(-1).cpu().numpy())
        labels.append(batch["labels"].numpy())
    metrics = classification_metrics(np.concatenate(predictions), np.concatenate(labels))
    metrics["loss"] = sum(losses) / len(order)
    metrics["samples"] = len(order)
    return {f"{prefix}_{key}": value for key, value in metrics.items()}


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        model, tokenizer = load_model(args.model, args.device)
        label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        raw = load_raw_dataset(args.dataset, args.dataset_config_name)
        split = prepare_eval_split(
            raw, args.split, label_names, args.text_column, args.label_column, args.max_samples, args.seed
        )
        encoded = encode(split, tokenizer, args.text_column, args.label_column)
        metrics = evaluate_dataset(model, tokenizer, encoded, args.batch_size, prefix=args.split)
    except UsageError as error:
        print(f"hf-bilstm evaluate: error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.output_file:
        with open(args.output_file, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

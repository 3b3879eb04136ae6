"""`hf-bilstm predict`: label texts with a trained model folder — texts from arguments, a file or stdin."""

import argparse
import json
import sys

import torch

from .data import UsageError


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-bilstm predict",
        description=(
            "Label texts with a trained model. Texts come from the arguments, else from --file (one text per line), "
            "else from stdin (one per line). Prints one line per text: label<TAB>score, or a JSON object with --json."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("model", help="model folder (or Hub id) written by hf-bilstm train")
    parser.add_argument("texts", nargs="*", help="texts to label")
    parser.add_argument("--file", default=None, help="read texts from this file, one per line ('-' for stdin)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text (text, label, score)")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1… (default: cuda when available)")
    return parser


def read_texts(args, stdin=None) -> list[str]:
    """The texts to label; blank lines of a file or stdin are skipped (and counted on stderr)."""
    stdin = sys.stdin if stdin is None else stdin
    if args.texts:
        if args.file:
            raise UsageError("give texts as arguments or with --file, not both.")
        return list(args.texts)
    if args.file and args.file != "-":
        try:
            with open(args.file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"--file {args.file!r}: cannot read it as UTF-8 text ({error}).") from error
    else:
        if args.file is None and stdin.isatty():
            raise UsageError("no texts: give them as arguments, with --file PATH, or on stdin (one per line).")
        lines = stdin.read().splitlines()
    texts = [line for line in lines if line.strip()]
    if len(texts) < len(lines):
        print(f"hf-bilstm predict: skipped {len(lines) - len(texts)} blank line(s).", file=sys.stderr)
    if not texts:
        raise UsageError("no texts to label: the input holds only blank lines.")
    return texts


def load_classifier(model: str, device: str | None = None):
    """A text-classification pipeline on a model folder; texts longer than the model's limit are cut, not refused."""
    from transformers import pipeline

    import hf_bilstm  # noqa: F401  (registers the Auto classes, so no remote code is needed)

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return pipeline("text-classification", model=model, device=device)
    except OSError as error:
        raise UsageError(f"{model!r} is not a model folder hf-bilstm can load ({error}).") from error


def predict(classifier, texts: list[str], batch_size: int = 32) -> list[dict]:
    """One `{"label", "score"}` per text, in order."""
    return classifier(texts, batch_size=batch_size, truncation=True)


def main(argv: list[str] | None = None, stdin=None, stdout=None) -> int:
    args = make_parser().parse_args(sys.argv[1:] if argv is None else argv)
    stdout = sys.stdout if stdout is None else stdout
    try:
        texts = read_texts(args, stdin)
        classifier = load_classifier(args.model, args.device)
    except UsageError as error:
        print(f"hf-bilstm predict: error: {error}", file=sys.stderr)
        return 2
    for text, result in zip(texts, predict(classifier, texts, args.batch_size)):
        if args.json:
            record = {"text": text, "label": result["label"], "score": result["score"]}
            print(json.dumps(record, ensure_ascii=False), file=stdout)
        else:
            print(f"{result['label']}\t{result['score']:.4f}", file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

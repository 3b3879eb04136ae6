"""`hf-bilstm predict`: label texts with a trained model folder — texts from arguments, a file or stdin."""

import argparse
import json
import sys

import torch

from .data import UsageError, check_tokenizer_fits


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


def _checked_utf8(texts: list[str], kind: str) -> list[str]:
    for number, text in enumerate(texts, 1):
        try:  # bytes that are not UTF-8 reach us as lone surrogates where Python decodes with surrogateescape
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise UsageError(
                f"{kind} {number} is not valid UTF-8 text ({error}); convert the input to UTF-8 first, "
                "e.g. with iconv."
            ) from error
    return texts


def read_texts(args, stdin=None) -> list[str]:
    """The texts to label; blank lines of a file or stdin are skipped (and counted on stderr)."""
    stdin = sys.stdin if stdin is None else stdin
    if args.texts:
        if args.file:
            raise UsageError("give texts as arguments or with --file, not both.")
        return _checked_utf8(list(args.texts), "argument")
    if args.file and args.file != "-":
        try:
            with open(args.file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(
                f"--file {args.file!r}: cannot read it as UTF-8 text ({error}). Convert it to UTF-8 first, "
                "e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8."
            ) from error
    else:
        if args.file is None and stdin.isatty():
            raise UsageError("no texts: give them as arguments, with --file PATH, or on stdin (one per line).")
        try:
            lines = stdin.read().splitlines()
        except UnicodeDecodeError as error:
            raise UsageError(f"stdin is not UTF-8 text ({error}); convert it first, e.g. with iconv.") from error
    texts = [line for line in _checked_utf8(lines, "line") if line.strip()]
    if len(texts) < len(lines):
        print(f"hf-bilstm predict: skipped {len(lines) - len(texts)} blank line(s).", file=sys.stderr)
    if not texts:
        raise UsageError("no texts to label: the input holds only blank lines.")
    return texts


def load_classifier(model: str, device: str | None = None):
    """A text-classification pipeline on a model folder; texts longer than the model's limit are cut, not refused."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    import hf_bilstm  # noqa: F401  (registers the Auto classes, so no remote code is needed)

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    # Loaded here rather than by pipeline(), which buries the loading error in a ValueError full of tracebacks.
    try:
        # trust_remote_code=False: never run (or offer to run) code from the folder; hf_bilstm is imported above.
        tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=False)
        loaded = AutoModelForSequenceClassification.from_pretrained(model, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise UsageError(f"{model!r} is not a model folder hf-bilstm can load ({error}).") from error
    check_tokenizer_fits(tokenizer, loaded.config, model)
    return pipeline("text-classification", model=loaded, tokenizer=tokenizer, device=device)


def predict(classifier, texts: list[str], batch_size: int = 32) -> list[dict]:
    """One `{"label", "score"}` per text, in the order given."""
    # Batches of similar lengths waste no recurrent steps on padding (up to 1.4x faster on IMDB on a CPU, see
    # scripts/benchmark_cpu_inference.py); the model's answers do not depend on the batch, so only speed changes.
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]), reverse=True)
    results = classifier([texts[index] for index in order], batch_size=batch_size, truncation=True)
    in_order = [None] * len(texts)
    for index, result in zip(order, results):
        in_order[index] = result
    return in_order


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

"""`hf-bilstm predict`: label texts with a trained model folder — texts from arguments, a file or stdin."""

import argparse
import dataclasses
import json
import math
import sys

from ..arguments import FlagParser, option, positional, switch
from ..errors import UsageError
from ..inference import load_classifier, predict
from ..logs import get_logger, quiet_libraries
from ..model_loading import BACKEND_HELP, QUANTIZED_HELP, Backend, check_backend_flags

logger = get_logger(__name__)


@dataclasses.dataclass
class PredictArguments:
    """The arguments of `hf-bilstm predict`."""

    model: str = positional("model folder (or Hub id) written by hf-bilstm train")
    texts: list[str] = positional("texts to label", nargs="*")
    file: str | None = option(None, "read texts from this file, one per line ('-' for stdin)")
    json: bool = switch("print one JSON object per text (text, label, score)")
    batch_size: int = 32
    device: str | None = option(None, "cpu, cuda, cuda:1… (default: cuda when available)")
    verbose: bool = switch("show the libraries' loading reports and progress bars")
    backend: Backend = option("torch", BACKEND_HELP)
    quantized: bool = switch(QUANTIZED_HELP)


def make_parser() -> FlagParser:
    return FlagParser(
        PredictArguments,
        prog="hf-bilstm predict",
        description=(
            "Label texts with a trained model. Texts come from the arguments, else from --file (one text per line), "
            "else from stdin (one per line). Prints one line per text: label<TAB>score, or a JSON object with --json."
        ),
        formatter_class=argparse.HelpFormatter,  # the help texts state their defaults where it matters
    )


BOM = "\ufeff"


def split_lines(text: str) -> list[str]:
    """One line per `\\n` (a `\\r\\n` ending counts as one): never at form feeds, `\\x1c`, `\\x85` or `\\u2028`,
    which `str.splitlines` also breaks at, so that every input line gets exactly one answer."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    # A UTF-8 byte order mark is not part of a text: at the start of the input, or of any line (files joined with
    # cat keep each file's mark), where the tokenizer would read it as a word.
    return [_without_bom(line[:-1] if line.endswith("\r") else line) for line in lines]


def _without_bom(text: str) -> str:
    return text[1:] if text.startswith(BOM) else text


# Line breaks that json.dumps leaves unescaped (it escapes only those below U+0020): a reader splitting the output with
# str.splitlines would see two answers in one line.
JSON_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_line(record: dict) -> str:
    """One JSON object on exactly one line, whatever line separators its text holds."""
    line = json.dumps(record, ensure_ascii=False, allow_nan=False)
    for raw, escaped in JSON_LINE_BREAKS.items():
        line = line.replace(raw, escaped)
    return line


def _decode(data: bytes, kind: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UsageError(
            f"{kind}: cannot read it as UTF-8 text, line {line} is not valid UTF-8 ({error}). Convert it to UTF-8 "
            "first, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8."
        ) from error


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


def read_file(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise UsageError(f"--file {path!r}: no such file. Check the path (one text per line, UTF-8).") from None
    except IsADirectoryError:
        raise UsageError(f"--file {path!r} is a folder, not a file of texts (one per line).") from None
    except OSError as error:
        raise UsageError(f"--file {path!r} cannot be read ({error.strerror or error}).") from error
    return _decode(data, f"--file {path!r}")


def read_stdin(stdin) -> str:
    if stdin is None or getattr(stdin, "closed", False):
        raise UsageError(
            "stdin is closed and no texts were given; give them as arguments, with --file PATH, or pipe "
            "them in (one per line)."
        )
    buffer = getattr(stdin, "buffer", None)
    try:
        if buffer is not None:  # bytes, so that no newline translation (a lone \r) splits a line
            return _decode(buffer.read(), "stdin")
        return stdin.read()
    except UnicodeDecodeError as error:
        raise UsageError(f"stdin is not UTF-8 text ({error}); convert it first, e.g. with iconv.") from error
    except (OSError, ValueError) as error:  # ValueError: reading a closed file
        raise UsageError(f"stdin cannot be read ({error}); give the texts as arguments or with --file.") from error


def read_texts(args, stdin=None) -> list[str]:
    """The texts to label; blank lines of a file or stdin are skipped (and counted on stderr)."""
    stdin = sys.stdin if stdin is None else stdin
    if args.texts:
        if args.file:
            raise UsageError("give texts as arguments or with --file, not both.")
        return _checked_utf8([_without_bom(text) for text in args.texts], "argument")
    if args.file and args.file != "-":
        source, lines = f"--file {args.file!r}", split_lines(read_file(args.file))
    else:
        if args.file is None and stdin is not None and not getattr(stdin, "closed", False) and stdin.isatty():
            raise UsageError("no texts: give them as arguments, with --file PATH, or on stdin (one per line).")
        source, lines = "stdin", split_lines(read_stdin(stdin))
    if not lines:
        raise UsageError(f"no texts to label: {source} is empty. Give one text per line.")
    texts = [line for line in _checked_utf8(lines, "line") if line.strip()]
    if len(texts) < len(lines):
        logger.warning(f"hf-bilstm predict: skipped {len(lines) - len(texts)} blank line(s).")
    if not texts:
        raise UsageError(f"no texts to label: {source} holds only blank lines.")
    return texts


def run(argv: list[str], stdin=None, stdout=None) -> int:
    args = make_parser().parse_command(argv)
    stdout = sys.stdout if stdout is None else stdout
    with quiet_libraries(args.verbose):
        return _main(args, stdin, stdout)


def _main(args, stdin, stdout) -> int:
    if args.batch_size < 1:
        raise UsageError(f"--batch_size must be a positive number of texts, but it was {args.batch_size}.")
    device = check_backend_flags(args)
    texts = read_texts(args, stdin)
    classifier = load_classifier(args.model, device, args.backend, args.quantized)
    lines = []
    for text, result in zip(texts, predict(classifier, texts, args.batch_size)):
        if not math.isfinite(result["score"]):  # refused weights make this unreachable; JSON has no NaN
            raise UsageError(
                f"the model gave the score {result['score']} for line {len(lines) + 1}; its weights "
                "are broken. Train or save the model again."
            )
        if args.json:
            record = {"text": text, "label": result["label"], "score": result["score"]}
            lines.append(json_line(record))
        else:
            lines.append(f"{result['label']}\t{result['score']:.4f}")
    for line in lines:
        print(line, file=stdout)
    return 0


def main(argv: list[str] | None = None, stdin=None, stdout=None) -> int:
    """`hf-bilstm predict`; hf_bilstm.cli turns what goes wrong into one line and an exit code."""
    from ..cli import run_command

    return run_command("predict", sys.argv[1:] if argv is None else argv, stdin=stdin, stdout=stdout)


if __name__ == "__main__":
    sys.exit(main())

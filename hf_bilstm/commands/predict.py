"""`hf-bilstm predict`: label texts with a trained model folder — texts from arguments, a file or stdin.

What a text gets depends on the model's problem type (`hf_bilstm.problem_types`): one label and its probability
(single-label), every label whose probability is at least the threshold, 0.5 unless `--threshold` says otherwise
(multi-label), or the score (regression). A table (`--file` ending in .csv, .tsv, .jsonl, .json, .parquet) is read
with its columns; `--output_file` writes every row's columns (ids included) with the predictions added.
"""

import argparse
import dataclasses
import json
import math
import os
import sys

from ..data_schema import DataSchema, load_schema
from ..errors import UsageError
from ..flag_parser import FlagParser, option, positional, switch
from ..folder import write_atomically
from ..inference import load_classifier, predict
from ..logs import get_logger, quiet_libraries
from ..model_loading import BACKEND_HELP, QUANTIZED_HELP, Backend, check_backend_flags
from ..prediction_files import (
    check_results_file,
    choose_text_columns,
    is_table,
    read_table,
    results_text,
    texts_of,
)
from ..problem_types import MULTI_LABEL, problem_type_of
from . import command_main

logger = get_logger(__name__)


@dataclasses.dataclass
class PredictArguments:
    """The arguments of `hf-bilstm predict`."""

    model: str = positional("model folder (or Hub id) written by hf-bilstm train")
    texts: list[str] = positional("texts to label", nargs="*")
    file: str | None = option(
        None,
        "read texts from this file: one per line ('-' for stdin), or a table (.csv, .tsv, .jsonl, .json, .parquet) "
        "whose --text_column holds them",
    )
    test_file: str | None = option(None, "the same as --file (the name evaluate and train use for a data file)")
    text_column: str | None = option(
        None, "column(s) of the texts in a table, a,b to join several (default: the training's, else 'text')"
    )
    column_names: str | None = option(None, "names of the columns of a headerless CSV/TSV file, e.g. id,text")
    output_file: str | None = option(
        None, "write the results here (.tsv, .csv or .jsonl): every row's columns or line number, plus the prediction"
    )
    overwrite: bool = switch("replace an existing --output_file")
    threshold: float | None = option(
        None, "multi-label models: a label is predicted when its probability is at least this (default 0.5)"
    )
    json: bool = switch("print one JSON object per text (text, and label/score, labels/scores, or score)")
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
            "Label texts with a trained model. Texts come from the arguments, else from --file (one text per line, or "
            "a table's --text_column), else from stdin (one per line). Prints one line per text: label<TAB>score "
            "(single-label), labels<TAB>scores with every label whose probability is at least --threshold, 0.5 by "
            "default (multi-label; comma-separated, possibly empty), or the score (regression); a JSON object with "
            "--json. --output_file writes them to a file instead, with the rows' ids."
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
    return [text for _, text in read_lines(args, stdin)]


def read_lines(args, stdin=None) -> list[tuple[int, str]]:
    """`(line number, text)` of the texts to label (arguments are numbered in order); blank lines are skipped."""
    stdin = sys.stdin if stdin is None else stdin
    if args.texts:
        if args.file:
            raise UsageError("give texts as arguments or with --file, not both.")
        return list(enumerate(_checked_utf8([_without_bom(text) for text in args.texts], "argument"), 1))
    if args.file and args.file != "-":
        source, lines = f"--file {args.file!r}", split_lines(read_file(args.file))
    else:
        if args.file is None and stdin is not None and not getattr(stdin, "closed", False) and stdin.isatty():
            raise UsageError("no texts: give them as arguments, with --file PATH, or on stdin (one per line).")
        source, lines = "stdin", split_lines(read_stdin(stdin))
    if not lines:
        raise UsageError(f"no texts to label: {source} is empty. Give one text per line.")
    numbered = [(number, line) for number, line in enumerate(_checked_utf8(lines, "line"), 1) if line.strip()]
    if len(numbered) < len(lines):
        logger.warning(f"hf-bilstm predict: skipped {len(lines) - len(numbered)} blank line(s).")
    if not numbered:
        raise UsageError(f"no texts to label: {source} holds only blank lines.")
    return numbered


def _names(flag: str, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise UsageError(f"{flag} {value!r} holds an empty name; give comma-separated names, e.g. id,text.")
    return names


def read_inputs(args, stdin=None, schema: DataSchema | None = None) -> tuple[list[str], dict]:
    """The texts, and the columns that the results file keeps for each: a table's own columns (ids included), or the
    line number and text of each line. `schema` (the model folder's `data_schema.json`) gives the training's text
    columns, their separator and a headerless file's column names where the flags do not."""
    schema = schema or DataSchema()
    if args.file and args.file != "-" and is_table(args.file):
        if args.texts:
            raise UsageError("give texts as arguments or with --file, not both.")
        table = read_predict_table(args, schema)
        wanted = _names("--text_column", args.text_column)
        if wanted is None and set(schema.text_columns) <= set(table):
            wanted = schema.text_columns  # the training's columns; a file with other columns falls back
        columns = choose_text_columns(list(table), wanted, args.file)
        joiner = dataclasses.replace(schema, text_columns=columns)
        texts = _checked_utf8(texts_of(table, joiner), "row")
        empty = sum(not text.strip() for text in texts)
        if empty:  # kept, not skipped: the results file has one row per input row
            logger.warning(f"hf-bilstm predict: {empty} row(s) have no text; they get the model's answer to ''.")
        return texts, table
    if args.column_names or args.text_column:
        flag = "--column_names" if args.column_names else "--text_column"
        raise UsageError(
            f"{flag} applies to a table (--file ending in .csv, .tsv, .jsonl, .json or .parquet); these texts are "
            "one per line."
        )
    numbered = read_lines(args, stdin)
    return [text for _, text in numbered], {"line": [n for n, _ in numbered], "text": [t for _, t in numbered]}


def read_predict_table(args, schema: DataSchema) -> dict[str, list]:
    """The table of `--file`; a headerless file like the training's (whose first row, read as a header, lacks the
    training's text columns) gets the training's `--column_names`."""
    given = _names("--column_names", args.column_names)
    table = read_table(args.file, given)
    trained_names = schema.column_names
    if (
        given is None
        and trained_names
        and not set(schema.text_columns) <= set(table)
        and len(table) == len(trained_names)
        and os.path.splitext(args.file)[1].lower() in (".csv", ".tsv")
    ):
        logger.info(f"hf-bilstm predict: {args.file} has no header; reading it with the training's column names.")
        table = read_table(args.file, trained_names)
    if not table or not len(next(iter(table.values()))):
        raise UsageError(f"no texts to label: --file {args.file!r} has no rows.")
    return table


def answer_line(text: str, answer: dict, as_json: bool) -> str:
    """One printed line: label<TAB>score, labels<TAB>scores (comma-separated) or score; or a JSON object."""
    if as_json:
        return json_line({"text": text, **answer})
    if "labels" in answer:
        return ",".join(answer["labels"]) + "\t" + ",".join(f"{score:.4f}" for score in answer["scores"])
    if "label" in answer:
        return f"{answer['label']}\t{answer['score']:.4f}"
    return f"{answer['score']:.4f}"


# The results file's columns for each answer key (named so that they cannot be a data file's `label` or `score`).
RESULT_COLUMNS = {"label": "predicted_label", "labels": "predicted_labels", "score": "predicted_score"}
RESULT_COLUMNS["scores"] = "predicted_scores"


def result_columns(inputs: dict, results: list[dict]) -> dict:
    """The input's columns with the predictions after them."""
    columns = dict(inputs)
    for key in results[0]:
        name = RESULT_COLUMNS[key]
        if name in columns:
            raise UsageError(
                f"the input already has a column {name!r}, which the results file adds; rename that column first."
            )
        columns[name] = [result[key] for result in results]
    return columns


def check_threshold(args, config) -> None:
    if args.threshold is None:
        return
    if problem_type_of(config) != MULTI_LABEL:
        raise UsageError(
            f"--threshold applies to multi-label models; {args.model!r} is a {problem_type_of(config)} model. "
            "Leave the flag out."
        )
    if not 0 < args.threshold < 1:
        raise UsageError(f"--threshold must be a probability between 0 and 1, but it was {args.threshold}.")


def _not_finite(answer: dict) -> float | None:
    """The first score of `answer` that is NaN or infinite, else None."""
    return next((score for score in answer.get("scores", [answer.get("score")]) if not math.isfinite(score)), None)


def run(argv: list[str], stdin=None, stdout=None) -> int:
    args = make_parser().parse_command(argv)
    stdout = sys.stdout if stdout is None else stdout
    with quiet_libraries(args.verbose):
        return _main(args, stdin, stdout)


def _main(args, stdin, stdout) -> int:
    if args.batch_size < 1:
        raise UsageError(f"--batch_size must be a positive number of texts, but it was {args.batch_size}.")
    if args.test_file is not None:
        if args.file is not None:
            raise UsageError("--file and --test_file name the same thing; give one of them.")
        args.file = args.test_file
    device = check_backend_flags(args)
    if args.output_file is not None:
        extension = check_results_file(args.output_file, args.overwrite, [args.file], args.model)
    classifier = load_classifier(args.model, device, args.backend, args.quantized)
    schema = load_schema(args.model, classifier.model.config)
    check_threshold(args, classifier.model.config)
    texts, inputs = read_inputs(args, stdin, schema)
    threshold = schema.threshold if args.threshold is None else args.threshold
    results = predict(classifier, texts, args.batch_size, threshold)
    for number, result in enumerate(results, 1):
        bad = _not_finite(result)
        if bad is not None:  # refused weights make this unreachable; JSON has no NaN
            raise UsageError(
                f"the model gave the score {bad} for text {number}; its weights are broken. Train or save the "
                "model again."
            )
    if args.output_file is not None:
        try:
            write_atomically(args.output_file, results_text(result_columns(inputs, results), extension))
        except OSError as error:
            raise UsageError(f"--output_file {args.output_file!r} cannot be written ({error}).") from error
        lines = [f"hf-bilstm predict: wrote {len(results)} predictions to {args.output_file}."]
    else:
        lines = [answer_line(text, result, args.json) for text, result in zip(texts, results)]
    for line in lines:
        print(line, file=stdout)
    return 0


main = command_main("predict")


if __name__ == "__main__":
    sys.exit(main())

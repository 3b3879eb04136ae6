"""`hf-bilstm evaluate`: a trained model folder on any split of a dataset or a data file → its metrics and loss.

The columns, label form and problem type are the training's (the folder's data_schema.json); the metrics are those
of hf_bilstm.metrics, as `hf-bilstm train` reports them: accuracy, macro F1 and per-class P/R/F1 for classes, micro
and macro F1 at threshold 0.5 for multi-label, MSE and Pearson for regression (hf_bilstm.inference runs the loop).
"""

import argparse
import dataclasses
import json
import math
import os
import sys

from ..data import load_raw_dataset
from ..data_flags import comma_list, schema_for
from ..encoding import encode
from ..errors import UsageError
from ..flag_checks import check_dataset_flag, check_number, check_seed
from ..flag_parser import FlagParser, option, positional, switch
from ..folder import package_file, write_atomically
from ..inference import evaluate_dataset
from ..logs import quiet_libraries
from ..model_loading import BACKEND_HELP, QUANTIZED_HELP, Backend, check_backend_flags, load_backend
from ..splits import prepare_eval_split
from . import command_main


@dataclasses.dataclass
class EvaluateArguments:
    """The arguments of `hf-bilstm evaluate`."""

    model: str = positional("model folder (or Hub id) written by hf-bilstm train")
    dataset: str = option("stanfordnlp/imdb", "Hub dataset id, local folder or data file")
    dataset_config_name: str | None = None
    split: str = option("test", "split to evaluate (default: test)")
    test_file: str | None = option(None, "evaluate this data file (csv, tsv, json, jsonl, parquet), not --dataset")
    text_column: str | None = option(None, "text column(s), comma-separated (default: the training's)")
    label_column: str | None = option(None, "label column(s) (default: the training's)")
    column_names: str | None = option(None, "column names of a headerless csv/tsv file (default: the training's)")
    max_samples: int | None = option(None, "seeded random subset")
    seed: int = 42
    batch_size: int = 128
    device: str | None = option(None, "cpu, cuda, cuda:1… (default: cuda when available)")
    output_file: str | None = option(None, "also write the metrics JSON here")
    verbose: bool = switch("show the libraries' loading reports and progress bars")
    backend: Backend = option("torch", BACKEND_HELP)
    quantized: bool = switch(QUANTIZED_HELP)


def make_parser() -> FlagParser:
    return FlagParser(
        EvaluateArguments,
        prog="hf-bilstm evaluate",
        description="Evaluate a trained model folder on one split of a dataset; prints the metrics as JSON.",
        formatter_class=argparse.HelpFormatter,  # the help texts state their defaults where it matters
    )


def _inside(folder: str, path: str) -> bool:
    folder, path = os.path.realpath(os.path.expanduser(folder)), os.path.realpath(os.path.expanduser(path))
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_file(path: str, model: str, dataset: str, flag: str = "--dataset") -> None:
    """`--output_file` must be writable, and no file that this run reads: it is written after the model and the data
    were read, so naming one of them (the model's weights, a data file) would destroy it."""
    if not path:
        raise UsageError("--output_file is empty; give a file name for the metrics JSON, or leave the flag out.")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--output_file {path!r} is a folder; give a file name for the metrics JSON.")
    if not os.path.isdir(folder):
        raise UsageError(
            f"--output_file {path!r}: the folder {folder!r} does not exist; create it first (mkdir -p) or choose "
            "another path."
        )
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--output_file {path!r}: the folder {folder!r} is not writable.")
    source = os.path.expanduser(dataset)
    if os.path.isfile(source) and os.path.exists(path) and os.path.samefile(source, path):  # links and ./ included
        raise UsageError(
            f"--output_file {path!r} is {flag} {dataset!r}, the data file this run reads; writing the metrics there "
            "would replace it. Choose another name, e.g. eval_metrics.json."
        )
    if os.path.isdir(os.path.expanduser(dataset)) and _inside(dataset, path):
        # Any file there is a data file, or would be read as one by the next run on that folder.
        raise UsageError(
            f"--output_file {path!r} lies inside --dataset {dataset!r}, which this run reads; write the metrics "
            "outside the dataset folder."
        )
    relative = package_file(model, path)
    if relative is not None:
        raise UsageError(
            f"--output_file {path!r} is {relative}, a file of the model folder {model!r} (its weights, config, "
            "tokenizer, card, results, recipe record or export); writing the metrics there would replace it. Choose "
            "another name, e.g. eval_metrics.json."
        )


def check_args(args) -> str:
    """Every flag, before the model or the data is loaded; returns the device."""
    check_number("--batch_size", args.batch_size, integer=True, minimum=1)
    check_number("--max_samples", args.max_samples, integer=True, minimum=1)
    check_seed(args.seed)
    comma_list(args.text_column, "--text_column")
    comma_list(args.label_column, "--label_column")
    comma_list(args.column_names, "--column_names")
    if args.test_file is not None and not os.path.isfile(os.path.expanduser(args.test_file)):
        raise UsageError(f"--test_file {args.test_file!r} does not exist; give the data file to evaluate on.")
    if args.output_file is not None:
        flag = "--test_file" if args.test_file else "--dataset"
        check_output_file(args.output_file, args.model, args.test_file or args.dataset, flag)
    if args.test_file is None:
        check_dataset_flag(args.dataset)
    return check_backend_flags(args)


def run(argv: list[str]) -> int:
    args = make_parser().parse_command(argv)
    with quiet_libraries(args.verbose):
        return _main(args)


def _main(args) -> int:
    device = check_args(args)
    model, tokenizer = load_backend(args.model, device, args.backend, args.quantized)
    schema = schema_for(args.model, model.config, args.text_column, args.label_column, args.column_names)
    data_file = args.test_file or (args.dataset if os.path.isfile(os.path.expanduser(args.dataset)) else None)
    if data_file is not None:  # one file: the split to evaluate
        raw = load_raw_dataset(None, files={args.split: data_file}, column_names=schema.column_names)
    else:
        raw = load_raw_dataset(args.dataset, args.dataset_config_name, column_names=schema.column_names)
    split = prepare_eval_split(raw, args.split, schema, max_samples=args.max_samples, seed=args.seed)
    encoded = encode(split, tokenizer, schema.text_column, schema.label_column)
    metrics = evaluate_dataset(model, tokenizer, encoded, args.batch_size, args.split, schema.label_names)
    bad = {key: value for key, value in metrics.items() if isinstance(value, float) and not math.isfinite(value)}
    if bad:  # refused weights make this unreachable; JSON has no NaN
        raise UsageError(f"the model gave {bad}; its weights are broken. Train or save the model again.")
    text = json.dumps(metrics, indent=2, allow_nan=False)
    if args.output_file:  # written before printing: a failure here loses no work, the check above makes it rare
        try:
            write_atomically(args.output_file, text + "\n")  # temp file + rename (hf_bilstm.prediction_files)
        except OSError as error:
            raise UsageError(f"--output_file {args.output_file!r} cannot be written ({error}).") from error
    print(text)
    return 0


main = command_main("evaluate")


if __name__ == "__main__":
    sys.exit(main())

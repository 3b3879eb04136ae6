"""`hf-bilstm export`: a model folder to ONNX (and int8), checked against PyTorch (hf_bilstm.onnx.export does the
work)."""

import argparse
import dataclasses
import os
import sys
from typing import Literal

from ..flag_parser import FlagParser, option, positional, switch
from ..logs import show_progress
from ..onnx.export import run_export
from ..onnx.runtime import FP32_FILE, INT8_FILE, ONNX_DIR, REPORT_FILE
from . import command_main


@dataclasses.dataclass
class ExportArguments:
    """The arguments of `hf-bilstm export`."""

    model: str = positional("model folder written by hf-bilstm train")
    quantize: Literal["int8"] | None = option(None, "also write a dynamic int8 model")
    dataset: str = option("stanfordnlp/imdb", "dataset for the int8 checks (Hub id, folder or data file)")
    dataset_config_name: str | None = None
    train_file: str | None = option(None, "training data file for the int8 checks (validation is carved from it)")
    test_file: str | None = option(None, "test data file for the int8 checks")
    text_column: str | None = option(None, "text column(s), comma-separated (default: the training's)")
    label_column: str | None = option(None, "label column(s) (default: the training's)")
    validation_fraction: float = option(0.1, "as given to hf-bilstm train")
    test_fraction: float = option(0.1, "as given to hf-bilstm train (carves test from a dataset without one)")
    seed: int = option(42, "as given to hf-bilstm train (carves validation)")
    group_column: str | None = option(None, "as given to hf-bilstm train (carves validation by whole groups)")
    group_by_shared_words: bool = switch("as given to hf-bilstm train (carves validation by rows sharing rare words)")
    max_test_samples: int | None = option(None, "test texts for the int8 check (all)")
    overwrite: bool = switch("replace onnx/ files that an export did not write")
    demo: bool = switch("also write demo/, a static page running the int8 model in a browser")
    demo_vendor: str | None = option(
        None,
        "node_modules of @huggingface/transformers (its onnxruntime-web and @huggingface/tokenizers are copied into "
        "demo/vendor/: offline)",
    )


def make_parser() -> FlagParser:
    return FlagParser(
        ExportArguments,
        prog="hf-bilstm export",
        description=(
            "Export a trained classifier folder to ONNX (FOLDER/onnx/model.onnx), checked against PyTorch; with "
            "--quantize int8 also onnx/model_quantized.onnx, checked on validation and test texts."
        ),
        formatter_class=argparse.HelpFormatter,  # the help texts state their defaults where it matters
    )


def run(argv: list[str]) -> int:
    args = make_parser().parse_command(argv)
    show_progress()  # the checks' results, on stderr as they are measured
    report = run_export(args)
    written = [FP32_FILE] + ([INT8_FILE] if "int8" in report else [])
    folder = os.path.join(args.model, ONNX_DIR)
    print(f"hf-bilstm export: wrote {', '.join(os.path.join(folder, name) for name in written)} and {REPORT_FILE}.")
    print(f"hf-bilstm export: wrote {', '.join(os.path.join(args.model, name) for name in report['js_files'])}.")
    if args.demo:
        print(f"hf-bilstm export: the demo: cd {args.model} && python -m http.server, then open localhost:8000/demo/")
    return 0


main = command_main("export")


if __name__ == "__main__":
    sys.exit(main())

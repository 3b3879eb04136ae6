"""`hf-bilstm export FOLDER [--quantize int8]`: a trained classifier folder → `FOLDER/onnx/model.onnx` (and
`onnx/model_quantized.onnx`), the layout of Optimum-exported Hub repos, each checked before it is written.

Checks, all run before any file lands in `onnx/`:
- fp32: ONNX Runtime's logits equal PyTorch's to `FP32_TOLERANCE` on texts of many lengths, batched with padding on
  the right and on the left;
- int8 (dynamic quantization of the recurrent and linear weights; embeddings as uint8 rows): the predicted labels agree
  with fp32 on at least `MIN_INT8_AGREEMENT` of `AGREEMENT_TEXTS` validation texts (carved from train as
  `hf-bilstm train` carves them), and accuracy on the test split is within `MAX_INT8_ACCURACY_DROP` of fp32's.

What was measured goes to `onnx/export_report.json` and to a section of the model card.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from ..data import load_raw_dataset
from ..data_flags import schema_for
from ..encoding import encode
from ..errors import UsageError
from ..flag_checks import check_dataset_flag, check_number, check_seed, local_path
from ..folder import check_not_an_input, write_atomically
from ..logs import get_logger
from ..model_loading import load_classifier_folder
from ..problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL, decisions, problem_type_of
from ..splits import prepare_splits
from .graph import EXPORTER_PREFIX, WRITE_FAILED_PREFIX
from .javascript import JS_MODULES, vendor_sources, write_demo, write_js_module
from .runtime import (
    FP32_FILE,
    INSTALL_HINT,
    INT8_FILE,
    ONNX_DIR,
    REPORT_FILE,
    ORTModelForSequenceClassification,
    export_binding,
    session_options,
)

logger = get_logger(__name__)

FP32_TOLERANCE = 1e-4
AGREEMENT_TEXTS = 2000
MIN_INT8_AGREEMENT = 0.99
MAX_INT8_ACCURACY_DROP = 0.005  # of the test figure: accuracy, micro F1 (multi-label) or Pearson (regression)
CARD_SECTION = "## ONNX Runtime"  # the card section this command owns (replaced by the next export)
CHECK_LENGTHS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 512)


def require_export_tools():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (the torch.onnx exporter translates with it)
    except ImportError as error:
        raise UsageError(f"exporting needs the optional extra ({error}). Install it: {INSTALL_HINT}.") from None


def export_fp32(folder: str, path: str) -> str:
    """Exports the classifier of `folder` to `path` in a fresh Python process; returns the exporter used."""
    # A fresh process: torch 2.13's dynamo exporter fixes the sequence length of every export after the first one in a
    # process (measured), which would make the file refuse other lengths.
    command = [sys.executable, "-m", "hf_bilstm.onnx.graph", folder, path]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith(EXPORTER_PREFIX)]
    failed = [line for line in done.stdout.splitlines() if line.startswith(WRITE_FAILED_PREFIX)]
    if failed:  # answered by the CLI's one handler of failed writes (hf_bilstm.errors.exit_code_for)
        number, _, written = failed[-1][len(WRITE_FAILED_PREFIX) :].partition(" ")
        raise OSError(int(number), os.strerror(int(number)), written)
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise UsageError(f"the ONNX export of {folder!r} failed: {tail}")
    return lines[-1][len(EXPORTER_PREFIX) :]


def quantize_int8(source: str, target: str) -> None:
    """Dynamic int8 quantization of the recurrent and linear weights, and the embedding as uint8 rows
    (`quantize_embeddings`)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It warns on the root logger that static (calibrated) quantization wants pre-processing; dynamic does not.
    # `logging.warning` also gives a root logger without handlers basicConfig's stderr handler, which would then
    # print every later message of the process (hf_bilstm's propagate) in its own format: it goes again.
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(logging.ERROR)
    try:
        ops = ["LSTM", "GRU", "MatMul", "Gemm"]
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=ops)
    finally:
        root.setLevel(level)
        for added in [handler for handler in root.handlers if handler not in handlers]:
            root.removeHandler(added)
    quantize_embeddings(target)


def _axis(node) -> int:
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)


def quantize_embeddings(path: str) -> None:
    """The fp32 embedding tables of the ONNX file at `path` (initializers read only by Gather on axis 0) stored as
    uint8 rows: each row's values x -> q = round((x - min) / scale), scale = (max - min) / 255 of that row, read back
    as q * scale + min (Gather, Cast, and the row's scale and min gathered alike: plain ONNX operators).

    For the `cpu` preset the embedding (30,000 x 128 floats, 15.2 MB) was ~98 % of the int8 file: stored so, the file
    is 4.3 MB instead of 15.5 MB (the demo page's download). Each value moves by at most half its row's step, no more
    than the step of the uint8 quantization DynamicQuantizeLSTM applies to its input right after (one scale over the
    whole matrix of the call's rows)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(path)
    graph = model.graph
    readers: dict[str, list] = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            readers.setdefault(name, []).append((node, position))
    tables = []
    for initializer in graph.initializer:
        nodes = readers.get(initializer.name, [])
        if (
            initializer.data_type == TensorProto.FLOAT
            and len(initializer.dims) == 2
            and nodes
            and all(node.op_type == "Gather" and position == 0 and _axis(node) == 0 for node, position in nodes)
        ):
            tables.append(initializer)
    for table in tables:
        values = numpy_helper.to_array(table).astype(np.float32)
        low = values.min(axis=1, keepdims=True)
        scale = ((values.max(axis=1, keepdims=True) - low) / np.float32(255)).astype(np.float32)
        safe = np.where(scale > 0, scale, np.float32(1))
        quantized = np.clip(np.rint((values - low) / safe), 0, 255).astype(np.uint8)
        name = table.name
        graph.initializer.remove(table)
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}_quantized"),
                numpy_helper.from_array(scale, f"{name}_scale"),
                numpy_helper.from_array(low, f"{name}_min"),
            ]
        )
        for node, _ in readers[name]:
            output, ids = node.output[0], node.input[1]
            at = list(graph.node).index(node)
            graph.node.remove(node)
            parts = [f"{output}_{part}" for part in ("quantized", "float", "scale", "scaled", "min")]
            added = [
                helper.make_node("Gather", [f"{name}_quantized", ids], [parts[0]], axis=0),
                helper.make_node("Cast", [parts[0]], [parts[1]], to=TensorProto.FLOAT),
                helper.make_node("Gather", [f"{name}_scale", ids], [parts[2]], axis=0),
                helper.make_node("Mul", [parts[1], parts[2]], [parts[3]]),
                helper.make_node("Gather", [f"{name}_min", ids], [parts[4]], axis=0),
                helper.make_node("Add", [parts[3], parts[4]], [output]),
            ]
            for offset, new in enumerate(added):
                graph.node.insert(at + offset, new)
    if tables:
        onnx.save(model, path)


def check_batches(config, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of random token ids of `CHECK_LENGTHS`, padded on the right and on the left, plus an empty row."""
    generator = torch.Generator().manual_seed(seed)
    low = min(4, config.vocab_size - 1)  # past the special tokens where the vocabulary allows
    rows = [torch.randint(low, config.vocab_size, (length,), generator=generator) for length in CHECK_LENGTHS]
    rows.append(torch.zeros(0, dtype=torch.long))
    longest = max(len(row) for row in rows)
    batches = []
    for side in ("right", "left"):
        ids = torch.full((len(rows), longest), config.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            span = slice(0, len(row)) if side == "right" else slice(longest - len(row), longest)
            ids[i, span], mask[i, span] = row, 1
        batches.append((ids, mask))
    batches += [(row.view(1, -1), torch.ones(1, len(row), dtype=torch.long)) for row in rows[:3]]  # batch 1
    return batches


@torch.no_grad()
def max_logit_difference(model, ort_model) -> float:
    """The largest difference of logits between PyTorch and ONNX Runtime over `check_batches` (inf if one fails)."""
    worst = 0.0
    for ids, mask in check_batches(model.config):
        expected = model(input_ids=ids, attention_mask=mask).logits.float()
        try:
            got = ort_model(input_ids=ids, attention_mask=mask).logits
        except Exception:  # noqa: BLE001 - onnxruntime's own error types: the graph cannot run this shape
            return float("inf")
        worst = max(worst, float((expected - got).abs().max()))
    return worst


def check_onnx_folder(folder: str, overwrite: bool, inputs: dict[str, str] | None = None) -> None:
    """`onnx/` may be written when it is absent or empty, holds only a previous export's files, or with --overwrite;
    never when it is, holds or lies inside one of the `inputs` (the data files the int8 checks read)."""
    target = os.path.join(folder, ONNX_DIR)
    fix = "Move the model folder out of the data, or the data out of the model folder."
    check_not_an_input(target, "the export folder", inputs or {}, fix=fix)
    if not os.path.isdir(target) or overwrite:
        if os.path.exists(target) and not os.path.isdir(target):
            raise UsageError(f"{target!r} is a file; remove it or choose another folder.")
        return
    ours = {FP32_FILE, INT8_FILE, REPORT_FILE}
    strangers = sorted(set(os.listdir(target)) - ours)
    if strangers or (os.listdir(target) and REPORT_FILE not in os.listdir(target)):
        shown = ", ".join(strangers or sorted(os.listdir(target)))
        raise UsageError(
            f"{target!r} holds files this command did not write ({shown}). Pass --overwrite to replace the export, "
            "or move them away first."
        )


def write_card_section(folder: str, report: dict) -> None:
    """Replaces (or appends) the card's ONNX section with what was measured; atomic, the rest of the card untouched."""
    path = os.path.join(folder, "README.md")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as handle:
        card = handle.read()
    start = card.find(CARD_SECTION)
    if start >= 0:
        end = card.find("\n## ", start + len(CARD_SECTION))
        card = card[:start].rstrip("\n") + ("\n\n" + card[end + 1 :] if end >= 0 else "\n")
    lines = [
        CARD_SECTION,
        "",
        f"`onnx/{FP32_FILE}` is this model exported to ONNX (inputs `input_ids`, `attention_mask`; output "
        f"`logits`); its logits matched PyTorch's to {report['fp32']['max_logit_difference']:.1e} on the export's "
        "check texts.",
    ]
    int8 = report.get("int8")
    if int8:
        lines += [
            "",
            f"`onnx/{INT8_FILE}` holds the recurrent and linear weights as int8 (dynamic quantization) and the "
            "embedding as uint8 rows (a scale and a minimum per row). Measured at export, against the fp32 ONNX "
            "model:",
            "",
            "| | fp32 | int8 |",
            "|---|---|---|",
            f"| test {METRIC_TITLES[int8['metric']]} ({int8['test_samples']:,} texts) | "
            f"{int8['fp32_test_' + int8['metric']]:.4f} | {int8['test_' + int8['metric']]:.4f} |",
            f"| file size | {report['fp32']['bytes'] / 1e6:.1f} MB | {int8['bytes'] / 1e6:.1f} MB |",
            "",
            f"The int8 answers agreed with fp32 on {int8['validation_agreement']:.2%} of "
            f"{int8['validation_samples']:,} validation texts.",
        ]
    lines += [
        "",
        "```python",
        "from transformers import AutoTokenizer, pipeline",
        "from hf_bilstm.onnx.runtime import ORTModelForSequenceClassification",
        "",
        'source = "this folder, or its Hub id USER/NAME"',
        f"model = ORTModelForSequenceClassification.from_pretrained(source, quantized={bool(int8)})",
        'classifier = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(source))',
        "```",
        "",
    ]
    card = card.rstrip("\n") + "\n\n" + "\n".join(lines)
    write_atomically(path, card)


def check_export_args(args) -> str:
    """Every flag and the folders, before the model is loaded; returns the model folder."""
    check_number("--validation_fraction", args.validation_fraction, above=0, below=1)
    check_number("--max_test_samples", args.max_test_samples, integer=True, minimum=1)
    check_seed(args.seed)
    require_export_tools()
    folder = os.path.expanduser(args.model)
    if not os.path.isdir(folder):
        raise UsageError(f"{args.model!r}: no such folder. Export works on a local folder written by hf-bilstm train.")
    inputs = {"--train_file": args.train_file, "--test_file": args.test_file}
    if args.quantize and not args.train_file:
        inputs["--dataset"] = args.dataset
    check_onnx_folder(folder, args.overwrite, {flag: local_path(path) for flag, path in inputs.items()})
    if args.quantize and not args.train_file:
        check_dataset_flag(args.dataset)
    check_demo_flags(args)
    return folder


def run_export(args) -> dict:
    folder = check_export_args(args)
    model, tokenizer = load_classifier_folder(folder, "cpu")
    report = {
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "fp32_tolerance": FP32_TOLERANCE,
    }
    staging = tempfile.mkdtemp(dir=folder, prefix=".onnx-export-")
    try:
        started = time.perf_counter()
        fp32_path = os.path.join(staging, FP32_FILE)
        report["exporter"] = export_fp32(folder, fp32_path)
        fp32 = ORTModelForSequenceClassification(model.config, _session(fp32_path), FP32_FILE)
        difference = max_logit_difference(model, fp32)
        if not difference <= FP32_TOLERANCE:
            raise UsageError(
                f"the exported ONNX model's logits differ from PyTorch's by {difference:.2e}, more than "
                f"{FP32_TOLERANCE:.0e}; nothing was written. Please report this with the folder's config.json."
            )
        report["fp32"] = {
            "max_logit_difference": difference,
            "bytes": os.path.getsize(fp32_path),
            "export_seconds": round(time.perf_counter() - started, 1),
        }
        logger.info(f"fp32 ONNX logits match PyTorch to {difference:.1e} (<= {FP32_TOLERANCE:.0e}).")
        if args.quantize:
            int8_path = os.path.join(staging, INT8_FILE)
            quantize_int8(fp32_path, int8_path)
            int8 = ORTModelForSequenceClassification(model.config, _session(int8_path), INT8_FILE)
            report["int8"] = check_int8(args, model, tokenizer, fp32, int8)
            report["int8"]["bytes"] = os.path.getsize(int8_path)
        # What binds the files to this folder: the weights, the tokenizer and each ONNX file, by sha256 (checked by
        # ORTModelForSequenceClassification.from_pretrained and hf-bilstm push).
        written = {name: os.path.join(staging, name) for name in (FP32_FILE, INT8_FILE)}
        report.update(export_binding(folder, {n: p for n, p in written.items() if os.path.isfile(p)}))
        with open(os.path.join(staging, REPORT_FILE), "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
        target = os.path.join(folder, ONNX_DIR)
        os.makedirs(target, exist_ok=True)
        # The report last: a folder whose report names the weights is one whose files all come from this export.
        for name in (FP32_FILE, INT8_FILE, REPORT_FILE):
            if os.path.isfile(os.path.join(staging, name)):
                os.replace(os.path.join(staging, name), os.path.join(target, name))
            elif os.path.isfile(os.path.join(target, name)):
                os.remove(os.path.join(target, name))  # an int8 file of an earlier export of other weights
        write_card_section(folder, report)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dict(report, js_files=write_javascript(folder, args))


def check_demo_flags(args) -> None:
    """--demo needs the int8 model; --demo_vendor's files are checked before the long export checks."""
    if (args.demo or args.demo_vendor) and not args.quantize:
        raise UsageError("the demo page runs the int8 model: pass --quantize int8 with --demo.")
    if args.demo_vendor:
        args.demo = True
        vendor_sources(args.demo_vendor)


def write_javascript(folder: str, args) -> list[str]:
    """hf_bilstm.js and onnx_eval.js (and demo/ with --demo); not in the report file: these follow the package, not the
    weights."""
    write_js_module(folder)
    written = list(JS_MODULES)
    if args.demo:
        written += write_demo(folder, args.demo_vendor)
    return sorted(set(written))


def _session(path: str):
    import onnxruntime

    return onnxruntime.InferenceSession(path, session_options(onnxruntime), providers=["CPUExecutionProvider"])


METRIC_TITLES = {"accuracy": "accuracy", "f1_micro": "micro F1", "pearson": "Pearson"}
# The test figure int8 must keep (within MAX_INT8_ACCURACY_DROP of fp32's), for each problem type.
INT8_TEST_METRIC = {SINGLE_LABEL: "accuracy", MULTI_LABEL: "f1_micro", REGRESSION: "pearson"}
# Regression: int8 and fp32 agree on a text when their scores differ by at most this share of the fp32 scores' spread.
REGRESSION_AGREEMENT = 0.1


@torch.no_grad()
def logits_of(model, tokenizer, encoded, batch_size: int = 64) -> np.ndarray:
    """The logits (rows, num_labels) of every row of `encoded`, in its order (a torch or an ONNX Runtime model)."""
    from ..inference import batches

    logits = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    for rows, batch in batches(tokenizer, encoded, batch_size):
        inputs = {key: batch[key].to(model.device) for key in ("input_ids", "attention_mask")}
        logits[rows] = model(**inputs).logits.float().cpu().numpy()
    return logits


def agreement(problem_type: str, fp32_logits: np.ndarray, int8_logits: np.ndarray) -> float:
    """The share of texts on which int8 answers as fp32 does: the same label, the same set of labels (multi-label),
    or a score within `REGRESSION_AGREEMENT` of the fp32 scores' standard deviation."""
    fp32, int8 = decisions(problem_type, fp32_logits), decisions(problem_type, int8_logits)
    if problem_type == REGRESSION:
        same = np.abs(fp32 - int8) <= REGRESSION_AGREEMENT * max(float(fp32.std()), 1e-6)
    elif problem_type == MULTI_LABEL:
        same = np.all(fp32 == int8, axis=1)
    else:
        same = fp32 == int8
    return float(np.mean(same)) if len(same) else 1.0


def _int8_check_splits(args, model):
    """The training's data schema and the validation and test rows the int8 checks read, carved as train did."""
    # the training's columns, label form and names (data_schema.json), unless the flags name other columns
    schema = schema_for(args.model, model.config, args.text_column, args.label_column)
    files = {name: path for name, path in (("train", args.train_file), ("test", args.test_file)) if path}
    dataset = None if args.train_file else args.dataset
    raw = load_raw_dataset(dataset, args.dataset_config_name, files=files, column_names=schema.column_names)
    splits = prepare_splits(
        raw,
        ",".join(schema.text_columns),
        ",".join(schema.label_columns),
        validation_fraction=args.validation_fraction,
        max_eval_samples=AGREEMENT_TEXTS,
        max_test_samples=args.max_test_samples,
        test_fraction=args.test_fraction,  # the data has no test split: carved as hf-bilstm train carved it
        seed=args.seed,
        problem_type=schema.problem_type,
        label_separator=schema.label_separator,
        label_names=None if schema.label_values is None else schema.label_names,
        group_column=args.group_column,
        group_by_shared_words=args.group_by_shared_words,
    )
    return schema, splits


def check_int8(args, model, tokenizer, fp32, int8) -> dict:
    """Agreement with fp32 on validation texts, and the test figure of int8 (accuracy, micro F1 or Pearson) against
    fp32's; a UsageError when either check fails."""
    from ..metrics import metrics_for

    schema, splits = _int8_check_splits(args, model)
    validation = encode(splits.validation, tokenizer, schema.text_column, None)  # agreement needs no labels
    problem_type = problem_type_of(model.config)
    share = agreement(problem_type, logits_of(fp32, tokenizer, validation), logits_of(int8, tokenizer, validation))
    shown = f"{share:.2%} of {len(validation):,} validation texts"
    logger.info(f"int8 answers agree with fp32 on {shown}.")
    # A score has no discrete answer to agree on: for regression the share is reported, and the gate is the test
    # Pearson below.
    if share < MIN_INT8_AGREEMENT and problem_type != REGRESSION:
        raise UsageError(
            f"the int8 model's answers agree with fp32 on only {shown} (at least {MIN_INT8_AGREEMENT:.0%} needed), "
            "so it was not written. Export without --quantize."
        )
    if splits.test is None:
        raise UsageError(
            "the int8 check needs a labelled test split, and the data has none with labels; give --test_file (or "
            "export without --quantize)."
        )
    test = encode(splits.test, tokenizer, schema.text_column, schema.label_column)
    truth = np.asarray(test["labels"])
    metric = INT8_TEST_METRIC[problem_type]
    fp32_figure = metrics_for(problem_type, logits_of(fp32, tokenizer, test), truth)[metric]
    int8_figure = metrics_for(problem_type, logits_of(int8, tokenizer, test), truth)[metric]
    figures = f"fp32 {fp32_figure:.4f}, int8 {int8_figure:.4f}"
    logger.info(f"test {metric} on {len(test):,} texts: {figures}.")
    if fp32_figure - int8_figure > MAX_INT8_ACCURACY_DROP:
        raise UsageError(
            f"int8 test {metric} {int8_figure:.4f} is {fp32_figure - int8_figure:.4f} below fp32's {fp32_figure:.4f} "
            f"(at most {MAX_INT8_ACCURACY_DROP} allowed), so it was not written."
        )
    return {
        "validation_samples": len(validation),
        "validation_agreement": share,
        "test_samples": len(test),
        "metric": metric,
        f"fp32_test_{metric}": fp32_figure,
        f"test_{metric}": int8_figure,
        "dataset": args.test_file or args.train_file or args.dataset,
    }

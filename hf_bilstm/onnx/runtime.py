"""Serving an exported classifier with ONNX Runtime: `ORTModelForSequenceClassification` plugs into
`pipeline("text-classification")`, `hf-bilstm predict --backend onnxruntime` and `hf-bilstm evaluate --backend
onnxruntime`.

    from transformers import AutoTokenizer, pipeline
    from hf_bilstm.onnx.runtime import ORTModelForSequenceClassification

    model = ORTModelForSequenceClassification.from_pretrained("runs/bilstm-imdb", quantized=True)
    tokenizer = AutoTokenizer.from_pretrained("runs/bilstm-imdb")
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer)

Optimum's `ORTModelForSequenceClassification` loads these folders too (`trust_remote_code=True`), but Optimum pins
transformers 4.x, so it needs an environment of its own (README "Serve it anywhere"); hence this small class of ours
for transformers 5. It answers like `BiLSTMForSequenceClassification` does: the same refusals of text pairs
and out-of-vocabulary ids, the same reading of an empty text, logits as a torch tensor.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from ..configuration_bilstm import BiLSTMConfig
from ..cpu_threads import ORT_SESSION_SETTINGS
from ..errors import UsageError
from ..folder import file_sha256  # noqa: F401  (re-exported: the export report's binding, upgrade)
from ..problem_types import MULTI_LABEL, REGRESSION, problem_type_of

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_quantized.onnx"
REPORT_FILE = "export_report.json"  # what the export measured, and the weights it was made from
INSTALL_HINT = 'pip install -e ".[onnx]"  (onnx, onnxruntime and onnxscript)'


def require_onnxruntime():
    """`onnxruntime`, or a UsageError that says how to install the optional extra."""
    try:
        import onnxruntime
    except ImportError as error:
        raise UsageError(
            f"ONNX Runtime is not installed ({error}). Install the optional extra: {INSTALL_HINT}."
        ) from None
    return onnxruntime


def _resolve(source: str, name: str) -> str | None:
    """Local path of `name` in a folder or Hub repo (downloaded on demand), or None if it has no such file."""
    local = os.path.join(os.path.expanduser(source), name)
    if os.path.isdir(os.path.expanduser(source)):
        return local if os.path.isfile(local) else None
    from transformers.utils import cached_file

    return cached_file(source, name, _raise_exceptions_for_missing_entries=False)


# The tokenizer file an export is bound to: its vocabulary gives the ids the graph reads. tokenizer_config.json is not
# bound: its settings (truncation side, length limit) choose which tokens are read, and a user may change them.
BOUND_TOKENIZER_FILES = ("tokenizer.json",)


def export_binding(folder: str, onnx_files: dict[str, str]) -> dict:
    """What an export report records to bind its ONNX files to the folder: sha256 of the weights, of each tokenizer
    file and of each ONNX file (`onnx_files`: name → path of the file written)."""
    return {
        "weights_sha256": file_sha256(os.path.join(folder, "model.safetensors")),
        "tokenizer_sha256": {
            name: file_sha256(os.path.join(folder, name))
            for name in BOUND_TOKENIZER_FILES
            if os.path.isfile(os.path.join(folder, name))
        },
        "onnx_sha256": {name: file_sha256(path) for name, path in onnx_files.items()},
    }


def read_report(source: str, path: str) -> dict:
    """The export report at `path` (of `source`), or a one-line UsageError for a damaged one."""
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as error:
        raise UsageError(
            f"{path}: the export report cannot be read ({error}), so nothing vouches for the ONNX files next to it. "
            f"Export again: hf-bilstm export {source} --overwrite."
        ) from error
    if not isinstance(report, dict):
        raise UsageError(
            f"{path}: the export report is a JSON {type(report).__name__}, not an object, so nothing vouches for the "
            f"ONNX files next to it. Export again: hf-bilstm export {source} --overwrite."
        )
    return report


def check_export_is_current(source: str, report: dict, onnx_names=(FP32_FILE,)) -> None:
    """
    Refuses ONNX files that the report does not vouch for: an export made from other weights or another tokenizer
    than the folder's (a retrained model), an ONNX file that is not the one the export wrote (replaced, or copied from
    another model), and a report too old to say (no hashes). `onnx_names`: the files of onnx/ to check. For a Hub
    repo the tokenizer and ONNX files are checked (downloaded as they are used anyway), not the weights.
    """
    again = f"Export again: hf-bilstm export {source} --overwrite"
    if not isinstance(report.get("onnx_sha256"), dict) or not isinstance(report.get("tokenizer_sha256"), dict):
        raise UsageError(
            f"{source!r}: its {ONNX_DIR}/{REPORT_FILE} records no sha256 of the tokenizer and ONNX files (it was "
            "written by an older hf_bilstm), so nothing shows that the ONNX files come from this model. "
            f"{again} (run hf-bilstm upgrade {source} first if the folder is older still)."
        )
    folder = os.path.expanduser(source)
    weights = os.path.join(folder, "model.safetensors")
    expected = report.get("weights_sha256")
    if os.path.isdir(folder) and os.path.isfile(weights) and file_sha256(weights) != expected:
        raise UsageError(
            f"{source!r}: its onnx/ export was made from other weights than its model.safetensors (the model was "
            f"trained or saved again after the export), so its answers would differ. {again}."
        )
    for name, digest in report["tokenizer_sha256"].items():
        if name not in BOUND_TOKENIZER_FILES:  # a name a report may carry that binds nothing (never a path)
            continue
        path = _resolve(source, name)
        if path is None or file_sha256(path) != digest:
            raise UsageError(
                f"{source!r}: its {name} is not the one the onnx/ export was made with (changed or replaced since), "
                f"so the ONNX model would read other token ids. {again}."
            )
    for name in onnx_names:
        path = _resolve(source, f"{ONNX_DIR}/{name}")
        digest = report["onnx_sha256"].get(name)
        if path is not None and (digest is None or file_sha256(path) != digest):
            raise UsageError(
                f"{source!r}: {ONNX_DIR}/{name} is not the file its export wrote (its sha256 differs from "
                f"{REPORT_FILE}'s: replaced, or copied from another model), so the report does not vouch for it. "
                f"{again}."
            )


def session_options(ort, threads: int | None = None):
    """All graph optimizations and sequential execution; `threads` intra-op threads, else ONNX Runtime's default (one
    per physical core)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Sequential, not ORT_PARALLEL: one recurrent node per layer leaves nothing to run side by side; the node's own
    # intra-op threads share out the batch.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = int(threads)
    # Threads stop spinning when a run ends (hf_bilstm.cpu_threads says why runs keep ONNX Runtime's spinning).
    for key, value in ORT_SESSION_SETTINGS.items():
        options.add_session_config_entry(key, value)
    return options


class ORTModelForSequenceClassification(PreTrainedModel):
    """
    A classifier exported by `hf-bilstm export`, run by ONNX Runtime on the CPU. Loads with `from_pretrained(folder or
    Hub id, quantized=False)` (`quantized=True` reads `onnx/model_quantized.onnx`) and works as the model of
    `pipeline("text-classification")`: `forward(input_ids, attention_mask)` returns a `SequenceClassifierOutput`.
    It has no trainable parameters; it serves, it does not train. The int8 file runs each text of a batch on its own
    (its answer does not depend on the batch; see `forward`).
    """

    config_class = BiLSTMConfig
    main_input_name = "input_ids"

    def __init__(self, config: BiLSTMConfig, session=None, file_name: str = FP32_FILE):
        super().__init__(config)
        self.session = session
        self.file_name = file_name

    @classmethod
    def from_pretrained(cls, source, *, quantized: bool = False, file_name: str | None = None, threads=None, **kwargs):
        ort = require_onnxruntime()
        from transformers import AutoConfig

        import hf_bilstm  # noqa: F401  (registers BiLSTMConfig with AutoConfig)

        source = str(source)
        name = file_name or (INT8_FILE if quantized else FP32_FILE)
        path = _resolve(source, f"{ONNX_DIR}/{name}")
        if path is None:
            flag = " --quantize int8" if name == INT8_FILE else ""
            raise UsageError(
                f"{source!r} has no {ONNX_DIR}/{name}. Export the model first: hf-bilstm export {source}{flag}."
            )
        report_path = _resolve(source, f"{ONNX_DIR}/{REPORT_FILE}")
        if report_path is None:
            raise UsageError(
                f"{source!r} has {ONNX_DIR}/{name} but no {ONNX_DIR}/{REPORT_FILE}, so nothing shows that it was "
                f"exported from this model and checked. Export again: hf-bilstm export {source} --overwrite."
            )
        check_export_is_current(source, read_report(source, report_path), [name])
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, **kwargs)
        if getattr(config, "model_type", None) != "bilstm":
            raise UsageError(f"{source!r} is not an hf_bilstm model folder (model_type {config.model_type!r}).")
        options = session_options(ort, threads)
        try:
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for a damaged file
            raise UsageError(
                f"{path!r} is not an ONNX model ONNX Runtime can load ({error}). Export again with "
                f"hf-bilstm export {source} --overwrite."
            ) from error
        return cls(config, session=session, file_name=name).eval()

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def to(self, *args, **kwargs):
        device = kwargs.get("device", args[0] if args else None)
        if device is not None and not isinstance(device, torch.dtype) and torch.device(device).type != "cpu":
            raise ValueError(
                f"ORTModelForSequenceClassification runs on the CPU (ONNX Runtime's CPU provider), not on {device}; "
                "use the PyTorch model (AutoModelForSequenceClassification) on a GPU."
            )
        return self

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0])

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **unused,
    ) -> SequenceClassifierOutput:
        if input_ids is None:
            raise ValueError("ORTModelForSequenceClassification needs input_ids (inputs_embeds cannot be exported).")
        if token_type_ids is not None and bool((token_type_ids != 0).any()):
            raise ValueError(
                "This model classifies one text at a time, but it was given a text pair; classify each text on its "
                "own, or join them into one string yourself if that is what you mean."
            )
        ids = np.asarray(input_ids.cpu() if isinstance(input_ids, torch.Tensor) else input_ids, dtype=np.int64)
        if ids.ndim != 2:
            raise ValueError(f"input_ids must have shape (batch, sequence_length), got {ids.shape}.")
        if attention_mask is None:
            mask = np.ones_like(ids)
        else:
            mask = np.asarray(attention_mask.cpu() if isinstance(attention_mask, torch.Tensor) else attention_mask)
            if mask.shape != ids.shape:
                raise ValueError(f"attention_mask has shape {mask.shape} but input_ids has {ids.shape}.")
            mask = (mask != 0).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
            raise ValueError(
                f"input_ids holds token id {bad}, outside this model's vocabulary [0, {self.config.vocab_size}). Use "
                "the tokenizer saved with the model."
            )
        if ids.shape[1] == 0:  # an empty text is read as one padding step, as the PyTorch model does
            ids = np.full((ids.shape[0], 1), self.config.pad_token_id, dtype=np.int64)
            mask = np.zeros_like(ids)
        if self.file_name == INT8_FILE:
            # Dynamic quantization sets each activation's int8 range from the whole call's values, so in a batch a
            # text's answer would depend on its neighbours (2 labels of 1,000 IMDB reviews changed from batch 1 to
            # 32). Each text alone: the answer of the text, whatever the batch.
            logits = torch.cat(
                [self._run(*_alone(row, row_mask, self.config.pad_token_id)) for row, row_mask in zip(ids, mask)]
            )
        else:
            logits = self._run(ids, mask)
        loss = None
        if labels is not None:  # the loss of the PyTorch model for the same problem type
            labels = torch.as_tensor(labels)
            problem_type = problem_type_of(self.config)
            if problem_type == REGRESSION:
                loss = torch.nn.functional.mse_loss(logits.float().view(-1), labels.float().view(-1))
            elif problem_type == MULTI_LABEL:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
            else:
                loss = torch.nn.functional.cross_entropy(logits.float(), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _alone(ids: np.ndarray, mask: np.ndarray, pad_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    """One row as the batch of that text alone: its read tokens only (an empty text: one padding step)."""
    kept = ids[mask != 0]
    if kept.size == 0:
        return np.full((1, 1), pad_token_id, dtype=np.int64), np.zeros((1, 1), dtype=np.int64)
    return kept.reshape(1, -1), np.ones((1, kept.size), dtype=np.int64)

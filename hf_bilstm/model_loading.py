"""Loading a trained classifier folder for `predict`, `evaluate` and `push`, refusing weights that would answer
wrongly: `from_pretrained` fills a missing or mismatched tensor with random values and casts any dtype, silently.

Every tensor of the model must be in the weights file, with its shape and a floating-point dtype, holding only finite
numbers, and the file may hold nothing else. The file is read with safetensors (never unpickled).
"""

from __future__ import annotations

import os
from typing import Literal

import torch

from .encoding import check_tokenizer_fits
from .errors import UsageError
from .json_files import read_json

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def weight_files(source: str) -> list[str]:
    """Local paths of the safetensors file(s) of a folder or a Hub id already in the cache."""
    from transformers.utils import cached_file

    index = cached_file(source, "model.safetensors.index.json", _raise_exceptions_for_missing_entries=False)
    if index:
        weight_map = read_json(index, fix=_FIX[0].lower() + _FIX[1:-1]).get("weight_map")
        if not isinstance(weight_map, dict):
            raise UsageError(f"{index!r} has no weight_map object; {_FIX[0].lower() + _FIX[1:]}")
        shards = sorted(set(weight_map.values()))
        return [cached_file(source, shard) for shard in shards]
    return [cached_file(source, "model.safetensors")]


def _shown(names) -> str:
    names = sorted(names)
    return str(names[:6])[:-1] + (f", ... ({len(names)} in all)]" if len(names) > 6 else "]")


def _problems(expected: dict, shapes: dict, dtypes: dict) -> list[str]:
    """What differs between the model's tensors (`expected`: name → shape) and a weights file's (shapes, dtypes)."""
    problems = []
    missing, unexpected = set(expected) - set(shapes), set(shapes) - set(expected)
    if missing:
        problems.append(f"lacks {_shown(missing)}")
    if unexpected:
        problems.append(f"holds tensors this model does not have {_shown(unexpected)}")
    for key in sorted(set(expected) & set(shapes)):
        if tuple(shapes[key]) != tuple(expected[key]):
            problems.append(f"has {key} of shape {tuple(shapes[key])}, not {tuple(expected[key])}")
        elif dtypes[key] not in FLOAT_DTYPES:
            problems.append(f"has {key} as {str(dtypes[key]).replace('torch.', '')}, not a floating-point type")
    return problems


_FIX = "Save the model again with model.save_pretrained(folder) (or download it again with force_download=True)."


def _refuse(source: str, problems: list[str]) -> None:
    if problems:
        raise UsageError(
            f"{source!r}: its weights file {'; '.join(problems[:4])}. It does not match its config.json, so the "
            f"model's answers would be wrong. {_FIX}"
        )


def check_weight_header(config, source: str) -> None:
    """
    The names, shapes and dtypes in the weights file(s) against the model that `config` describes, read from the
    safetensors headers and a model built on the meta device: nothing is allocated, so a config.json whose sizes are
    huge (vocab_size 1e12) is refused before `from_pretrained` would allocate them.
    """
    from safetensors import SafetensorError, safe_open
    from transformers import AutoModelForSequenceClassification

    with torch.device("meta"):
        skeleton = AutoModelForSequenceClassification.from_config(config)
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    try:
        paths = weight_files(source)
    except OSError:
        return  # no weights file: from_pretrained names what is missing (a pickle, nothing at all)
    shapes, dtypes = {}, {}
    try:
        for path in paths:
            with safe_open(path, framework="pt") as handle:
                for key in handle.keys():
                    part = handle.get_slice(key)
                    shapes[key] = tuple(part.get_shape())
                    name = part.get_dtype()
                    dtypes[key] = getattr(torch, _SAFETENSORS_DTYPES.get(name, ""), name)  # unknown: its own name
    except (SafetensorError, OSError):
        return  # a truncated or damaged file: BiLSTMPreTrainedModel.from_pretrained names it (and the fix)
    if not shapes:
        raise UsageError(
            f"{source!r}: its weights file holds no tensors at all; the model would answer from random weights. {_FIX}"
        )
    _refuse(source, _problems(expected, shapes, dtypes))


# safetensors' dtype names → torch's (only whether a dtype is a float matters here)
_SAFETENSORS_DTYPES = {
    "F16": "float16",
    "BF16": "bfloat16",
    "F32": "float32",
    "F64": "float64",
    "I8": "int8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
    "U8": "uint8",
    "BOOL": "bool",
}


def check_weights(model: torch.nn.Module, source: str) -> None:
    """Compares the weights file(s) of `source` with `model`'s tensors: names, shapes, dtypes and finiteness."""
    from safetensors import safe_open

    expected = model.state_dict()
    found = {}
    for path in weight_files(source):
        with safe_open(path, framework="pt") as handle:
            for key in handle.keys():
                found[key] = handle.get_tensor(key)
    if not found:
        raise UsageError(
            f"{source!r}: its weights file holds no tensors at all; the model would answer from random weights. {_FIX}"
        )
    problems = _problems(
        {key: tuple(value.shape) for key, value in expected.items()},
        {key: tuple(value.shape) for key, value in found.items()},
        {key: value.dtype for key, value in found.items()},
    )
    problems += [
        f"has NaN or infinite values in {key}"
        for key in sorted(set(expected) & set(found))
        if found[key].dtype in FLOAT_DTYPES
        and tuple(found[key].shape) == tuple(expected[key].shape)
        and not bool(torch.isfinite(found[key]).all())
    ]
    _refuse(source, problems)


def resolve_device(device: str | None) -> str:
    """`--device`, checked: cpu, cuda or cuda:N (when there is such a GPU), mps (when available); default cuda if
    there is one, else cpu."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise UsageError(f"--device {device!r} is not a device ({error}); use cpu, cuda or cuda:N.") from error
    if parsed.type == "cpu":
        return device
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device!r}: this machine has no CUDA GPU (torch sees none); use --device cpu.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {device!r}: there are only {torch.cuda.device_count()} CUDA GPU(s) (cuda:0.."
                f"cuda:{torch.cuda.device_count() - 1}); choose one of them or --device cpu."
            )
        return device
    if parsed.type == "mps" and torch.backends.mps.is_available():
        return device
    raise UsageError(f"--device {device!r} is not available here; use cpu, cuda or cuda:N.")


def check_model_source(source: str, classifier: bool = True) -> None:
    """A path that does not exist is "no such folder", not a Hub error about repo ids; a folder's config.json must be
    a JSON object (transformers fails on anything else with an AttributeError); with `classifier`, a language model's
    folder is named as one."""
    if not source:
        raise UsageError("the model is empty; give the output folder of hf-bilstm train (or a Hub id USER/NAME).")
    expanded = os.path.expanduser(source)
    if not os.path.exists(expanded):
        if source.startswith((".", "/", "~")) or source.count("/") != 1:
            raise UsageError(
                f"{source!r}: no such folder (nor a Hub id of the form USER/NAME). Give the output folder of "
                "hf-bilstm train; check the spelling of the path."
            )
        return
    if not os.path.isdir(expanded):
        raise UsageError(f"{source!r} is a file, not a model folder; give the output folder of hf-bilstm train.")
    config = os.path.join(expanded, "config.json")
    if os.path.isfile(config):
        value = read_json(config, fix="save the model again with model.save_pretrained(folder)")
        architectures = value.get("architectures") or []
        if classifier and "BiLSTMForPreTraining" in architectures and value.get("model_type") == "bilstm":
            # A folder of hf-bilstm pretrain has no classifier head: its weights would "not match config.json".
            raise UsageError(
                f"{source!r} is a language model (written by hf-bilstm pretrain), not a classifier. Make a classifier "
                f"from it first: hf-bilstm train --model_name_or_path {source} --dataset DATASET --output_dir "
                "FOLDER, then use FOLDER."
            )


def follow_model_length(tokenizer, config) -> None:
    """Texts are cut (before tokenizing, and by truncation) at the smaller of the tokenizer's `model_max_length` and
    the model's own limit (`config.max_position_embeddings`, the training's --max_length): a tokenizer_config.json
    saying 10,000,000 would otherwise hand the tokenizer and the model whole 10 MB lines."""
    limit = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < tokenizer.model_max_length:
        tokenizer.model_max_length = limit


def load_tokenizer(source: str):
    """The tokenizer of a model folder (or Hub id); one that cannot be read is a UsageError naming its file."""
    from transformers import AutoTokenizer

    for name in ("tokenizer_config.json", "tokenizer.json"):
        # transformers' own errors for a damaged, non-UTF-8 or list-shaped file name no file: read each first
        path = os.path.join(source, name)
        if os.path.isfile(path):
            read_json(path, fix="save the tokenizer again with tokenizer.save_pretrained(folder)")
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"{source!r}: its tokenizer cannot be loaded ({error}).") from error
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception for a tokenizer.json it cannot read
        path = os.path.join(source, "tokenizer.json")
        raise UsageError(
            f"{path!r} cannot be read as a tokenizer ({error}). Save the tokenizer again with "
            "tokenizer.save_pretrained(folder) (for a WordLevel model, unk_token must name a token such as [UNK])."
        ) from None


def load_classifier_folder(source: str, device: str | None = None):
    """`(model, tokenizer)` of a classifier folder (or Hub id), checked; a UsageError says what is wrong."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    import hf_bilstm  # noqa: F401  (registers the Auto classes, so no remote code is needed)

    check_model_source(source)
    try:
        # trust_remote_code=False: never run (or offer to run) code from the folder; hf_bilstm is imported above.
        # The config first: BiLSTMConfig names a bad value, where AutoTokenizer would fall back to a plain
        # PretrainedConfig whose validators fail on it with a TypeError of their own.
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
        tokenizer = load_tokenizer(source)
        check_weight_header(config, source)  # before from_pretrained allocates what config.json asks for
        # ignore_mismatched_sizes: a tensor of the wrong shape is reported by check_weights below, with the others
        model = AutoModelForSequenceClassification.from_pretrained(
            source, trust_remote_code=False, ignore_mismatched_sizes=True
        )
    except UsageError:
        raise  # check_weight_header's own message
    except (OSError, ValueError, TypeError) as error:  # ValueError/TypeError: a config.json with bad values
        if not os.path.exists(os.path.expanduser(source)):  # read as a Hub id USER/NAME: it may be a mistyped path
            raise UsageError(
                f"{source!r}: no such folder, and no model of that name could be loaded from the Hub ({error}). "
                "Give the output folder of hf-bilstm train (check the spelling of the path), or a Hub id USER/NAME."
            ) from error
        raise UsageError(f"{source!r} is not a model folder hf-bilstm can load ({error}).") from error
    check_tokenizer_fits(tokenizer, model.config, source)
    follow_model_length(tokenizer, model.config)
    check_weights(model, source)
    # The package reads outputs by name (the pipeline too: outputs["logits"]); a config.json saying
    # "return_dict": false would make them tuples.
    model.config.return_dict = True
    # Folders saved before token types were passed on: the model refuses a text pair only when it sees them.
    if "token_type_ids" not in tokenizer.model_input_names:
        tokenizer.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    if device is not None:
        model = model.to(device)
    return model.eval(), tokenizer


BACKEND_HELP = "torch (the PyTorch model) or onnxruntime (onnx/ written by hf-bilstm export; CPU only)"
QUANTIZED_HELP = "with --backend onnxruntime: the int8 onnx/model_quantized.onnx"


# `--backend` and `--quantized`, fields of the `predict` and `evaluate` argument dataclasses.
Backend = Literal["torch", "onnxruntime"]


def check_backend_flags(args) -> str:
    """The device for `args.backend`; ONNX Runtime runs here on the CPU only."""
    if args.quantized and args.backend != "onnxruntime":
        raise UsageError("--quantized reads onnx/model_quantized.onnx: give it with --backend onnxruntime.")
    if args.backend == "onnxruntime":
        if args.device not in (None, "cpu"):
            raise UsageError(
                f"--backend onnxruntime runs on the CPU; drop --device {args.device} or use --backend torch."
            )
        return "cpu"
    return resolve_device(args.device)


def load_backend(source: str, device: str, backend: str = "torch", quantized: bool = False):
    """`(model, tokenizer)` for `backend`: the checked PyTorch model, or its ONNX export under ONNX Runtime."""
    if backend == "onnxruntime":
        return load_onnx_classifier_folder(source, quantized)
    return load_classifier_folder(source, resolve_device(device))


def load_onnx_classifier_folder(source: str, quantized: bool = False):
    """`(ORT model, tokenizer)` of an exported folder (or Hub id), checked as `load_classifier_folder` checks."""

    from .onnx.runtime import ORTModelForSequenceClassification

    check_model_source(source)
    model = ORTModelForSequenceClassification.from_pretrained(source, quantized=quantized)
    tokenizer = load_tokenizer(source)
    check_tokenizer_fits(tokenizer, model.config, source)
    follow_model_length(tokenizer, model.config)
    if "token_type_ids" not in tokenizer.model_input_names:  # so that a text pair is refused, as by the torch model
        tokenizer.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    return model, tokenizer

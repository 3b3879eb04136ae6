"""The model card (`README.md`) of a trained model folder, rendered offline from the `model_card.md` template.

The template lives at the repository root; `hf_bilstm/model_card.md` is a symbolic link to it, so an installed
package (which ships `hf_bilstm/*.md` as package data) carries the same text.
"""

import os
import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE_CANDIDATES = (
    Path(__file__).resolve().parent / "model_card.md",  # package data (a link to the repository's template)
    Path(__file__).resolve().parent.parent / "model_card.md",  # a source checkout
)
# config.json keys that are bookkeeping or shown elsewhere in the card, not architecture.
_NOT_ARCHITECTURE = (
    "id2label", "label2id", "auto_map", "architectures", "transformers_version", "dtype", "use_cache", "pretraining",
)  # fmt: skip
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def template_path() -> Path:
    for path in TEMPLATE_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"The model card template model_card.md is missing (looked in {[str(p) for p in TEMPLATE_CANDIDATES]}); "
        "reinstall hf_bilstm."
    )


def render(template: str, values: dict[str, str]) -> str:
    """Fills `{{ name }}` placeholders; an unknown placeholder is an error, never left in a published card."""
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise KeyError(f"model card template placeholders without a value: {missing}")
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


def _is_local(dataset: str) -> bool:
    return os.path.exists(os.path.expanduser(dataset))


def _dataset_type(dataset: str) -> str:
    # A local folder's name stands for the dataset (../shared/data/imdb → imdb); a Hub id is kept as it is.
    return Path(os.path.expanduser(dataset)).resolve().name if _is_local(dataset) else dataset


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _param(value) -> str:
    """A value as written on the command line: `cosine`, not `SchedulerType.COSINE`; `0.002`, not `0.002000`."""
    value = getattr(value, "value", value)  # enums
    return f"{value:g}" if isinstance(value, float) else str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def card_data(info: dict, model_name: str) -> ModelCardData:
    metrics = info["metrics"]
    dataset, dataset_type = info["dataset"], _dataset_type(info["dataset"])
    eval_results = []
    for split, prefix in (("test", "test"), ("validation", "eval")):
        for metric in ("accuracy", "f1"):
            value = metrics.get(f"{prefix}_{metric}")
            if value is None:
                continue
            eval_results.append(
                EvalResult(
                    task_type="text-classification",
                    task_name="Text Classification",
                    dataset_type=dataset_type,
                    dataset_name=dataset_type,
                    dataset_config=info.get("dataset_config_name"),
                    dataset_split=split,
                    metric_type=metric,
                    metric_name=f"{'Accuracy' if metric == 'accuracy' else 'Macro F1'} ({split})",
                    metric_value=value,
                    metric_config="macro" if metric == "f1" else None,
                )
            )
    return ModelCardData(
        language="en",
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["hf_bilstm", "bilstm", info["config"].get("rnn_type", "lstm"), "text-classification"],
        datasets=None if _is_local(dataset) else [dataset],
        metrics=["accuracy", "f1"],
        base_model=info.get("base_model") if info.get("base_model") and not _is_local(info["base_model"]) else None,
        model_name=model_name,
        eval_results=eval_results or None,
    )


def build_card(output_dir: str, info: dict) -> ModelCard:
    """The card for the folder `output_dir` from the run description `info` that `training.train` assembles."""
    model_name = Path(output_dir).resolve().name
    metrics, config = info["metrics"], info["config"]
    rows = []
    for split, prefix in (("validation", "eval"), ("test", "test")):
        if f"{prefix}_accuracy" in metrics:
            rows.append(
                f"| {split} | {info['splits'].get(split, '–')} | {_fmt(metrics[f'{prefix}_accuracy'])} | "
                f"{_fmt(metrics.get(f'{prefix}_f1'))} | {_fmt(metrics.get(f'{prefix}_loss'))} |"
            )
    directions = "bidirectional" if config.get("bidirectional", True) else "unidirectional"
    architecture_summary = (
        f"{config.get('num_layers')}-layer {directions} {config.get('rnn_type', 'lstm').upper()} "
        f"({config.get('hidden_size')} units per direction, {config.get('pooling')} pooling)"
    )
    dataset_config = f" (configuration `{info['dataset_config_name']}`)" if info.get("dataset_config_name") else ""
    validation_origin = (
        f"{info['validation_fraction']:.0%} of the training split, held out stratified by label and seeded "
        f"(seed {info['training_args']['seed']})."
        if info["validation_carved"]
        else "the dataset's own validation split."
    )
    if info.get("preset"):
        recipe = f"preset `{info['preset']}` (with the command's flags on top)"
    else:
        recipe = f"fine-tuned from `{info.get('base_model')}`"
    pretraining = config.get("pretraining")  # left in the config by `hf-bilstm pretrain` (hf_bilstm.pretraining)
    if pretraining:
        recipe += (
            f", an encoder pretrained as a bidirectional language model on the {' + '.join(pretraining['splits'])} "
            f"text of `{pretraining['dataset']}` ({pretraining['train_tokens']:,} tokens, no test text; held-out "
            f"perplexity {pretraining['lm_perplexity']:.1f})"
        )
    reference = info.get("preset_reference")
    if reference:
        recipe += (
            f". As shipped, this preset reached {reference['test_accuracy']:.1%} test accuracy on IMDB (validation "
            f"{reference['validation_accuracy']:.1%}) in {reference['wall_minutes']:.0f} minutes on "
            f"{reference['device']} (`{reference['result']}` in the hf_bilstm repository)"
        )
    if info.get("finetuning"):  # hf_bilstm.finetuning tools that were switched on
        recipe += "; fine-tuning tools: " + ", ".join(f"`{k}={v}`" for k, v in info["finetuning"].items())
    values = {
        "card_data": card_data(info, model_name).to_yaml(),
        "model_name": model_name,
        "architecture_summary": architecture_summary,
        "start_point": "scratch" if not info.get("base_model") else f"`{info['base_model']}`",
        "dataset_name": _dataset_type(info["dataset"]),
        "results_table": "\n".join(rows),
        "labels": ", ".join(f"{i} = `{name}`" for i, name in enumerate(info["label_names"])),
        "model_path": info.get("hub_model_id") or model_name,  # a pushed card names its Hub repo
        "dataset": info["dataset"],
        "dataset_config": dataset_config,
        "text_column": info["text_column"],
        "split_sizes": ", ".join(f"{name} {rows} rows" for name, rows in info["splits"].items()),
        "validation_origin": validation_origin,
        "vocab_size": info["vocab_size"],
        "max_length": info["max_length"],
        # Older run records lack the side: their tokenizers were all cut on the right.
        "kept_part": "end" if info.get("truncation_side") == "left" else "beginning",
        "recipe": recipe,
        "train_runtime": _duration(metrics.get("train_runtime")),
        "device": info["device"],
        "epochs_trained": _fmt(info.get("epochs_trained"), 2),
        "time_budget_note": (
            f", stopped early by the {info['time_budget']['seconds']:.0f} s time budget"
            if (info.get("time_budget") or {}).get("stopped_training")
            else ""
        ),
        "best_checkpoint": info.get("best_checkpoint") and Path(info["best_checkpoint"]).name,
        "command": info.get("command") or "(called from Python)",
        "hyperparameters_table": "\n".join(f"| {k} | {_param(v)} |" for k, v in info["training_args"].items()),
        "architecture_table": "\n".join(
            f"| {k} | {_param(v)} |" for k, v in config.items() if k not in _NOT_ARCHITECTURE
        ),
        "versions": ", ".join(f"{name} {version}" for name, version in info["versions"].items()),
        "language_name": "English",
    }
    return ModelCard(render(template_path().read_text(encoding="utf-8"), values))


def write_model_card(output_dir: str, info: dict, path: str | None = None) -> Path:
    """Writes the card of the folder `output_dir` to `path` (default: its README.md)."""
    path = Path(path) if path else Path(output_dir) / "README.md"
    build_card(output_dir, info).save(path)
    return path

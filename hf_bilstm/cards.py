"""Model cards (`README.md`) of the classifier folders hf_bilstm writes, and what every card shares.

`ModelCard.from_template` (Jinja) renders one template per kind from `hf_bilstm/card_templates/` (`classifier.md`
here, `language_model.md` in hf_bilstm.language_model_card), with typed run records (`ClassifierRun`) and the
`ModelCardData` built here. License and language come from a flag or the dataset's own card, or are left out; a
dataset is named in the metadata only by a Hub id (the one it was loaded from, or `--dataset_name` for a local copy).
hf_bilstm.push_card fills in what `hf-bilstm push` needs on a card that lacks it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import DatasetCard, EvalResult, ModelCard, ModelCardData

from .folder import write_atomically
from .grouped_split import SHARED_WORDS
from .logs import get_logger
from .presets import reference_sentence
from .presets_measured import reference_note
from .problem_types import MULTI_LABEL, MULTI_LABEL_THRESHOLD, REGRESSION, SINGLE_LABEL

logger = get_logger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "card_templates"
CLASSIFIER_TEMPLATE = TEMPLATES / "classifier.md"
LANGUAGE_MODEL_TEMPLATE = TEMPLATES / "language_model.md"
# config.json keys that are bookkeeping or shown elsewhere in the card, not architecture.
_NOT_ARCHITECTURE = (
    "id2label", "label2id", "auto_map", "architectures", "transformers_version", "dtype", "use_cache", "pretraining",
)  # fmt: skip
# Display names of the metrics a model-index may carry, whichever builder writes it.
METRIC_NAMES = {"accuracy": "Accuracy", "f1": "Macro F1", "macro_f1": "Macro F1", "f1_macro": "Macro F1"}
METRIC_NAMES.update({"f1_micro": "Micro F1", "micro_f1": "Micro F1", "mse": "MSE", "pearson": "Pearson"})
# The figures a card shows for each problem type: (metrics key after `eval_`/`test_`, column title); the first two
# also go to the model-index.
CARD_METRICS = {
    SINGLE_LABEL: (("accuracy", "accuracy"), ("f1", "macro F1"), ("loss", "loss")),
    MULTI_LABEL: (("f1_micro", "micro F1"), ("f1", "macro F1"), ("accuracy", "exact match"), ("loss", "loss")),
    REGRESSION: (("mse", "MSE"), ("pearson", "Pearson"), ("loss", "loss")),
}
EXAMPLE_TEXT = "The text to classify."
LANGUAGE_MODEL_HYPERPARAMETERS = (
    "learning_rate", "warmup_steps", "lr_scheduler_type", "weight_decay", "max_grad_norm",
    "per_device_train_batch_size", "block_size", "seed",
)  # fmt: skip
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch"}


class CardError(ValueError):
    """A card that cannot be completed as it is (its metadata is not YAML); the message says how to fix it."""

    exit_code = 2  # answered like a usage error (hf_bilstm.errors.exit_code_for)


# ------------------------------------------------------------------------------------------------ the dataset
@dataclass
class DatasetSource:
    """The dataset a model learned from, as its card names it: in the text always, in the metadata by Hub id only."""

    given: str  # --dataset as the user wrote it
    hub_id: str | None  # a Hub dataset id: the one loaded, or --dataset_name for a local copy; None otherwise
    title: str  # how the card's text names it
    config_name: str | None = None
    license: str | None = None
    language: list[str] | None = None

    @property
    def is_local(self) -> bool:
        return os.path.exists(os.path.expanduser(self.given))

    @property
    def is_imdb(self) -> bool:
        """The data is IMDB (the only data a card may then call movie reviews, and quote the presets' figures on)."""
        return any("imdb" in (name or "").lower() for name in (self.given, self.hub_id, self.title))

    @property
    def description(self) -> str:
        """`stanfordnlp/imdb`, or `a local copy of stanfordnlp/imdb` / `a local copy of IMDB (…)`, or `the file
        `train.csv`` for data given as files (--train_file, --dataset FILE)."""
        if os.path.isfile(os.path.expanduser(self.given)) and not self.hub_id:
            return f"the file {self.title}"
        return f"a local copy of {self.title}" if self.is_local else self.title

    @classmethod
    def resolve(
        cls,
        dataset: str,
        config_name: str | None = None,
        dataset_name: str | None = None,
        license: str | None = None,
        language: str | list[str] | None = None,
    ) -> DatasetSource:
        """License and language: the flags, else the dataset card's metadata, else none (never guessed)."""
        local = os.path.exists(os.path.expanduser(dataset))
        metadata = _dataset_card_metadata(dataset, local)
        hub_id = dataset_name or (None if local else dataset)
        if hub_id:
            title = f"`{hub_id}`"
        else:
            pretty = metadata.get("pretty_name")
            folder = Path(os.path.expanduser(dataset)).resolve().name
            title = f"{pretty} (folder `{folder}`)" if pretty else f"`{folder}`"
        language = language or metadata.get("language")
        return cls(
            given=dataset,
            hub_id=hub_id,
            title=title,
            config_name=config_name,
            license=license or metadata.get("license") or None,
            language=[language] if isinstance(language, str) else (list(language) if language else None),
        )


def _dataset_card_metadata(dataset: str, local: bool) -> dict:
    """
    The YAML of the dataset's own README.md: the local folder's, or the copy `load_dataset` left in the Hub cache
    (never fetched here: writing a card makes no network call). {} without one.
    """
    from huggingface_hub import hf_hub_download

    try:
        if local:
            path = Path(os.path.expanduser(dataset)) / "README.md"
        else:
            path = Path(hf_hub_download(dataset, "README.md", repo_type="dataset", local_files_only=True))
        return DatasetCard.load(path).data.to_dict() if path.is_file() else {}
    except Exception as error:  # offline, no card, a card that is not YAML: the card then declares neither
        logger.info(f"no metadata from the card of dataset {dataset!r} ({type(error).__name__}); license omitted")
        return {}


def language_name(language: list[str] | None) -> str:
    if not language:
        return ""
    return " and ".join(LANGUAGE_NAMES.get(code, f"`{code}`") for code in language) + " "


# ------------------------------------------------------------------------------------------------ metadata
def eval_results(
    results: list[tuple[str, str, float]], dataset_id: str, dataset_name: str | None = None, config: str | None = None
) -> list[EvalResult]:
    """The model-index of `(split, metric, value)` triples, named the same way by every card and every push."""
    return [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            dataset_type=dataset_id,
            dataset_name=dataset_name or dataset_id,
            dataset_config=config,
            dataset_split=split,
            metric_type=metric,
            metric_name=f"{METRIC_NAMES.get(metric, metric.replace('_', ' ').title())} ({split})",
            metric_value=value,
            metric_config=("micro" if "micro" in metric else "macro") if "f1" in metric else None,
        )
        for split, metric, value in results
    ]


def _card_data(dataset: DatasetSource, **fields) -> ModelCardData:
    return ModelCardData(
        language=dataset.language,
        license=dataset.license,
        library_name="transformers",
        datasets=[dataset.hub_id] if dataset.hub_id else None,
        **fields,
    )


def _render(template: Path, card_data: ModelCardData, values: dict) -> ModelCard:
    """`ModelCard.from_template`, refusing a template variable without a value (Jinja would print it as nothing)."""
    import jinja2
    from jinja2 import meta

    text = template.read_text(encoding="utf-8")
    wanted = meta.find_undeclared_variables(jinja2.Environment().parse(text))
    missing = sorted(wanted - set(values) - set(card_data.to_dict()) - {"card_data"})
    if missing:
        raise KeyError(f"model card template {template.name} variables without a value: {missing}")
    return ModelCard.from_template(card_data, template_str=text, **values)


def _write(card: ModelCard, path: Path) -> Path:
    """Temp file + rename: a card is either the old one or the new one, never half written."""
    write_atomically(path, str(card))
    return path


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


def hyperparameters(training_args: dict) -> dict:
    """The Trainer's settings as a card shows them: a `warmup_steps` below 1 is a share of the steps, so a ratio."""
    return {
        "warmup_ratio" if key == "warmup_steps" and isinstance(value, float) and 0 < value < 1 else key: value
        for key, value in training_args.items()
    }


# ------------------------------------------------------------------------------------------------ classifier
@dataclass
class ClassifierRun:
    """What `hf-bilstm train` did, as its card and the rest of the report need it (filled by `training.train`)."""

    metrics: dict
    dataset: DatasetSource
    splits: dict[str, int]
    label_names: list[str]
    text_column: str
    config: dict
    max_length: int
    truncation_side: str
    vocab_size: int
    training_args: dict
    validation_carved: bool
    validation_fraction: float
    device: str
    versions: dict[str, str]
    preset: str | None = None
    preset_reference: dict | None = None
    # the preset's mean ± sd over seeds on this same data, when measured (hf_bilstm.presets_measured)
    seed_reference: dict | None = None
    grouped: dict | None = None  # validation (and test) carved by whole groups: hf_bilstm.splits.Splits.grouped
    base_model: str | None = None
    finetuning: dict = field(default_factory=dict)
    word_vectors: dict | None = None
    soft_labelled_rows: int = 0  # unlabelled rows labelled by teachers (hf_bilstm.distillation)
    epochs_trained: float | None = None
    time_budget: dict | None = None
    best_checkpoint: str | None = None
    wall_seconds: float | None = None
    command: str = ""
    hub_model_id: str | None = None
    problem_type: str | None = None  # None: the config's (hf_bilstm.data_schema's names)
    threshold: float = MULTI_LABEL_THRESHOLD  # multi-label: a label is predicted at or above this probability
    # split -> label -> {"precision", "recall", "f1", "support"} (hf_bilstm.metrics.per_class_table); without it the
    # card reads the metrics' per-class keys
    per_class: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def __post_init__(self):
        self.problem_type = self.problem_type or self.config.get("problem_type") or SINGLE_LABEL


def _card_metrics(run: ClassifierRun) -> tuple[tuple[str, str], ...]:
    return CARD_METRICS.get(run.problem_type, CARD_METRICS[SINGLE_LABEL])


def _classifier_results(run: ClassifierRun) -> list[tuple[str, str, float]]:
    return [
        (split, metric, run.metrics[f"{prefix}_{metric}"])
        for split, prefix in (("test", "test"), ("validation", "eval"))
        for metric, _ in _card_metrics(run)[:2]
        if run.metrics.get(f"{prefix}_{metric}") is not None
    ]


def _results_table(run: ClassifierRun) -> str:
    shown = _card_metrics(run)
    lines = [
        "| split | rows | " + " | ".join(title for _, title in shown) + " |",
        "|---|---|" + "---|" * len(shown),
    ]
    for split, prefix in (("validation", "eval"), ("test", "test")):
        if any(f"{prefix}_{key}" in run.metrics for key, _ in shown):
            values = " | ".join(_fmt(run.metrics.get(f"{prefix}_{key}")) for key, _ in shown)
            lines.append(f"| {split} | {run.splits.get(split, '–')} | {values} |")
    return "\n".join(lines)


def _labels_line(run: ClassifierRun) -> str:
    names = ", ".join(f"{i} = `{name}`" for i, name in enumerate(run.label_names))
    if run.problem_type == REGRESSION:
        return f"Output: one score per text (the training's `{run.label_names[0] if run.label_names else 'label'}`)."
    if run.problem_type == MULTI_LABEL:
        return f"Labels (any number per text: each label whose probability is at least {run.threshold:g}): {names}."
    return f"Labels: {names}."


def _per_class_section(run: ClassifierRun) -> str:
    """Precision, recall and F1 of each class (and its rows) on the test split, else validation: what an average
    hides when classes are imbalanced. From `run.per_class`, else the metrics' `*_precision_<name>` keys."""
    if run.problem_type == REGRESSION:
        return ""
    for split, prefix in (("test", "test"), ("validation", "eval")):
        table = run.per_class.get(split) or {
            name: {key: run.metrics.get(f"{prefix}_{key}_{name}") for key in ("precision", "recall", "f1")}
            for name in run.label_names
            if f"{prefix}_f1_{name}" in run.metrics
        }
        if table:
            rows = [
                f"| `{name}` | {_fmt(values.get('precision'))} | {_fmt(values.get('recall'))} | "
                f"{_fmt(values.get('f1'))} | {_fmt(values.get('support'))} |"
                for name, values in table.items()
            ]
            header = ["", f"Per class ({split} split):", "", "| label | precision | recall | F1 | rows |"]
            header.append("|---|---|---|---|---|")
            return "\n".join([*header, *rows, ""])
    return ""


def _usage(run: ClassifierRun) -> tuple[str, str]:
    """The pipeline call of the card's snippet, and what `hf-bilstm predict` prints, for the problem type."""
    if run.problem_type == MULTI_LABEL:
        call = (
            f'scores = classifier("{EXAMPLE_TEXT}", top_k=None, truncation=True)  # every label, sigmoid\n'
            f'print([s["label"] for s in scores if s["score"] >= {run.threshold:g}])  # the predicted labels'
        )
        return call, f"prints every label whose probability is at least {run.threshold:g}, with it"
    if run.problem_type == REGRESSION:
        call = f'print(classifier("{EXAMPLE_TEXT}", truncation=True)[0]["score"])  # the predicted score'
        return call, "prints the score"
    return f'print(classifier("{EXAMPLE_TEXT}", truncation=True))', "prints the label and its probability"


def _intended_for(run: ClassifierRun) -> str:
    verb = "scoring" if run.problem_type == REGRESSION else "classifying"
    language = language_name(run.dataset.language)
    text = f"{verb} {language}texts like those of its training data"
    if run.dataset.is_imdb:
        return text + " (for IMDB, the polarity of movie reviews)"
    if not language:
        return text + " (their language and domain are not stated: train with --language to name the language)"
    return text


def _speed_note(run: ClassifierRun) -> str:
    """The run's own speed: the Trainer's texts per second when it evaluated the test (else validation) split."""
    for split, prefix in (("test", "test"), ("validation", "eval")):
        speed = run.metrics.get(f"{prefix}_samples_per_second")
        if speed:
            return (
                f" In this run, the Trainer's evaluation of the {split} split read {speed:,.0f} texts per second on "
                f"{run.device} (texts of up to {run.max_length} tokens)."
            )
    return ""


def _answer_limits(run: ClassifierRun) -> str:
    if run.problem_type == REGRESSION:
        return (
            "texts unlike its training data (its score is a regression output, not a probability, and is not kept "
            "inside the range of the training scores)."
        )
    if run.problem_type == MULTI_LABEL:
        return (
            "texts whose labels are not among its labels (it answers with the labels whose probability is at least "
            f"{run.threshold:g}, possibly none, and the probabilities are not calibrated)."
        )
    return (
        "mixed or neutral texts (it always answers with one of its labels, and its scores are not calibrated "
        "probabilities)."
    )


def classifier_card_data(run: ClassifierRun, model_name: str) -> ModelCardData:
    dataset = run.dataset
    results = _classifier_results(run)
    base_model = run.base_model if run.base_model and not os.path.exists(os.path.expanduser(run.base_model)) else None
    return _card_data(
        dataset,
        pipeline_tag="text-classification",
        tags=["hf_bilstm", "bilstm", run.config.get("rnn_type", "lstm"), "text-classification"],
        metrics=[metric for metric, _ in _card_metrics(run)[:2]],
        base_model=base_model,
        model_name=model_name,
        # A model-index entry must name a Hub dataset: without one the figures are in the card's text only.
        eval_results=eval_results(results, dataset.hub_id, config=dataset.config_name)
        if results and dataset.hub_id
        else None,
    )


def _recipe(run: ClassifierRun) -> str:
    if run.preset:
        recipe = f"preset `{run.preset}` (with the command's flags on top)"
    else:
        recipe = f"fine-tuned from `{run.base_model}`"
    pretraining = run.config.get("pretraining")  # left in the config by `hf-bilstm pretrain` (hf_bilstm.pretraining)
    if pretraining:
        recipe += (
            f", an encoder pretrained as a bidirectional language model on the {' + '.join(pretraining['splits'])} "
            f"text of `{pretraining['dataset']}` ({pretraining['train_tokens']:,} tokens, no test text; held-out "
            f"perplexity {pretraining['lm_perplexity']:.1f})"
        )
    reference = run.preset_reference
    if reference and run.dataset.is_imdb:  # the preset's figures are IMDB's: quoted only for a model of IMDB
        recipe += ". As shipped, this preset " + reference_sentence(reference)
    if run.soft_labelled_rows:
        recipe += (
            f"; trained on the labelled training rows plus {run.soft_labelled_rows:,} unlabelled rows labelled with "
            "the probabilities of teachers trained on the labelled training rows only (which teachers, their weights "
            "and the figures of every phase are in `recipe_results.json`)"
        )
    if run.finetuning:  # hf_bilstm.finetuning tools that were switched on
        recipe += "; fine-tuning tools: " + ", ".join(f"`{k}={v}`" for k, v in run.finetuning.items())
    return recipe


def _validation_origin(run: ClassifierRun) -> str:
    if not run.validation_carved:
        return "the dataset's own validation split."
    grouped = run.grouped if run.grouped and "validation" in run.grouped else None
    if grouped:
        source = "rows that share rare words" if grouped["column"] == SHARED_WORDS else f"column `{grouped['column']}`"
        how = (
            f"by whole groups of {source} ({grouped['validation']:,} groups; no group is in both splits), stratified "
            "by label where possible"
        )
    else:
        how = "stratified by label"
    seed = run.training_args["seed"]
    return f"{run.validation_fraction:.0%} of the training split, held out {how} and seeded (seed {seed})."


def build_classifier_card(output_dir: str, run: ClassifierRun) -> ModelCard:
    """The card of the classifier folder `output_dir` from its run record."""
    folder = Path(output_dir).resolve()
    model_name = folder.name
    metrics, config, dataset = run.metrics, run.config, run.dataset
    directions = "bidirectional" if config.get("bidirectional", True) else "unidirectional"
    budget = run.time_budget or {}
    values = {
        "model_name": model_name,
        "architecture_summary": (
            f"{config.get('num_layers')}-layer {directions} {config.get('rnn_type', 'lstm').upper()} "
            f"({config.get('hidden_size')} units per direction, {config.get('pooling')} pooling)"
        ),
        "start_point": f"`{run.base_model}`" if run.base_model else "scratch",
        "dataset_description": dataset.description,
        "dataset_config": f" (configuration `{dataset.config_name}`)" if dataset.config_name else "",
        "results_table": _results_table(run),
        "seed_reference": reference_note(run.seed_reference, METRIC_NAMES) if run.seed_reference else "",
        "labels": _labels_line(run),
        "per_class_section": _per_class_section(run),
        "usage_call": _usage(run)[0],
        "predict_answer": _usage(run)[1],
        "intended_for": _intended_for(run),
        "speed_note": _speed_note(run),
        "answer_limits": _answer_limits(run),
        # The exact folder, or the Hub repo once pushed: a bare folder name would resolve to the Hub elsewhere.
        "model_path": run.hub_model_id or str(folder),
        "text_column": run.text_column,
        "split_sizes": ", ".join(f"{name} {size} rows" for name, size in run.splits.items()),
        "validation_origin": _validation_origin(run),
        "tokenizer_texts": "training split and its unlabelled rows"
        if run.soft_labelled_rows
        else "training split only",
        "vocab_size": run.vocab_size,
        "max_length": run.max_length,
        "kept_part": "end" if run.truncation_side == "left" else "beginning",
        "recipe": _recipe(run),
        "train_runtime": _duration(metrics.get("train_runtime")),
        "device": run.device,
        "epochs_trained": _fmt(run.epochs_trained, 2),
        "time_budget_note": (
            f", stopped early by the {budget['seconds']:.0f} s time budget" if budget.get("stopped_training") else ""
        ),
        "best_checkpoint": run.best_checkpoint and Path(run.best_checkpoint).name,
        "command": run.command or "(called from Python)",
        "hyperparameters_table": "\n".join(
            f"| {k} | {_param(v)} |" for k, v in hyperparameters(run.training_args).items()
        ),
        "architecture_table": "\n".join(
            f"| {k} | {_param(v)} |" for k, v in config.items() if k not in _NOT_ARCHITECTURE
        ),
        "versions": ", ".join(f"{name} {version}" for name, version in run.versions.items()),
    }
    return _render(CLASSIFIER_TEMPLATE, classifier_card_data(run, model_name), values)


def write_classifier_card(output_dir: str, run: ClassifierRun, path: str | None = None) -> Path:
    """Writes the card of the folder `output_dir` to `path` (default: its README.md)."""
    return _write(build_classifier_card(output_dir, run), Path(path) if path else Path(output_dir) / "README.md")

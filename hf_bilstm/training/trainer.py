"""The Trainer run of `hf-bilstm train`: load and encode the data, build the model (a preset's, a folder's encoder, a
checkpoint's; word vectors first when asked), train it with the stock `Trainer` and its callbacks, measure it, and
hand the results to `results.py`. The arguments come parsed and checked from `hf_bilstm.arguments`.
"""

import dataclasses
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from accelerate.utils import extract_model_from_parallel
from datasets import DatasetDict
from transformers import (
    AutoConfig,
    EarlyStoppingCallback,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

from ..arguments import (
    DATA_FILE_FLAGS,
    HEAD_FIELDS,
    ModelArguments,
    RunSettings,
    check_fixed_architecture,
    check_resume_flags,
)
from ..configuration_bilstm import BiLSTMConfig
from ..data_flags import load_from_flags, prepare_from_flags
from ..data_schema import SINGLE_LABEL
from ..encoding import (
    SOFT_LABELS,
    PaddingCollator,
    check_tokenizer_length,
    encode,
    encode_splits,
    train_tokenizer_on,
)
from ..errors import UsageError
from ..flag_checks import check_resume_optimizer, local_path
from ..folder import STAGING_NAME, OutputDir, find_checkpoint
from ..logs import follow_log_level, get_logger
from ..metrics import BEST_METRIC, ComputeMetrics
from ..model_loading import load_tokenizer
from ..modeling_bilstm import BiLSTMForSequenceClassification, BiLSTMModel
from ..presets import (
    CPU_PRESET,
    PRESETS,
    WORD_VECTORS_BUDGET_SHARE,
    model_settings,
    resolve,
    word_vectors_epochs,
    word_vectors_split_names,
)
from ..splits import Splits
from ..tokenization_bilstm import save_tokenizer
from .divergence import DivergenceCallback, check_finite_weights
from .length_grouping import LengthGroupedTrainer
from .results import report
from .run_length import epochs_for_training_set
from .run_plan import REFERENCE_TOKENS_PER_SECOND, RunPlanCallback
from .soft_labels import with_soft_labelled_rows
from .time_budget import LEAST_TRAINING_SECONDS, reading_tokens, time_budget_left
from .time_budget import figures as budget_figures

logger = get_logger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# Model


def build_model_from_preset(model_settings: dict, tokenizer, label_names: list[str]):
    config = BiLSTMConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
        **model_settings,
    )
    return BiLSTMForSequenceClassification(config)


def build_model_from_pretrained(path: str, model_args: ModelArguments, label_names: list[str]):
    """An existing folder's encoder weights (a classifier or a pretrained language model) under a new head."""
    check_fixed_architecture(path, model_args)
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)  # never run, nor offer to run, its code
    except (OSError, ValueError) as error:
        raise UsageError(f"--model_name_or_path {path!r}: cannot read a model config there ({error}).") from error
    if not isinstance(config, BiLSTMConfig):
        raise UsageError(
            f"--model_name_or_path {path!r} holds a {type(config).__name__} ({config.model_type}); this command "
            "starts only from hf_bilstm models (model_type 'bilstm')."
        )
    try:
        encoder, info = BiLSTMModel.from_pretrained(path, output_loading_info=True)
    except OSError as error:  # no weights, only a pickle, a damaged model.safetensors: the message says which
        raise UsageError(f"--model_name_or_path {path!r}: {error}") from error
    if info["missing_keys"]:
        raise UsageError(
            f"--model_name_or_path {path!r}: its weights lack encoder parameters {sorted(info['missing_keys'])[:5]}; "
            "give a folder saved by hf_bilstm (a classifier or a pretrained language model)."
        )
    settings = config.to_dict()
    for key in ("architectures", "auto_map", "id2label", "label2id", "num_labels", "problem_type"):
        settings.pop(key, None)
    for name in HEAD_FIELDS:
        if getattr(model_args, name) is not None:
            settings[name] = getattr(model_args, name)
    new_config = BiLSTMConfig(
        **settings,
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    model = BiLSTMForSequenceClassification(new_config)
    model.bilstm.load_state_dict(encoder.state_dict())
    return model


class SoftLabelTrainer(LengthGroupedTrainer):
    """
    The stock `Trainer`, whose training loss is the cross-entropy against each row's `soft_labels` (a teacher's
    probabilities, or a one-hot label) instead of the hard label. Evaluation batches carry no soft labels and are
    scored as usual.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        soft = inputs.pop(SOFT_LABELS, None)
        if soft is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        outputs = model(**{key: value for key, value in inputs.items() if key != "labels"})
        log_probs = torch.log_softmax(outputs.logits.float(), dim=-1)
        loss = -(soft.to(log_probs.dtype) * log_probs).sum(-1).mean()
        return (loss, outputs) if return_outputs else loss


def data_args_class_weights(model_args) -> bool:
    return getattr(model_args, "class_weights", None) == "balanced"


def selection_args(training_args: TrainingArguments, problem_type: str, given) -> TrainingArguments:
    """Model selection on the problem type's own metric (hf_bilstm.metrics.BEST_METRIC) unless the flags chose one:
    accuracy for classes, micro F1 for multi-label, MSE (lower is better) for regression."""
    if "metric_for_best_model" in given:  # a loss or an error is better lower, unless --greater_is_better says
        metric = training_args.metric_for_best_model.removeprefix("eval_")
        if "greater_is_better" in given:
            return training_args
        return dataclasses.replace(training_args, greater_is_better=metric not in ("loss", "mse"))
    if problem_type == SINGLE_LABEL:
        return training_args
    metric, greater = BEST_METRIC[problem_type]
    return dataclasses.replace(training_args, metric_for_best_model=metric, greater_is_better=greater)


def build_trainer(
    model, training_args: TrainingArguments, datasets: dict, tokenizer, callbacks=(), finetuning=None, loss=None
) -> Trainer:
    """
    The one place the `Trainer` is built (a LengthGroupedTrainer or a subclass); swap in callbacks or an optimizer
    here. It gets a copy of the arguments that never pushes (the output folder is pushed only once it is complete)
    and keeps the `length` column that length grouping reads (the collator drops it).
    """
    trainer_args = dataclasses.replace(training_args, push_to_hub=False, remove_unused_columns=False)
    trainer_class, extra = LengthGroupedTrainer, {}
    if loss is not None:  # --class_weights (hf_bilstm.class_weights)
        if SOFT_LABELS in datasets["train"].column_names or (finetuning is not None and finetuning.enabled()):
            raise UsageError("--class_weights does not combine with soft labels or the fine-tuning tools; drop one.")
        extra = {"compute_loss_func": loss}
    if SOFT_LABELS in datasets["train"].column_names:
        if finetuning is not None and finetuning.enabled():
            raise UsageError("the fine-tuning tools do not combine with training on a teacher's soft labels.")
        trainer_class = SoftLabelTrainer
    elif finetuning is not None and finetuning.enabled():  # hf_bilstm.finetuning tools; the stock Trainer otherwise
        from .finetuning import FineTuningTrainer

        trainer_class, extra = FineTuningTrainer, {"finetuning": finetuning}
    return trainer_class(
        **extra,
        model=model,
        args=trainer_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["validation"],
        processing_class=tokenizer,
        data_collator=PaddingCollator(tokenizer.pad_token_id),
        compute_metrics=ComputeMetrics(
            model.config.problem_type or SINGLE_LABEL,
            [model.config.id2label[i] for i in range(model.config.num_labels)],
        ),
        callbacks=list(callbacks),
    )


# ----------------------------------------------------------------------------------------------------------------
# Run


def train(
    settings: RunSettings,
    command: str = "",
    extra_train=None,
    read_test: bool = True,
    started: float | None = None,
) -> dict:
    """
    Runs the whole job and returns all metrics (also written to all_results.json).

    `extra_train`: more training rows (text, label and `soft_labels` columns: a teacher's probabilities) appended
    to the training split after validation is carved; the training rows then get their labels as one-hot
    `soft_labels` and the model learns both (hf_bilstm.training.distillation: `--preset cpu-best`, dispatched by
    hf_bilstm.commands.train, calls this for each of its runs). `read_test=False`: the test split only
    takes its texts out of train and validation (as always) and is neither encoded nor evaluated: a teacher's run.
    `started`: when the command began (`time.time()`), from which `--max_train_seconds` counts; now by default.
    """
    command_started = time.time() if started is None else started
    model_args, data_args, training_args = settings.model, settings.data, settings.training
    follow_log_level(training_args)
    is_main = training_args.process_index == 0
    hub_token = None
    if training_args.push_to_hub:  # repo id and token checked before anything is trained (hf_bilstm.hub)
        from ..hub import HubPushError, check_push_to_hub

        try:
            _, hub_token = check_push_to_hub(training_args)
        except (HubPushError, ValueError) as error:
            raise UsageError(str(error)) from error
    checkpoint = find_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)
    if checkpoint is not None:
        check_resume_flags(settings, checkpoint)
        check_resume_optimizer(training_args, settings.given, checkpoint)
    output = OutputDir(
        training_args.output_dir,
        "train",
        overwrite=model_args.overwrite_output_dir,
        resuming=checkpoint or False,  # a checkpoint outside --output_dir is one more input
        inputs=run_inputs(model_args, data_args),
        is_main=is_main,
    )
    with output:
        set_seed(training_args.seed)
        data = load_data(settings, checkpoint, output, command_started, extra_train, read_test)
        model, word_vectors = build_model(settings, data, checkpoint)
        fitted = fit(model, settings, data, word_vectors, checkpoint)
        return report(fitted, settings, data, command, output, hub_token)


def run_inputs(model_args, data_args) -> dict[str, str | None]:
    """The local paths a run reads (flag → path): no folder it writes may be, hold or lie inside one."""
    return {
        "--model_name_or_path": local_path(model_args.model_name_or_path),
        "--dataset": local_path(data_args.dataset),
        **{f"--{name}": local_path(getattr(data_args, name)) for name in DATA_FILE_FLAGS},
    }


def start_from_word_vectors(model, tokenizer, train_rows, raw, model_args, data_args, seed: int, started=None) -> dict:
    """Word vectors from the training rows (validation and test rows are never read) plus the unlabelled splits;
    `started`: the command's start, from which --max_train_seconds counts (now by default)."""
    from .word_vectors import initialise_from_texts

    names = word_vectors_split_names(model_args)
    missing = [name for name in names if name not in raw]
    if missing:
        raise UsageError(
            f"--word_vectors_splits {missing} not in the dataset, which has {sorted(raw)}; name unlabelled splits it "
            "has, or give --word_vectors_splits '' to train the vectors on the training rows alone."
        )
    epochs = word_vectors_epochs(model_args)
    logger.info(f"word vectors: {epochs} word2vec epochs over train + {names or 'nothing else'}")
    # Under --max_train_seconds the vectors get at most a quarter of what loading left, and the Trainer the rest.
    budget = model_args.max_train_seconds
    if budget is not None and started is not None:
        budget -= time.time() - started
    summary = initialise_from_texts(
        model,
        tokenizer,
        # --max_train_samples caps every split trained on: the unlabelled ones too (a seeded sample, as for train).
        [train_rows, *(capped(raw[name], data_args.max_train_samples, seed) for name in names)],
        data_args.text_column,
        epochs,
        seed=seed,
        max_seconds=None if budget is None else max(WORD_VECTORS_BUDGET_SHARE * budget, LEAST_TRAINING_SECONDS),
    )
    summary["splits"] = ["train (training rows)", *names]
    cut = f" (the time budget stopped it after {summary['epochs']} epochs)" if summary["epochs"] < epochs else ""
    logger.info(
        f"word vectors for {summary['words_with_vectors']:,} of {summary['vocab_size']:,} words "
        f"from {summary['tokens']:,} tokens in {summary['seconds']:.0f} s{cut}"
    )
    return summary


def capped(dataset, max_rows: int | None, seed: int):
    """At most `max_rows` rows of `dataset`, a seeded random sample (None: all)."""
    if max_rows is None or len(dataset) <= max_rows:
        return dataset
    return dataset.shuffle(seed=seed).select(range(max_rows))


@dataclass
class LoadedData:
    """What `load_data` gives the later stages: the dataset, its checked splits, the tokenizer and the encodings."""

    raw: DatasetDict
    splits: Splits
    tokenizer: PreTrainedTokenizerBase
    encoded: dict
    data_runtime: float  # seconds from the command's start: loading, tokenizer training, tokenizing
    started: float  # when the command began (time.time()): --max_train_seconds counts from it
    soft_labelled_rows: int = 0  # unlabelled training rows that carry a teacher's labels (hf_bilstm.distillation)
    predict: object = None  # a test split without labels, encoded: predictions only (predict_results.tsv)


@dataclass
class FitResult:
    """What `fit` leaves for the report: the trainer (best model restored) and every figure, split by split."""

    trainer: Trainer
    metrics: dict  # all of them, as all_results.json
    results: dict[str, dict]  # {"train": ..., "eval": ..., "test": ...}
    word_vectors: dict | None
    time_budget: object | None
    started: float
    predict_logits: object = None  # logits of the unlabelled test rows (predict_results.tsv)


def splits_from_flags(raw, settings: RunSettings) -> Splits:
    """The run's checked splits as the flags ask: the same carve (and dropped duplicates) for every caller."""
    return prepare_from_flags(raw, settings.data, settings.given, settings.training.seed)


def load_data(
    settings: RunSettings, checkpoint, output, command_started, extra_train=None, read_test=True
) -> LoadedData:
    """Loads and checks the dataset, trains (or loads) the tokenizer and encodes every split; rank 0 first."""
    model_args, data_args, training_args = settings.model, settings.data, settings.training
    _, tokenizer_settings = resolve(model_args)
    with training_args.main_process_first(local=False, desc="dataset loading and tokenizing"):
        raw = load_from_flags(data_args)
        splits = splits_from_flags(raw, settings)
        soft_labelled_rows = 0
        if extra_train is not None:
            labelled_rows = len(splits.train)
            text, label = splits.schema.text_column, splits.schema.label_column
            splits.train = with_soft_labelled_rows(splits, extra_train, text, label)
            soft_labelled_rows = len(splits.train) - labelled_rows
        if not read_test:  # its texts are out of train and validation already; nothing more is read of it
            splits.test = None
        tokenizer_source = checkpoint or model_args.model_name_or_path
        if tokenizer_source is None and training_args.process_index != 0:
            # the main process trained it and saved it in the staging folder: every rank uses the same one
            tokenizer_source = os.path.join(training_args.output_dir, STAGING_NAME)
        if tokenizer_source is not None:
            tokenizer = load_tokenizer(tokenizer_source)  # a damaged file: one line naming it
            # A loaded tokenizer (resumed, fine-tuned, or the main process's) keeps its own unless the flag was given.
            if "max_length" in settings.given:
                tokenizer.model_max_length = model_args.max_length
            if "truncation_side" in settings.given:
                tokenizer.truncation_side = model_args.truncation_side
            check_tokenizer_length(tokenizer, tokenizer_source, or_flag="Pass --max_length, or ")
        else:
            tokenizer = train_tokenizer_on(splits.train, splits.schema.text_column, **tokenizer_settings)
            # Not into the folder itself: it may still hold the previous complete model, which stays until the end.
            save_tokenizer(tokenizer, output.new_staging())
        columns = splits.schema.text_column, splits.schema.label_column
        encoded = encode_splits(splits, tokenizer, *columns, data_args.preprocessing_num_workers)
        predict = None
        if splits.predict is not None and read_test:
            predict = encode(splits.predict, tokenizer, columns[0], None, data_args.preprocessing_num_workers)
    # Seconds per phase go to all_results.json: where the time of a run went (loading, tokenizer, tokenizing here).
    runtime = round(time.time() - command_started, 1)
    return LoadedData(raw, splits, tokenizer, encoded, runtime, command_started, soft_labelled_rows, predict)


def build_model(settings: RunSettings, data: LoadedData, checkpoint):
    """The model to train (a checkpoint's, a folder's encoder under a new head, or the preset's), its word vectors."""
    model_args, data_args, training_args = settings.model, settings.data, settings.training
    label_names = data.splits.label_names
    if checkpoint is not None:
        config = BiLSTMConfig.from_pretrained(checkpoint)
        if [config.id2label[i] for i in range(config.num_labels)] != label_names:
            raise UsageError(
                f"Checkpoint {checkpoint!r} was trained for labels {config.id2label}, but the dataset's labels are "
                f"{label_names}; resume with the same dataset."
            )
        model = BiLSTMForSequenceClassification(config)
    elif model_args.model_name_or_path:
        model = build_model_from_pretrained(model_args.model_name_or_path, model_args, label_names)
    else:
        architecture = model_settings(model_args, data.splits.schema.problem_type, settings.given)  # presets: why
        model = build_model_from_preset(architecture, data.tokenizer, label_names)
    # the loss follows the labels: cross-entropy, BCE over sigmoids (multi-label) or MSE (regression)
    model.config.problem_type = data.splits.schema.problem_type
    # The longest text it is trained to read: predict/evaluate never cut later than this, whatever a
    # tokenizer_config.json says (hf_bilstm.model_loading.load_classifier_folder).
    model.config.max_position_embeddings = data.tokenizer.model_max_length
    model.config.return_dict = True  # the Trainer and the metrics read outputs by name; a folder may have said false
    word_vectors = None
    if checkpoint is None and word_vectors_epochs(model_args):  # a resumed run brings its trained embedding
        word_vectors = start_from_word_vectors(
            model, data.tokenizer, data.splits.train, data.raw, model_args, data_args, training_args.seed, data.started
        )
    return model, word_vectors


def reference_speed(preset: str | None, given: frozenset) -> float | None:
    """The preset's measured tokens/s (run_plan.REFERENCE_TOKENS_PER_SECOND) when this run trains it as it is: no
    flag that changes the work per token (model, tokenizer, batch, precision); None otherwise."""
    if preset is None:
        return None
    changed = set(PRESETS[preset].model) | set(PRESETS[preset].tokenizer)
    changed |= {"per_device_train_batch_size", "rnn_implementation", "bf16", "fp16", "model_name_or_path"}
    return None if given & changed else REFERENCE_TOKENS_PER_SECOND.get(preset)


def run_callbacks(settings: RunSettings, training_args, data: LoadedData, train_tokens: int):
    """The run's callbacks: divergence, early stopping, the time budget (from the command's start), the plan."""
    model_args = settings.model
    encoded = data.encoded
    divergence = DivergenceCallback(training_args.learning_rate)
    callbacks = [divergence]
    if model_args.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=model_args.early_stopping_patience))
    reading = reading_tokens(encoded, data.predict, training_args.eval_strategy != "no")
    spent = time.time() - data.started
    fit = model_args.fit_schedule_to_budget
    time_budget = time_budget_left(model_args.max_train_seconds, spent, fit, train_tokens=train_tokens, **reading)
    if time_budget is not None:
        callbacks.append(time_budget)
    preset = None if model_args.model_name_or_path else model_args.preset
    callbacks.append(
        RunPlanCallback(
            preset,
            settings.preset_reason if preset else "",
            {name: len(ds) for name, ds in encoded.items()},
            train_tokens,
            faster_preset=CPU_PRESET if preset != CPU_PRESET else None,
            reference=reference_speed(preset, settings.given),
            grouped=data.splits.grouped,
            fitted_seconds=time_budget.seconds if time_budget is not None and fit else None,
        )
    )
    return callbacks, divergence, time_budget


def fit(model, settings: RunSettings, data: LoadedData, word_vectors, checkpoint) -> FitResult:
    """Trains with the Trainer and its callbacks, then measures the restored best model on validation and test."""
    encoded, given = data.encoded, settings.given
    train_tokens = int(np.sum(encoded["train"]["length"]))
    training_args = epochs_for_training_set(settings.training, given, len(encoded["train"]), train_tokens)
    callbacks, divergence, time_budget = run_callbacks(settings, training_args, data, train_tokens)
    training_args = selection_args(training_args, data.splits.schema.problem_type, given)
    loss = None
    if data_args_class_weights(settings.model):
        from ..class_weights import WeightedLoss, balanced_weights

        problem = data.splits.schema.problem_type
        weights = balanced_weights(encoded["train"]["labels"], problem, len(data.splits.label_names))
        loss = WeightedLoss(problem, weights)
    trainer = build_trainer(model, training_args, encoded, data.tokenizer, callbacks, settings.finetuning, loss)

    started = time.time()
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    divergence.raise_if_diverged()
    metrics = dict(train_result.metrics)
    metrics["train_samples"] = len(encoded["train"])
    seen = train_tokens * (trainer.state.epoch or 0.0)
    metrics["train_tokens_per_second"] = round(seen / max(metrics["train_runtime"], 1e-9), 1)
    metrics["data_runtime"] = data.data_runtime
    if word_vectors is not None:
        metrics["word_vectors_runtime"] = word_vectors["seconds"]
        metrics["word_vectors_epochs"] = word_vectors["epochs"]
    metrics.update(budget_figures(time_budget))  # how --max_train_seconds was shared
    trainer.log_metrics("train", metrics)
    results = {"train": dict(metrics)}

    # The weights are saved and served in fp32, so the final validation and test figures are fp32 too: undo the
    # autocast wrapper that mixed precision put on forward (per-epoch validation ran under it, as training did).
    extract_model_from_parallel(trainer.model, keep_fp32_wrapper=False)
    # The model that will be saved (the best checkpoint, restored by load_best_model_at_end) must be a number
    # everywhere before any figure of it is reported.
    check_finite_weights(trainer.model, training_args.learning_rate)
    # The test split is touched once, after model selection is over.
    for key, split, what in (("eval", "validation", "the final validation"), ("test", "test", "the test")):
        if split not in encoded:
            continue
        figures = trainer.evaluate(eval_dataset=encoded[split], metric_key_prefix=key)
        figures[f"{key}_samples"] = len(encoded[split])
        divergence.check_metrics(figures, what)
        trainer.log_metrics(key, figures)
        results[key] = figures
        metrics.update(figures)
    predict_logits = None
    if data.predict is not None:  # a test split without labels: predictions only, as run_classification's do_predict
        predict_logits = trainer.predict(data.predict, metric_key_prefix="predict").predictions
    return FitResult(trainer, metrics, results, word_vectors, time_budget, started, predict_logits)

"""What a finished `train` run leaves: its results files, the run record its model card is written from, the
complete output folder (moved into place at once) and the Hub push."""

import json
import os
import platform
import time

import torch
from transformers import (
    Trainer,
    TrainingArguments,
)

from ..data_schema import save_schema
from ..errors import UsageError
from ..folder import OutputDir
from ..metrics import per_class_table
from ..presets import PRESET_REFERENCES
from ..presets_measured import seed_reference_for
from ..tokenization_bilstm import save_tokenizer

# The TrainingArguments a model card lists.
CARD_TRAINING_ARGS = (
    "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "optim", "per_device_train_batch_size",
    "gradient_accumulation_steps", "num_train_epochs", "max_grad_norm", "seed", "bf16", "fp16",
    "train_sampling_strategy",
)  # fmt: skip


def device_description(training_args: TrainingArguments) -> str:
    count = max(1, training_args.world_size)
    if training_args.device.type == "cuda":
        name = torch.cuda.get_device_name(training_args.device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return f"{count} x {name}" if count > 1 else name


def library_versions() -> dict[str, str]:
    import datasets
    import tokenizers
    import transformers

    from .. import __version__

    return {
        "hf_bilstm": __version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "datasets": datasets.__version__,
        "python": platform.python_version(),
    }


def save_results(folder: str, results: dict[str, dict]) -> None:
    """`{split}_results.json` per split and `all_results.json`, as `Trainer.save_metrics` writes them."""
    combined = {}
    for split, metrics in results.items():
        combined.update(metrics)
        with open(os.path.join(folder, f"{split}_results.json"), "w") as handle:
            json.dump(metrics, handle, indent=4, sort_keys=True)
    with open(os.path.join(folder, "all_results.json"), "w") as handle:
        json.dump(combined, handle, indent=4, sort_keys=True)


def finalize_output_dir(
    trainer: Trainer, tokenizer, run, results: dict, output: OutputDir, schema=None, predict=None
) -> None:
    """
    Completes the output folder: weights, config (with auto_map), code files, tokenizer, results, trainer state and
    the model card are saved into a staging folder, then moved into place (`OutputDir.commit`), so that a save that
    fails leaves the previous folder as it was. Anything that needs the complete folder (a Hub push) comes after.
    """
    is_main = trainer.is_world_process_zero()
    staging = output.new_staging() if is_main else output.staging
    trainer.save_model(staging)  # model.safetensors + config.json + the two code files (+ tokenizer)
    if not is_main:
        return
    save_tokenizer(tokenizer, staging)
    if schema is not None:  # the data's columns and label form, for evaluate/predict/export (hf_bilstm.data_schema)
        save_schema(staging, schema)
    if predict is not None:  # a test split without labels: its predictions, by row id
        from ..predict_results import write_predict_results

        logits, ids = predict
        write_predict_results(staging, logits, ids, schema)
    save_results(staging, results)
    trainer.state.save_to_json(os.path.join(staging, "trainer_state.json"))
    from ..cards import write_classifier_card

    write_classifier_card(trainer.args.output_dir, run, path=os.path.join(staging, "README.md"))
    output.commit()


def _predictions(fitted, data):
    """`(logits, row ids)` of a test split without labels (predict_results.tsv), or None."""
    if fitted.predict_logits is None:
        return None
    schema, rows = data.splits.schema, data.splits.predict
    ids = rows[schema.id_column] if schema.id_column else list(range(len(rows)))
    return fitted.predict_logits, ids


def _quoted_beside(model_args, data_args, splits) -> dict:
    """What the card says beside the run's own figures: what its preset measured (a single IMDB run: hf_bilstm.presets;
    the mean ± sd on this very data: hf_bilstm.presets_measured; none for a fine-tuned folder) and how validation was
    carved (by whole groups: --group_column)."""
    own = not model_args.model_name_or_path
    return {
        "preset_reference": PRESET_REFERENCES.get(model_args.preset) if own else None,
        "seed_reference": seed_reference_for(model_args.preset, data_args, splits.schema) if own else None,
        "grouped": splits.grouped,
    }


def report(fitted, settings, data, command, output, hub_token) -> dict:
    """The run record, the completed output folder (weights, results, card), the push, and one line for the user."""
    from ..cards import ClassifierRun, DatasetSource

    model_args, data_args, training_args = settings.model, settings.data, settings.training
    trainer, metrics, model, tokenizer = fitted.trainer, fitted.metrics, fitted.trainer.model, data.tokenizer
    run = ClassifierRun(
        metrics=metrics,
        dataset=DatasetSource.resolve(
            data_args.dataset or data_args.train_file,
            data_args.dataset_config_name,
            dataset_name=data_args.dataset_name,
            license=data_args.license,
            language=data_args.language,
        ),
        splits={name: len(ds) for name, ds in data.encoded.items()},
        label_names=data.splits.label_names,
        text_column=data_args.text_column,
        config=model.config.to_diff_dict() if hasattr(model.config, "to_diff_dict") else model.config.to_dict(),
        max_length=tokenizer.model_max_length,
        truncation_side=tokenizer.truncation_side,
        vocab_size=len(tokenizer),
        # the Trainer's own: what training ran with (more epochs on a small set, hf_bilstm.training.run_length)
        training_args={key: getattr(trainer.args, key) for key in CARD_TRAINING_ARGS},
        validation_carved=data.splits.validation_carved,
        validation_fraction=data_args.validation_fraction,
        device=device_description(training_args),
        versions=library_versions(),
        preset=None if model_args.model_name_or_path else model_args.preset,
        **_quoted_beside(model_args, data_args, data.splits),
        base_model=model_args.model_name_or_path,
        finetuning=settings.finetuning.enabled(),
        word_vectors=fitted.word_vectors,
        soft_labelled_rows=data.soft_labelled_rows,
        epochs_trained=trainer.state.epoch or 0.0,
        time_budget=fitted.time_budget and fitted.time_budget.summary(),
        best_checkpoint=trainer.state.best_model_checkpoint,
        wall_seconds=time.time() - fitted.started,
        command=command,
        # the card's usage snippet names the Hub repo
        hub_model_id=training_args.hub_model_id if training_args.push_to_hub else None,
        problem_type=data.splits.schema.problem_type,
        threshold=data.splits.schema.threshold,
        per_class={
            split: per_class_table(metrics, prefix, data.splits.label_names, data.encoded[split]["labels"])
            for split, prefix in (("validation", "eval"), ("test", "test"))
            if split in data.encoded
        },
    )
    finalize_output_dir(
        trainer, tokenizer, run, fitted.results, output, data.splits.schema, _predictions(fitted, data)
    )
    if training_args.push_to_hub and training_args.process_index == 0:  # the Trainer's own push is off (a pickle)
        from ..hub import HubPushError, push_trained

        try:
            push_trained(training_args.output_dir, training_args, hub_token)
        except HubPushError as error:
            raise UsageError(f"training finished and {training_args.output_dir} is complete, but: {error}") from error
    return metrics

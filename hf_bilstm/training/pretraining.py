"""`hf-bilstm pretrain`: a bidirectional LSTM language model on unlabeled in-domain text, with the stock Trainer.

The data's way: dataset splits that hold no test text (IMDB: train + unsupervised) → a held-out LM validation part →
tokenizer trained on the rest → reviews cut into blocks of `block_size` tokens → `BiLSTMForPreTraining` → output
folder (weights, config, code, tokenizer, `pretraining_results.json`, card). Fine-tune the folder with
`hf-bilstm train --model_name_or_path FOLDER` or `BiLSTMForSequenceClassification.from_pretrained(FOLDER, ...)`.
"""

import argparse
import dataclasses
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import torch
from datasets import Dataset, DatasetDict, concatenate_datasets
from transformers import Trainer, TrainingArguments, set_seed

from ..cards import DatasetSource
from ..configuration_bilstm import BiLSTMConfig
from ..data import load_raw_dataset
from ..encoding import PaddingCollator, train_tokenizer_on
from ..errors import UsageError
from ..flag_checks import (
    check_architecture,
    check_dataset_flag,
    check_number,
    check_run_size,
    check_tokenizer_flags,
    check_training_numbers,
    local_path,
)
from ..flag_parser import FlagParser, dataclass_from
from ..folder import OutputDir
from ..language_model_card import LanguageModelRun, write_language_model_card
from ..logs import follow_log_level
from ..modeling_bilstm import BiLSTMForPreTraining
from ..presets import pretraining_hardware_defaults
from .divergence import check_finite_weights, loss_has_diverged
from .time_budget import check_budget_size, time_budget_left

RESULTS_FILE = "pretraining_results.json"
# The TrainingArguments that pretraining_results.json records next to the PretrainingArguments.
RECORDED_TRAINING_ARGS = (
    "num_train_epochs", "max_steps", "per_device_train_batch_size", "learning_rate", "warmup_steps",
    "lr_scheduler_type", "weight_decay", "max_grad_norm", "bf16", "dataloader_num_workers", "logging_steps", "seed",
    "report_to",
)  # fmt: skip


@dataclass
class PretrainingArguments:
    """
    What `hf-bilstm pretrain` reads and builds. Its flags come with every `TrainingArguments` flag (`--output_dir`,
    `--learning_rate`, `--warmup_steps`, ...), whose defaults for a language model are `TRAINING_DEFAULTS`;
    `hf-bilstm pretrain --help` lists them all with the defaults a run uses.
    """

    dataset: str = field(default="stanfordnlp/imdb", metadata={"help": "Hub dataset id or local folder."})
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub id of the dataset a local --dataset folder copies, for the card's metadata."},
    )
    license: str | None = field(
        default=None, metadata={"help": "License for the card (e.g. apache-2.0); default: the dataset card's or none."}
    )
    language: str | None = field(
        default=None, metadata={"help": "Language code for the card (e.g. en); default: the dataset card's, or none."}
    )
    splits: str = field(
        default="train,unsupervised",
        metadata={"help": "Comma-separated splits whose text is used (labels are ignored). Never a test split."},
    )
    text_column: str = field(default="text", metadata={"help": "Column holding the texts."})
    max_texts: int | None = field(default=None, metadata={"help": "Use only this many texts (seeded sample)."})
    validation_fraction: float = field(
        default=0.01, metadata={"help": "Share of the texts held out to measure the LM's perplexity."}
    )
    vocab_size: int = field(default=50000, metadata={"help": "Tokenizer vocabulary (input embeddings)."})
    min_frequency: int = field(default=2, metadata={"help": "Rarer words become [UNK]."})
    lm_vocab_size: int | None = field(
        default=30000,
        metadata={"help": "Predict only the this many most frequent words (softmax cost); 0 or None = all."},
    )
    max_length: int = field(
        default=1024, metadata={"help": "model_max_length of the saved tokenizer (the classifier's truncation)."}
    )
    block_size: int = field(default=400, metadata={"help": "Longer texts are cut into LM examples of this size."})
    embedding_dim: int = field(default=400, metadata={"help": "Token embedding size (= tied output size)."})
    hidden_size: int = field(default=768, metadata={"help": "LSTM units per direction and layer."})
    num_layers: int = field(default=1, metadata={"help": "LSTM layers (>1 uses separate direction stacks)."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout between LSTM layers."})
    embedding_dropout: float = field(default=0.1, metadata={"help": "Dropout on the input embeddings."})
    lm_dropout: float = field(default=0.1, metadata={"help": "Dropout on the states before the LM projections."})
    max_train_seconds: float | None = field(
        default=None,
        metadata={
            "help": "Time budget of the whole run, from its start (at least 10 s): loading and tokenizing count "
            "against it, and LM training stops once only the final evaluation's time (measured on the evaluation "
            "before training) is left; the results say so. Default: none."
        },
    )
    num_proc: int | None = field(default=None, metadata={"help": "Processes for tokenization (default: CPUs, max 8)."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace a model already in --output_dir (refused otherwise)."}
    )


# TrainingArguments of a language-model run: the parser's defaults (so `--help` shows them); any flag given wins.
TRAINING_DEFAULTS = dict(
    num_train_epochs=3.0,
    per_device_train_batch_size=64,
    learning_rate=2e-3,
    warmup_steps=0.02,  # below 1: a share of the steps (transformers 5 has no warmup_ratio)
    lr_scheduler_type="cosine",
    weight_decay=0.0,
    max_grad_norm=1.0,  # LSTMs need clipping
    dataloader_num_workers=2,
    logging_steps=50,
    report_to="none",
    length_column_name="length",
    train_sampling_strategy="group_by_length",  # batches of similar lengths waste little on padding
)
# Fixed by how pretraining works; a flag for one of them is refused.
FIXED_TRAINING = dict(
    eval_strategy="no",  # one held-out evaluation at the end; LM validation curves are not used to pick steps
    save_strategy="no",  # the final model is saved into output_dir itself
    remove_unused_columns=False,  # the collator reads `input_ids` and drops `length` itself
    prediction_loss_only=True,  # per-position logits over the vocabulary would fill memory at evaluation
)


def training_arguments(output_dir: str, **overrides) -> TrainingArguments:
    """The TrainingArguments a `hf-bilstm pretrain --output_dir OUTPUT_DIR` run uses, with `overrides` on top."""
    settings = {**TRAINING_DEFAULTS, **pretraining_hardware_defaults(overrides), **overrides, **FIXED_TRAINING}
    settings.setdefault("per_device_eval_batch_size", settings["per_device_train_batch_size"])
    return TrainingArguments(output_dir=output_dir, **settings)


def make_parser() -> FlagParser:
    parser = FlagParser(
        (PretrainingArguments, TrainingArguments),
        prog="hf-bilstm pretrain",
        description="Pretrain a bidirectional LSTM language model on unlabeled text. The defaults shown are those a "
        "run uses; any flag given wins over them.",
    )
    parser.set_defaults(**TRAINING_DEFAULTS, **FIXED_TRAINING)
    # transformers 4's flag, known here only to be answered with its transformers 5 spelling (parse_args).
    parser.add_argument("--warmup_ratio", "--warmup-ratio", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def parse_args(argv: list[str]) -> tuple[PretrainingArguments, TrainingArguments]:
    """Parses the command line once (FlagParser.parse_given), then builds the arguments from the defaults (the
    language model's, the hardware's) with the flags given on top."""
    parser = make_parser()
    given = parser.parse_given(argv)
    if "warmup_ratio" in given:
        raise UsageError(
            "--warmup_ratio is --warmup_steps in transformers 5: a value below 1 is a share of the steps, e.g. "
            "--warmup_steps 0.02."
        )
    fixed = sorted(set(given) & set(FIXED_TRAINING))
    if fixed:
        raise UsageError(
            f"pretrain sets {['--' + name for name in fixed]} itself (one held-out evaluation at the end, the final "
            "model saved into --output_dir); drop them."
        )
    defaults = {**TRAINING_DEFAULTS, **FIXED_TRAINING, **pretraining_hardware_defaults(given)}
    if given.pop("help", False):
        parser.show_help(defaults)
    values = {**defaults, **given}
    values.setdefault("per_device_eval_batch_size", values["per_device_train_batch_size"])
    try:
        args = dataclass_from(PretrainingArguments, values)
        training_args = dataclass_from(TrainingArguments, values)
    except ValueError as error:  # TrainingArguments' own consistency checks
        raise UsageError(str(error)) from error
    if "output_dir" not in given:
        raise UsageError("give --output_dir FOLDER: where the language model, its tokenizer, results and card go.")
    return args, training_args


def check_arguments(args: PretrainingArguments, training_args: TrainingArguments) -> None:
    """Every value is checked before any data is loaded (UsageError naming the flag)."""
    check_architecture(
        dict(
            embedding_dim=args.embedding_dim,
            hidden_size=args.hidden_size,
            num_layers=args.num_layers,
            dropout=args.dropout,
            embedding_dropout=args.embedding_dropout,
        )
    )
    check_number("--lm_dropout", args.lm_dropout, minimum=0, below=1)
    check_tokenizer_flags(args.vocab_size, args.max_length, args.min_frequency)
    check_number("--lm_vocab_size", args.lm_vocab_size, integer=True, minimum=0, what="0 = all words")
    if args.lm_vocab_size in (1, 2):
        # The language model predicts its lm_vocab_size most frequent tokens, padding and [UNK] among them.
        raise UsageError(
            f"--lm_vocab_size must be 0 (all words) or at least 3 (padding, [UNK] and one word), but it was "
            f"{args.lm_vocab_size}."
        )
    check_number("--block_size", args.block_size, integer=True, minimum=2, what="a token and its neighbour")
    check_run_size(args.max_train_seconds, args.max_texts, samples_flag="--max_texts")
    check_budget_size(args.max_train_seconds)
    check_number("--validation_fraction", args.validation_fraction, above=0, below=1)
    # Checked even when --max_steps wins over it (documented on --max_steps): a NaN or negative value is a typo.
    check_number("--num_train_epochs", training_args.num_train_epochs, above=0, what="passes over the texts")
    check_training_numbers(training_args)
    check_number("--logging_steps", training_args.logging_steps, above=0)
    check_number("--dataloader_num_workers", training_args.dataloader_num_workers, integer=True, minimum=0)
    check_splits([s.strip() for s in args.splits.split(",") if s.strip()])
    check_dataset_flag(args.dataset)
    output_dir = training_args.output_dir
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError(f"--output_dir {output_dir!r} is a file, not a folder; choose another path.")


def check_splits(splits: list[str]) -> None:
    """Refuses an empty list and any split whose name says test."""
    if not splits:
        raise UsageError(
            "--splits is empty; name the splits with unlabeled or training text, e.g. train,unsupervised."
        )
    for split in splits:
        if "test" in split.lower():
            raise UsageError(
                f"--splits names {split!r}: pretraining never reads test text (the test split is evaluated once, at "
                "the end, and a model that has read it scores too well). Use e.g. --splits train,unsupervised."
            )


def pretraining_texts(raw, splits: list[str], text_column: str) -> Dataset:
    """
    The texts of `splits` as one `Dataset` with a single `text` column. A split whose name says test is refused:
    the test split is read once, at the end, and its text must not shape the tokenizer or the encoder.
    """
    check_splits(splits)
    parts = []
    for split in splits:
        if split not in raw:
            raise UsageError(f"The dataset has no {split!r} split; its splits are {sorted(raw)}. Fix --splits.")
        if text_column not in raw[split].column_names:
            raise UsageError(
                f"Split {split!r} has no column {text_column!r}; its columns are {raw[split].column_names}. "
                "Name the text column with --text_column."
            )
        part = raw[split].select_columns([text_column])
        parts.append(part if text_column == "text" else part.rename_column(text_column, "text"))
    texts = concatenate_datasets(parts)
    # Missing texts are dropped, not read as words: unlabeled dumps sometimes hold None.
    texts = texts.filter(lambda batch: [isinstance(t, str) and bool(t.strip()) for t in batch["text"]], batched=True)
    if len(texts) == 0:
        raise UsageError(f"The splits {splits} hold no text in column {text_column!r}; there is nothing to learn.")
    return texts


def encode_blocks(texts: Dataset, tokenizer, block_size: int, num_proc: int | None = None) -> Dataset:
    """Tokenizes whole texts and cuts them into consecutive blocks of 2 to `block_size` tokens."""
    if block_size < 2:
        raise UsageError(f"--block_size must be at least 2 (a token and its neighbour), but it was {block_size}.")

    def to_blocks(batch):
        # Whole texts on purpose (they are cut below), so the tokenizer's over-length warning does not apply.
        encoded = tokenizer(batch["text"], add_special_tokens=False, return_attention_mask=False, verbose=False)
        encoded = encoded["input_ids"]
        blocks = [ids[i : i + block_size] for ids in encoded for i in range(0, len(ids), block_size)]
        blocks = [block for block in blocks if len(block) >= 2]
        return {"input_ids": blocks, "length": [len(block) for block in blocks]}

    return texts.map(
        to_blocks,
        batched=True,
        remove_columns=texts.column_names,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        desc="Cutting LM blocks",
    )


class LanguageModelingCollator(PaddingCollator):
    """Pads like the classifier's batches and adds `labels` = the token ids (the model shifts them per direction)."""

    def __call__(self, features):
        batch = super().__call__([{"input_ids": feature["input_ids"]} for feature in features])
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return batch


def build_config(args: PretrainingArguments, tokenizer) -> BiLSTMConfig:
    cap = args.lm_vocab_size or None
    return BiLSTMConfig(
        vocab_size=len(tokenizer),
        embedding_dim=args.embedding_dim,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        bidirectional=True,
        separate_directions=args.num_layers > 1,
        dropout=args.dropout,
        embedding_dropout=args.embedding_dropout,
        pooling="max_mean",  # what a classifier fine-tuned from this LM reads (the measured best after pretraining)
        lm_vocab_size=min(cap, len(tokenizer)) if cap else None,
        lm_dropout=args.lm_dropout,
        unk_token_id=tokenizer.unk_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )


def pretrain(args: PretrainingArguments, training_args: TrainingArguments, raw: DatasetDict | None = None) -> dict:
    """
    Runs the whole pretraining and returns the results written to `output_dir/pretraining_results.json`.
    `training_args` is best made with `training_arguments(output_dir, ...)`; `FIXED_TRAINING` applies either way.
    `raw` is the dataset already loaded (else `args.dataset` is loaded).
    """
    follow_log_level(training_args)
    split_names = [s.strip() for s in args.splits.split(",") if s.strip()]
    check_splits(split_names)  # before any loading: a test split named by mistake fails at once
    if raw is None:
        check_arguments(args, training_args)
    else:  # a dataset already loaded: the run-size flags are still checked before any work
        check_run_size(args.max_train_seconds, args.max_texts, samples_flag="--max_texts")
        check_budget_size(args.max_train_seconds)
    training_args = dataclasses.replace(training_args, **FIXED_TRAINING)
    output = OutputDir(
        training_args.output_dir,
        "pretrain",
        overwrite=args.overwrite_output_dir,
        inputs={"--dataset": local_path(args.dataset) if raw is None else None},
    )
    with output:
        return _pretrain(args, training_args, raw, split_names, output)


def heldout_split(raw, split_names: list[str], args: PretrainingArguments, seed: int):
    """The texts of the pretraining splits (capped by --max_texts), split into training and held-out texts."""
    texts = pretraining_texts(raw, split_names, args.text_column)
    if args.max_texts is not None:
        if args.max_texts <= 0:
            raise UsageError(f"--max_texts must be a positive number of texts, but it was {args.max_texts}.")
        texts = texts.shuffle(seed=seed).select(range(min(args.max_texts, len(texts))))
    if not 0 < args.validation_fraction < 1 or round(args.validation_fraction * len(texts)) < 1:
        raise UsageError(
            f"--validation_fraction {args.validation_fraction} of {len(texts)} texts holds out no text; "
            "give a fraction in (0, 1) that leaves at least one held-out text."
        )
    parts = texts.train_test_split(test_size=args.validation_fraction, seed=seed)
    return parts["train"], parts["test"]


def _pretrain(args: PretrainingArguments, training_args, raw, split_names: list[str], output: OutputDir) -> dict:
    start = time.perf_counter()
    phases = {}
    seed = training_args.seed
    set_seed(seed)
    if raw is None:
        raw = load_raw_dataset(args.dataset)
    train_texts, heldout_texts = heldout_split(raw, split_names, args, seed)

    tick = time.perf_counter()
    tokenizer = train_tokenizer_on(train_texts, "text", vocab_size=args.vocab_size, max_length=args.max_length,
                                   min_frequency=args.min_frequency, rows_flag="--max_texts")  # fmt: skip
    phases["tokenizer"] = time.perf_counter() - tick

    tick = time.perf_counter()
    num_proc = args.num_proc if args.num_proc is not None else min(8, os.cpu_count() or 1)
    train_blocks = encode_blocks(train_texts, tokenizer, args.block_size, num_proc)
    heldout_blocks = encode_blocks(heldout_texts, tokenizer, args.block_size, num_proc)
    num_tokens = int(sum(train_blocks["length"]))
    phases["encode"] = time.perf_counter() - tick

    config = build_config(args, tokenizer)
    model = BiLSTMForPreTraining(config)
    collator = LanguageModelingCollator(pad_token_id=tokenizer.pad_token_id, pad_to_multiple_of=8)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_blocks,
        eval_dataset=heldout_blocks,
        data_collator=collator,
        processing_class=tokenizer,
    )
    initial = trainer.evaluate()  # the untrained loss, so the results show what pretraining bought
    # The budget counts from the start; the final evaluation is this one again, reserved at its measured time.
    spent, reserve = time.perf_counter() - start, initial["eval_runtime"]
    time_budget = time_budget_left(args.max_train_seconds, spent, reserve_seconds=reserve)
    if time_budget is not None:
        trainer.add_callback(time_budget)
    tick = time.perf_counter()
    train_output = trainer.train()
    phases["lm_training"] = time.perf_counter() - tick
    tick = time.perf_counter()
    metrics = trainer.evaluate()
    phases["lm_evaluation"] = time.perf_counter() - tick

    eval_loss = float(metrics["eval_loss"])
    if loss_has_diverged(eval_loss) or loss_has_diverged(train_output.training_loss):  # NaN, infinite or exploded
        raise UsageError(
            f"pretraining diverged: the held-out loss is {eval_loss} and the training loss "
            f"{train_output.training_loss}. Lower --learning_rate (it was {training_args.learning_rate:g}) and run "
            "again; nothing was saved as a finished model."
        )
    check_finite_weights(model, training_args.learning_rate)
    results = _results(args, training_args, split_names, train_texts, heldout_texts, num_tokens, tokenizer, model,
                       eval_loss, train_output, initial, trainer, time_budget, start, phases)  # fmt: skip
    _save(args, training_args, model, trainer, results, output)
    return results


def _results(args, training_args, split_names, train_texts, heldout_texts, num_tokens, tokenizer, model, eval_loss,
             train_output, initial, trainer, time_budget, start, phases) -> dict:  # fmt: skip
    """What a pretraining run records in pretraining_results.json and its card."""
    return {
        "dataset": args.dataset,
        "splits": split_names,
        "texts": len(train_texts),
        "heldout_texts": len(heldout_texts),
        "train_tokens": num_tokens,
        "vocab_size": len(tokenizer),
        "lm_vocab_size": model.lm_vocab_size,
        # Mean of the forward and backward cross-entropies, so this is the geometric mean of the two perplexities.
        "lm_eval_loss": eval_loss,
        "lm_perplexity": math.exp(eval_loss) if eval_loss < 50 else float("inf"),
        "lm_train_loss": float(train_output.training_loss),
        "lm_initial_eval_loss": float(initial["eval_loss"]),
        "steps": int(train_output.global_step),
        "epochs_trained": float(trainer.state.epoch or 0.0),
        "time_budget": time_budget and time_budget.summary(),
        "seconds": time.perf_counter() - start,
        "seconds_per_phase": phases,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "arguments": {**asdict(args), **{k: training_args.to_dict()[k] for k in RECORDED_TRAINING_ARGS}},
    }


def _save(args, training_args, model, trainer, results: dict, output: OutputDir) -> None:
    """The language model, its tokenizer, results and card into the output folder, all at once."""
    # Kept in the config so that a classifier fine-tuned from this folder carries where its encoder came from.
    model.config.pretraining = {k: results[k] for k in ("dataset", "splits", "train_tokens", "lm_perplexity")}
    # Saved into a staging folder, then moved into place: a save that fails leaves the previous folder as it was.
    # The Trainer's pickled training_args.bin is not moved (the folder ships safetensors and JSON only).
    staging = output.new_staging()
    trainer.save_model(staging)  # weights, config, code files and the tokenizer
    with open(os.path.join(staging, RESULTS_FILE), "w") as handle:
        json.dump(results, handle, indent=2)
    dataset = DatasetSource.resolve(args.dataset, dataset_name=args.dataset_name, license=args.license,
                                    language=args.language)  # fmt: skip
    card_path = os.path.join(staging, "README.md")
    write_language_model_card(training_args.output_dir, LanguageModelRun(results, dataset), card_path)
    output.commit()

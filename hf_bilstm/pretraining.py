"""`hf-bilstm pretrain`: a bidirectional LSTM language model on unlabeled in-domain text, with the stock Trainer.

The data's way: dataset splits that hold no test text (IMDB: train + unsupervised) → a held-out LM validation part →
tokenizer trained on the rest → reviews cut into blocks of `block_size` tokens → `BiLSTMForPreTraining` → output
folder (weights, config, code, tokenizer, `pretraining_results.json`, card). Fine-tune the folder with
`hf-bilstm train --model_name_or_path FOLDER` or `BiLSTMForSequenceClassification.from_pretrained(FOLDER, ...)`.
"""

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from datasets import Dataset, DatasetDict, concatenate_datasets
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from .configuration_bilstm import BiLSTMConfig
from .data import PaddingCollator, UsageError, load_raw_dataset, train_tokenizer_on
from .divergence import check_finite_weights, loss_has_diverged
from .flag_checks import (
    check_architecture,
    check_dataset_flag,
    check_number,
    check_seed,
    check_tokenizer_flags,
    local_path,
)
from .modeling_bilstm import BiLSTMForPreTraining
from .output_dir import OutputDir, exit_code_for
from .time_budget import time_budget_from_flag

RESULTS_FILE = "pretraining_results.json"


@dataclass
class PretrainingArguments:
    """Arguments of `hf-bilstm pretrain` (every one is a `--flag`; `hf-bilstm pretrain --help` lists them)."""

    output_dir: str = field(metadata={"help": "Folder for the pretrained model, its tokenizer and results."})
    dataset: str = field(default="stanfordnlp/imdb", metadata={"help": "Hub dataset id or local folder."})
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
    num_train_epochs: float = field(default=3.0, metadata={"help": "LM epochs over the texts."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many steps (overrides epochs when > 0)."})
    max_train_seconds: float | None = field(
        default=None,
        metadata={"help": "Time budget: LM training stops once it is spent; the results say so. Default: none."},
    )
    per_device_train_batch_size: int = field(default=64, metadata={"help": "LM blocks per batch."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Peak AdamW learning rate."})
    warmup_ratio: float = field(default=0.02, metadata={"help": "Linear warm-up share of the steps."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Trainer schedule after warm-up."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping (LSTMs need it)."})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 autocast; default: on when a GPU supports it."})
    num_proc: int | None = field(default=None, metadata={"help": "Processes for tokenization (default: CPUs, max 8)."})
    dataloader_num_workers: int = field(default=2, metadata={"help": "DataLoader workers."})
    logging_steps: int = field(default=50, metadata={"help": "Log the loss every this many steps."})
    seed: int = field(default=42, metadata={"help": "Seed of sampling, held-out split and initialisation."})
    report_to: str = field(default="none", metadata={"help": "Trainer loggers (none, tensorboard, wandb, ...)."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace a model already in --output_dir (refused otherwise)."}
    )


def check_arguments(args: PretrainingArguments) -> None:
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
    check_number("--block_size", args.block_size, integer=True, minimum=2, what="a token and its neighbour")
    check_number("--max_texts", args.max_texts, integer=True, minimum=1)
    check_number("--validation_fraction", args.validation_fraction, above=0, below=1)
    # Checked even when --max_steps wins over it (documented on --max_steps): a NaN or negative value is a typo.
    check_number("--num_train_epochs", args.num_train_epochs, above=0, what="passes over the texts")
    check_number("--learning_rate", args.learning_rate, minimum=0)
    check_number("--warmup_ratio", args.warmup_ratio, minimum=0, below=1)
    check_number("--weight_decay", args.weight_decay, minimum=0)
    check_number("--max_grad_norm", args.max_grad_norm, minimum=0)
    check_number("--per_device_train_batch_size", args.per_device_train_batch_size, integer=True, minimum=1)
    check_number("--logging_steps", args.logging_steps, integer=True, minimum=1)
    check_number("--dataloader_num_workers", args.dataloader_num_workers, integer=True, minimum=0)
    check_seed(args.seed)
    check_splits([s.strip() for s in args.splits.split(",") if s.strip()])
    check_dataset_flag(args.dataset)
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise UsageError(f"--output_dir {args.output_dir!r} is a file, not a folder; choose another path.")


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


def _training_arguments(args: PretrainingArguments) -> TrainingArguments:
    use_bf16 = (
        args.bf16 if args.bf16 is not None else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    )
    kwargs = dict(
        output_dir=args.output_dir,
        num_train_epochs=args.num_train_epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=args.per_device_train_batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_ratio,  # a float below 1 is a share of the steps (transformers 5)
        lr_scheduler_type=args.lr_scheduler_type,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        bf16=use_bf16,
        logging_steps=args.logging_steps,
        eval_strategy="no",  # one held-out evaluation at the end; LM validation curves are not used to pick steps
        save_strategy="no",  # the final model is saved into output_dir itself
        seed=args.seed,
        report_to=args.report_to,
        dataloader_num_workers=args.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,  # the collator reads `input_ids` and drops `length` itself
        prediction_loss_only=True,  # per-position logits over the vocabulary would fill memory at evaluation
        length_column_name="length",
        train_sampling_strategy="group_by_length",  # batches of similar lengths waste little on padding
    )
    return TrainingArguments(**kwargs)


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


def pretrain(args: PretrainingArguments, raw: DatasetDict | None = None) -> dict:
    """
    Runs the whole pretraining and returns the results written to `output_dir/pretraining_results.json`.
    `raw` is the dataset already loaded (else `args.dataset` is loaded).
    """
    split_names = [s.strip() for s in args.splits.split(",") if s.strip()]
    check_splits(split_names)  # before any loading: a test split named by mistake fails at once
    if raw is None:
        check_arguments(args)
    output = OutputDir(
        args.output_dir,
        "pretrain",
        overwrite=args.overwrite_output_dir,
        inputs={"--dataset": local_path(args.dataset) if raw is None else None},
    )
    with output:
        return _pretrain(args, raw, split_names, output)


def _pretrain(args: PretrainingArguments, raw, split_names: list[str], output: OutputDir) -> dict:
    start = time.perf_counter()
    phases = {}
    set_seed(args.seed)
    if raw is None:
        raw = load_raw_dataset(args.dataset)
    texts = pretraining_texts(raw, split_names, args.text_column)
    if args.max_texts is not None:
        if args.max_texts <= 0:
            raise UsageError(f"--max_texts must be a positive number of texts, but it was {args.max_texts}.")
        texts = texts.shuffle(seed=args.seed).select(range(min(args.max_texts, len(texts))))
    if not 0 < args.validation_fraction < 1 or round(args.validation_fraction * len(texts)) < 1:
        raise UsageError(
            f"--validation_fraction {args.validation_fraction} of {len(texts)} texts holds out no text; "
            "give a fraction in (0, 1) that leaves at least one held-out text."
        )
    parts = texts.train_test_split(test_size=args.validation_fraction, seed=args.seed)
    train_texts, heldout_texts = parts["train"], parts["test"]

    tick = time.perf_counter()
    tokenizer = train_tokenizer_on(
        train_texts,
        "text",
        vocab_size=args.vocab_size,
        max_length=args.max_length,
        min_frequency=args.min_frequency,
        rows_flag="--max_texts",
    )
    phases["tokenizer"] = time.perf_counter() - tick

    tick = time.perf_counter()
    num_proc = args.num_proc if args.num_proc is not None else min(8, os.cpu_count() or 1)
    train_blocks = encode_blocks(train_texts, tokenizer, args.block_size, num_proc)
    heldout_blocks = encode_blocks(heldout_texts, tokenizer, args.block_size, num_proc)
    num_tokens = int(sum(train_blocks["length"]))
    phases["encode"] = time.perf_counter() - tick

    time_budget = time_budget_from_flag(args.max_train_seconds)
    config = build_config(args, tokenizer)
    model = BiLSTMForPreTraining(config)
    collator = LanguageModelingCollator(pad_token_id=tokenizer.pad_token_id, pad_to_multiple_of=8)
    trainer = Trainer(
        model=model,
        args=_training_arguments(args),
        train_dataset=train_blocks,
        eval_dataset=heldout_blocks,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[time_budget] if time_budget else None,
    )
    initial = trainer.evaluate()  # the untrained loss, so the results show what pretraining bought
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
            f"{train_output.training_loss}. Lower --learning_rate (it was {args.learning_rate:g}) and run again; "
            "nothing was saved as a finished model."
        )
    check_finite_weights(model, args.learning_rate)
    results = {
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
        "arguments": asdict(args),
    }
    # Kept in the config so that a classifier fine-tuned from this folder carries where its encoder came from.
    model.config.pretraining = {k: results[k] for k in ("dataset", "splits", "train_tokens", "lm_perplexity")}
    # Saved into a staging folder, then moved into place: a save that fails leaves the previous folder as it was.
    # The Trainer's pickled training_args.bin is not moved (the folder ships safetensors and JSON only).
    staging = output.new_staging()
    trainer.save_model(staging)  # weights, config, code files and the tokenizer
    with open(os.path.join(staging, RESULTS_FILE), "w") as handle:
        json.dump(results, handle, indent=2)
    write_card(args.output_dir, results, staging)
    output.commit()
    return results


def write_card(folder: str, results: dict, into: str | None = None) -> None:
    """A README.md model card for the LM folder: what it is, the data it read (and did not), its figures."""
    args = results["arguments"]
    budget = results.get("time_budget") or {}
    budget_note = f" (stopped by the {budget['seconds']:.0f} s time budget)" if budget.get("stopped_training") else ""
    text = f"""---
library_name: transformers
tags:
- hf_bilstm
- bilstm
- language-model
- pretraining
datasets:
- {results["dataset"]}
---

# Bidirectional LSTM language model (hf_bilstm)

An ELMo-style bidirectional LSTM language model: the forward direction predicts the next word, the backward
direction the previous one. It is a starting point for text classifiers, not a classifier itself:

```python
from hf_bilstm import BiLSTMForSequenceClassification  # or AutoModelForSequenceClassification
model = BiLSTMForSequenceClassification.from_pretrained("{os.path.basename(os.path.abspath(folder))}",
                                                        id2label={{0: "neg", 1: "pos"}})
```

or `hf-bilstm train --model_name_or_path FOLDER ...`. The classification head is new; the embedding and the
LSTM weights come from here.

## Pretraining data

- Dataset `{results["dataset"]}`, splits {", ".join(results["splits"])} (text only, labels unused; no test text:
  the tokenizer and the language model never read the test split).
- {results["texts"]:,} texts ({results["train_tokens"]:,} tokens) for training, {results["heldout_texts"]:,} held out.
- Word-level tokenizer with {results["vocab_size"]:,} entries trained on the same texts; the LM predicts the
  {results["lm_vocab_size"]:,} most frequent words (rarer target words count as `[UNK]`).

## Figures

| what | value |
|---|---|
| held-out perplexity (geometric mean of both directions, over the LM vocabulary) | {results["lm_perplexity"]:.1f} |
| final training loss | {results["lm_train_loss"]:.3f} |
| steps / epochs | {results["steps"]} / {results["epochs_trained"]:.2f} of {args["num_train_epochs"]}{budget_note} |
| time | {results["seconds"]:.0f} s on {results["device"]} |

Architecture: embedding {args["embedding_dim"]}, {args["num_layers"]} x {args["hidden_size"]} LSTM per direction,
output embedding tied to the input embedding. Details in `pretraining_results.json`.
"""
    with open(os.path.join(into or folder, "README.md"), "w") as handle:
        handle.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = HfArgumentParser(PretrainingArguments, prog="hf-bilstm pretrain", allow_abbrev=False)
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    try:
        results = pretrain(args)
    except Exception as error:  # only usage errors and writes that ran out of room are answered; the rest propagates
        return exit_code_for("hf-bilstm pretrain", error, args.output_dir)
    print(json.dumps({k: results[k] for k in ("lm_perplexity", "train_tokens", "steps", "seconds")}, indent=2))
    print(f"Saved the language model to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

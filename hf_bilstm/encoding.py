"""From texts to model inputs: the tokenizer's checks, training it on the train split only, encoding (batched,
cached `Dataset.map`) and dynamic padding per batch (`PaddingCollator`)."""

from collections.abc import Iterator, Sequence

import torch
from datasets import Dataset

from .errors import UsageError
from .splits import Splits
from .tokenization_bilstm import cut_for_tokenizer, train_tokenizer

MAX_MODEL_MAX_LENGTH = 10**7  # tokens; a folder without the setting gets transformers' 1e30, meaning "no limit"


# Column of per-class target probabilities (a teacher's) that a training split may carry next to its labels.
SOFT_LABELS = "soft_labels"


def check_tokenizer_length(tokenizer, source: str, or_flag: str = "") -> None:
    """
    Texts are cut to the tokenizer's `model_max_length` (before tokenizing, at a character bound derived from it),
    which is what bounds memory for any input: a tokenizer without a limit (transformers fills in 1e30 when
    tokenizer_config.json has none), or with a value that is not a positive whole number, is refused.
    """
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_MODEL_MAX_LENGTH:
        shown = "absent (no limit)" if isinstance(limit, int) and limit > MAX_MODEL_MAX_LENGTH else repr(limit)
        fix = 'set "model_max_length" in its tokenizer_config.json (hf-bilstm train writes --max_length there).'
        raise UsageError(
            f"{source!r}: its tokenizer's model_max_length is {shown}, but texts are cut to it (which bounds memory "
            f"for any input), so it must be a whole number of tokens from 1 to {MAX_MODEL_MAX_LENGTH:,}. "
            + (f"{or_flag}{fix}" if or_flag else fix[0].upper() + fix[1:])
        )


def check_tokenizer_fits(tokenizer, config, source: str) -> None:
    """Another tokenizer maps words to other embedding rows (a silent wrong answer, or ids past the end): refuse.
    Its `model_max_length` must bound the texts (`check_tokenizer_length`)."""
    check_tokenizer_length(tokenizer, source)
    if len(tokenizer) != config.vocab_size:
        raise UsageError(
            f"{source!r}: the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has "
            f"{config.vocab_size}; they do not belong together. Use the tokenizer saved with the model."
        )


# Column of per-class target probabilities (a teacher's) that a training split may carry next to its labels.
SOFT_LABELS = "soft_labels"


def iter_texts(dataset: Dataset, text_column: str, batch_size: int = 1000) -> Iterator[str]:
    """Streams one column's texts in batches, so the tokenizer trainer never holds the corpus in a Python list."""
    for batch in dataset.iter(batch_size=batch_size):
        yield from batch[text_column]


def train_tokenizer_on(
    train: Dataset,
    text_column: str,
    vocab_size: int,
    max_length: int,
    min_frequency: int = 2,
    truncation_side: str = "right",
    rows_flag: str = "--max_train_samples",
):
    """Trains the word-level tokenizer on the training split only: validation and test text must stay unseen."""
    try:
        return train_tokenizer(
            iter_texts(train, text_column),
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            model_max_length=max_length,
            length=len(train),
            truncation_side=truncation_side,
        )
    except ValueError as error:
        if "no words were found" not in str(error):
            raise
        raise UsageError(no_words_message(len(train), min_frequency, rows_flag)) from error


def no_words_message(rows: int, min_frequency: int, rows_flag: str) -> str:
    """Why a tokenizer could not be trained on the texts a run kept, and which flags fix it."""
    return (
        f"the tokenizer found no word in the {rows:,} training text(s) that occurs at least --min_frequency "
        f"{min_frequency} time(s), so the model would have no vocabulary. Train on more texts ({rows_flag}) or "
        "lower --min_frequency."
    )


def encode(dataset: Dataset, tokenizer, text_column: str, label_column: str | None, num_proc: int | None = None):
    """
    Tokenizes with `Dataset.map(batched=True)` (cached by fingerprint, parallel with `num_proc`), truncating to the
    tokenizer's `model_max_length`. Keeps `input_ids`, `labels` and `length` (real tokens, for length grouping);
    the attention mask is made per batch by `PaddingCollator`.
    """

    def tokenize(batch):
        # Cut before tokenizing: a huge row would otherwise be tokenized whole, only for truncation to drop the rest.
        texts = [cut_for_tokenizer(text, tokenizer) for text in batch[text_column]]
        encoded = tokenizer(texts, truncation=True, max_length=tokenizer.model_max_length, return_attention_mask=False)
        out = {"input_ids": encoded["input_ids"], "length": [len(ids) for ids in encoded["input_ids"]]}
        if label_column is not None:
            out["labels"] = batch[label_column]
        if SOFT_LABELS in batch:  # a teacher's probabilities (hf_bilstm.distillation) travel with their rows
            out[SOFT_LABELS] = batch[SOFT_LABELS]
        return out

    return dataset.map(
        tokenize,
        batched=True,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        remove_columns=dataset.column_names,
        desc="Tokenizing",
    )


def encode_splits(splits: Splits, tokenizer, text_column: str, label_column: str, num_proc: int | None = None):
    """Encodes every split of `splits`; returns a dict split name → encoded `Dataset`."""
    return {name: encode(ds, tokenizer, text_column, label_column, num_proc) for name, ds in splits.items()}


class PaddingCollator:
    """
    Dynamic padding: pads each batch to its own longest row (rounded up to `pad_to_multiple_of`) and builds the
    attention mask. Drops the `length` column that length grouping reads. Plain torch, so the Trainer and a bare
    PyTorch loop batch identically.
    """

    def __init__(self, pad_token_id: int = 0, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        rows = [feature["input_ids"] for feature in features]
        longest = max(len(row) for row in rows) if rows else 0
        if self.pad_to_multiple_of and longest % self.pad_to_multiple_of:
            longest += self.pad_to_multiple_of - longest % self.pad_to_multiple_of
        input_ids = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "labels" in features[0]:
            batch["labels"] = torch.as_tensor([feature["labels"] for feature in features])
        if SOFT_LABELS in features[0]:
            batch[SOFT_LABELS] = torch.as_tensor([feature[SOFT_LABELS] for feature in features], dtype=torch.float32)
        return batch

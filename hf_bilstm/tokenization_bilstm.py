"""A word-level tokenizer trained with `tokenizers` and shipped as a transformers fast tokenizer."""

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
TRUNCATION_SIDES = ("right", "left")
UNK_TOKEN = "[UNK]"


def build_normalizer(lowercase: bool = True) -> normalizers.Normalizer:
    """IMDB reviews carry HTML line breaks (`<br />`); they are spaces, not words."""
    steps = [normalizers.Replace(Regex(r"<\s*br\s*/?\s*>"), " "), normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 30000,
    min_frequency: int = 2,
    lowercase: bool = True,
    model_max_length: int = 512,
    length: int | None = None,
    truncation_side: str = "right",
) -> PreTrainedTokenizerFast:
    """
    Trains a WordLevel tokenizer on `texts` and returns it as a `PreTrainedTokenizerFast`.

    Args:
        texts: any iterable of strings (a generator or a `datasets` column is streamed, never held in a list).
        vocab_size: the largest vocabulary, special tokens included (`[PAD]` = 0, `[UNK]` = 1).
        min_frequency: words seen fewer times than this become `[UNK]`.
        lowercase: fold case before splitting.
        model_max_length: texts are cut to this many tokens when called with `truncation=True`.
        length: number of texts, if known, for the progress bar only.
        truncation_side: which end of a long text is cut: "right" keeps its beginning, "left" keeps its end.

    Words and punctuation are split apart (`"great!"` → `great`, `!`); `<br />` tags are removed.
    """
    if isinstance(texts, str):
        raise TypeError("train_tokenizer takes an iterable of texts, not one string; wrap it in a list: [text].")
    if vocab_size < 3:
        raise ValueError(f"vocab_size must be at least 3 ([PAD], [UNK] and one word), but it was {vocab_size}.")
    if model_max_length < 1:
        raise ValueError(f"model_max_length must be positive, but it was {model_max_length}.")
    if truncation_side not in TRUNCATION_SIDES:
        raise ValueError(f"truncation_side must be 'right' or 'left', but it was {truncation_side!r}.")

    tokenizer = Tokenizer(WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = build_normalizer(lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+ | [^\w\s]+ : words and punctuation apart
    trainer = WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=False
    )

    def checked(stream):
        for i, text in enumerate(stream):
            if not isinstance(text, str):
                raise TypeError(
                    f"train_tokenizer: text #{i} is {type(text).__name__}, not str; drop or fill missing texts first."
                )
            yield text

    tokenizer.train_from_iterator(checked(texts), trainer=trainer, length=length)
    if tokenizer.get_vocab_size() <= 2:
        raise ValueError("train_tokenizer: no words were found in the texts; the training corpus is empty.")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",
        truncation_side=truncation_side,
        # Token types are passed on only so that the model can refuse a text pair (type 1), which it would
        # otherwise read as one text; single texts are all type 0.
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


# A word of this tokenizer is at least one character, and English words average about six with their space; 32
# characters per token keeps every token that truncation keeps for any ordinary text (a margin of ~5x) while bounding
# what the tokenizer is handed, so memory is set by the batch and `model_max_length`, not by the input.
CHARACTERS_PER_TOKEN = 32
CHARACTER_MARGIN = 1024


def character_bound(model_max_length) -> int | None:
    """The number of characters a text is cut to before tokenizing (None: the tokenizer sets no length)."""
    if not isinstance(model_max_length, int) or model_max_length <= 0 or model_max_length > 10**7:
        return None
    return model_max_length * CHARACTERS_PER_TOKEN + CHARACTER_MARGIN


def cut_text(text: str, model_max_length, truncation_side: str = "right") -> str:
    """
    `text` cut to `character_bound(model_max_length)` characters (unchanged when shorter), from the same end that
    the tokenizer's truncation cuts: "right" keeps the beginning, "left" keeps the end.
    """
    bound = character_bound(model_max_length)
    if bound is None or len(text) <= bound:
        return text
    return text[-bound:] if truncation_side == "left" else text[:bound]

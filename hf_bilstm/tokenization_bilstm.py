"""A word-level tokenizer trained with `tokenizers` and shipped as a transformers fast tokenizer."""

import json
import os
import tempfile
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
TRUNCATION_SIDES = ("right", "left")
UNK_TOKEN = "[UNK]"
# Words and punctuation apart, as `pre_tokenizers.Whitespace` splits (`\w+|[^\w\s]+`), written as a `Split` regex:
# transformers.js reads Whitespace with ASCII-only `\w` ("clichés" → two unknown words) but rewrites a Split regex's
# `\w` to Unicode word characters. The joiners U+200C/U+200D are word characters to the Rust regex engine and not
# to JavaScript's `\w`, so they are named. Same ids as Whitespace on IMDB's 100,000 texts (measured).
PRE_TOKENIZER_PATTERN = r"[\w\u200c\u200d]+|[^\w\s\u200c\u200d]+"
# The class named in tokenizer_config.json: transformers 5 saves "TokenizersBackend", which 4.x (and Optimum, which
# pins 4.x) cannot load; every version loads this one.
TOKENIZER_CLASS = "PreTrainedTokenizerFast"


def build_normalizer(lowercase: bool = True) -> normalizers.Normalizer:
    """IMDB reviews carry HTML line breaks (`<br />`); they are spaces, not words."""
    steps = [normalizers.Replace(Regex(r"<\s*br\s*/?\s*>"), " "), normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def build_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Words and punctuation apart (`"great!"` → `great`, `!`), read alike by `tokenizers` and transformers.js."""
    return pre_tokenizers.Split(Regex(PRE_TOKENIZER_PATTERN), behavior="removed", invert=True)


def save_tokenizer(tokenizer, folder: str) -> None:
    """`tokenizer.save_pretrained(folder)`, with tokenizer_config.json naming a class every transformers version
    (4.x, Optimum, transformers.js) loads (`TOKENIZER_CLASS`)."""
    tokenizer.save_pretrained(folder)
    set_tokenizer_class(folder)


def set_tokenizer_class(folder: str) -> None:
    path = os.path.join(folder, "tokenizer_config.json")
    with open(path, encoding="utf-8") as handle:
        settings = json.load(handle)
    settings["tokenizer_class"] = TOKENIZER_CLASS
    write_json_atomically(path, settings)


def write_json_atomically(path: str, value) -> None:
    """Writes `value` to `path` through a temporary file in the same folder, so a reader sees the old or new file."""
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _check_training_arguments(texts, vocab_size: int, model_max_length: int, truncation_side: str) -> None:
    """train_tokenizer's arguments, refused before any text is read."""
    if isinstance(texts, str):
        raise TypeError("train_tokenizer takes an iterable of texts, not one string; wrap it in a list: [text].")
    if vocab_size < 3:
        raise ValueError(f"vocab_size must be at least 3 ([PAD], [UNK] and one word), but it was {vocab_size}.")
    if model_max_length < 1:
        raise ValueError(f"model_max_length must be positive, but it was {model_max_length}.")
    if truncation_side not in TRUNCATION_SIDES:
        raise ValueError(f"truncation_side must be 'right' or 'left', but it was {truncation_side!r}.")


def _checked_texts(stream: Iterable):
    """The texts of `stream` as they are read, refusing the first one that is not a string (a missing text)."""
    for i, text in enumerate(stream):
        if not isinstance(text, str):
            raise TypeError(
                f"train_tokenizer: text #{i} is {type(text).__name__}, not str; drop or fill missing texts first."
            )
        yield text


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
    _check_training_arguments(texts, vocab_size, model_max_length, truncation_side)
    tokenizer = Tokenizer(WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = build_normalizer(lowercase)
    tokenizer.pre_tokenizer = build_pre_tokenizer()
    trainer = WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=False
    )
    tokenizer.train_from_iterator(_checked_texts(texts), trainer=trainer, length=length)
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
# A cut can change only the last few words of what it keeps (a word cut in two, a `<br />` cut open, punctuation
# next to it): a cut text must hold this many words beyond `model_max_length` for its first tokens to be the text's.
CUT_SAFETY_WORDS = 8
CUT_GROWTH = 4


def character_bound(model_max_length) -> int | None:
    """The number of characters a text is cut to before tokenizing (None: the tokenizer sets no length)."""
    if not isinstance(model_max_length, int) or model_max_length <= 0 or model_max_length > 10**7:
        return None
    return model_max_length * CHARACTERS_PER_TOKEN + CHARACTER_MARGIN


def _count_words(backend, text: str) -> int:
    """Words of `text` as the tokenizer splits them (normalizer, then pre-tokenizer): a WordLevel tokenizer gives one
    token per word, any other at least one. Reads no truncation setting, so it is safe from any thread."""
    if backend.normalizer is not None:
        text = backend.normalizer.normalize_str(text)
    if backend.pre_tokenizer is None:
        return len(text.split())
    return len(backend.pre_tokenizer.pre_tokenize_str(text))


def cut_for_tokenizer(text: str, tokenizer) -> str:
    """
    The shortest prefix of `text` (suffix, for a tokenizer that truncates on the left) of at least `character_bound`
    characters that the tokenizer reads as the same kept `model_max_length` tokens as the whole text, so that
    `tokenizer(cut, truncation=True)` equals `tokenizer(text, truncation=True)` while the tokenizer is handed a
    bounded string.

    Ordinary text is cut at `character_bound` characters. A text whose start holds few words for its length (long runs
    of spaces or `<br />` tags, unspaced CJK) is cut later: the cut grows by 4x until it holds `model_max_length` +
    8 words, so the answer never changes, and memory grows only with how far the first tokens reach.
    """
    limit = getattr(tokenizer, "model_max_length", None)
    size = character_bound(limit)
    if size is None or len(text) <= size:
        return text
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow tokenizer: no way to count its words cheaply, so nothing is cut
        return text
    keep_end = getattr(tokenizer, "truncation_side", "right") == "left"
    while size < len(text):
        # A word split by the cut lies at the dropped end of what truncation keeps, so it changes no kept token.
        part = text[-size:] if keep_end else text[:size]
        if _count_words(backend, part) >= limit + CUT_SAFETY_WORDS:
            return part
        size *= CUT_GROWTH
    return text

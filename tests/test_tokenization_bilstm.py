import pytest
from helpers import TEXTS, tiny_tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from hf_bilstm import train_tokenizer


def test_special_tokens_and_input_names():
    tokenizer = tiny_tokenizer()
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer.pad_token == "[PAD]" and tokenizer.pad_token_id == 0
    assert tokenizer.unk_token == "[UNK]" and tokenizer.unk_token_id == 1
    encoded = tokenizer("great movie")
    # token types reach forward only so that it can refuse a text pair; a single text is all type 0
    assert set(encoded) == {"input_ids", "token_type_ids", "attention_mask"} and set(encoded["token_type_ids"]) == {0}


def test_words_and_punctuation_are_split_and_br_tags_removed():
    tokenizer = tiny_tokenizer()
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("A GREAT movie!<br /><br/>Loved it.")["input_ids"])
    assert tokens == ["a", "great", "movie", "!", "loved", "it", "."]
    assert "br" not in tokenizer.get_vocab() and "<" not in tokenizer.get_vocab()


def test_lowercase_is_optional():
    tokenizer = train_tokenizer(["Great GREAT great"], vocab_size=10, min_frequency=1, lowercase=False)
    assert {"Great", "GREAT", "great"} <= set(tokenizer.get_vocab())


def test_unknown_words_become_unk():
    tokenizer = tiny_tokenizer()
    ids = tokenizer("great zzyzx qwertyuiop")["input_ids"]
    assert ids[1:] == [tokenizer.unk_token_id] * 2 and ids[0] != tokenizer.unk_token_id


def test_vocab_size_and_min_frequency_are_honoured():
    tokenizer = train_tokenizer(TEXTS, vocab_size=12, min_frequency=1)
    assert len(tokenizer) == 12
    rare = train_tokenizer(["common common rare"], vocab_size=50, min_frequency=2)
    assert "common" in rare.get_vocab() and "rare" not in rare.get_vocab()


def test_truncation_at_model_max_length():
    tokenizer = tiny_tokenizer(model_max_length=5)
    long_text = " ".join(["great"] * 50)
    assert len(tokenizer(long_text, truncation=True)["input_ids"]) == 5
    batch = tokenizer([long_text, "great"], truncation=True, padding=True)
    assert [len(ids) for ids in batch["input_ids"]] == [5, 5] and batch["attention_mask"][1] == [1, 0, 0, 0, 0]


def test_trains_from_a_generator_without_a_list():
    consumed = []

    def stream():
        for text in TEXTS:
            consumed.append(text)
            yield text

    tokenizer = train_tokenizer(stream(), vocab_size=100, min_frequency=1)
    assert len(consumed) == len(TEXTS) and "great" in tokenizer.get_vocab()


def test_save_load_identity(tmp_path):
    tokenizer = tiny_tokenizer(model_max_length=32)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, PreTrainedTokenizerFast)
    assert loaded.get_vocab() == tokenizer.get_vocab() and loaded.model_max_length == 32
    texts = TEXTS[:6] + ["unseen words <br /> here!", ""]
    assert loaded(texts, padding=True)["input_ids"] == tokenizer(texts, padding=True)["input_ids"]
    assert loaded.model_input_names == ["input_ids", "token_type_ids", "attention_mask"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(texts="one string"), TypeError, "iterable of texts, not one string"),
        (dict(texts=["fine", None]), TypeError, r"text #1 is NoneType"),
        (dict(texts=["ok"], vocab_size=2), ValueError, "vocab_size must be at least 3"),
        (dict(texts=[], vocab_size=10), ValueError, "corpus is empty"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        train_tokenizer(**kwargs)


def test_left_truncation_keeps_the_end_and_survives_saving(tmp_path):
    tokenizer = train_tokenizer(TEXTS, vocab_size=100, min_frequency=1, model_max_length=3, truncation_side="left")
    ids = tokenizer("a great movie loved it", truncation=True)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["movie", "loved", "it"]
    tokenizer.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).truncation_side == "left"
    with pytest.raises(ValueError, match="truncation_side must be 'right' or 'left'"):
        train_tokenizer(TEXTS, vocab_size=100, truncation_side="middle")


def test_the_cut_before_tokenizing_keeps_the_tokens_left_truncation_keeps():
    from hf_bilstm.tokenization_bilstm import character_bound, cut_for_tokenizer

    tokenizer = train_tokenizer(TEXTS, vocab_size=100, min_frequency=1, model_max_length=4, truncation_side="left")
    for text in ["great " * 500 + "awful plot", "great" + " " * 5000 + "loved it", "movie " + "<br />" * 900 + "a b"]:
        cut = cut_for_tokenizer(text, tokenizer)
        assert tokenizer(cut, truncation=True)["input_ids"] == tokenizer(text, truncation=True)["input_ids"]
    long_text = "great " * 500 + "awful plot"
    cut = cut_for_tokenizer(long_text, tokenizer)
    assert len(cut) == character_bound(4) and cut.endswith("awful plot")

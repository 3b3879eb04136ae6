"""Tokenizer files every client reads alike (the Split pre-tokenizer, a tokenizer class transformers 4.x knows) and
`hf-bilstm upgrade`, which rewrites a folder of an older hf_bilstm only when the ids stay the same."""

import json
import os

from helpers import TEXTS, save_tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import pre_tokenizers

from hf_bilstm.commands import upgrade
from hf_bilstm.tokenization_bilstm import TOKENIZER_CLASS, build_pre_tokenizer, save_tokenizer

WHITESPACE = pre_tokenizers.Whitespace()
SPLIT = build_pre_tokenizer()
# Characters where word and non-word classes differ between regex engines: accents, joiners, marks, digits in other
# scripts, superscripts, fractions, underscores, CJK, emoji.
TRICKY = "aé_1²½٣\u200c\u200d\u0301\u093f\u0e33ß日本👍🏽 \t\n\u00a0\u3000.,!?'-<>/"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=TRICKY, max_size=40)))
def test_split_pre_tokenizer_splits_as_whitespace_did(text):
    assert SPLIT.pre_tokenize_str(text) == WHITESPACE.pre_tokenize_str(text)


def test_new_folders_name_a_tokenizer_class_that_every_version_loads(tmp_path):
    _, tokenizer = save_tiny_model(tmp_path)
    save_tokenizer(tokenizer, tmp_path)
    settings_ = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert settings_["tokenizer_class"] == TOKENIZER_CLASS == "PreTrainedTokenizerFast"
    assert json.loads((tmp_path / "tokenizer.json").read_text())["pre_tokenizer"]["type"] == "Split"
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(tmp_path, trust_remote_code=False)
    assert reloaded(TEXTS)["input_ids"] == tokenizer(TEXTS)["input_ids"]


def old_folder(folder):
    """A folder as hf_bilstm wrote it before: Whitespace pre-tokenizer, tokenizer class TokenizersBackend."""
    _, tokenizer = save_tiny_model(folder)
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save_pretrained(folder)
    settings_ = json.loads((folder / "tokenizer_config.json").read_text())
    assert settings_["tokenizer_class"] == "TokenizersBackend"
    return tokenizer


def file_bytes(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder)) if (folder / name).is_file()}


def test_upgrade_rewrites_an_old_folder_with_the_same_ids_and_then_has_nothing_to_do(tmp_path, capsys):
    old = old_folder(tmp_path)
    texts = TEXTS + ["Clichés, naïveté — 日本語, कि\u200dर्ण 👍", ""]
    before = old(texts)["input_ids"]
    assert upgrade.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "tokenizer.json" in out and "tokenizer_config.json" in out
    from transformers import AutoTokenizer

    new = AutoTokenizer.from_pretrained(tmp_path, trust_remote_code=False)
    assert new(texts)["input_ids"] == before
    assert new.backend_tokenizer.to_str().count('"Split"') == 1
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == TOKENIZER_CLASS
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no temporary files left
    snapshot = file_bytes(tmp_path)
    assert upgrade.main([str(tmp_path)]) == 0
    assert "already current" in capsys.readouterr().out
    assert file_bytes(tmp_path) == snapshot


def test_upgrade_writes_nothing_when_an_id_would_change(tmp_path, capsys, monkeypatch):
    old_folder(tmp_path)
    snapshot = file_bytes(tmp_path)
    # A pre-tokenizer that splits otherwise (punctuation dropped): the check must catch it.
    from tokenizers import Regex

    monkeypatch.setattr(
        upgrade, "build_pre_tokenizer", lambda: pre_tokenizers.Split(Regex(r"\w+"), behavior="removed", invert=True)
    )
    assert upgrade.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "other ids" in err and "nothing was written" in err
    assert file_bytes(tmp_path) == snapshot


def test_upgrade_checks_the_users_texts_and_refuses_what_it_did_not_write(tmp_path, capsys):
    old_folder(tmp_path)
    texts = tmp_path / "texts.txt"
    texts.write_text("A great movie!\nClichés\n", encoding="utf-8")
    assert upgrade.main([str(tmp_path), "--texts_file", str(texts)]) == 0
    capsys.readouterr()
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    data["pre_tokenizer"] = {"type": "WhitespaceSplit"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    assert upgrade.main([str(tmp_path)]) == 2
    assert "was not made by hf-bilstm train" in capsys.readouterr().err
    assert upgrade.main([str(tmp_path / "missing")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_upgrade_never_calls_a_damaged_config_current(tmp_path, capsys):
    # Hostile re-run (H34): a truncated or non-UTF-8 config.json got "already current; nothing changed", exit 0.
    save_tiny_model(tmp_path)
    for content, problem in ((b'{"model_type": ', "is not valid JSON"), (b'{"a": "\xe9"}', "is not UTF-8 text")):
        (tmp_path / "config.json").write_bytes(content)
        assert upgrade.main([str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"'{tmp_path / 'config.json'}' {problem}" in err and "already current" not in err, err

"""`hf-bilstm upgrade FOLDER`: rewrites a model folder written by an older hf_bilstm so that every client reads it
the same way — transformers 4.x and Optimum (tokenizer class, the configuration code that keeps `pad_token_id`),
transformers.js (the `Split` pre-tokenizer, the `hf_bilstm.js` module beside an ONNX export).

Nothing is written unless the new tokenizer gives the old one's ids on every check text (each word of the
vocabulary, texts in many scripts, and the lines of `--texts_file` if given); each file is replaced atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import json
import os
import sys

from tokenizers import Tokenizer

from ..errors import UsageError
from ..flag_parser import FlagParser, option, positional
from ..folder import write_atomically
from ..json_files import read_json
from ..logs import get_logger
from ..tokenization_bilstm import (
    PRE_TOKENIZER_PATTERN,
    TOKENIZER_CLASS,
    build_pre_tokenizer,
    write_json_atomically,
)
from . import command_main

logger = get_logger(__name__)

CODE_FILES = ("configuration_bilstm.py", "modeling_bilstm.py")
# Words, punctuation, accents, joiners, digits, underscores, scripts without spaces, emoji, HTML breaks, odd spaces.
CHECK_TEXTS = [
    "A great movie!<br />I loved it... 10/10, would watch again :-)",
    "Clichés, naïveté and the café's crème brûlée — «très» ‘déjà vu’.",
    "Straße, ÆØÅ, İstanbul, ΣΊΣΥΦΟΣ, Ελληνικά, русский текст, українська.",
    "日本語のテキスト、中文文本。한국어 텍스트! ภาษาไทย हिन्दी पाठ العربية עברית",
    "zero\u200bwidth joiner\u200dtext non\u200cjoiner कि\u200dर्ण 👍🏽 👨\u200d👩\u200d👧 ☺️",
    "snake_case __init__ x2 1,000,000 3.14 ½ ² ³ ⁴ ① Ⅻ ٣ ๓ ０１２",
    "tabs\tand\nnew\r\nlines\u00a0nbsp\u2009thin\u3000ideographic  double  spaces",
    "<br/><BR /> < br / > ---- !!! ??? ... '' \"\" ``",
    "ﬁ ligature ﬀ Ⓐ ㎏ ™ ℃ ﹏ ＡＢＣ ｶﾀｶﾅ",
    "",
]


@dataclasses.dataclass
class UpgradeArguments:
    """The arguments of `hf-bilstm upgrade`."""

    model: str = positional("model folder written by an older hf-bilstm")
    texts_file: str | None = option(None, "also check the ids on these texts (UTF-8, one per line)")


def make_parser() -> FlagParser:
    return FlagParser(
        UpgradeArguments,
        prog="hf-bilstm upgrade",
        description=(
            "Rewrite an older model folder so that transformers 4.x, Optimum and transformers.js read it as "
            "transformers 5 does; checks that the tokenizer's ids do not change, writes each file atomically."
        ),
        formatter_class=argparse.HelpFormatter,
    )


def check_texts(tokenizer: Tokenizer, texts_file: str | None) -> list[str]:
    """The vocabulary's words (200 a text), `CHECK_TEXTS`, and the lines of `texts_file`."""
    words = [word for word, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    texts = [" ".join(words[start : start + 200]) for start in range(0, len(words), 200)] + CHECK_TEXTS
    if texts_file:
        try:
            with open(texts_file, encoding="utf-8") as handle:
                texts += handle.read().split("\n")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"--texts_file {texts_file!r} cannot be read as UTF-8 text ({error}).") from error
    return texts


def differing_text(old: Tokenizer, new: Tokenizer, texts: list[str]) -> str | None:
    """The first text whose ids differ between the two tokenizers (no truncation, no padding), else None."""
    for tokenizer in (old, new):
        tokenizer.no_truncation()
        tokenizer.no_padding()
    for start in range(0, len(texts), 256):
        batch = texts[start : start + 256]
        for text, a, b in zip(batch, old.encode_batch(batch), new.encode_batch(batch)):
            if a.ids != b.ids:
                return text
    return None


def upgraded_tokenizer_json(folder: str, texts_file: str | None) -> dict | None:
    """tokenizer.json with the `Split` pre-tokenizer in place of `Whitespace`, checked; None if nothing changes."""
    path = os.path.join(folder, "tokenizer.json")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        old = Tokenizer.from_file(path)
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception for a file it cannot read
        raise UsageError(f"{path!r} is not a tokenizers file ({error}); save the tokenizer again.") from None
    pre = data.get("pre_tokenizer") or {}
    if pre.get("type") == "Split" and (pre.get("pattern") or {}).get("Regex") == PRE_TOKENIZER_PATTERN:
        return None
    if pre.get("type") != "Whitespace":
        raise UsageError(
            f"{path!r} splits words with a {pre.get('type')!r} pre-tokenizer, not the Whitespace one hf_bilstm wrote; "
            "it was not made by hf-bilstm train, so it is left as it is."
        )
    data["pre_tokenizer"] = split_pre_tokenizer_json()
    new = Tokenizer.from_str(json.dumps(data))
    text = differing_text(old, new, check_texts(old, texts_file))
    if text is not None:
        raise UsageError(
            f"the upgraded tokenizer of {folder!r} gives other ids than the old one for {text[:80]!r}; nothing was "
            "written. Please report this text; the folder still works with transformers 5 as it is."
        )
    return data


def split_pre_tokenizer_json() -> dict:
    """The JSON of `build_pre_tokenizer()`, as tokenizer.json holds it."""
    from tokenizers.models import WordLevel

    tokenizer = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = build_pre_tokenizer()
    return json.loads(tokenizer.to_str())["pre_tokenizer"]


def bound_export_report(folder: str) -> dict | None:
    """The onnx/ export report when it vouches for the folder as it is now (hf_bilstm.onnx.runtime's hashes), else
    None: an older report, or one that no longer matches, is not made to vouch by an upgrade."""
    from ..onnx.runtime import FP32_FILE, INT8_FILE, ONNX_DIR, REPORT_FILE, check_export_is_current, read_report

    path = os.path.join(folder, ONNX_DIR, REPORT_FILE)
    if not os.path.isfile(path):
        return None
    present = [name for name in (FP32_FILE, INT8_FILE) if os.path.isfile(os.path.join(folder, ONNX_DIR, name))]
    try:
        report = read_report(folder, path)
        check_export_is_current(folder, report, present)
    except UsageError as error:
        logger.warning(f"hf-bilstm upgrade: {error}")  # says how to export again
        return None
    return report


def rebind_export_report(folder: str, report: dict | None) -> list[str]:
    """After the tokenizer files were rewritten (same ids), a report that vouched for them records their new sha256."""
    from ..onnx.runtime import BOUND_TOKENIZER_FILES, ONNX_DIR, REPORT_FILE, file_sha256

    if report is None:
        return []
    new = {
        name: file_sha256(os.path.join(folder, name))
        for name in report["tokenizer_sha256"]
        if name in BOUND_TOKENIZER_FILES
    }
    if new == report["tokenizer_sha256"]:
        return []
    write_json_atomically(os.path.join(folder, ONNX_DIR, REPORT_FILE), dict(report, tokenizer_sha256=new))
    return [f"{ONNX_DIR}/{REPORT_FILE}: the rewritten tokenizer files' sha256 (they give the same ids)"]


def run_upgrade(folder: str, texts_file: str | None = None) -> list[str]:
    """Upgrades `folder` in place; returns what changed (empty when it was already current)."""
    from .. import configuration_bilstm

    if not os.path.isdir(folder) or not os.path.isfile(os.path.join(folder, "config.json")):
        raise UsageError(f"{folder!r} is not a model folder (no config.json); give one written by hf-bilstm train.")
    # Read, though not rewritten: a damaged config.json would otherwise be called "already current".
    read_json(os.path.join(folder, "config.json"), fix="save the model again with model.save_pretrained(folder)")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if not os.path.isfile(os.path.join(folder, name)):
            raise UsageError(f"{folder!r} has no {name}; save the tokenizer there first, then upgrade.")
    changes = []
    tokenizer_json = upgraded_tokenizer_json(folder, texts_file)  # every check before the first write
    report = bound_export_report(folder)  # read before the tokenizer files change under it
    config_path = os.path.join(folder, "tokenizer_config.json")
    settings = read_json(config_path, fix="save the tokenizer again")
    if tokenizer_json is not None:
        write_json_atomically(os.path.join(folder, "tokenizer.json"), tokenizer_json)
        changes.append("tokenizer.json: Split pre-tokenizer (transformers.js reads it as Python does; same ids)")
    if settings.get("tokenizer_class") != TOKENIZER_CLASS:
        old_class = settings.get("tokenizer_class")
        settings["tokenizer_class"] = TOKENIZER_CLASS
        write_json_atomically(config_path, settings)
        changes.append(f"tokenizer_config.json: tokenizer_class {old_class!r} -> {TOKENIZER_CLASS!r} (loads on 4.x)")
    package = os.path.dirname(configuration_bilstm.__file__)
    for name in CODE_FILES:
        target = os.path.join(folder, name)
        if os.path.isfile(target) and not filecmp.cmp(os.path.join(package, name), target, shallow=False):
            with open(os.path.join(package, name), "rb") as handle:
                write_atomically(target, handle.read())
            changes.append(f"{name}: this hf_bilstm's code (trust_remote_code on transformers 4.x keeps pad_token_id)")
    changes += rebind_export_report(folder, report)
    if os.path.isfile(os.path.join(folder, "onnx", "model.onnx")):
        from ..onnx.javascript import write_js_module

        for name in write_js_module(folder):
            changes.append(f"{name}: this hf_bilstm's JavaScript module for onnx/")
    return changes


def run(argv: list[str]) -> int:
    args = make_parser().parse_command(argv)
    changes = run_upgrade(os.path.expanduser(args.model), args.texts_file)
    if not changes:
        print(f"hf-bilstm upgrade: {args.model} is already current; nothing changed.")
    for change in changes:
        print(f"hf-bilstm upgrade: {args.model}/{change}")
    return 0


main = command_main("upgrade")


if __name__ == "__main__":
    sys.exit(main())

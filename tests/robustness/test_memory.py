"""Memory is bounded by the batch, not by the input: a text is cut before it reaches the tokenizer, at a character
bound derived from `model_max_length`, and the cut never changes the tokens that truncation keeps
(docs/robustness.md, "Text").
"""

import json
import os
import subprocess
import sys

import pytest
from datasets import Dataset
from helpers import TEXTS, copy_folder, run_predict, tiny_tokenizer, write_toy_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_bilstm import train_tokenizer
from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.data import encode
from hf_bilstm.tokenization_bilstm import character_bound, cut_for_tokenizer

# --- the cut keeps every token that truncation keeps -----------------------------------------------------------------

# model_max_length 4: a bound of 4 * 32 + 1024 = 1152 characters, so a few kB of text cross it.
SHORT = train_tokenizer(TEXTS, vocab_size=100, min_frequency=1, model_max_length=4)
BOUND = character_bound(4)

PIECES = [
    "great ",
    "bad film. ",
    "wonderful",
    " ",
    " " * 300,  # long runs of spaces: no tokens for many characters
    "\n\t ",
    "<br />",  # removed by the normalizer: no tokens at all
    "<br /><br />",
    "!",
    "?!<",
    "映画が好きです",  # unspaced CJK: one word for many characters
    "x" * 200,  # one long word
    "ﬁlm ",  # NFKC folds the ligature
    "e\u0301",  # a combining accent, composed by NFKC
]


def same_tokens(tokenizer, text):
    cut = cut_for_tokenizer(text, tokenizer)
    assert text.startswith(cut)
    assert tokenizer(cut, truncation=True)["input_ids"] == tokenizer(text, truncation=True)["input_ids"]
    return cut


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.tuples(st.sampled_from(PIECES), st.integers(1, 40)), min_size=1, max_size=12))
def test_the_cut_keeps_every_token_that_truncation_keeps(pieces):
    same_tokens(SHORT, "".join(piece * count for piece, count in pieces))


@pytest.mark.parametrize(
    "text, cut_at_the_bound",
    [
        pytest.param("a great movie and a great story " * 2000, True, id="ordinary text: cut at the bound"),
        # The first tokens lie past the bound: the text is cut later.
        pytest.param("great " + " " * 5000 + "bad film " * 200, False, id="a long run of spaces"),
        pytest.param("<br />" * 1000 + "bad film " * 200, False, id="many line breaks"),
        pytest.param("映画が好きです" * 500 + " bad film" * 100, False, id="unspaced CJK"),
        pytest.param("x" * (BOUND - 1) + " wonderful" * 100, False, id="a word cut in two at the bound"),
        pytest.param("great!<br />loved " * 300, True, id="a tag cut open at the bound"),
        pytest.param(" " * 50000, False, id="no token anywhere: kept whole"),
    ],
)
def test_a_text_is_cut_only_where_its_first_tokens_are_kept(text, cut_at_the_bound):
    cut = same_tokens(SHORT, text)
    assert (len(cut) == BOUND) if cut_at_the_bound else (len(cut) > BOUND or cut == text)


def test_evaluate_and_train_encode_the_cut_text_like_the_whole_text():
    texts = ["great " + " " * 5000 + "bad film " * 200, "a fine film " * 1000, "<br />" * 1000 + "bad"]
    encoded = encode(Dataset.from_dict({"text": texts, "label": [0, 1, 0]}), SHORT, "text", "label")
    assert encoded["input_ids"] == [SHORT(text, truncation=True)["input_ids"] for text in texts]


# --- peak memory of hf-bilstm predict --------------------------------------------------------------------------------

HUGE_MB = 40


def start_predict(model_dir, path, tmp_path):
    """Starts `hf-bilstm predict MODEL --file PATH` in a child process, its output going to files."""
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    out, err = open(f"{path}.out", "w+"), open(f"{path}.err", "w+")
    command = [sys.executable, "-m", "hf_bilstm.cli", "predict", str(model_dir), "--file", str(path)]
    child = subprocess.Popen([*command, "--device", "cpu"], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    return child, out, err


def finished(child, out, err):
    """(exit code, stdout, stderr, peak RSS in MB) of a child started by start_predict."""
    # os.wait4 gives this child's own rusage (RUSAGE_CHILDREN would give the largest child this process ever had).
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0), err.seek(0)
    return child.returncode, out.read(), err.read(), usage.ru_maxrss / 1024  # ru_maxrss is in kB on Linux


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_a_huge_line_is_answered_within_bounded_memory(model_dir, tmp_path):
    huge = ("a great movie and a great story, " * (HUGE_MB * 2**20 // 33 + 1))[: HUGE_MB * 2**20]
    cut = cut_for_tokenizer(huge, tiny_tokenizer())
    assert len(cut) == character_bound(64)
    big, small = tmp_path / "huge.txt", tmp_path / "cut.txt"
    big.write_text(huge + "\nbad film\n", encoding="utf-8")
    small.write_text(cut + "\nbad film\n", encoding="utf-8")
    del huge
    children = [start_predict(model_dir, path, tmp_path) for path in (big, small)]  # at once: 2 cores
    (code, answers, err, peak), (small_code, small_answers, _, small_peak) = [finished(*c) for c in children]
    assert code == 0 and small_code == 0, err[-3000:]
    assert answers == small_answers and len(answers.splitlines()) == 2  # the answer of the cut text
    assert answers.splitlines()[0] == run_predict([str(model_dir), cut])[1][0]
    # Reading the file costs a few bytes per input byte (bytes, text, lines); tokenizing the whole line would cost
    # ~140 bytes per byte (6.9 GB for 50 MB before the cut).
    extra = peak - small_peak
    assert extra < 6 * HUGE_MB + 100, f"peak RSS {peak:.0f} MB: {extra:.0f} MB above the cut text's {small_peak:.0f}"


# --- limits that would not bound memory ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, shown",
    [("absent", "absent (no limit)"), (10**30, "absent (no limit)"), (-5, "-5"), (0, "0"), ("64", "'64'")],
)
def test_a_tokenizer_without_a_length_limit_is_refused(copy, tmp_path, capsys, value, shown):
    """The cut is derived from model_max_length: without one (transformers then reads 1e30), nothing bounds the
    tokens of a huge line, so predict and evaluate refuse the folder; a negative or text value is a one-line error
    too, not a Rust OverflowError or a TypeError."""
    path = copy / "tokenizer_config.json"
    settings = json.loads(path.read_text())
    settings.pop("model_max_length")
    if value != "absent":
        settings["model_max_length"] = value
    path.write_text(json.dumps(settings))
    assert run_predict([str(copy), "a great film"]) == (2, [])
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"its tokenizer's model_max_length is {shown}" in err
    assert '"model_max_length" in its tokenizer_config.json' in err
    dataset = write_toy_dataset(tmp_path / "data", n_train=10, n_test=10)
    assert evaluate_cmd.main([str(copy), "--dataset", dataset, "--device", "cpu"]) == 2
    assert f"model_max_length is {shown}" in capsys.readouterr().err


OVERSIZED = {
    "vocab_size": (10**12, "has bilstm.embeddings.weight of shape (42, 16), not (1000000000000, 16)"),
    "hidden_size": (10**6, "not (4000000,)"),
    "embedding_dim": (10**9, "not (42, 1000000000)"),
    "num_labels": (10**9, "num_labels must be at most 100,000"),
}

# One child under an address-space limit far below those sizes runs `predict` on each folder in turn, its stderr cut
# into one part per folder (one process start for the four folders).
OVERSIZED_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, resource.RLIM_INFINITY))
from hf_bilstm.commands import predict
for folder in sys.argv[1:]:
    print("=== " + folder, file=sys.stderr, flush=True)
    code = predict.main([folder, "a film", "--device", "cpu"])
    sys.stderr.flush()
    print("RESULT " + json.dumps({"folder": folder, "code": code}), flush=True)
"""


@pytest.fixture(scope="module")
def oversized(model_dir, tmp_path_factory):
    """{field: (exit code, stderr)} of `predict` on a copy of the tiny folder whose config.json asks for terabytes."""
    root = tmp_path_factory.mktemp("oversized")
    folders = {}
    for field, (value, _) in OVERSIZED.items():
        folder = copy_folder(model_dir, root, field)
        config = json.loads((folder / "config.json").read_text())
        config[field] = value
        if field == "num_labels":
            config.pop("id2label"), config.pop("label2id")
        (folder / "config.json").write_text(json.dumps(config))
        folders[str(folder)] = field
    result = subprocess.run(
        [sys.executable, "-c", OVERSIZED_CHILD, *folders],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    codes = {}
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT ") :])
            codes[folders[record["folder"]]] = record["code"]
    parts = {}
    for part in result.stderr.split("=== ")[1:]:
        folder, _, text = part.partition("\n")
        parts[folders[folder]] = text
    return {field: (codes.get(field), parts.get(field, "")) for field in OVERSIZED}


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
@pytest.mark.parametrize("field", list(OVERSIZED))
def test_config_sizes_are_checked_before_anything_is_allocated(oversized, field):
    """A config.json asking for terabytes is refused against the weights' headers (a model built on the meta device)
    before from_pretrained would allocate it; the test runs under an address-space limit far below those sizes."""
    code, stderr = oversized[field]
    assert code == 2, stderr[-2000:]
    assert "Traceback" not in stderr and OVERSIZED[field][1] in stderr

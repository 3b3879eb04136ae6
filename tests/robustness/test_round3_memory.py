"""The character cut before tokenizing follows the smaller of the model's and the tokenizer's length limits (issue 33,
round 3): a tokenizer_config.json saying model_max_length 10,000,000 next to a model trained on 64 tokens must not
hand the tokenizer (and the RNN) a whole 10 MB line (docs/robustness.md, "Text")."""

import io
import json

import pytest
import saved_at_3c0128e
from helpers import QUIET, TINY, tiny_classifier, tiny_tokenizer, write_toy_dataset

from hf_bilstm import cli, inference
from hf_bilstm.commands import predict as predict_cmd
from hf_bilstm.tokenization_bilstm import character_bound, cut_for_tokenizer

START = "a great film, I loved the acting and the story " * 10
# ~1.9 MB, ~400,000 tokens: its end reads otherwise than its start, so reading all of it gives another answer
LINE = (START + "terrible boring film, awful acting, worst movie " * 40_000).strip()


def save(folder, model_limit, tokenizer_limit):
    tokenizer = tiny_tokenizer(model_max_length=64)
    tiny_classifier(tokenizer, max_position_embeddings=model_limit).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["model_max_length"] = tokenizer_limit
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    return str(folder)


@pytest.mark.parametrize(
    "model_limit, tokenizer_limit, expected",
    [(64, 10_000_000, 64), (64, 32, 32), (None, 48, 48), (16, 16, 16)],
)
def test_the_cut_follows_the_smaller_limit(tmp_path, model_limit, tokenizer_limit, expected):
    classifier = inference.load_classifier(save(tmp_path, model_limit, tokenizer_limit), device="cpu")
    assert classifier.tokenizer.model_max_length == expected
    cut = cut_for_tokenizer(LINE, classifier.tokenizer)
    assert len(cut) <= character_bound(expected) < 10_000
    ids = classifier.tokenizer(cut, truncation=True)["input_ids"]
    assert len(ids) == expected and ids == classifier.tokenizer(LINE, truncation=True)["input_ids"]


def test_a_huge_line_with_a_ten_million_token_tokenizer_gets_the_cut_texts_answer(tmp_path):
    folder = save(tmp_path / "model", 64, 10_000_000)
    line_file = tmp_path / "line.txt"
    line_file.write_text(LINE + "\n")
    answers = []
    for argv in (["--file", str(line_file)], [START.strip()]):
        out = io.StringIO()
        assert predict_cmd.main([folder, *argv, "--device", "cpu"], stdout=out) == 0
        answers.append(out.getvalue())
    assert answers[0] == answers[1] and len(answers[0].splitlines()) == 1


def test_train_records_the_length_it_trained_on_in_the_config(tmp_path):
    dataset = write_toy_dataset(tmp_path / "data", n_train=40, n_test=10)
    out = tmp_path / "out"
    argv = ["train", "--dataset", dataset, "--output_dir", str(out), *TINY, *QUIET, "--max_steps", "1"]
    assert cli.main([*argv, "--max_length", "24", "--save_strategy", "no", "--eval_strategy", "no"]) == 0
    assert json.loads((out / "config.json").read_text())["max_position_embeddings"] == 24
    settings = json.loads((out / "tokenizer_config.json").read_text())
    settings["model_max_length"] = 10_000_000
    (out / "tokenizer_config.json").write_text(json.dumps(settings))
    assert inference.load_classifier(str(out), device="cpu").tokenizer.model_max_length == 24


def test_a_folder_saved_before_max_position_embeddings_predicts_and_cuts_at_the_tokenizers_limit(tmp_path):
    # Folders saved at 3c0128e have no max_position_embeddings in config.json: they load and predict, and the cut
    # follows their tokenizer's limit alone (2,000 tokens here: more than any default a missing key could get).
    folder = tmp_path / "old"
    saved_at_3c0128e.build(folder, "classifier", model_max_length=2000)
    assert "max_position_embeddings" not in json.loads((folder / "config.json").read_text())
    classifier = inference.load_classifier(str(folder), device="cpu")
    assert classifier.model.config.max_position_embeddings is None
    assert classifier.tokenizer.model_max_length == 2000
    words = "a great film , i loved the acting and the story ! ".split()  # 12 tokens
    kept = " ".join(words * 170)  # 2,040 tokens: the first 2,000 are read
    line = kept + " terrible boring movie . the plot made no sense ." * 3000
    ids = classifier.tokenizer(cut_for_tokenizer(line, classifier.tokenizer), truncation=True)["input_ids"]
    assert len(ids) == 2000 and ids == classifier.tokenizer(kept, truncation=True)["input_ids"]
    answers = []
    for text in (line, kept, " ".join(words * 42)):  # the whole line, its kept start, a 504-token start
        out = io.StringIO()
        assert predict_cmd.main([str(folder), "--device", "cpu", "--", text], stdout=out) == 0
        answers.append(out.getvalue())
    assert answers[0] == answers[1] != answers[2], answers

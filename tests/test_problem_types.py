"""`hf-bilstm predict` and the pipeline for multi-label and regression models, and `predict --file` on tables with a
results file (ids kept, written atomically, never over an existing file without --overwrite)."""

import csv
import json

import numpy as np
import pytest
import torch
from helpers import TEXTS, run_predict, save_tiny_model

from hf_bilstm import inference
from hf_bilstm.problem_types import answers

EMOTIONS = {0: "joy", 1: "anger", 2: "fear"}


@pytest.fixture(scope="module")
def multi_label_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multi-label")
    save_tiny_model(folder, id2label=dict(EMOTIONS), problem_type="multi_label_classification")
    return str(folder)


@pytest.fixture(scope="module")
def regression_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression")
    save_tiny_model(folder, id2label={0: "score"}, problem_type="regression")
    return str(folder)


def logits_of(folder, texts):
    from hf_bilstm.inference import load_model

    model, tokenizer = load_model(folder, "cpu")
    with torch.no_grad():
        return model(**tokenizer(texts, return_tensors="pt", padding=True, truncation=True)).logits.numpy()


def test_answers_read_logits_by_problem_type():
    class Config:
        id2label = dict(EMOTIONS)
        num_labels = 3
        problem_type = "multi_label_classification"

    logits = np.array([[2.0, -1.0, 0.1], [-3.0, -2.0, -1.0]])
    assert answers(Config, logits) == [
        {"labels": ["joy", "fear"], "scores": [pytest.approx(1 / (1 + np.exp(-2))), pytest.approx(0.52497918)]},
        {"labels": [], "scores": []},  # nothing at or above 0.5: no label, not the least unlikely one
    ]
    assert answers(Config, logits, threshold=0.8)[0]["labels"] == ["joy"]
    Config.problem_type, Config.num_labels, Config.id2label = "regression", 1, {0: "score"}
    assert answers(Config, np.array([[-0.25], [3.5]])) == [{"score": -0.25}, {"score": 3.5}]  # raw, no sigmoid
    Config.problem_type = None  # a config without one: one output is a regression, as the model's loss reads it
    assert answers(Config, np.array([[-0.25]])) == [{"score": -0.25}]


def test_multi_label_predict_gives_every_label_above_the_threshold(multi_label_dir):
    texts = TEXTS[:3]
    probabilities = 1 / (1 + np.exp(-logits_of(multi_label_dir, texts)))
    code, lines = run_predict([multi_label_dir, *texts, "--threshold", "0.5"])
    assert code == 0 and len(lines) == 3
    for line, row in zip(lines, probabilities):
        labels, scores = line.split("\t")
        chosen = sorted((i for i in range(3) if row[i] >= 0.5), key=lambda i: -row[i])
        assert labels == ",".join(EMOTIONS[i] for i in chosen)
        assert [float(s) for s in scores.split(",") if s] == pytest.approx([row[i] for i in chosen], abs=1e-4)
    code, lines = run_predict([multi_label_dir, texts[0], "--json", "--threshold", "0.01"])
    record = json.loads(lines[0])
    assert sorted(record["labels"]) == sorted(EMOTIONS.values()) and len(record["scores"]) == 3


def test_regression_predict_gives_the_raw_score(regression_dir):
    texts = TEXTS[:2]
    expected = logits_of(regression_dir, texts)[:, 0]
    code, lines = run_predict([regression_dir, *texts])
    assert code == 0 and [float(line) for line in lines] == pytest.approx(expected, abs=1e-4)
    code, lines = run_predict([regression_dir, texts[0], "--json"])
    assert json.loads(lines[0]) == {"text": texts[0], "score": pytest.approx(float(expected[0]), abs=1e-6)}


def test_pipeline_reads_multi_label_and_regression_as_transformers_does(multi_label_dir, regression_dir):
    """`top_k=None` gives every label's sigmoid probability; `function_to_apply` overrides; regression is raw."""
    classifier = inference.load_classifier(multi_label_dir, "cpu")
    text = TEXTS[0]
    logits = logits_of(multi_label_dir, [text])[0]
    every = {row["label"]: row["score"] for row in classifier(text, top_k=None)}
    assert every == {EMOTIONS[i]: pytest.approx(1 / (1 + np.exp(-logits[i])), abs=1e-5) for i in range(3)}
    raw = {row["label"]: row["score"] for row in classifier(text, top_k=None, function_to_apply="none")}
    assert raw == {EMOTIONS[i]: pytest.approx(float(logits[i]), abs=1e-5) for i in range(3)}
    regression = inference.load_classifier(regression_dir, "cpu")
    score = float(logits_of(regression_dir, [text])[0, 0])
    assert regression(text)[0]["score"] == pytest.approx(score, abs=1e-5)
    assert inference.predict(regression, [text])[0]["score"] == pytest.approx(score, abs=1e-5)


def test_threshold_is_refused_where_it_means_nothing(regression_dir, multi_label_dir, capsys):
    assert run_predict([regression_dir, "a text", "--threshold", "0.3"])[0] == 2
    assert "--threshold applies to multi-label models" in capsys.readouterr().err
    assert run_predict([multi_label_dir, "a text", "--threshold", "1.5"])[0] == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_a_table_keeps_its_ids_and_the_results_file_is_written_once(multi_label_dir, tmp_path, capsys):
    table = tmp_path / "test.tsv"
    table.write_text("id\ttitle\tbody\nq-007\tGreat news\tall fine\nq-008\tBad day\t\n", encoding="utf-8")
    results = tmp_path / "predictions.csv"
    argv = [multi_label_dir, "--file", str(table), "--text_column", "title,body", "--output_file", str(results)]
    code, lines = run_predict([*argv, "--threshold", "0.01"])
    assert code == 0 and "wrote 2 predictions" in lines[0]
    rows = list(csv.DictReader(results.open(encoding="utf-8")))
    assert [row["id"] for row in rows] == ["q-007", "q-008"] and rows[1]["body"] == ""
    assert sorted(rows[0]["predicted_labels"].split(",")) == sorted(EMOTIONS.values())
    expected = 1 / (1 + np.exp(-logits_of(multi_label_dir, ["Great news all fine"])[0]))
    scores = sorted(float(s) for s in rows[0]["predicted_scores"].split(","))
    assert scores == pytest.approx(sorted(expected), abs=1e-4)
    before = results.read_bytes()
    assert run_predict(argv)[0] == 2  # the user's file (here, the last results) is not replaced without being asked
    assert "already exists" in capsys.readouterr().err and results.read_bytes() == before
    assert run_predict([*argv, "--overwrite", "--threshold", "0.99"])[0] == 0
    assert [row["predicted_labels"] for row in csv.DictReader(results.open())] == ["", ""]
    assert run_predict([multi_label_dir, "--file", str(table), "--output_file", str(table), "--overwrite"])[0] == 2
    assert "the file this run reads" in capsys.readouterr().err and table.read_text().startswith("id\ttitle")


def test_headerless_table_jsonl_and_plain_lines(regression_dir, tmp_path, capsys):
    headerless = tmp_path / "scores.csv"
    headerless.write_text("a1,good film\na2,bad film\n", encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    argv = [regression_dir, "--test_file", str(headerless), "--column_names", "id,text", "--output_file", str(out)]
    assert run_predict(argv)[0] == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["a1", "a2"]
    expected = logits_of(regression_dir, ["good film", "bad film"])[:, 0]
    assert [r["predicted_score"] for r in records] == pytest.approx(expected, abs=1e-5)
    # Without --column_names the first row became the header: the error says which columns it saw and the fix.
    assert run_predict([regression_dir, "--file", str(headerless)])[0] == 2
    err = capsys.readouterr().err
    assert "'good film'" in err and "--column_names" in err and "Traceback" not in err
    lines = tmp_path / "texts.txt"
    lines.write_text("good film\n\nbad film\n", encoding="utf-8")
    out = tmp_path / "lines.tsv"
    assert run_predict([regression_dir, "--file", str(lines), "--output_file", str(out)])[0] == 0
    rows = list(csv.DictReader(out.open(), delimiter="\t"))
    assert [(row["line"], row["text"]) for row in rows] == [("1", "good film"), ("3", "bad film")]
    assert run_predict([regression_dir, "--file", str(lines), "--text_column", "text"])[0] == 2
    assert "applies to a table" in capsys.readouterr().err

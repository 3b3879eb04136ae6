"""hf-bilstm predict (arguments, file, stdin, --json) and hf-bilstm evaluate, on a tiny untrained model folder."""

import io
import json
import subprocess
import sys

import pytest
import torch
from helpers import TEXTS, run_at_once, run_predict, write_toy_dataset

from hf_bilstm import inference
from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import predict as predict_cmd


@pytest.fixture(scope="module")
def model_dir(model_dir):
    """conftest's tiny model folder, as the string a command line holds."""
    return str(model_dir)


def expected(model_dir, texts):
    """What the model itself says: label name and softmax score of the top class."""
    model, tokenizer = inference.load_model(model_dir, "cpu")
    with torch.no_grad():
        logits = model(**tokenizer(texts, return_tensors="pt", padding=True, truncation=True)).logits
    probabilities = logits.softmax(-1)
    return [(model.config.id2label[int(p.argmax())], float(p.max())) for p in probabilities]


def test_texts_from_arguments_give_label_and_score_per_line(model_dir):
    texts = TEXTS[:4]
    code, lines = run_predict([model_dir, *texts])
    assert code == 0 and len(lines) == 4
    for line, (label, score) in zip(lines, expected(model_dir, texts)):
        got_label, got_score = line.split("\t")
        assert got_label == label and float(got_score) == pytest.approx(score, abs=1e-4)


def test_file_and_json_output(model_dir, tmp_path, capsys):
    path = tmp_path / "reviews.txt"
    path.write_text(f"{TEXTS[0]}\n\n{TEXTS[1]}\n", encoding="utf-8")
    code, lines = run_predict([model_dir, "--file", str(path), "--json"])
    assert code == 0
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == TEXTS[:2]
    assert [(r["label"], pytest.approx(r["score"], abs=1e-5)) for r in records] == expected(model_dir, TEXTS[:2])
    assert "skipped 1 blank line" in capsys.readouterr().err


def test_stdin_and_long_or_empty_texts(model_dir):
    long_text = " ".join(["great movie"] * 500)  # far past the tokenizer's 64-token limit: cut, not refused
    code, lines = run_predict([model_dir], stdin=f"{TEXTS[2]}\n{long_text}\n")
    assert code == 0 and len(lines) == 2
    assert lines[0].split("\t")[0] == expected(model_dir, [TEXTS[2]])[0][0]


def test_bad_input_is_a_clear_error(model_dir, tmp_path, capsys):
    assert run_predict([model_dir], stdin="\n  \n")[0] == 2
    assert "only blank lines" in capsys.readouterr().err
    assert run_predict([model_dir, "--file", str(tmp_path / "missing.txt")])[0] == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "iconv" not in err  # not an encoding problem
    assert run_predict([str(tmp_path / "no-model"), "some text"])[0] == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_console_script_reads_stdin(model_dir):
    # The real `hf-bilstm predict` entry point, end to end in a fresh process.
    result = subprocess.run(
        [sys.executable, "-m", "hf_bilstm.cli", "predict", model_dir, "--json", "--device", "cpu"],
        input=TEXTS[0] + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["text"] == TEXTS[0] and record["label"] in ("neg", "pos")


def test_evaluate_on_a_local_dataset(model_dir, tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "toy", n_train=20, n_test=30)
    out_file = tmp_path / "metrics.json"
    argv = [model_dir, "--dataset", dataset, "--split", "test", "--device", "cpu", "--output_file", str(out_file)]
    assert evaluate_cmd.main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == json.loads(out_file.read_text())
    assert metrics["test_samples"] == 30 and 0 <= metrics["test_accuracy"] <= 1 and metrics["test_loss"] > 0
    # The same numbers by hand.
    from datasets import load_dataset

    test = load_dataset(dataset, split="test")
    predicted = [label for label, _ in expected(model_dir, list(test["text"]))]
    accuracy = sum(p == ["neg", "pos"][y] for p, y in zip(predicted, test["label"])) / len(test)
    assert metrics["test_accuracy"] == pytest.approx(accuracy)


def test_evaluate_errors_name_the_fix(model_dir, tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "toy", n_train=20, n_test=10)
    assert evaluate_cmd.main([model_dir, "--dataset", dataset, "--split", "validation"]) == 2
    assert "no 'validation' split" in capsys.readouterr().err
    assert evaluate_cmd.main([model_dir, "--dataset", dataset, "--text_column", "review"]) == 2
    assert "its columns are ['text', 'label']" in capsys.readouterr().err


def test_predict_answers_as_the_pipeline_does_one_text_at_a_time(model_dir):
    """`predict` tokenizes each batch in one call (not text by text, as the pipeline does): the same answers, in the
    order given, for any batch size, with texts of many lengths, an empty one and one past the tokenizer's limit."""
    texts = [*TEXTS[:5], "", " ".join(TEXTS * 8), "bad", TEXTS[3]]
    classifier = inference.load_classifier(model_dir, "cpu")
    one_by_one = [classifier(text, truncation=True)[0] for text in texts]
    for batch_size in (1, 3, 32):
        answers = inference.predict(classifier, texts, batch_size)
        assert [a["label"] for a in answers] == [a["label"] for a in one_by_one]
        assert [a["score"] for a in answers] == pytest.approx([a["score"] for a in one_by_one], abs=1e-5)
    multi_label = inference.load_classifier(model_dir, "cpu")
    multi_label.model.config.problem_type = "multi_label_classification"  # the pipeline's sigmoid, not softmax
    every_label = [multi_label(text, truncation=True, top_k=None) for text in texts[:3]]
    answers = inference.predict(multi_label, texts[:3])
    assert [a["labels"] for a in answers] == [
        [s["label"] for s in scores if s["score"] >= 0.5] for scores in every_label
    ]
    assert [a["scores"] for a in answers] == [
        pytest.approx([s["score"] for s in scores if s["score"] >= 0.5], abs=1e-5) for scores in every_label
    ]
    assert every_label[0][0]["score"] != pytest.approx(one_by_one[0]["score"], abs=1e-3)  # sigmoid, not softmax


@pytest.mark.slow
def test_predict_and_evaluate_print_their_results_and_nothing_else(model_dir, tmp_path):
    """No "Loading weights" or "Map" bars, no library notices on stderr unless --verbose: run as a user runs it."""
    data = write_toy_dataset(tmp_path / "data", n_train=10, n_test=6)
    commands = {
        "predict": [model_dir, "a great film", "--device", "cpu"],
        "evaluate": [model_dir, "--dataset", data, "--device", "cpu"],
    }
    processes = [[sys.executable, "-m", "hf_bilstm.cli", command, *argv] for command, argv in commands.items()]
    processes.append([*processes[0], "--verbose"])
    *runs, verbose = run_at_once(processes)  # started together: 2 cores
    for command, run in zip(commands, runs):
        assert run.returncode == 0 and run.stdout.strip(), run.stderr
        assert run.stderr == "", (command, run.stderr)
    assert verbose.returncode == 0 and verbose.stdout.splitlines() == run_predict_lines(model_dir)


def run_predict_lines(model_dir):
    out = io.StringIO()
    assert predict_cmd.main([model_dir, "a great film", "--device", "cpu"], stdout=out) == 0
    return out.getvalue().splitlines()


def test_texts_may_follow_flags_and_flags_may_follow_texts(model_dir):
    """`predict FOLDER --json "text"` (as the README writes it) reads the text, wherever the flags stand."""

    def answers(argv):
        out = io.StringIO()
        assert predict_cmd.main(argv, stdout=out) == 0
        return [json.loads(line)["text"] for line in out.getvalue().splitlines()]

    texts = ["a great film", "dull"]
    assert answers([model_dir, "--json", *texts]) == texts
    assert answers([model_dir, texts[0], "--json", "--batch_size", "1", texts[1]]) == texts
    assert answers([model_dir, *texts, "--json"]) == texts


def test_quiet_predict_drops_the_pipelines_notice_about_our_onnx_class_only():
    """transformers logs an error for any model class outside its mapping; for our ONNX class that is noise in a
    quiet `predict`; other errors, and the notice outside the quiet block or with --verbose, still show."""
    import logging

    from transformers.utils import logging as hf_logging

    from hf_bilstm.logs import quiet_libraries

    logger = hf_logging.get_logger("transformers.pipelines.base")
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    notice = "The model 'ORTModelForSequenceClassification' is not supported for text-classification."
    other = "The model 'SomethingElse' is not supported for text-classification."
    try:
        with quiet_libraries():
            logger.error(notice)
            logger.error(other)
        assert seen == [other]
        with quiet_libraries(verbose=True):
            logger.error(notice)
        logger.error(notice)
        assert seen == [other, notice, notice]
    finally:
        logger.removeHandler(handler)

"""What a CLI user is told (issue 33, round 3): a language-model folder is named as one, with the command that makes a
classifier from it; other tools' flag names get ours; a bad value is one line; `--` ends `predict`'s options; a JSON
or UTF-8 error names its file (docs/robustness.md, "Messages")."""

import io
import json
import shutil

import pytest
import torch
from helpers import save_tiny_model, tiny_config, tiny_tokenizer, write_toy_dataset

from hf_bilstm import BiLSTMForPreTraining, cli
from hf_bilstm.commands import predict as predict_cmd


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A classifier folder and a language-model folder (as hf-bilstm pretrain leaves it: tokenizer and LM head)."""
    root = tmp_path_factory.mktemp("folders")
    save_tiny_model(root / "classifier")
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    BiLSTMForPreTraining(tiny_config(tokenizer, num_layers=1, dropout=0.0)).save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    write_toy_dataset(root / "data", n_train=20, n_test=10)
    return root


def one_error_line(capsys, command: str) -> str:
    """The whole of stderr, which must be one line `hf-bilstm COMMAND: error: ...` (no usage, no traceback)."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"hf-bilstm {command}: error: "), lines
    return lines[0]


def run(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_a_language_model_folder_is_named_as_one_with_the_command_that_makes_a_classifier(folders, command, capsys):
    lm = str(folders / "lm")
    argv = {"predict": [lm, "great film"], "evaluate": [lm, "--dataset", str(folders / "data")], "export": [lm]}[
        command
    ]
    assert run([command, *argv, "--device", "cpu"] if command == "predict" else [command, *argv]) == 2
    line = one_error_line(capsys, command)
    assert "is a language model (written by hf-bilstm pretrain), not a classifier" in line
    assert f"hf-bilstm train --model_name_or_path {lm} --dataset DATASET --output_dir FOLDER" in line
    assert "do not match" not in line


@pytest.mark.parametrize(
    "command, argv, ours",
    [
        ("train", ["--batch_size", "8"], "--per_device_train_batch_size"),
        ("train", ["--eval_batch_size", "8"], "--per_device_eval_batch_size"),
        ("train", ["--max_seq_length", "128"], "--max_length"),
        ("train", ["--text_column_names", "review"], "--text_column"),
        ("train", ["--label_column_name", "stars"], "--label_column"),
        ("train", ["--max_predict_samples", "5"], "--max_test_samples"),
        ("train", ["--epochs", "3"], "--num_train_epochs"),
        ("train", ["--metric_name", "f1"], "--metric_for_best_model"),
        ("evaluate", ["model", "--train_file", "x.csv"], "--dataset"),
        ("predict", ["model", "--input_file", "x.txt"], "--file"),
    ],
)
def test_run_classification_spellings_get_our_flags(command, argv, ours, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run([command, *argv]) == 2
    line = one_error_line(capsys, command)
    assert line.endswith(f"unrecognized argument {argv[-2] if command == 'train' else argv[1]} (did you mean {ours}?)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command, argv",
    [
        ("train", ["--dataset", "data", "--preset", "fastest"]),
        ("train", ["--dataset", "data", "--num_train_epochs", "three"]),
        ("train", ["--dataset", "data", "--output_dir", "out", "--use_cpu", "maybe"]),
        ("predict", ["model", "--batch_size", "x"]),
        ("evaluate", ["model", "--batch_size", "1.5"]),
        ("pretrain", ["--output_dir", "out", "--block_size", "big"]),
        ("export", ["model", "--quantize", "int4"]),
    ],
)
def test_a_bad_flag_value_is_one_line(command, argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run([command, *argv]) == 2
    line = one_error_line(capsys, command)
    assert argv[-1] in line and ("invalid" in line or "expected" in line)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["-1/10, awful", "--json", "-", "--"])
def test_double_dash_ends_the_options_of_predict(folders, text):
    model = str(folders / "classifier")
    answers = []
    for argv in (
        [model, "--device", "cpu", "--", text, "great"],
        [model, "--device", "cpu", "--", "x" + text, "great"],
    ):
        out = io.StringIO()
        assert predict_cmd.main(argv, stdout=out) == 0
        answers.append(out.getvalue().splitlines())
    assert len(answers[0]) == 2 and answers[0][1] == answers[1][1]  # two texts each, the second answered alike
    out = io.StringIO()
    assert predict_cmd.main([model, "--json", "--device", "cpu", "--", text], stdout=out) == 0
    assert json.loads(out.getvalue())["text"] == text


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("config.json", b'{"model_type": "bilstm", \xff}', "is not UTF-8 text"),
        ("config.json", b"[1, 2]", "holds a list, not a JSON object"),
        ("data_schema.json", b'{"version": 1,', "is not valid JSON"),
        ("data_schema.json", b'"text"', "holds a string, not a JSON object"),
        ("model.safetensors.index.json", b"[]", "holds a list, not a JSON object"),
        # hostile re-run (H34): transformers' errors for these named no file
        ("tokenizer.json", b'{"model": ', "is not valid JSON"),
        ("tokenizer_config.json", b"[1, 2]", "holds a list, not a JSON object"),
        ("tokenizer_config.json", b'{"model_max_length": 64, "x": "\xe9"}', "is not UTF-8 text"),
    ],
)
def test_json_and_utf8_errors_name_the_file(folders, tmp_path, capsys, name, content, problem):
    copy = tmp_path / "model"
    shutil.copytree(folders / "classifier", copy)
    (copy / name).write_bytes(content)
    assert run(["predict", str(copy), "great", "--device", "cpu"]) == 2
    line = one_error_line(capsys, "predict")
    assert f"'{copy / name}' {problem}" in line


@pytest.mark.parametrize("name, content", [("tokenizer.json", b'{"model": '), ("tokenizer_config.json", b"[1]")])
def test_train_from_a_folder_with_a_damaged_tokenizer_file_names_it(folders, tmp_path, capsys, name, content):
    # Hostile re-run (H34): `train --model_name_or_path` read the tokenizer through transformers alone: a
    # JSONDecodeError / AttributeError traceback.
    copy = tmp_path / "model"
    shutil.copytree(folders / "classifier", copy)
    (copy / name).write_bytes(content)
    argv = ["train", "--dataset", str(folders / "data"), "--output_dir", str(tmp_path / "out"), "--model_name_or_path"]
    assert run([*argv, str(copy), "--max_steps", "1", "--report_to", "none", "--use_cpu", "true"]) == 2
    err = capsys.readouterr().err  # after the dataset's progress bars (it is read first)
    lines = [line for line in err.splitlines() if "error:" in line]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("hf-bilstm train: error: "), err
    assert f"'{copy / name}'" in lines[0]

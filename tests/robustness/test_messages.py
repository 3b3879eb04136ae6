"""What a CLI user sees when something is wrong: one line, `hf-bilstm <command>: error: ...`, exit 2, naming the
problem and the fix, never a traceback; and every flag checked before the model or any data is loaded, so that a typo
costs seconds and leaves nothing behind (docs/robustness.md, "Messages").
"""

import io
import json
import os
import re

import pytest
import torch
from datasets import Dataset
from helpers import PRETRAIN_TINY, QUIET, TEXTS, TINY, make_model_folder, run_predict, write_toy_dataset

from hf_bilstm import BiLSTMConfig, data_flags, inference
from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import predict as prediction
from hf_bilstm.commands import pretrain as pretrain_cmd
from hf_bilstm.commands import push as push_cmd
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.training import pretraining


def the_error(capsys, command: str) -> str:
    """The one error line of `hf-bilstm command`: the last line on stderr, whole (what comes before it is a warning
    or a count, never part of the message)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.rstrip("\n").split("\n")
    assert lines[-1].startswith(f"hf-bilstm {command}: error: "), err
    assert sum(": error:" in line for line in lines) == 1, err
    return lines[-1]


@pytest.fixture
def nothing_loads(monkeypatch):
    """Any loading of a model or of a dataset fails the test: the refusal must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("loaded before the flags were checked")

    monkeypatch.setattr(prediction, "load_classifier", refuse)
    monkeypatch.setattr(prediction, "read_texts", refuse)
    monkeypatch.setattr(inference, "load_model", refuse)
    for module in (evaluate_cmd, data_flags, pretraining):  # train loads through hf_bilstm.data_flags
        monkeypatch.setattr(module, "load_raw_dataset", refuse)


# --- predict / evaluate: devices, batch sizes, output files -----------------------------------------------------

NO_CUDA = "cuda:99" if torch.cuda.is_available() else "cuda"
DEVICES = [
    ([NO_CUDA], "use --device cpu" if NO_CUDA == "cuda" else "choose one of them or --device cpu"),
    (["cuda:7"], "--device cpu"),
    (["tpu"], "is not a device"),
    (["gpu"], "use cpu, cuda or cuda:N"),
    (["cpu:x"], "is not a device"),
]
if not torch.backends.mps.is_available():
    DEVICES.append((["mps"], "is not available here; use cpu, cuda or cuda:N"))


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize(
    "flags, message",
    [pytest.param(["--device", *device], fix, id=f"--device {device[0]}") for device, fix in DEVICES]
    + [
        pytest.param(["--batch_size", "0"], "--batch_size must be", id="--batch_size 0"),
        pytest.param(["--batch_size", "-1"], "--batch_size must be", id="--batch_size -1"),
    ],
)
def test_devices_and_batch_sizes_are_refused_before_anything_loads(
    model_dir, tmp_path, capsys, nothing_loads, command, flags, message
):
    if command == "predict":
        code = run_predict([str(model_dir), "a great film", *flags], device=None)[0]
    else:
        code = evaluate_cmd.main([str(model_dir), "--dataset", str(tmp_path), *flags])
    assert code == 2
    line = the_error(capsys, command)
    assert message in line and flags[0] in line


@pytest.mark.parametrize(
    "where, message",
    [
        ("missing/folder/metrics.json", "does not exist; create it first (mkdir -p)"),
        (".", "is a folder; give a file name"),
    ],
)
def test_evaluate_output_file_is_checked_before_anything_loads(
    model_dir, tmp_path, capsys, nothing_loads, where, message
):
    target = str(tmp_path / where)
    assert evaluate_cmd.main([str(model_dir), "--dataset", str(tmp_path), "--output_file", target]) == 2
    assert message in the_error(capsys, "evaluate")
    assert not (tmp_path / "missing").exists()


def test_evaluate_writes_the_metrics_file_before_printing(model_dir, tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "data", n_train=10, n_test=10)
    target = tmp_path / "metrics.json"
    assert (
        evaluate_cmd.main([str(model_dir), "--dataset", dataset, "--device", "cpu", "--output_file", str(target)]) == 0
    )
    assert json.loads(target.read_text()) == json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "stdin, message",
    [
        (None, "stdin is closed and no texts were given; give them as arguments, with --file PATH"),
        ("closed", "stdin is closed"),
        (b"", "no texts to label: stdin is empty. Give one text per line."),
        (b"\n   \n\t\n", "stdin holds only blank lines"),
    ],
)
def test_predict_without_texts_on_stdin_names_the_fix(model_dir, monkeypatch, capsys, stdin, message):
    if stdin is None:  # `hf-bilstm predict MODEL <&-`: Python starts with sys.stdin = None
        monkeypatch.setattr("sys.stdin", None)
    elif stdin == "closed":
        stdin = io.TextIOWrapper(io.BytesIO(b"a text\n"))
        stdin.close()
    else:
        stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    assert run_predict([str(model_dir)], stdin=stdin)[0] == 2
    assert message in the_error(capsys, "predict")


# --- model folders: config.json of the wrong shape ---------------------------------------------------------------

CONFIGS = [
    ("a list", [1, 2], "config.json' holds a list, not a JSON object"),
    ("a string", "bilstm", "config.json' holds a string, not a JSON object"),
    (
        "a string vocab_size",
        {"vocab_size": "100"},
        "BiLSTMConfig.vocab_size must be a positive integer, but it was '100'",
    ),
    ("a float hidden_size", {"hidden_size": 8.5}, "BiLSTMConfig.hidden_size must be a positive integer"),
    ("a list id2label", {"id2label": ["neg", "pos"]}, "BiLSTMConfig.id2label must be a mapping"),
    ("a list label name", {"id2label": {"0": ["neg"], "1": "pos"}}, "must map each id to a label name (a string)"),
    ("a string num_labels", {"num_labels": "2"}, "BiLSTMConfig.num_labels must be a positive integer"),
    ("an unknown dtype", {"dtype": "float7"}, "the field dtype='float7' cannot be read"),
    ("a number layer_types", {"layer_types": 3}, "the field layer_types=3 cannot be read"),
]


@pytest.mark.parametrize("how, value, message", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_config_json_of_the_wrong_shape_is_a_one_line_error(copy, tmp_path, capsys, how, value, message):
    if isinstance(value, dict):
        config = json.loads((copy / "config.json").read_text())
        config.update(value)
        if "id2label" in value:
            config.pop("label2id", None)
        value = config
    (copy / "config.json").write_text(json.dumps(value))
    assert run_predict([str(copy), "a great film"])[0] == 2
    line = the_error(capsys, "predict")
    assert message in line and ("save" in line.lower() or "BiLSTMConfig." in line)
    if isinstance(value, dict):  # the same error on the Python path
        with pytest.raises(ValueError, match=re.escape(message)):
            BiLSTMConfig.from_pretrained(copy)


# --- train / pretrain: flags checked before any data is loaded ---------------------------------------------------

FLAGS = [
    (["--vocab_size", "2"], "--vocab_size must be an integer >= 3"),
    (["--max_length", "0"], "--max_length must be an integer >= 1"),
    (["--hidden_size", "0"], "--hidden_size must be a positive integer"),
    (["--embedding_dim", "-3"], "--embedding_dim must be a positive integer"),
    (["--dropout", "2"], "--dropout must be a number in [0, 1)"),
    (["--num_train_epochs", "nan"], "--num_train_epochs must be a number > 0"),
    (["--learning_rate", "nan"], "--learning_rate must be a number >= 0, but it was nan"),
    (["--learning_rate", "inf"], "--learning_rate must be a number >= 0, but it was inf"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
]
TRAIN_ONLY = [
    (["--rnn_type", "transformer"], "--rnn_type must be one of ['lstm', 'gru', 'rnn']"),
    (["--label_column", "text"], "--text_column and --label_column are both 'text'"),
    (["--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be an integer >= 1"),
    (["--validation_fraction", "1.5"], "--validation_fraction must be a number > 0 and < 1"),
    (["--pooling", "avg"], "--pooling must be one of"),
    (["--max_train_samples", "0"], "--max_train_samples must be an integer >= 1"),
    # the Trainer's own numbers, which it would divide by (0), ignore (-1) or misread (2): checked here
    (["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be an integer >= 1"),
    (["--logging_steps", "-1"], "--logging_steps must be a number > 0"),
    (["--eval_steps", "0"], "--eval_steps must be a number > 0"),
    (["--save_total_limit", "0"], "--save_total_limit must be an integer >= 1"),
    (["--label_smoothing_factor", "2"], "--label_smoothing_factor must be a number >= 0 and < 1"),
    (["--adam_beta2", "1"], "--adam_beta2 must be a number >= 0 and < 1"),
    (["--adam_epsilon", "0"], "--adam_epsilon must be a number > 0"),
    (["--max_steps", "0"], "--max_steps must be an integer >= 1"),
    (["--preprocessing_num_workers", "-1"], "--preprocessing_num_workers must be an integer >= 1"),
    (["--validation_split", "train"], "--validation_split names the training split 'train'"),
    (["--dataset", "no/such/folder"], "--dataset 'no/such/folder': no such folder"),
]
PRETRAIN_ONLY = [
    (["--block_size", "1"], "--block_size must be an integer >= 2"),
    (["--splits", "train,test"], "--splits names 'test'"),
]


@pytest.mark.parametrize(
    "command, flags, message",
    [pytest.param("train", *case, id="train " + " ".join(case[0])) for case in FLAGS + TRAIN_ONLY]
    + [pytest.param("pretrain", *case, id="pretrain " + " ".join(case[0])) for case in FLAGS + PRETRAIN_ONLY],
)
def test_bad_flags_are_refused_before_any_data_is_loaded(tmp_path, capsys, nothing_loads, command, flags, message):
    dataset = write_toy_dataset(tmp_path / "data", n_train=10, n_test=10)
    out = tmp_path / "out"
    if command == "train":
        code = train_cmd.main(["--dataset", dataset, "--output_dir", str(out), *TINY, *QUIET, *flags])
    else:  # PRETRAIN_TINY gives --max_steps, which must not hide a bad --num_train_epochs
        code = pretrain_cmd.main(["--dataset", dataset, "--output_dir", str(out), *PRETRAIN_TINY, *flags])
    assert code == 2
    assert message in the_error(capsys, command)
    assert not out.exists()  # nothing written


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys, nothing_loads, command):
    dataset = write_toy_dataset(tmp_path / "data", n_train=10, n_test=10)
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    main, tiny = (train_cmd.main, [*TINY, *QUIET]) if command == "train" else (pretrain_cmd.main, PRETRAIN_TINY)
    assert main(["--dataset", dataset, "--output_dir", str(blocker), *tiny]) == 2
    assert "is a file, not a folder; choose another path" in the_error(capsys, command)
    assert blocker.read_text() == "keep me"


# --- datasets ------------------------------------------------------------------------------------------------------


def test_a_dataset_with_a_loading_script_is_refused_without_running_it(tmp_path, model_dir, capsys):
    folder = tmp_path / "scripted"
    folder.mkdir()
    mark = tmp_path / "script-ran"
    (folder / "scripted.py").write_text(f"open({str(mark)!r}, 'w').close()\n")
    (folder / "train.csv").write_text("text,label\na great film,1\na bad film,0\n")
    out = str(tmp_path / "out")
    for command, main, argv in (
        ("train", train_cmd.main, ["--dataset", str(folder), "--output_dir", out, *TINY, *QUIET]),
        ("pretrain", pretrain_cmd.main, ["--dataset", str(folder), "--output_dir", out, *PRETRAIN_TINY]),
        ("evaluate", evaluate_cmd.main, [str(model_dir), "--dataset", str(folder), "--device", "cpu"]),
    ):
        assert main(argv) == 2
        line = the_error(capsys, command)
        assert "holds a loading script ['scripted.py']" in line and "parquet, CSV or JSON" in line
    assert not mark.exists() and not os.path.exists(out)


# (lists of labels are multi-label: tests/test_data_files.py)
@pytest.mark.parametrize("labels", [[{"a": 0}, {"a": 1}]], ids=["dicts"])
def test_a_label_column_of_dicts_is_refused_naming_the_row(tmp_path, capsys, labels):
    folder = tmp_path / "data"
    folder.mkdir()
    rows = [{"text": f"{text} {i}", "label": labels[i % 2]} for i, text in enumerate(TEXTS)]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    argv = ["--dataset", str(folder), "--output_dir", str(tmp_path / "out"), "--test_split", ""]
    assert train_cmd.main([*argv, *TINY, *QUIET]) == 2
    line = the_error(capsys, "train")
    assert (
        "Row 0: label" in line and "labels must be integers, booleans or strings" in line and "--label_column" in line
    )


def test_evaluate_refuses_a_label_column_equal_to_the_text_column(model_dir, tmp_path, capsys, nothing_loads):
    Dataset.from_dict({"text": TEXTS[:2], "label": [0, 1]}).to_parquet(str(tmp_path / "test.parquet"))
    assert evaluate_cmd.main([str(model_dir), "--dataset", str(tmp_path), "--label_column", "text"]) == 2
    assert "--text_column and --label_column are both 'text'" in the_error(capsys, "evaluate")


# --- push ----------------------------------------------------------------------------------------------------------

BAD_CARDS = {
    "an unclosed bracket": "---\nlicense: [mit\n---\n# model\n",
    "a tab indent": "---\nlicense: mit\n\tdatasets: x\n---\n# model\n",
    "a stray colon": "---\nlicense: mit: apache\n---\n# model\n",
}


@pytest.mark.parametrize("card", BAD_CARDS.values(), ids=BAD_CARDS.keys())
def test_push_refuses_a_card_with_malformed_yaml(hub_env, tmp_path, capsys, card):
    folder = tmp_path / "model"
    make_model_folder(folder, card=card)
    assert push_cmd.main([str(folder), "alice/tiny-bilstm", "--license", "mit"]) == 2
    line = the_error(capsys, "push")
    assert "README.md has metadata" in line and "not valid YAML" in line and "delete the card" in line
    assert "alice/tiny-bilstm" not in hub_env.repos  # nothing sent


# --- missing folders and typos: the message for the typo, exit 2 ------------------------------------------------


@pytest.mark.parametrize("name", ["modle", "outputs/modle", "./outputs/modle", "~/no-such-model-folder"])
def test_a_mistyped_model_folder_is_no_such_folder(tmp_path, capsys, monkeypatch, offline, name):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    dataset = write_toy_dataset(tmp_path / "data", n_train=10, n_test=10)
    for command, run in (
        ("predict", lambda: run_predict([name, "a great film"])[0]),
        ("evaluate", lambda: evaluate_cmd.main([name, "--dataset", dataset, "--device", "cpu"])),
    ):
        assert run() == 2
        line = the_error(capsys, command)
        assert "no such folder" in line and "check the spelling of the path" in line and "Repo id" not in line


def test_missing_files_and_folders_are_exit_2_for_every_command(tmp_path, model_dir, capsys):
    missing = str(tmp_path / "missing")
    out = str(tmp_path / "out")
    cases = [
        (
            "predict",
            lambda: run_predict([str(model_dir), "--file", missing + ".txt"], device=None)[0],
            "no such file. Check the path",
        ),
        (
            "push",
            lambda: push_cmd.main([missing, "alice/x", "--license", "mit"]),
            "does not exist; give the output folder",
        ),
        (
            "train",
            lambda: train_cmd.main(["--dataset", missing, "--output_dir", out, *TINY, *QUIET]),
            "no such folder",
        ),
        ("pretrain", lambda: pretrain_cmd.main(["--dataset", missing, "--output_dir", out]), "no such folder"),
        ("evaluate", lambda: evaluate_cmd.main([str(model_dir), "--dataset", missing]), "no such folder"),
        (
            "train",
            lambda: train_cmd.main(["--model_name_or_path", missing, "--output_dir", out, *QUIET]),
            "--model_name_or_path '" + missing + "': no such folder",
        ),
    ]
    for command, run, message in cases:
        assert run() == 2, command
        line = the_error(capsys, command)
        assert message in line and "iconv" not in line
    assert not os.path.exists(out)


@pytest.mark.parametrize("existing", [False, True], ids=["a new folder", "an empty folder"])
def test_a_run_refused_for_its_dataset_leaves_the_output_folder_as_it_was(tmp_path, capsys, offline, existing):  # noqa: F811
    out = tmp_path / "out"
    if existing:
        out.mkdir()
    for command, main, tiny in (
        ("train", train_cmd.main, [*TINY, *QUIET]),
        ("pretrain", pretrain_cmd.main, PRETRAIN_TINY),
    ):
        # A Hub id that cannot be reached: refused only once loading is tried, after the folder was locked.
        assert main(["--dataset", "nobody/no-such-dataset", "--output_dir", str(out), *tiny]) == 2
        assert "could not reach the Hugging Face Hub" in the_error(capsys, command)
        assert (sorted(os.listdir(out)) == []) if existing else not out.exists()


@pytest.mark.parametrize("command", ["train", "pretrain", "evaluate"])
def test_a_dataset_that_is_a_file_or_a_mistyped_folder_is_named(
    tmp_path,
    model_dir,
    capsys,
    monkeypatch,
    offline,  # noqa: F811
    command,
):
    """A data file given as --dataset, or a folder name with a typo, is named as such (not "could not reach Hub")."""
    monkeypatch_dir = tmp_path / "work"
    write_toy_dataset(monkeypatch_dir / "data", n_train=10, n_test=10)
    (monkeypatch_dir / "data" / "train.md").write_text("# not data\n")
    out = str(tmp_path / "out")
    run = {
        "train": lambda name: train_cmd.main(["--dataset", name, "--output_dir", out, *TINY, *QUIET]),
        "pretrain": lambda name: pretrain_cmd.main(["--dataset", name, "--output_dir", out, *PRETRAIN_TINY]),
        "evaluate": lambda name: evaluate_cmd.main([str(model_dir), "--dataset", name, "--device", "cpu"]),
    }[command]
    for name, message in (  # (a data file is data: the train split, or the split evaluated; test_data_files.py)
        (str(monkeypatch_dir / "data" / "train.md"), "cannot read '.md' files; give csv, tsv, json"),
        (str(monkeypatch_dir / "dta"), "no such folder"),
        ("dta/train/x", "no such folder (nor a Hub id of the form USER/NAME)"),
    ):
        assert run(name) == 2
        assert message in the_error(capsys, command)
    # A bare name may be a Hub id: offline, the message says both that no such folder is here and what to do.
    monkeypatch.chdir(monkeypatch_dir)
    assert run("dta") == 2
    line = the_error(capsys, command)
    assert "no such folder here, and could not reach the Hugging Face Hub" in line and "spelling" in line
    assert not os.path.exists(out)


@pytest.mark.parametrize(
    "command, flags, message",
    [
        ("train", ["--max_train_samples", "1"], "Train on more texts (--max_train_samples) or lower --min_frequency"),
        ("train", ["--min_frequency", "1000"], "occurs at least --min_frequency 1000 time(s)"),
        ("pretrain", ["--max_texts", "5", "--min_frequency", "50"], "Train on more texts (--max_texts)"),
    ],
)
def test_too_few_texts_for_a_vocabulary_is_a_one_line_error(tmp_path, capsys, command, flags, message):
    dataset = write_toy_dataset(tmp_path / "data", n_train=20, n_test=10)
    out = tmp_path / "out"
    if command == "train":
        code = train_cmd.main(["--dataset", dataset, "--output_dir", str(out), *TINY, *QUIET, *flags])
    else:
        code = pretrain_cmd.main(["--dataset", dataset, "--output_dir", str(out), *PRETRAIN_TINY, *flags])
    assert code == 2
    line = the_error(capsys, command)
    assert "the tokenizer found no word" in line and message in line
    assert not out.exists()

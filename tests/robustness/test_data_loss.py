"""Nothing is lost: an output folder that is an input, that holds someone else's files or another command's model, that
another run is writing, or that fills up while saving, keeps what it held (docs/robustness.md, "Output folders").
"""

import json
import os
import subprocess
import sys
import time

import pytest
from helpers import PRETRAIN_TINY, QUIET, TINY, error_line, save_tiny_model, snapshot, write_toy_dataset

from hf_bilstm import BiLSTMForSequenceClassification
from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import pretrain as pretrain_cmd
from hf_bilstm.commands import train as train_cmd


@pytest.fixture
def dataset(tmp_path):
    return write_toy_dataset(tmp_path / "data", n_train=40, n_test=10)


def trained_folder(folder) -> None:
    """A classifier folder as `hf-bilstm train` leaves it: model, tokenizer, results, card and a checkpoint."""
    save_tiny_model(folder)
    (folder / "test_results.json").write_text(json.dumps({"test_accuracy": 0.9}))
    (folder / "README.md").write_text("# a classifier\n")
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / "trainer_state.json").write_text("{}")


@pytest.mark.parametrize("how", ["model is the output", "output holds the model", "dataset is the output"])
def test_an_output_folder_that_is_an_input_is_refused_and_left_intact(tmp_path, dataset, capsys, how):
    model = tmp_path / "parent" / "model"
    trained_folder(model)
    output = {"model is the output": model, "output holds the model": model.parent, "dataset is the output": dataset}
    output = str(output[how])
    before = snapshot(tmp_path)
    argv = ["--dataset", dataset, "--model_name_or_path", str(model), "--output_dir", output]
    assert train_cmd.main([*argv, "--overwrite_output_dir", "true", *QUIET]) == 2
    line = error_line(capsys)
    assert "an input of this run" in line and "Choose a new --output_dir" in line
    assert snapshot(tmp_path) == before
    # pretrain reads only --dataset
    assert pretrain_cmd.main(["--dataset", dataset, "--output_dir", dataset, "--overwrite_output_dir", "true"]) == 2
    assert "an input of this run" in error_line(capsys)
    assert snapshot(tmp_path) == before


def test_pretrain_checks_its_output_folder_like_train(tmp_path, dataset, capsys):
    folder = tmp_path / "classifier"
    trained_folder(folder)
    before = snapshot(folder)
    argv = ["--dataset", dataset, "--output_dir", str(folder), *PRETRAIN_TINY]
    assert pretrain_cmd.main(argv) == 2
    assert "already holds a model or checkpoints. Pass --overwrite_output_dir" in error_line(capsys)
    assert snapshot(folder) == before
    # Asked to replace it, nothing of the classifier survives next to the language model.
    assert pretrain_cmd.main([*argv, "--overwrite_output_dir", "true"]) == 0
    names = set(os.listdir(folder))
    assert "test_results.json" not in names and "checkpoint-5" not in names
    assert "pretraining_results.json" in names and "language-model" in (folder / "README.md").read_text()
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["BiLSTMForPreTraining"]


@pytest.mark.parametrize("present", ["README.md", "all_results.json", "tokenizer.json", "notes.txt", "subfolder"])
@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_a_folder_without_config_that_holds_files_is_not_empty(tmp_path, dataset, capsys, present, command):
    out = tmp_path / "out"
    out.mkdir()
    if present == "subfolder":
        (out / "subfolder").mkdir()
        (out / "subfolder" / "keep.txt").write_text("mine")
    else:
        (out / present).write_text("someone's file\n")
    before = snapshot(out)
    if command == "train":
        code = train_cmd.main(["--dataset", dataset, "--output_dir", str(out), *TINY, *QUIET])
    else:
        code = pretrain_cmd.main(["--dataset", dataset, "--output_dir", str(out), *PRETRAIN_TINY])
    assert code == 2
    line = error_line(capsys)
    assert "is not empty" in line and present in line and "--overwrite_output_dir" in line
    assert snapshot(out) == before and sorted(os.listdir(out)) == [present]


def hold_lock(folder):
    """Another process holding the output folder's lock, as a running `hf-bilstm train` does."""
    code = (
        "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('held', flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(folder / ".hf_bilstm.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_a_second_run_into_a_folder_in_use_fails_at_once(tmp_path, dataset, capsys, command):
    out = tmp_path / "out"
    out.mkdir()
    child = hold_lock(out)
    try:
        started = time.monotonic()
        if command == "train":
            code = train_cmd.main(["--dataset", dataset, "--output_dir", str(out), *TINY, *QUIET])
        else:
            code = pretrain_cmd.main(["--dataset", dataset, "--output_dir", str(out), *PRETRAIN_TINY])
        assert code == 2 and time.monotonic() - started < 30
        assert "is in use by another hf-bilstm run" in error_line(capsys)
        assert os.listdir(out) == [".hf_bilstm.lock"]  # nothing of the second run was written
    finally:
        child.communicate("")
    # Once the first run is over, the folder can be used.
    argv = ["--dataset", dataset, "--output_dir", str(out), *TINY, *QUIET, "--num_train_epochs", "1"]
    assert train_cmd.main(argv) == 0


WIDE = ["--embedding_dim", "64", "--hidden_size", "64", "--num_layers", "1", "--vocab_size", "100"]


@pytest.mark.slow
@pytest.mark.parametrize("when", ["final save", "checkpoint"])
def test_a_save_that_runs_out_of_room_keeps_the_previous_model(tmp_path, capsys, when):
    dataset = write_toy_dataset(tmp_path / "data", n_train=40, n_test=10)
    out = tmp_path / "out"
    argv = ["--dataset", dataset, "--output_dir", str(out), "--num_train_epochs", "1", *QUIET]
    assert train_cmd.main([*argv, *TINY]) == 0  # the previous, complete model (small files)
    before = snapshot(out)
    previous = BiLSTMForSequenceClassification.from_pretrained(out)
    # The new model's weights (~300 kB) exceed a 64 kB file-size limit; every other file fits.
    again = [*argv, *WIDE, "--overwrite_output_dir", "true"]
    if when == "final save":
        again += ["--save_strategy", "no", "--load_best_model_at_end", "false"]
    command = " ".join(["ulimit -f 64 &&", "exec", sys.executable, "-m", "hf_bilstm.cli", "train", *again])
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "File too large" in errors[0] and "previous contents" in errors[0]
    after = snapshot(out)
    kept = {name: data for name, data in after.items() if not name.startswith(("checkpoint-", ".hf_bilstm"))}
    assert kept == {name: data for name, data in before.items() if not name.startswith(("checkpoint-", ".hf"))}
    assert not any(name.startswith(".hf_bilstm-staging") for name in after)
    reloaded = BiLSTMForSequenceClassification.from_pretrained(out)
    assert all((a == b).all() for a, b in zip(previous.state_dict().values(), reloaded.state_dict().values()))


def fake_checkpoint(folder) -> None:
    """A complete-looking Trainer checkpoint (weights, config, trainer_state.json), enough to be resumed from."""
    save_tiny_model(folder)
    (folder / "trainer_state.json").write_text("{}")


@pytest.mark.parametrize(
    "command, flag, where",
    [
        ("train", "--model_name_or_path", "model/finetuned"),
        ("train", "--dataset", "data/out"),
        ("pretrain", "--dataset", "data/out"),
        ("train", "--resume_from_checkpoint", "run/checkpoint-3/out"),
        ("train", "--resume_from_checkpoint", "run/checkpoint-3"),
    ],
)
def test_an_output_folder_inside_an_input_is_refused(tmp_path, dataset, capsys, command, flag, where):
    """Writing a model into a folder that the run reads changes that input (a dataset folder would load the run's JSON
    files as data next time); a checkpoint named as the output folder would be overwritten while resumed."""
    trained_folder(tmp_path / "model")
    fake_checkpoint(tmp_path / "run" / "checkpoint-3")
    before = snapshot(tmp_path)
    inputs = {"--model_name_or_path": str(tmp_path / "model"), "--dataset": dataset}
    inputs["--resume_from_checkpoint"] = str(tmp_path / "run" / "checkpoint-3")
    out = ["--output_dir", str(tmp_path / where), "--overwrite_output_dir", "true"]
    if command == "train":
        argv = ["--dataset", dataset, *out, *QUIET]
        if flag != "--dataset":
            argv += [flag, inputs[flag]]
        code = train_cmd.main(argv)
    else:
        code = pretrain_cmd.main(["--dataset", dataset, *out, *PRETRAIN_TINY])
    assert code == 2
    line = error_line(capsys)
    assert "an input of this run" in line and flag in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("holds", ["someone's files", "another model"])
def test_resuming_another_folders_checkpoint_checks_the_output_folder(tmp_path, dataset, capsys, holds):
    """--resume_from_checkpoint lets a run continue in the folder that holds the checkpoint; a checkpoint of another
    folder gives no right to write into a folder of someone's files or over another model."""
    fake_checkpoint(tmp_path / "run" / "checkpoint-3")
    out = tmp_path / "out"
    if holds == "another model":
        trained_folder(out)
    else:
        out.mkdir()
        (out / "README.md").write_text("my notes\n")
        (out / "all_results.json").write_text('{"mine": 1}')
    before = snapshot(out)
    argv = ["--dataset", dataset, "--output_dir", str(out), *QUIET]
    assert train_cmd.main([*argv, "--resume_from_checkpoint", str(tmp_path / "run" / "checkpoint-3")]) == 2
    line = error_line(capsys)
    assert ("is not empty" if holds == "someone's files" else "already holds a model") in line
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "target, message",
    [
        ("model/model.safetensors", "is model.safetensors, a file of the model folder"),
        ("model/../model/config.json", "is config.json, a file of the model folder"),
        ("model/tokenizer.json", "is tokenizer.json, a file of the model folder"),
        ("model/test_results.json", "is test_results.json, a file of the model folder"),
        ("data/test.parquet", "lies inside --dataset"),
        ("data/metrics.json", "lies inside --dataset"),
    ],
)
def test_evaluate_output_file_never_replaces_what_it_reads(tmp_path, dataset, capsys, target, message):
    """The metrics file is written after the model and the data were read: naming one of them would destroy it."""
    trained_folder(tmp_path / "model")
    before = snapshot(tmp_path)
    argv = [str(tmp_path / "model"), "--dataset", dataset, "--device", "cpu", "--output_file", str(tmp_path / target)]
    assert evaluate_cmd.main(argv) == 2
    assert message in error_line(capsys)
    assert snapshot(tmp_path) == before
    # A new file next to the model is fine, and is written whole (through a temporary file, then renamed).
    argv[-1] = str(tmp_path / "model" / "imdb_metrics.json")
    assert evaluate_cmd.main(argv) == 0
    assert json.loads((tmp_path / "model" / "imdb_metrics.json").read_text())["test_samples"] == 10
    assert not [name for name in os.listdir(tmp_path / "model") if name.endswith(".tmp")]

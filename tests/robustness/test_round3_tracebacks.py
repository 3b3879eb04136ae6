"""What used to end in a traceback (issue 33, round 3) is one line naming the file, the problem and the fix: a full
disk or a read-only folder while `train` or `export` writes (answered by the CLI's one error handler, whatever the
file), damaged or list-shaped JSON files of a folder, a tokenizer.json that cannot be read, a pickle as a
checkpoint's optimizer.pt, `pretrain --lm_vocab_size 2` (docs/robustness.md, "Output folders, the Hub, faults")."""

import errno
import json
import os
import shutil
import subprocess
import tempfile
import types

import pytest
import torch
from helpers import PRETRAIN_TINY, QUIET, TINY, PicklePayload, toy_with_unlabelled, write_toy_dataset

from hf_bilstm import cli
from hf_bilstm.errors import exit_code_for


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained folder with its checkpoint, and its dataset."""
    root = tmp_path_factory.mktemp("trained")
    dataset = write_toy_dataset(root / "data", n_train=40, n_test=10)
    out = root / "out"
    argv = ["train", "--dataset", dataset, "--output_dir", str(out), *TINY, *QUIET, "--num_train_epochs", "1"]
    assert cli.main(argv) == 0
    return root


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if "error:" in line]


def no_room(path):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def read_only(path):
    return OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))


@pytest.mark.parametrize("make_error, code, words", [(no_room, 1, "No space left"), (read_only, 2, "Read-only")])
def test_a_full_disk_or_read_only_folder_while_training_is_one_line(
    trained, tmp_path, capsys, monkeypatch, make_error, code, words
):
    out = tmp_path / "out"
    argv = ["train", "--dataset", str(trained / "data"), "--output_dir", str(out), *TINY, *QUIET, "--max_steps", "1"]
    failing = out / "checkpoint-1" / "optimizer.pt"

    def refuse(obj, f, *args, **kwargs):  # the Trainer's checkpoint write (the first file torch.save writes)
        raise make_error(failing)

    monkeypatch.setattr(torch, "save", refuse)
    assert cli.main(argv) == code
    lines = error_lines(capsys)
    assert len(lines) == 1 and words in lines[0] and str(failing) in lines[0], lines


@pytest.mark.parametrize("make_error, code, words", [(no_room, 1, "No space left"), (read_only, 2, "Read-only")])
def test_a_full_disk_or_read_only_folder_while_exporting_is_one_line(
    trained, tmp_path, capsys, monkeypatch, make_error, code, words
):
    pytest.importorskip("onnxruntime")
    model = tmp_path / "model"
    shutil.copytree(trained / "out", model, ignore=shutil.ignore_patterns("checkpoint-*"))
    before = sorted(os.listdir(model))

    def refuse(*args, dir=None, **kwargs):  # the export's staging folder inside the model folder
        raise make_error(os.path.join(dir, ".onnx-export-x"))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert cli.main(["export", str(model)]) == code
    lines = error_lines(capsys)
    assert len(lines) == 1 and words in lines[0] and str(model) in lines[0], lines
    assert sorted(os.listdir(model)) == before


def test_a_write_the_export_child_could_not_make_is_one_line(trained, tmp_path, capsys, monkeypatch):
    # The parent's side of the test below, without the child's minute-long export: the child's report of a failed
    # write (graph.WRITE_FAILED_PREFIX, errno and path) is answered as every command's failed write.
    pytest.importorskip("onnxscript")
    from hf_bilstm.onnx import export as export_module
    from hf_bilstm.onnx.graph import WRITE_FAILED_PREFIX

    model = tmp_path / "model"
    shutil.copytree(trained / "out", model, ignore=shutil.ignore_patterns("checkpoint-*"))
    before = sorted(os.listdir(model))

    def child_on_a_full_disk(command, **kwargs):
        assert command[1:3] == ["-m", "hf_bilstm.onnx.graph"], command
        return subprocess.CompletedProcess(command, 1, stdout=f"{WRITE_FAILED_PREFIX}{errno.ENOSPC} /dev/full\n")

    monkeypatch.setattr(export_module.subprocess, "run", child_on_a_full_disk)
    assert cli.main(["export", str(model)]) == 1
    (line,) = error_lines(capsys)
    assert "'/dev/full' could not be written (No space left on device)" in line and "File " not in line, line
    assert sorted(os.listdir(model)) == before


@pytest.mark.slow  # the real export in its child process (~50 s on 2 cores); the test above covers the parent's side
def test_a_full_disk_while_the_export_writes_its_graph_is_one_line(trained, tmp_path, capsys, monkeypatch):
    # Hostile re-run (H34, a 2 MB tmpfs): the graph's write failed in the export's child process, and the message was
    # exit 2 with the child's traceback lines. /dev/full answers every write with ENOSPC, as a full disk does.
    pytest.importorskip("onnxscript")
    from hf_bilstm.onnx import export as export_module

    model = tmp_path / "model"
    shutil.copytree(trained / "out", model, ignore=shutil.ignore_patterns("checkpoint-*"))
    before = sorted(os.listdir(model))
    real_run = export_module.subprocess.run

    def onto_a_full_disk(command, **kwargs):  # the child writes its graph to /dev/full instead of the staging folder
        return real_run([*command[:-1], "/dev/full"], **kwargs)

    monkeypatch.setattr(export_module.subprocess, "run", onto_a_full_disk)
    assert cli.main(["export", str(model)]) == 1
    (line,) = error_lines(capsys)
    assert "'/dev/full' could not be written (No space left on device)" in line and "File " not in line, line
    assert sorted(os.listdir(model)) == before


def test_a_failed_copy_names_the_file_written_not_the_source(capsys):
    # Hostile re-run (H34): a full disk while save_pretrained copied the code files blamed the installed
    # hf_bilstm/modeling_bilstm.py (shutil names the source in `filename`, the destination in `filename2`).
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/site-packages/hf_bilstm/modeling_bilstm.py")
    error.filename2 = "/out/modeling_bilstm.py"
    assert exit_code_for("hf-bilstm train", error, "/out") == 1
    err = capsys.readouterr().err
    assert "'/out/modeling_bilstm.py' could not be written" in err and "site-packages" not in err
    error = OSError(errno.EROFS, os.strerror(errno.EROFS), "/src/file", None, "/ro/file")
    assert exit_code_for("hf-bilstm train", error, "/ro") == 2
    assert "'/ro/file'" in capsys.readouterr().err


@pytest.mark.parametrize("number", [errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EFBIG])
def test_the_error_handler_answers_every_refused_write_in_one_line(number, capsys):
    caused = RuntimeError("a library's wrapper")
    caused.__cause__ = OSError(number, os.strerror(number), "/somewhere/file.bin")
    assert exit_code_for("hf-bilstm x", caused, "out") in (1, 2)
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "/somewhere/file.bin" in err and os.strerror(number) in err
    with pytest.raises(OSError):  # anything else is a bug: it keeps its traceback
        exit_code_for("hf-bilstm x", OSError(errno.ENOENT, "No such file"), "out")


@pytest.mark.parametrize("shape", ["[1, 2]", "{not json", '"weights"'])
def test_a_damaged_or_list_shaped_export_report_is_one_line(trained, tmp_path, capsys, shape):
    pytest.importorskip("onnxruntime")
    model = tmp_path / "model"
    shutil.copytree(trained / "out", model, ignore=shutil.ignore_patterns("checkpoint-*"))
    (model / "onnx").mkdir()
    (model / "onnx" / "model.onnx").write_bytes(b"not read: the report is checked first")
    (model / "onnx" / "export_report.json").write_text(shape)
    assert cli.main(["predict", str(model), "great", "--backend", "onnxruntime"]) == 2
    (line,) = error_lines(capsys)
    assert str(model / "onnx" / "export_report.json") in line and f"hf-bilstm export {model} --overwrite" in line


@pytest.mark.parametrize("name", ["test_results.json", "all_results.json"])
def test_list_shaped_results_are_one_line_naming_the_file(trained, tmp_path, name):
    from hf_bilstm.push_card import _results_from_json

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / name).write_text("[0.9, 0.8]")
    with pytest.raises(ValueError, match=rf"{name}: a JSON list, not an object"):
        _results_from_json(folder)


@pytest.mark.parametrize("unk", [None, 7, ["[UNK]"]])
def test_a_tokenizer_json_that_cannot_be_read_is_one_line(trained, tmp_path, capsys, unk):
    model = tmp_path / "model"
    shutil.copytree(trained / "out", model, ignore=shutil.ignore_patterns("checkpoint-*"))
    data = json.loads((model / "tokenizer.json").read_text())
    data["model"]["unk_token"] = unk
    (model / "tokenizer.json").write_text(json.dumps(data))
    assert cli.main(["predict", str(model), "great zyzzyva", "--device", "cpu"]) == 2
    (line,) = error_lines(capsys)
    assert f"'{model / 'tokenizer.json'}' cannot be read as a tokenizer" in line and "save_pretrained" in line


@pytest.mark.parametrize("content", ["payload", "garbage", "list"])
def test_a_pickle_as_optimizer_pt_is_refused_in_one_line_never_unpickled(trained, tmp_path, capsys, content):
    out = tmp_path / "out"
    shutil.copytree(trained / "out", out)
    (checkpoint,) = [path for path in out.iterdir() if path.name.startswith("checkpoint-")]
    marker = tmp_path / "unpickled"
    if content == "payload":
        torch.save({"param_groups": [PicklePayload(marker)]}, checkpoint / "optimizer.pt")
    elif content == "garbage":
        (checkpoint / "optimizer.pt").write_bytes(b"\x80\x04not a pickle at all")
    else:
        torch.save({"param_groups": "lr=0.1"}, checkpoint / "optimizer.pt")
    argv = ["train", "--dataset", str(trained / "data"), "--output_dir", str(out), *TINY, *QUIET]
    assert cli.main([*argv, "--num_train_epochs", "2", "--resume_from_checkpoint", "last"]) == 2
    (line,) = error_lines(capsys)
    assert f"'{checkpoint / 'optimizer.pt'}' is not an optimizer state" in line and "never unpickled" in line
    assert not marker.exists()


@pytest.mark.parametrize("name, content", [("scheduler.pt", "garbage"), ("scheduler.pt", "payload"),
                                           ("rng_state.pth", "garbage"), ("rng_state.pth", "empty")])  # fmt: skip
def test_a_damaged_scheduler_or_random_state_is_refused_in_one_line(trained, tmp_path, capsys, name, content):
    # Hostile re-run (H34): a damaged scheduler.pt ended in torch's "Invalid magic number" traceback in the Trainer.
    out = tmp_path / "out"
    shutil.copytree(trained / "out", out)
    (checkpoint,) = [path for path in out.iterdir() if path.name.startswith("checkpoint-")]
    marker = tmp_path / "unpickled"
    if content == "payload":
        torch.save({"last_epoch": PicklePayload(marker)}, checkpoint / name)
    else:
        (checkpoint / name).write_bytes(b"" if content == "empty" else b"\x10not a torch file")
    argv = ["train", "--dataset", str(trained / "data"), "--output_dir", str(out), *QUIET]
    assert cli.main([*argv, "--num_train_epochs", "2", "--resume_from_checkpoint", "last"]) == 2
    (line,) = error_lines(capsys)
    assert f"'{checkpoint / name}' cannot be read by torch's weights-only loader" in line and "never unpickled" in line
    assert not marker.exists()


def test_an_intact_checkpoint_still_resumes(trained, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(trained / "out", out)
    argv = ["train", "--dataset", str(trained / "data"), "--output_dir", str(out), *QUIET]
    assert cli.main([*argv, "--num_train_epochs", "2", "--resume_from_checkpoint", "last"]) == 0


@pytest.mark.parametrize("size", ["1", "2"])
def test_pretrain_lm_vocab_size_below_three_is_one_line(tmp_path, capsys, size, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["pretrain", "--dataset", "tiny", "--output_dir", "lm", *PRETRAIN_TINY, "--lm_vocab_size", size]
    assert cli.main(argv) == 2
    (line,) = error_lines(capsys)
    assert "--lm_vocab_size must be 0 (all words) or at least 3" in line and f"but it was {size}" in line
    assert list(tmp_path.iterdir()) == []


RECIPE_TINY = [*TINY, "--min_frequency", "1", "--num_train_epochs", "1", "--per_device_train_batch_size", "16"]


@pytest.fixture(scope="module")
def unlabelled_dataset(tmp_path_factory):
    return toy_with_unlabelled(tmp_path_factory.mktemp("data") / "with-unlabelled", n_train=60, n_unlabelled=40)


def cpu_best(dataset, out) -> list[str]:
    return ["train", "--preset", "cpu-best", "--dataset", dataset, "--output_dir", str(out), *RECIPE_TINY, *QUIET]


def test_a_full_disk_while_cpu_best_writes_its_recipe_folder_is_one_line(unlabelled_dataset, tmp_path, capsys,
                                                                         monkeypatch):  # fmt: skip
    from hf_bilstm.training import distillation

    out = tmp_path / "best"
    real = distillation.json

    def dump(value, handle, **kwargs):  # the disk fills up part-way through recipe_results.json
        handle.write(real.dumps(value)[:20])
        raise no_room(handle.name)

    monkeypatch.setattr(distillation, "json", types.SimpleNamespace(dump=dump))
    assert cli.main(cpu_best(unlabelled_dataset, out)) == 1
    lines = error_lines(capsys)
    assert len(lines) == 1 and "No space left" in lines[0] and "recipe_results.json" in lines[0], lines
    # Nothing half-written: no recipe folder (this run made it), no model folder, no temporary file anywhere.
    assert sorted(os.listdir(tmp_path)) == [], sorted(os.listdir(tmp_path))


@pytest.mark.parametrize("how", ["chmod", "EROFS"])
def test_a_read_only_folder_for_cpu_best_s_recipe_folder_is_one_line(unlabelled_dataset, tmp_path, capsys,
                                                                     monkeypatch, how):  # fmt: skip
    from hf_bilstm.training import distillation

    parent = tmp_path / "parent"
    parent.mkdir()
    out = parent / "best"
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only (chmod 555) folder anyway; the EROFS case covers it")
        parent.chmod(0o555)
    else:
        real_makedirs = os.makedirs

        def makedirs(path, *args, **kwargs):  # the file system is read-only where the recipe folder goes
            if os.path.normpath(path) == str(out) + "-recipe":
                raise read_only(path)
            return real_makedirs(path, *args, **kwargs)

        monkeypatch.setattr(distillation.os, "makedirs", makedirs)
    try:
        assert cli.main(cpu_best(unlabelled_dataset, out)) == 2
    finally:
        parent.chmod(0o755)
    lines = error_lines(capsys)
    assert len(lines) == 1 and str(parent) in lines[0], lines
    assert "Read-only" in lines[0] or "Permission denied" in lines[0], lines
    assert os.listdir(parent) == []

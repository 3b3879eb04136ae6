"""Round 3, folders (issue 33, point 1): every folder a command writes goes through one check before any phase runs
(never an input nor inside one, never someone's work without --overwrite_output_dir, nothing left behind by a
refusal); --overwrite_output_dir never deletes a recipe folder that is the dataset or holds another model; every file
the package writes into a model folder is protected from `--output_file` (docs/robustness.md)."""

import io
import json
import shutil

import pytest
from helpers import QUIET, TINY, save_tiny_model, snapshot, toy_with_unlabelled

from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import export as export_cmd
from hf_bilstm.commands import predict as predict_cmd
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.folder import LOCK_NAME, MARKER_NAME
from hf_bilstm.training.distillation import RESULTS_NAME

RECIPE_TINY = [*TINY, "--min_frequency", "1", "--num_train_epochs", "1", "--per_device_train_batch_size", "16"]


def one_error(code, capsys, *words) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def unlabelled_dataset(folder) -> str:
    return toy_with_unlabelled(folder, n_train=80, n_test=20, n_unlabelled=40)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return unlabelled_dataset(tmp_path_factory.mktemp("data") / "imdb-copy")


def recipe(dataset, out, *extra):
    return train_cmd.main(["--preset", "cpu-best", "--dataset", str(dataset), "--output_dir", str(out),
                           *RECIPE_TINY, *QUIET, *extra])  # fmt: skip


def test_overwrite_never_deletes_a_recipe_folder_that_is_the_dataset(tmp_path, capsys):
    # On main --overwrite_output_dir removed `<output_dir>-recipe` whole: here, the dataset.
    dataset = unlabelled_dataset(tmp_path / "run-recipe")
    before = snapshot(dataset)
    code = recipe(dataset, tmp_path / "run", "--overwrite_output_dir")
    one_error(code, capsys, "recipe folder", "--dataset")
    assert snapshot(dataset) == before and not (tmp_path / "run").exists()


def test_overwrite_never_deletes_a_recipe_folder_holding_another_model(tmp_path, data, capsys):
    save_tiny_model(tmp_path / "best-recipe")
    before = snapshot(tmp_path / "best-recipe")
    code = recipe(data, tmp_path / "best", "--overwrite_output_dir")
    one_error(code, capsys, "recipe folder", "never replaces")
    assert snapshot(tmp_path / "best-recipe") == before


@pytest.mark.parametrize("extra", [[], ["--overwrite_output_dir"]])
def test_a_recipe_inside_the_dataset_is_refused_before_any_phase_and_leaves_nothing(tmp_path, capsys, extra):
    # On main the teacher phases ran, the student refused, and `<dataset>/model-recipe` stayed inside the dataset.
    dataset = unlabelled_dataset(tmp_path / "data")
    before = snapshot(dataset)
    one_error(recipe(dataset, tmp_path / "data" / "model", *extra), capsys, "inside --dataset")
    assert snapshot(dataset) == before
    assert not (tmp_path / "data" / "model-recipe").exists() and not (tmp_path / "data" / "model").exists()


def test_a_student_refusal_comes_before_the_teachers(tmp_path, data, capsys):
    # On main --class_weights was refused by the student, after the teachers, leaving the recipe folder behind.
    one_error(recipe(data, tmp_path / "best", "--class_weights", "balanced"), capsys, "--class_weights")
    assert not (tmp_path / "best-recipe").exists() and not (tmp_path / "best").exists()


def test_overwrite_replaces_only_an_earlier_recipes_own_files(tmp_path, data, capsys):
    work = tmp_path / "best-recipe"
    (work / "teacher").mkdir(parents=True)
    (work / "teacher" / "config.json").write_text("{}")
    (work / RESULTS_NAME).write_text(json.dumps({"phases": {"old": {}}}))
    code = recipe(data, tmp_path / "best")
    one_error(code, capsys, "recipe folder", "--overwrite_output_dir")  # an earlier run's files: asked first
    assert recipe(data, tmp_path / "best", "--overwrite_output_dir") == 0
    assert "old" not in json.loads((work / RESULTS_NAME).read_text())["phases"] and not (work / "teacher").exists()
    (work / "notes.txt").write_text("mine")  # then someone's file is never replaced
    one_error(recipe(data, tmp_path / "best", "--overwrite_output_dir"), capsys, "notes.txt")
    assert (work / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("extra", [["--problem_type", "regression"], ["--problem_type", "multi_label_classification"],
                                   ["--label_separator", ";"], []])  # fmt: skip
def test_a_problem_the_recipe_cannot_teach_is_refused_before_the_teachers(tmp_path, capsys, extra):
    # Hostile re-run (H34): --problem_type regression trained the BiLSTM teacher, then the linear teacher failed with
    # an IndexError traceback. [] : labels like 'neg,pos' (multi-label, inferred from the data).
    data = tmp_path / "data"
    if extra:
        data = unlabelled_dataset(data)
    else:
        from datasets import Dataset, DatasetDict

        def rows(start, n):
            texts = [f"word{i} great" if i % 3 else f"word{i} awful" for i in range(start, start + n)]
            return {"text": texts, "label": (["pos", "neg,pos", "neg"] * n)[:n]}

        splits = {name: Dataset.from_dict(rows(start, n)) for name, start, n in
                  (("train", 0, 60), ("test", 100, 12), ("unsupervised", 200, 20))}  # fmt: skip
        DatasetDict(splits).save_to_disk(str(data))
    one_error(recipe(data, tmp_path / "best", *extra), capsys, "cpu-best teaches one class per text", "--preset cpu")
    assert not (tmp_path / "best-recipe").exists() and not (tmp_path / "best").exists()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model") / "classifier"
    save_tiny_model(folder)
    (folder / RESULTS_NAME).write_text('{"phases": {}}')
    (folder / "data_schema.json").write_text("{}")
    (folder / "predict_results.tsv").write_text("id\tlabel\n")
    (folder / "onnx").mkdir()
    (folder / "onnx" / "export_report.json").write_text("{}")
    (folder / "hf_bilstm.js").write_text("// module")
    (folder / "checkpoint-3").mkdir()
    return folder


@pytest.mark.parametrize("name", [RESULTS_NAME, "data_schema.json", "onnx/export_report.json", "hf_bilstm.js",
                                  "README.md", "eval_results.json", MARKER_NAME, LOCK_NAME])  # fmt: skip
def test_evaluate_output_file_never_replaces_a_file_of_the_model_folder(model, tmp_path, capsys, name):
    # On main recipe_results.json, the export report and the JS module could be replaced by the metrics.
    before = snapshot(model)
    dataset = unlabelled_dataset(tmp_path / "data")
    code = evaluate_cmd.main([str(model), "--dataset", dataset, "--output_file", str(model / name)])
    one_error(code, capsys, name.split("/")[-1], "file of the model folder")
    assert snapshot(model) == before


def test_evaluate_output_file_never_replaces_its_own_data_file(model, tmp_path, capsys):
    # Hostile re-run (H34): `evaluate --test_file d.jsonl --output_file d.jsonl` replaced the data with the metrics.
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "great film", "label": "pos"}\n{"text": "awful", "label": "neg"}\n')
    before = data.read_bytes()
    for flag in ("--test_file", "--dataset"):
        code = evaluate_cmd.main([str(model), flag, str(data), "--output_file", str(tmp_path / "." / "d.jsonl")])
        one_error(code, capsys, flag, "the data file this run reads")
        assert data.read_bytes() == before


@pytest.mark.parametrize("name", ["predict_results.tsv", "onnx/out.tsv", "checkpoint-3/out.csv", MARKER_NAME])
def test_predict_output_file_never_replaces_a_file_of_the_model_folder(model, capsys, name):
    # On main `--overwrite` let predictions replace predict_results.tsv (and write into onnx/).
    before = snapshot(model)
    argv = [str(model), "great film", "--device", "cpu", "--output_file", str(model / name), "--overwrite"]
    one_error(predict_cmd.main(argv, stdout=io.StringIO()), capsys, "file of the model folder")
    assert snapshot(model) == before


def test_export_never_writes_onnx_inside_its_data(tmp_path, capsys):
    pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
    dataset = unlabelled_dataset(tmp_path / "data")
    shutil.copytree(tmp_path / "data", tmp_path / "copy")
    save_tiny_model(tmp_path / "data" / "model")
    code = export_cmd.main([str(tmp_path / "data" / "model"), "--quantize", "int8", "--dataset", dataset])
    one_error(code, capsys, "inside --dataset")
    assert not (tmp_path / "data" / "model" / "onnx").exists()

"""Round 3, push (issue 33, point 3): a hard link is refused like a symlink, and every results JSON figure and card
field that becomes Hub metadata is type-checked and finite, or the push stops with one line naming the file and the
field; nothing reaches the (stand-in) Hub (docs/robustness.md)."""

import json
import os
import shutil

import pytest
from helpers import CARD, copy_folder, make_model_folder

from hf_bilstm.commands import push as push_cmd

REPO = "alice/tiny-bilstm"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pushable") / "model"
    make_model_folder(folder)
    return folder


@pytest.fixture
def folder(built, tmp_path):
    return copy_folder(built, tmp_path, "model")


def refused(argv, capsys, hub, *words) -> str:
    code = push_cmd.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("hf-bilstm push: error: "), err
    assert all(word in lines[0] for word in words), lines[0]
    assert REPO not in hub.repos  # nothing was sent
    return lines[0]


@pytest.mark.parametrize("name", ["test_results.json", "README.md", "tokenizer.json", "model.safetensors"])
def test_a_hard_link_is_refused_like_a_symlink(hub_env, folder, tmp_path, capsys, name):
    # On main the stand-in Hub served the content of the file outside the folder.
    outside = tmp_path / "secret.txt"
    shutil.copyfile(folder / name, outside)
    (folder / name).unlink()
    os.link(outside, folder / name)
    refused([folder, REPO, "--license", "mit", "--no_verify"], capsys, hub_env, "hard link", name)


def test_a_symlinked_onnx_folder_is_refused_not_left_out(hub_env, folder, tmp_path, capsys):
    # Hostile re-run (H34): onnx/ as a link to a folder elsewhere was skipped without a word, and the rest pushed.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.onnx").write_bytes(b"graph")
    os.symlink(outside, folder / "onnx")
    refused([folder, REPO, "--license", "mit", "--no_verify"], capsys, hub_env, "symbolic link", "onnx")


def test_a_card_that_is_not_utf8_stops_the_push(hub_env, folder, capsys):
    # Hostile re-run (H34): a Latin-1 README.md ended in a UnicodeDecodeError traceback.
    (folder / "README.md").write_bytes(CARD.encode() + "Caf\xe9 reviews.\n".encode("latin-1"))
    refused([folder, REPO, "--license", "mit", "--no_verify"], capsys, hub_env, "README.md", "not UTF-8", "iconv")


@pytest.mark.parametrize(
    "file, results, field",
    [
        ("test_results.json", {"test_accuracy": True, "test_f1": 0.8}, "test_accuracy"),
        ("test_results.json", {"test_accuracy": 0.8, "test_f1": float("nan")}, "test_f1"),
        ("test_results.json", {"test_accuracy": "0.93"}, "test_accuracy"),
        ("eval_results.json", {"eval_accuracy": float("inf")}, "eval_accuracy"),
        ("all_results.json", {"test_accuracy": None, "train_loss": 0.1}, "test_accuracy"),
    ],
)
def test_a_results_figure_that_is_not_a_finite_number_stops_the_push(hub_env, folder, capsys, file, results, field):
    # On main `true` became model-index accuracy 1.0 and NaN an f1 of NaN on the Hub.
    (folder / "test_results.json").unlink()
    (folder / file).write_text(json.dumps(results))
    refused([folder, REPO, "--no_verify"], capsys, hub_env, file, field)


@pytest.mark.parametrize("text", ["[0.9, 0.8]", '"accuracy"', "{not json"])
def test_a_results_file_that_is_not_an_object_stops_the_push(hub_env, folder, capsys, text):
    (folder / "test_results.json").write_text(text)
    refused([folder, REPO, "--no_verify"], capsys, hub_env, "test_results.json")


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("datasets:\n- stanfordnlp/imdb\n", "datasets: stanfordnlp/imdb\n", "datasets"),
        ("license: apache-2.0\n", "license: 2.0\n", "license"),
        ("tags:\n- sentiment\n", "tags: 3\n", "tags"),
        ("language: en\n", "language:\n- 7\n", "language"),
    ],
)
def test_a_card_field_of_the_wrong_type_stops_the_push(hub_env, folder, capsys, old, new, field):
    # On main a string `datasets:` became a model-index for the dataset "s".
    assert old in CARD
    (folder / "README.md").write_text(CARD.replace(old, new))
    refused([folder, REPO, "--no_verify"], capsys, hub_env, "README.md", field)


@pytest.mark.parametrize("value", [".nan", "true", "'high'"])
def test_a_card_model_index_figure_that_is_not_a_finite_number_stops_the_push(hub_env, folder, capsys, value):
    index = (
        "model-index:\n- name: tiny\n  results:\n  - task: {type: text-classification}\n"
        "    dataset: {name: imdb, type: stanfordnlp/imdb}\n"
        f"    metrics:\n    - {{type: accuracy, value: {value}}}\n"
    )
    (folder / "README.md").write_text(CARD.replace("language: en\n", "language: en\n" + index))
    refused([folder, REPO, "--no_verify"], capsys, hub_env, "README.md", "accuracy")


def test_a_clean_folder_still_pushes_with_its_model_index(hub_env, folder, capsys):
    assert push_cmd.main([str(folder), REPO, "--no_verify"]) == 0
    card = hub_env.file_bytes(REPO, "README.md").decode()
    assert "value: 0.8125" in card and "stanfordnlp/imdb" in card

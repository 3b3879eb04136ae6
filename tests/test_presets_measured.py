"""hf_bilstm.presets_measured: a preset's mean ± sd over seeds, as a committed JSON measured it, quoted by the card of
a run on the very same data, and by no other card."""

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import QUIET, TINY
from test_cards import run_record

from hf_bilstm import cards as model_card
from hf_bilstm import presets_measured
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.folder import file_sha256
from hf_bilstm.presets_measured import SEED_REFERENCES, seed_reference_for

REPO = Path(__file__).resolve().parent.parent
OWN_DATA = Path(os.environ.get("HF_BILSTM_OWN_DATA") or REPO.parent / "shared" / "data" / "own")


def require_own_data(what: str) -> Path:
    """../shared/data/own for a test: skipped (saying why) where it is absent, a failure under CI=true."""
    if not OWN_DATA.is_dir():
        message = f"../shared/data/own (the six public datasets) is absent; {what} needs it (or HF_BILSTM_OWN_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + ". CI=true: provide the data.", pytrace=False)
        pytest.skip(message)
    return OWN_DATA


def dataset_name(reference) -> str:
    return re.search(r"own/([\w-]+)", reference.flags).group(1)


def flag_values(reference) -> dict[str, str]:
    words = reference.flags.split()
    return dict(zip(words[::2], words[1::2]))


@pytest.mark.parametrize("reference", SEED_REFERENCES, ids=dataset_name)
def test_every_reference_is_what_its_committed_json_measured(reference):
    result = json.loads((REPO / reference.result).read_text(encoding="utf-8"))
    (measured,) = [entry for entry in result["over_seeds"] if entry["dataset"] == dataset_name(reference)]
    assert tuple(measured["seeds"]) == reference.seeds and len(reference.seeds) >= 3
    assert measured["hf_bilstm"].keys() == reference.figures.keys()
    for metric, (mean, std) in reference.figures.items():
        figure = measured["hf_bilstm"][metric]
        assert (mean, std) == (round(figure["mean"], 4), round(figure["std"], 4)), metric
    assert measured["wall_seconds"]["max"] == reference.wall_seconds_max
    assert result["commit"].startswith(reference.commit) and "CPU" in result["device"]
    runs = [run for run in result["datasets"] if run["dataset"] == dataset_name(reference)]
    # `--preset auto` on a CPU is `cpu`; the data flags as given, and no training flag but the seed
    for run in runs:
        command = re.sub(r"\S*/own/", "own/", run["command"])
        assert "--preset" not in command and command.startswith(f"hf-bilstm train {reference.flags} --output_dir ")


@pytest.mark.parametrize("reference", SEED_REFERENCES, ids=dataset_name)
def test_every_reference_names_the_shipped_files_by_content(reference):
    own = require_own_data("checking the references' file hashes")
    given = flag_values(reference)
    for key, digest in reference.files.items():
        flag, _, name = key.partition("/")
        path = own / given[flag].removeprefix("own/") / name
        assert file_sha256(str(path)) == digest, key


def fake_reference(tmp_path, **changes):
    folder = tmp_path / "questions"
    folder.mkdir(exist_ok=True)
    (folder / "train.csv").write_text("question,category\nwhat?,A\n", encoding="utf-8")
    (folder / "test.csv").write_text("question,category\nwho?,B\n", encoding="utf-8")
    files = {f"--dataset/{name}": file_sha256(str(folder / name)) for name in ("train.csv", "test.csv")}
    return folder, dataclasses.replace(SEED_REFERENCES[0], files=files, **changes)


def test_a_reference_is_found_only_for_the_same_files_columns_and_preset(tmp_path, monkeypatch):
    folder, reference = fake_reference(tmp_path)
    monkeypatch.setattr(presets_measured, "SEED_REFERENCES", (reference,))
    args = SimpleNamespace(dataset=str(folder), train_file=None, validation_file=None, test_file=None)
    schema = SimpleNamespace(text_columns=["question"], label_columns=["category"])
    found = seed_reference_for("cpu", args, schema)
    assert found["figures"] == reference.figures and found["result"] == reference.result
    assert seed_reference_for("base", args, schema) is None  # another preset
    assert seed_reference_for("cpu", args, SimpleNamespace(text_columns=["x"], label_columns=["category"])) is None
    (folder / "notes.md").write_text("mine", encoding="utf-8")  # another file in the folder: other data
    assert seed_reference_for("cpu", args, schema) is None
    (folder / "notes.md").unlink()
    (folder / "test.csv").write_text("question,category\nwho?,C\n", encoding="utf-8")  # one byte changed
    assert seed_reference_for("cpu", args, schema) is None
    files = SimpleNamespace(dataset=None, train_file=str(folder / "train.csv"), validation_file=None, test_file=None)
    assert seed_reference_for("cpu", files, schema) is None  # the same file named by another flag: not the same run


def test_the_card_quotes_the_reference_apart_from_its_own_run_and_nothing_without_one(tmp_path):
    reference = dataclasses.asdict(SEED_REFERENCES[-1])
    run = run_record("single_label_classification", ["ham", "spam"], {"test_accuracy": 0.97}, seed_reference=reference)
    card = model_card.build_classifier_card(str(tmp_path / "m"), run)
    note = card.text[card.text.index("For comparison (not this run)") :].split("\n\n")[0]
    assert "preset `cpu` as shipped" in note and "Accuracy 0.9827 ± 0.0027, Macro F1 0.9626 ± 0.0060" in note
    assert "mean ± sample standard deviation of 3 runs (seeds 42, 1, 2" in note and reference["result"] in note
    assert "| test | 20 | 0.9700 |" in card.text  # the run's own figure stays in its own table
    plain = model_card.build_classifier_card(
        str(tmp_path / "p"), run_record("single_label_classification", ["ham", "spam"], {"test_accuracy": 0.97})
    )
    assert "For comparison" not in plain.text and "±" not in plain.text


def test_a_run_on_the_shipped_trec_quotes_its_three_seed_mean(tmp_path, capsys):
    own = require_own_data("the card of a run on TREC-6")
    data = tmp_path / "trec"
    data.mkdir()
    for path in (own / "trec").iterdir():  # where the data lies does not matter, what it holds does
        shutil.copyfile(path, data / path.name)
    out = tmp_path / "run"
    argv = ["--dataset", str(data), "--text_column", "question", "--label_column", "category"]
    argv += ["--output_dir", str(out), *TINY, *QUIET, "--max_steps", "2", "--max_train_samples", "400"]
    argv += ["--max_eval_samples", "50", "--max_test_samples", "50"]
    assert train_cmd.main(argv) == 0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "For comparison (not this run): preset `cpu`" in card and "Accuracy 0.8807 ± 0.0147" in card
    with open(data / "test.csv", "a", encoding="utf-8") as handle:
        handle.write("What is a changed file ?,DESC\n")
    assert train_cmd.main([*argv, "--overwrite_output_dir", "true"]) == 0
    assert "For comparison" not in (out / "README.md").read_text(encoding="utf-8")

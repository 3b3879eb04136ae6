"""`--preset cpu-best` (hf_bilstm.training.distillation): teachers, soft labels, the student and the phase record."""

import json
import os

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict, load_from_disk
from helpers import FEATURES, QUIET, TINY, toy_rows, write_csv, write_toy_dataset

from hf_bilstm import presets
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.data import SOFT_LABELS, PaddingCollator, Splits
from hf_bilstm.errors import UsageError
from hf_bilstm.training import time_budget
from hf_bilstm.training.distillation import RESULTS_NAME, recipe_folder
from hf_bilstm.training.linear_teacher import LinearTeacher, ngrams
from hf_bilstm.training.soft_labels import with_soft_labelled_rows
from hf_bilstm.training.trainer import SoftLabelTrainer

# Small and quick: a 1-epoch teacher, a 1-epoch student.
RECIPE_TINY = [*TINY, "--min_frequency", "1", "--num_train_epochs", "1", "--per_device_train_batch_size", "16"]


def _toy_with_unlabelled(folder, n_unlabelled=120, test_copies=()):
    """Toy train/test splits plus an `unsupervised` split (as IMDB's) holding `test_copies` test texts, saved with
    `save_to_disk` (a folder of loose parquet files names no split but train, test and validation)."""
    splits = {split: Dataset.from_dict(toy_rows(n, seed), features=FEATURES) for seed, (split, n) in enumerate(
        (("train", 160), ("test", 40))
    )}  # fmt: skip
    texts = toy_rows(n_unlabelled, seed=7)["text"][: n_unlabelled - len(test_copies)] + list(test_copies)
    splits["unsupervised"] = Dataset.from_dict({"text": texts, "label": [0] * len(texts)}, features=FEATURES)
    DatasetDict(splits).save_to_disk(str(folder))
    return str(folder)


def _test_texts(folder):
    return list(load_from_disk(str(folder))["test"]["text"])


# ------------------------------------------------------------------------------------------------ the linear teacher


def test_ngrams_are_binary_unigrams_and_bigrams():
    assert ngrams("Great great film!<br />Loved it") == {
        "great", "film", "!", "loved", "it", "great great", "great film", "film !", "! loved", "loved it",
    }  # fmt: skip


def test_ngrams_order_adds_trigrams_or_keeps_unigrams_only():
    text = "not at all good"
    assert ngrams(text, 1) == {"not", "at", "all", "good"}
    assert ngrams(text, 3) == ngrams(text) | {"not at all", "at all good"}
    with pytest.raises(ValueError, match="n-gram order must be 1 or more"):
        LinearTeacher(order=0)


def test_linear_teacher_learns_toy_sentiment_and_gives_probabilities():
    train, val = toy_rows(300, 0), toy_rows(100, 1)
    teacher = LinearTeacher(epochs=3).fit(train["text"], train["label"], val["text"], val["label"])
    assert teacher.eval_accuracy >= 0.9
    assert [h["epoch"] for h in teacher.history] == [1, 2, 3]
    probabilities = teacher.predict_proba(val["text"] + ["", "zzz unseen words only"])
    assert probabilities.shape == (102, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities[:100].argmax(axis=1) == np.asarray(val["label"])).mean() == teacher.eval_accuracy
    # A text with no known n-gram gets the bias alone: the same answer as an empty text, not an error.
    assert np.allclose(probabilities[100], probabilities[101])


def test_linear_teacher_keeps_its_best_validation_epoch():
    train, val = toy_rows(200, 0), toy_rows(60, 1)
    teacher = LinearTeacher(epochs=4, learning_rate=0.5).fit(train["text"], train["label"], val["text"], val["label"])
    best = max(h["eval_accuracy"] for h in teacher.history)
    assert teacher.eval_accuracy == best
    assert (teacher.predict_proba(val["text"]).argmax(axis=1) == np.asarray(val["label"])).mean() == best


# ------------------------------------------------------------------------------------------------ soft labels


def _splits(n_train=20):
    train = Dataset.from_dict(toy_rows(n_train, 0), features=FEATURES)
    validation = Dataset.from_dict(toy_rows(6, 1), features=FEATURES)
    test = Dataset.from_dict(toy_rows(6, 2), features=FEATURES)
    return Splits(train, validation, test, ["neg", "pos"], True)


def test_soft_labelled_rows_follow_the_training_rows_with_one_hot_labels():
    splits = _splits()
    extra = Dataset.from_dict({"text": ["fine film", "bad film"], SOFT_LABELS: [[0.2, 0.8], [3.0, 1.0]]})
    train = with_soft_labelled_rows(splits, extra, "text", "label")
    assert len(train) == 22
    assert train[SOFT_LABELS][:2] == [[1.0, 0.0] if y == 0 else [0.0, 1.0] for y in splits.train["label"][:2]]
    assert train["label"][:20] == list(splits.train["label"])
    assert np.allclose(train[SOFT_LABELS][20:], [[0.2, 0.8], [0.75, 0.25]])  # rows are normalised to sum to 1
    assert train["label"][20:] == [1, 0]  # the hard label is the teacher's argmax


def test_soft_labelled_rows_never_include_validation_or_test_texts(capsys):
    splits = _splits()
    leaked = [splits.validation["text"][0], splits.test["text"][3]]
    extra = Dataset.from_dict({"text": ["fine film", *leaked], SOFT_LABELS: [[0.5, 0.5]] * 3})
    train = with_soft_labelled_rows(splits, extra, "text", "label")
    assert len(train) == 21
    assert not set(leaked) & set(train["text"])
    assert "dropped 2 unlabelled row(s)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "soft, problem",
    [([[0.5, 0.5, 0.0]], "shape"), ([[-0.1, 1.1]], "non-negative"), ([[float("nan"), 1.0]], "non-negative")],
)
def test_bad_soft_labels_are_refused(soft, problem):
    extra = Dataset.from_dict({"text": ["fine film"], SOFT_LABELS: soft})
    with pytest.raises(UsageError, match=problem):
        with_soft_labelled_rows(_splits(), extra, "text", "label")


def test_collator_carries_soft_labels_as_floats():
    batch = PaddingCollator(0)([{"input_ids": [3, 4], "labels": 1, SOFT_LABELS: [0.25, 0.75]}, {"input_ids": [5]}][:1])
    assert batch[SOFT_LABELS].dtype == torch.float32 and batch[SOFT_LABELS].tolist() == [[0.25, 0.75]]


def test_soft_label_loss_is_cross_entropy_against_the_probabilities():
    class Model(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None, labels=None):
            assert labels is None  # the hard label must not add a loss of its own
            return type("Out", (), {"logits": torch.tensor([[1.0, -1.0], [0.0, 2.0]])})()

    trainer = SoftLabelTrainer.__new__(SoftLabelTrainer)
    soft = torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    inputs = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "labels": torch.tensor([0, 1]), SOFT_LABELS: soft}
    loss = trainer.compute_loss(Model(), inputs)
    expected = -(soft * torch.log_softmax(torch.tensor([[1.0, -1.0], [0.0, 2.0]]), -1)).sum(-1).mean()
    assert torch.allclose(loss, expected)
    # with one-hot soft labels it is the usual cross-entropy
    one_hot = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    inputs = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "labels": torch.tensor([0, 1]), SOFT_LABELS: one_hot}
    ce = torch.nn.functional.cross_entropy(torch.tensor([[1.0, -1.0], [0.0, 2.0]]), torch.tensor([0, 1]))
    assert torch.allclose(trainer.compute_loss(Model(), inputs), ce)


# ------------------------------------------------------------------------------------------------ the whole recipe


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.0, 1.0)], ids=["two-teachers", "linear-teacher-only"])
def test_cpu_best_runs_every_phase_and_records_each(tmp_path, monkeypatch, weights):
    monkeypatch.setitem(presets.PRESETS[presets.DISTILLED_PRESET].distillation, "teacher_weights", weights)
    data = tmp_path / "data"
    test_copy = _test_texts(_toy_with_unlabelled(tmp_path / "first"))[0]
    dataset = _toy_with_unlabelled(data, test_copies=[test_copy])
    out = tmp_path / "best"
    argv = ["--preset", "cpu-best", "--dataset", dataset, "--output_dir", str(out), *RECIPE_TINY, *QUIET]
    assert train_cmd.main(argv) == 0

    record = json.loads((out / RESULTS_NAME).read_text())
    assert record == json.loads((tmp_path / "best-recipe" / RESULTS_NAME).read_text())
    with_bilstm = weights[0] > 0
    assert list(record["phases"]) == ["bilstm_teacher"] * with_bilstm + ["linear_teacher", "soft_labels", "student"]
    soft = record["phases"]["soft_labels"]
    assert soft["unlabelled_rows"] == 120
    assert soft["teacher_weights"] == {"bilstm": weights[0], "linear": weights[1]}
    assert record["test_accuracy"] == json.loads((out / "all_results.json").read_text())["test_accuracy"]
    assert record["within_budget"] is True and record["time_budget_seconds"] == 3300.0
    teachers = ["bilstm_teacher", "linear_teacher"] if with_bilstm else ["linear_teacher"]
    for name in [f"eval_accuracy_{teacher}" for teacher in teachers] + ["eval_accuracy_average"]:
        assert 0.0 <= soft[name] <= 1.0
    if not with_bilstm:
        assert soft["eval_accuracy_average"] == soft["eval_accuracy_linear_teacher"]

    # The student trained on the labelled rows (144 after the carve) plus the unlabelled ones, less the test copy.
    train_rows = json.loads((out / "all_results.json").read_text())["train_samples"]
    assert train_rows == 144 + 119 == record["phases"]["student"]["train_rows"]
    teacher = tmp_path / "best-recipe" / "teacher"
    if with_bilstm:  # a complete model folder that never read the test split
        assert (teacher / "model.safetensors").is_file()
        assert not (teacher / "test_results.json").exists()
        assert not any(k.startswith("test_") for k in json.loads((teacher / "all_results.json").read_text()))
    else:
        assert not teacher.exists()
    card = (out / "README.md").read_text()
    assert "119 unlabelled rows" in card and "training split and its unlabelled rows" in card

    from transformers import pipeline

    import hf_bilstm  # noqa: F401

    assert pipeline("text-classification", model=str(out))("great wonderful film")[0]["label"] in ("neg", "pos")


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.0, 1.0)], ids=["two-teachers", "linear-teacher-only"])
def test_cpu_best_phases_stay_within_a_tiny_time_budget(tmp_path, monkeypatch, weights):
    monkeypatch.setattr(time_budget, "RECIPE_MINIMUM_SECONDS", 0.0)  # below the minimum: loading alone spends it
    monkeypatch.setitem(presets.PRESETS[presets.DISTILLED_PRESET].distillation, "teacher_weights", weights)
    dataset = _toy_with_unlabelled(tmp_path / "data")
    out = tmp_path / "best"
    argv = ["--preset", "cpu-best", "--dataset", dataset, "--output_dir", str(out), *TINY, "--min_frequency", "1"]
    argv += ["--num_train_epochs", "3", "--per_device_train_batch_size", "8", "--max_train_seconds", "0.5", *QUIET]
    assert train_cmd.main(argv) == 0
    record = json.loads((out / RESULTS_NAME).read_text())
    assert record["time_budget_seconds"] == 0.5
    if weights[0]:
        assert record["phases"]["bilstm_teacher"]["stopped_by_time_budget"] is True
    assert record["phases"]["student"]["stopped_by_time_budget"] is True
    assert (out / "model.safetensors").is_file()  # stopped early, still a complete folder


def test_cpu_best_refuses_before_training(tmp_path, capsys):
    plain = write_toy_dataset(tmp_path / "plain", n_train=40, n_test=10)
    out = tmp_path / "best"
    base = ["--preset", "cpu-best", "--output_dir", str(out), *RECIPE_TINY, *QUIET]
    # no unlabelled split: refused at once, nothing trained, no folder left behind
    assert train_cmd.main([*base, "--dataset", plain]) == 2
    assert "labels unlabelled texts, but the data has none" in capsys.readouterr().err
    assert not os.path.exists(recipe_folder(str(out)))

    dataset = _toy_with_unlabelled(tmp_path / "data")
    os.makedirs(recipe_folder(str(out)))
    (tmp_path / "best-recipe" / "notes.txt").write_text("mine")
    assert train_cmd.main([*base, "--dataset", dataset]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "best-recipe" / "notes.txt").read_text() == "mine"

    assert train_cmd.main([*base, "--dataset", dataset, "--resume_from_checkpoint", "last"]) == 2
    assert train_cmd.main([*base, "--dataset", dataset, "--model_name_or_path", str(tmp_path)]) == 2


# ------------------------------------------------------------------------------------- --preset auto and cpu-taught


def test_auto_on_a_cpu_teaches_when_the_data_has_unlabelled_text(tmp_path, capsys):
    dataset = _toy_with_unlabelled(tmp_path / "data")
    out = tmp_path / "taught"
    assert train_cmd.main(["--dataset", dataset, "--output_dir", str(out), *RECIPE_TINY, *QUIET]) == 0
    logged = capsys.readouterr().err
    assert "--preset auto: no GPU, and the data has unlabelled text (120 texts in split 'unsupervised')" in logged
    assert "'cpu-taught'" in logged
    record = json.loads((out / RESULTS_NAME).read_text())
    assert list(record["phases"]) == ["linear_teacher", "soft_labels", "student"]
    assert record["time_budget_seconds"] == presets.PRESETS["cpu-taught"].distillation["max_seconds"] == 660.0
    results = json.loads((out / "all_results.json").read_text())
    assert results["train_samples"] == 144 + 120 and results["time_budget_schedule_fitted"] is True
    assert json.loads((out / "config.json").read_text())["hidden_size"] == 8  # the flags given still win


def test_auto_on_a_cpu_trains_cpu_without_unlabelled_text(tmp_path, capsys):
    plain = write_toy_dataset(tmp_path / "plain", n_train=40, n_test=10)
    out = tmp_path / "plain-run"
    assert train_cmd.main(["--dataset", plain, "--output_dir", str(out), *RECIPE_TINY, *QUIET]) == 0
    assert "--preset auto: no GPU, so 'cpu'" in capsys.readouterr().err
    assert not (out / RESULTS_NAME).exists() and not os.path.exists(recipe_folder(str(out)))


def test_auto_gives_way_to_cpu_where_the_recipe_cannot_teach(tmp_path, capsys):
    # Class weights do not combine with soft labels: `--preset cpu-taught` refuses them, `--preset auto` trains `cpu`.
    dataset = _toy_with_unlabelled(tmp_path / "data")
    out = tmp_path / "weighted"
    argv = ["--dataset", dataset, "--output_dir", str(out), *RECIPE_TINY, *QUIET, "--class_weights", "balanced"]
    assert train_cmd.main(argv) == 0
    logged = capsys.readouterr().err
    assert "does not combine with --preset cpu-taught's soft labels" in logged and "trains 'cpu'" in logged
    assert not (out / RESULTS_NAME).exists() and (out / "model.safetensors").is_file()
    assert train_cmd.main([*argv, "--preset", "cpu-taught", "--output_dir", str(tmp_path / "asked")]) == 2


def test_auto_teaches_from_an_unlabelled_file_beside_csv_files(tmp_path, capsys):
    rows = toy_rows(160, seed=0)
    train = write_csv(tmp_path / "train.csv", ["review", "label"], zip(rows["text"], rows["label"]))
    unlabelled = tmp_path / "more.txt"
    unlabelled.write_text("\n".join(toy_rows(60, seed=9)["text"]) + "\n", encoding="utf-8")
    out = tmp_path / "taught-from-file"
    argv = ["--train_file", train, "--text_column", "review", "--unlabelled_file", str(unlabelled)]
    assert train_cmd.main([*argv, "--output_dir", str(out), *RECIPE_TINY, *QUIET]) == 0
    assert f"(60 texts from --unlabelled_file {unlabelled})" in capsys.readouterr().err
    record = json.loads((out / RESULTS_NAME).read_text())
    assert record["phases"]["soft_labels"]["unlabelled_rows"] == 60

"""Model cards on toy data (no ../shared needed): what a classifier's and a language model's card say, and declare."""

import json
from pathlib import Path

import pytest
from helpers import QUIET, TINY, tiny_args, tiny_imdb, write_toy_dataset
from huggingface_hub import ModelCard

from hf_bilstm import cards as model_card
from hf_bilstm import push_card
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.training.pretraining import pretrain

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOY_CARD = "---\nlicense: cc-by-4.0\nlanguage:\n- en\npretty_name: Toy reviews\n---\n\n# Toy reviews\n"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A local dataset folder whose own card declares a license, a language and a pretty name."""
    root = tmp_path_factory.mktemp("cards")
    data = Path(write_toy_dataset(root / "reviews", n_train=120, n_test=40))
    (data / "README.md").write_text(TOY_CARD)
    return root, str(data)


def train_card(root: Path, data: str, name: str, *extra: str):
    out = root / name
    argv = ["--dataset", data, "--output_dir", str(out), "--preset", "base", *TINY, "--num_train_epochs", "1"]
    assert train_cmd.main([*argv, "--per_device_train_batch_size", "16", *QUIET, *extra]) == 0
    results = json.loads((out / "all_results.json").read_text())
    return out, ModelCard.load(out / "README.md"), results


def test_card_of_a_local_copy_holds_the_run_and_no_made_up_hub_metadata(toy):
    out, card, results = train_card(*toy, "local")
    data, text = card.data, card.text
    assert data.license == "cc-by-4.0" and data.language == ["en"]  # from the dataset's own card, not hard-coded
    assert data.datasets is None and data.eval_results is None  # a folder name is not a Hub id
    assert "trained from scratch on a local copy of Toy reviews (folder `reviews`)" in text
    row = f"| test | 40 | {results['test_accuracy']:.4f} | {results['test_f1']:.4f} | {results['test_loss']:.4f} |"
    assert row in text and f"| validation | 12 | {results['eval_accuracy']:.4f} |" in text
    assert f'model="{out.resolve()}"' in text and f"hf-bilstm predict {out.resolve()} " in text  # the exact folder
    assert "| warmup_ratio | 0.05 |" in text and "warmup_steps" not in text  # the base preset's share of the steps
    assert "classifying English texts" in text and "pip install -e ." in text and "pip install hf-bilstm" not in text
    speed = f"read {results['test_samples_per_second']:,.0f} texts per second on"  # the run's own, not the README's
    assert speed in text and "reviews per second" not in text
    assert "{{" not in text and "{%" not in text


def test_flags_name_the_hub_dataset_license_and_language(toy):
    args = ["--dataset_name", "alice/toy-reviews", "--license", "mit", "--language", "de"]
    _, card, results = train_card(*toy, "named", *args)
    data = card.data
    assert data.license == "mit" and data.language == ["de"] and data.datasets == ["alice/toy-reviews"]
    parsed = {(r.dataset_split, r.metric_type): r for r in data.eval_results}
    assert parsed[("test", "accuracy")].metric_value == results["test_accuracy"]
    assert parsed[("validation", "accuracy")].metric_value == results["eval_accuracy"]
    assert parsed[("test", "f1")].metric_value == results["test_f1"]
    assert parsed[("test", "f1")].metric_name == "Macro F1 (test)"
    assert {r.dataset_type for r in data.eval_results} == {"alice/toy-reviews"}
    assert "a local copy of `alice/toy-reviews`" in card.text and "classifying German texts" in card.text


def test_a_dataset_without_a_card_declares_neither_license_nor_language(tmp_path):
    data = write_toy_dataset(tmp_path / "plain", n_train=10, n_test=4)
    source = model_card.DatasetSource.resolve(data)
    assert source.license is None and source.language is None and source.hub_id is None
    assert source.description == "a local copy of `plain`"
    hub = model_card.DatasetSource.resolve("someone/never-downloaded")  # not in the cache: no network call, no guess
    assert hub.hub_id == "someone/never-downloaded" and hub.license is None
    assert hub.description == "`someone/never-downloaded`"


def test_a_template_variable_without_a_value_is_refused(tmp_path):
    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n# {{ model_name }} on {{ dataset_descripton }}\n")
    with pytest.raises(KeyError, match="dataset_descripton"):
        model_card._render(template, model_card.ModelCardData(), {"model_name": "m"})


def test_language_model_card_names_the_local_copy_and_the_exact_folder(toy, tmp_path):
    _, data = toy
    out = tmp_path / "lm"
    pretrain(*tiny_args(out, dataset=data, max_steps=2, warmup_steps=0.1), raw=tiny_imdb())
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "cc-by-4.0" and card.data.language == ["en"] and card.data.datasets is None
    assert "language-model" in card.data.tags and card.data.library_name == "transformers"
    assert "a local copy of Toy reviews" in card.text and f'from_pretrained("{out.resolve()}"' in card.text
    assert "| warmup_ratio | 0.1 |" in card.text and "{{" not in card.text


def test_push_names_the_repository_where_the_card_named_the_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    usage = f'pipeline("text-classification", model="{folder.resolve()}")'
    text = f"---\nlicense: mit\ndatasets:\n- alice/toy\n---\n\n{usage}\n"
    completed = push_card.complete_card(text, "alice/tiny", folder)
    assert 'model="alice/tiny"' in completed and str(folder.resolve()) not in completed
    assert ModelCard(completed).data.license == "mit"


QUESTIONS = {
    "NUM": "How many {} are in the {} ?",
    "HUM": "Who named the {} of the {} ?",
    "LOC": "Where is the {} {} ?",
}
THINGS = ["moon", "port", "hand", "river", "bridge", "tower", "island", "library", "garden", "station", "lake"]


def question_rows(start: int, count: int) -> list[tuple[str, str]]:
    """Question-type rows (TREC-like), each text different."""
    rows = []
    for i in range(start, start + count):
        label = list(QUESTIONS)[i % 3]
        rows.append((QUESTIONS[label].format(THINGS[i % 11], THINGS[(i // 11) % 11] + str(i)), label))
    return rows


def test_card_of_other_data_speaks_of_that_data_only(tmp_path):
    """A model of question types (not IMDB): its card has no IMDB word, no IMDB speed or accuracy, and says that the
    data's language and domain were not stated."""
    import csv

    data = tmp_path / "questions"
    data.mkdir()
    for split, rows in (("train", question_rows(0, 60)), ("test", question_rows(60, 12))):
        with open(data / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    out, card, results = train_card(tmp_path, str(data), "question-types")
    text = (out / "README.md").read_text(encoding="utf-8")
    for word in ("imdb", "review", "movie", "film"):
        assert word not in text.lower(), word
    assert "their language and domain are not stated" in text and "HUM" in text
    assert f"{results['test_accuracy']:.4f}" in text


def run_record(problem_type: str, label_names: list[str], metrics: dict, **extra) -> model_card.ClassifierRun:
    return model_card.ClassifierRun(
        metrics=metrics,
        dataset=model_card.DatasetSource(given="alice/emotions", hub_id="alice/emotions", title="`alice/emotions`"),
        splits={"train": 100, "validation": 10, "test": 20},
        label_names=label_names,
        text_column="text",
        config={"num_layers": 1, "hidden_size": 8, "pooling": "max_mean"},
        max_length=64,
        truncation_side="right",
        vocab_size=100,
        training_args={"seed": 42},
        validation_carved=True,
        validation_fraction=0.1,
        device="CPU",
        versions={"torch": "x"},
        preset="cpu",
        preset_reference={"test_accuracy": 0.9, "validation_accuracy": 0.9, "wall_minutes": 9, "device": "CPU"}
        | {"result": "x.json"},
        problem_type=problem_type,
        **extra,
    )


def test_multi_label_and_regression_cards_show_their_own_metrics_and_model_index(tmp_path):
    multi = run_record(
        "multi_label_classification",
        ["joy", "anger", "fear"],
        {"test_f1_micro": 0.61, "test_f1": 0.52, "test_accuracy": 0.4, "test_loss": 0.3, "eval_f1_micro": 0.6}
        | {"test_precision_joy": 0.7, "test_recall_joy": 0.6, "test_f1_joy": 0.646},  # hf_bilstm.metrics' keys
    )
    card = model_card.build_classifier_card(str(tmp_path / "m"), multi)
    index = {(r.dataset_split, r.metric_type): r for r in card.data.eval_results}
    assert index[("test", "f1_micro")].metric_value == 0.61 and index[("test", "f1_micro")].metric_config == "micro"
    assert index[("test", "f1")].metric_config == "macro" and ("test", "accuracy") not in index
    assert "| split | rows | micro F1 | macro F1 | exact match | loss |" in card.text
    assert "| test | 20 | 0.6100 | 0.5200 | 0.4000 | 0.3000 |" in card.text
    assert "| `joy` | 0.7000 | 0.6000 | 0.6460 | – |" in card.text and "`anger` |" not in card.text
    multi.per_class = {"test": {"fear": {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "support": 8}}}
    card = model_card.build_classifier_card(str(tmp_path / "m"), multi)  # train's table, with each class's rows
    assert "| `fear` | 0.5000 | 0.2500 | 0.3333 | 8 |" in card.text and "`joy` |" not in card.text
    assert "top_k=None" in card.text and 'if s["score"] >= 0.5' in card.text
    assert "As shipped" not in card.text  # the preset's IMDB figures are quoted only for a model of IMDB
    regression = run_record("regression", ["score"], {"test_mse": 0.04, "test_pearson": 0.71, "test_loss": 0.04})
    card = model_card.build_classifier_card(str(tmp_path / "r"), regression)
    index = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert index == {("test", "mse"): 0.04, ("test", "pearson"): 0.71}
    assert "| split | rows | MSE | Pearson | loss |" in card.text and "Output: one score per text" in card.text
    assert "scoring texts like those of its training data" in card.text and "{{" not in card.text


def test_a_preset_measured_over_seeds_is_quoted_as_mean_and_sd():
    from hf_bilstm.presets import reference_sentence

    one = {"test_accuracy": 0.891, "validation_accuracy": 0.915, "wall_minutes": 11.7, "device": "a CPU"}
    one["result"] = "one.json"
    assert "reached 89.1% test accuracy on IMDB (validation 91.5%) in 12 minutes on a CPU, in a single run" in (
        reference_sentence(one)
    )
    seeded = one | {"test_accuracy_std": 0.0057, "validation_accuracy_std": 0.0031, "seeds": 3, "result": "s.json"}
    text = reference_sentence(seeded)
    assert "reached 89.1% ± 0.6% test accuracy on IMDB (validation 91.5% ± 0.3%; mean" in text
    assert "of 3 seeds), each run within 12 minutes on a CPU (`s.json`" in text and "single run" not in text


def test_every_seeded_preset_reference_names_a_committed_result_with_those_figures():
    from hf_bilstm.presets import PRESET_REFERENCES

    repo = Path(__file__).resolve().parent.parent
    for name, reference in PRESET_REFERENCES.items():
        if reference.get("seeds", 1) == 1:
            continue
        recorded = json.loads((repo / reference["result"]).read_text())
        assert len(recorded["seeds"]) == reference["seeds"], name
        assert round(recorded["test_accuracy_mean"], 4) == reference["test_accuracy"], name
        assert round(recorded["test_accuracy_std"], 4) == reference["test_accuracy_std"], name
        assert round(recorded["eval_accuracy_mean"], 4) == reference["validation_accuracy"], name

"""The user's own data in the shapes people have it: every shape is written here as a small file, loaded, and (for the
end-to-end ones) trained and evaluated with a tiny model from one command."""

import json
import os
import random

import pytest
from helpers import QUIET, TINY, write_csv

from hf_bilstm.arguments import parse_settings
from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import train as train_cmd
from hf_bilstm.data import load_raw_dataset, prepare_splits
from hf_bilstm.data_schema import MULTI_LABEL, REGRESSION, SCHEMA_FILE, SINGLE_LABEL
from hf_bilstm.errors import UsageError
from hf_bilstm.presets import PRESETS, REGRESSION_CLASSIFIER_DROPOUT, model_settings
from hf_bilstm.training.trainer import selection_args

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = {
    "sport": "match goal team coach season player win score".split(),
    "business": "market shares profit bank company stock price deal".split(),
    "science": "space research study cells planet energy data lab".split(),
}
COMMON = "the a of today new said report more".split()


def rows(n: int, seed: int = 0):
    """(title, description, topic index) rows whose words tell the topic."""
    rng = random.Random(seed)
    topics = list(WORDS)
    out = []
    for i in range(n):
        topic = i % len(topics)
        words = WORDS[topics[topic]]
        title = " ".join(rng.choice(words) for _ in range(3))
        text = " ".join(rng.choice(words + COMMON) for _ in range(8)) + f" n{i}s{seed}"
        out.append((title, text, topic))
    return out


def train(tmp_path, *argv, name="model"):
    out = tmp_path / name
    code = train_cmd.main([*argv, "--output_dir", str(out), *TINY, *QUIET, "--num_train_epochs", "1",
                          "--min_frequency", "1", "--per_device_train_batch_size", "16"])  # fmt: skip
    return code, out


def read(out, name):
    return json.loads((out / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------------------------
# loading, no training


def test_a_headerless_file_is_recognised_and_named_and_column_names_fix_it(tmp_path):
    path = write_csv(tmp_path / "train.csv", None, [(t + 1, a, b) for a, b, t in rows(30)])
    with pytest.raises(UsageError, match=r"train.csv' seems to have no header.*--column_names"):
        load_raw_dataset(path)
    raw = load_raw_dataset(path, column_names=["label", "title", "description"])
    assert raw["train"].column_names == ["label", "title", "description"] and len(raw["train"]) == 30


def test_one_file_with_other_columns_is_named(tmp_path):
    train_path = write_csv(tmp_path / "train.csv", ["text", "label"], [(b, t) for _, b, t in rows(30)])
    other = write_csv(tmp_path / "dev.csv", ["body", "label"], [(b, t) for _, b, t in rows(9, 1)])
    raw = load_raw_dataset(None, files={"train": train_path, "validation": other})
    with pytest.raises(UsageError, match=r"Split 'validation' has no text column 'text'; its columns are \['body'"):
        prepare_splits(raw, test_split=None)


def test_string_list_and_zero_one_columns_are_multi_label_and_fractions_regression(tmp_path):
    data = rows(40)
    cells = [(b, f"{t},{(t + 1) % 3}" if i % 2 else str(t)) for i, (_, b, t) in enumerate(data)]
    path = write_csv(tmp_path / "train.tsv", ["text", "labels"], cells, delimiter="\t")
    splits = prepare_splits(load_raw_dataset(path), label_column="labels", test_split=None)
    assert splits.schema.problem_type == MULTI_LABEL and splits.schema.label_separator == ","
    assert splits.label_names == ["0", "1", "2"] and splits.train.features["labels"].feature.dtype == "float32"

    jsonl = tmp_path / "multi.jsonl"
    jsonl.write_text("".join(json.dumps({"text": b, "tags": ["x", "y"][: 1 + t % 2]}) + "\n" for _, b, t in data))
    splits = prepare_splits(load_raw_dataset(str(jsonl)), label_column="tags", test_split=None)
    assert splits.schema.problem_type == MULTI_LABEL and splits.label_names == ["x", "y"]

    zero_one = [{"text": b, "sport": int(t == 0), "science": int(t == 2)} for _, b, t in data]
    (tmp_path / "cols.jsonl").write_text("".join(json.dumps(r) + "\n" for r in zero_one))
    raw = load_raw_dataset(str(tmp_path / "cols.jsonl"))
    splits = prepare_splits(raw, label_column="sport,science", test_split=None)
    assert splits.schema.problem_type == MULTI_LABEL and splits.label_names == ["sport", "science"]
    assert sorted(map(tuple, splits.train["sport+science"]))[-1] == (1.0, 0.0)

    scores = write_csv(tmp_path / "scores.csv", ["text", "score"], [(b, t / 4 + 0.1) for _, b, t in data])
    splits = prepare_splits(load_raw_dataset(scores), label_column="score", test_split=None)
    assert splits.schema.problem_type == REGRESSION and splits.label_names == ["score"]
    forced = prepare_splits(load_raw_dataset(path), label_column="labels", test_split=None,
                            problem_type=SINGLE_LABEL)  # fmt: skip
    assert forced.schema.problem_type == SINGLE_LABEL and "0,1" in forced.label_names


def test_integer_labels_take_names_zero_or_one_based_and_bad_names_are_refused(tmp_path):
    path = write_csv(tmp_path / "train.csv", ["text", "label"], [(b, t + 1) for _, b, t in rows(30)])
    splits = prepare_splits(load_raw_dataset(path), test_split=None, label_names=["sport", "business", "science"])
    assert splits.label_names == ["sport", "business", "science"] and splits.schema.label_values == ["1", "2", "3"]
    with pytest.raises(UsageError, match="names 2 classes"):
        prepare_splits(load_raw_dataset(path), test_split=None, label_names=["a", "b"])


def test_usual_column_names_are_found_without_flags(tmp_path):
    path = write_csv(tmp_path / "spam.csv", ["class", "message", "", ""], [("ham", b, "", "") for _, b, _ in rows(20)]
                     + [("spam", b, "", "") for _, b, _ in rows(20, 1)])  # fmt: skip
    raw = load_raw_dataset(path)
    assert raw["train"].column_names == ["class", "message"]  # the empty trailing columns are dropped
    splits = prepare_splits(raw, test_split=None, guess_columns=True)
    assert splits.schema.text_columns == ["message"] and splits.schema.label_columns == ["class"]


# ------------------------------------------------------------------------------------------------------------------
# end to end: one command each


def test_files_with_a_labelless_test_file_train_and_write_predictions(tmp_path):
    """GLUE's shape: train.tsv and dev.tsv with `sentence\\tlabel`, test.tsv with `index\\tsentence` only."""
    data = tmp_path / "glue"
    data.mkdir()
    write_csv(data / "train.tsv", ["sentence", "label"], [(b, t % 2) for _, b, t in rows(90)], "\t")
    write_csv(data / "dev.tsv", ["sentence", "label"], [(b, t % 2) for _, b, t in rows(30, 1)], "\t")
    unlabelled = [(i + 100, b) for i, (_, b, _) in enumerate(rows(12, 2))]
    write_csv(data / "test.tsv", ["index", "sentence"], unlabelled, "\t")
    code, out = train(tmp_path, "--dataset", str(data), "--label_names", "neg,pos", "--validation_split", "dev")
    assert code == 0
    lines = (out / "predict_results.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 13 and lines[1].split("\t")[0] == "100"
    assert {line.split("\t")[1] for line in lines[1:]} <= {"neg", "pos"}
    assert "test_accuracy" not in read(out, "all_results.json") and "eval_accuracy" in read(out, "all_results.json")
    assert read(out, SCHEMA_FILE)["id_column"] == "index" and read(out, "config.json")["id2label"]["1"] == "pos"
    assert read(out, "all_results.json")["eval_samples"] == 30  # dev.tsv, named as the user knows it


def test_headerless_two_text_columns_with_classes_txt_train_and_evaluate(tmp_path, capsys):
    """AG News' shape: headerless `label,title,description`, labels 1..n, names in classes.txt."""
    data = tmp_path / "news"
    data.mkdir()
    write_csv(data / "train.csv", None, [(t + 1, a, b) for a, b, t in rows(120)])
    write_csv(data / "test.csv", None, [(t + 1, a, b) for a, b, t in rows(30, 3)])
    (data / "classes.txt").write_text("Sports\nBusiness\nScience\n")
    code, out = train(tmp_path, "--dataset", str(data), "--column_names", "label,title,description",
                      "--text_column", "title,description", "--metric_for_best_model", "f1")  # fmt: skip
    assert code == 0
    schema = read(out, SCHEMA_FILE)
    assert schema["text_columns"] == ["title", "description"] and schema["column_names"][0] == "label"
    assert schema["label_names"] == ["Sports", "Business", "Science"] and schema["label_values"] == ["1", "2", "3"]
    results = read(out, "eval_results.json")
    assert {"eval_f1", "eval_precision_Sports", "eval_recall_Science", "eval_f1_Business"} <= set(results)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| `Science` |" in card and "imdb" not in card.lower() and "review" not in card.lower()
    capsys.readouterr()
    # evaluate reads the training's columns and label values from the folder: only the file is given
    assert evaluate_cmd.main([str(out), "--test_file", str(data / "test.csv"), "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["test_samples"] == 30 and 0 <= metrics["test_accuracy"] <= 1 and "test_f1_Science" in metrics


def test_multi_label_cells_train_and_evaluate(tmp_path, capsys):
    """GoEmotions' shape: headerless `text\\tlabels\\tid` with cells like `0,2`, names in labels.txt."""
    data = tmp_path / "emo"
    data.mkdir()
    for split, n, seed in (("train", 120, 0), ("dev", 30, 1), ("test", 30, 2)):
        cells = [(b, f"{t},{(t + 1) % 3}" if i % 3 == 0 else str(t), f"id{i}") for i, (_, b, t) in
                 enumerate(rows(n, seed))]  # fmt: skip
        write_csv(data / f"{split}.tsv", None, cells, "\t")
    (data / "labels.txt").write_text("joy\nanger\nfear\n")
    code, out = train(tmp_path, "--dataset", str(data), "--column_names", "text,labels,id", "--class_weights",
                      "balanced")  # fmt: skip
    assert code == 0
    assert read(out, "config.json")["problem_type"] == MULTI_LABEL
    results = read(out, "all_results.json")
    assert {"test_f1_micro", "test_f1_macro", "eval_f1_joy"} <= set(results)
    assert read(out, "trainer_state.json")["best_metric"] == results["eval_f1_micro"]  # selected on micro F1
    capsys.readouterr()
    assert evaluate_cmd.main([str(out), "--dataset", str(data), "--split", "test", "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["test_f1_micro"] == pytest.approx(results["test_f1_micro"], abs=1e-6)


def test_scores_train_a_regression_and_evaluate(tmp_path, capsys):
    data = tmp_path / "scores"
    data.mkdir()
    for split, n, seed in (("train", 90, 0), ("test", 30, 1)):
        write_csv(data / f"{split}.csv", ["text", "score"], [(b, t / 2 + 0.05 * (i % 3)) for i, (_, b, t) in
                                                             enumerate(rows(n, seed))])  # fmt: skip
    code, out = train(tmp_path, "--dataset", str(data))
    assert code == 0
    config, results = read(out, "config.json"), read(out, "all_results.json")
    assert config["problem_type"] == REGRESSION and config["id2label"] == {"0": "score"}
    assert config["classifier_dropout"] == REGRESSION_CLASSIFIER_DROPOUT != PRESETS["cpu"].model["classifier_dropout"]
    assert {"test_mse", "test_pearson", "eval_mse"} <= set(results)
    assert read(out, "trainer_state.json")["best_metric"] == results["eval_mse"]  # selected on MSE
    capsys.readouterr()
    assert evaluate_cmd.main([str(out), "--dataset", str(data), "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["test_mse"] == pytest.approx(results["test_mse"], rel=1e-4)


def test_head_dropout_follows_the_problem_type_unless_given():
    default = parse_settings(["--preset", "cpu", "--output_dir", "x"])
    assert model_settings(default.model, REGRESSION, default.given)["classifier_dropout"] == 0.0
    assert REGRESSION_CLASSIFIER_DROPOUT == 0.0
    for problem in (SINGLE_LABEL, MULTI_LABEL):  # a classifier keeps the preset's
        dropout = model_settings(default.model, problem, default.given)["classifier_dropout"]
        assert dropout == PRESETS["cpu"].model["classifier_dropout"]
    for value in ("0.25", str(PRESETS["cpu"].model["classifier_dropout"])):  # given, even as the preset's value
        chosen = parse_settings(["--preset", "cpu", "--output_dir", "x", "--classifier_dropout", value])
        assert model_settings(chosen.model, REGRESSION, chosen.given)["classifier_dropout"] == float(value)


def test_one_file_is_carved_into_train_validation_and_test(tmp_path):
    path = write_csv(tmp_path / "all.csv", ["label", "text"], [(["sport", "business", "science"][t], b)
                                                               for _, b, t in rows(150)])  # fmt: skip
    code, out = train(tmp_path, "--dataset", path, "--test_fraction", "0.2")
    assert code == 0
    results = read(out, "all_results.json")
    assert results["test_samples"] == 30 and results["eval_samples"] == 12 and results["train_samples"] == 108


def test_train_file_and_test_file_flags_in_two_formats(tmp_path):
    train_path = write_csv(tmp_path / "a.csv", ["question", "category"], [(b, f"c{t}") for _, b, t in rows(90)])
    test_path = tmp_path / "b.jsonl"
    test_path.write_text("".join(json.dumps({"question": b, "category": f"c{t}"}) + "\n" for _, b, t in rows(20, 1)))
    code, out = train(tmp_path, "--train_file", train_path, "--test_file", str(test_path))
    assert code == 0
    assert read(out, "all_results.json")["test_samples"] == 20
    assert read(out, SCHEMA_FILE)["text_columns"] == ["question"]


def test_a_folder_per_class_corpus_is_a_labelled_dataset(tmp_path):
    corpus = tmp_path / "corpus"
    for split, n, seed in (("train", 60, 0), ("test", 15, 1)):
        for i, (_, text, topic) in enumerate(rows(n, seed)):
            folder = corpus / split / list(WORDS)[topic]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.txt").write_text(text)
    (corpus / "train" / "unsup").mkdir()
    (corpus / "train" / "unsup" / "0.txt").write_text("an unlabelled text")
    raw = load_raw_dataset(str(corpus))
    assert sorted(raw) == ["test", "train", "unsupervised"]
    assert raw["train"].features["label"].names == sorted(WORDS) and len(raw["train"]) == 60
    code, out = train(tmp_path, "--dataset", str(corpus))
    assert code == 0 and read(out, "all_results.json")["test_samples"] == 15


def test_unsupported_shapes_get_one_line_and_no_output_folder(tmp_path, capsys):
    path = write_csv(tmp_path / "scores.csv", ["text", "score"], [(b, t / 4 + 0.1) for _, b, t in rows(30)])
    code, out = train(tmp_path, "--dataset", path, "--class_weights", "balanced")
    err = capsys.readouterr().err
    assert code == 2 and "regression" in err and "--class_weights" in err and "Traceback" not in err
    assert not os.path.exists(out) or not [n for n in os.listdir(out) if not n.startswith(".")]
    headerless = write_csv(tmp_path / "h.csv", None, [(t, a, b) for a, b, t in rows(30)])
    code, out = train(tmp_path, "--train_file", headerless, name="h")
    err = capsys.readouterr().err
    answer = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and len(answer) == 1 and "no header" in answer[0] and "--column_names" in answer[0]
    assert "h.csv" in answer[0] and "Traceback" not in err


def test_model_selection_follows_the_problem_type_and_a_given_metric(tmp_path):
    argv = ["--output_dir", str(tmp_path / "o")]
    run = parse_settings(argv)
    assert selection_args(run.training, SINGLE_LABEL, run.given).metric_for_best_model == "accuracy"
    chosen = selection_args(run.training, REGRESSION, run.given)
    assert chosen.metric_for_best_model == "mse" and chosen.greater_is_better is False
    run = parse_settings(argv + ["--metric_for_best_model", "f1"])
    chosen = selection_args(run.training, MULTI_LABEL, run.given)
    assert chosen.metric_for_best_model == "f1" and chosen.greater_is_better is True
    run = parse_settings(argv + ["--metric_for_best_model", "mse"])
    assert selection_args(run.training, REGRESSION, run.given).greater_is_better is False


def test_a_file_that_is_not_utf8_or_only_texts_is_named_with_the_fix(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9 cr\xe8me,a\nna\xefve,b\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"latin.csv.*iconv"):
        load_raw_dataset(str(latin))
    texts = tmp_path / "texts.txt"
    texts.write_text("one text\nanother text\n")
    with pytest.raises(UsageError, match="holds texts only.*folder per class"):
        prepare_splits(load_raw_dataset(str(texts)), test_split=None)


def test_fasttext_tab_separated_txt_semicolons_and_a_byte_order_mark_are_read(tmp_path):
    fasttext = tmp_path / "train.txt"
    fasttext.write_text("__label__pos great film\n__label__neg bad film\n__label__pos __label__funny a fine one\n")
    rows_ = load_raw_dataset(str(fasttext))["train"]
    assert rows_["text"] == ["great film", "bad film", "a fine one"] and rows_["label"][2] == ["pos", "funny"]
    single = tmp_path / "single.txt"
    single.write_text("__label__pos great film\n__label__neg bad film\n")
    assert load_raw_dataset(str(single))["train"]["label"] == ["pos", "neg"]
    tabs = tmp_path / "germeval.txt"  # GermEval's shape: a headerless TSV named .txt, with a repeated value
    tabs.write_text("Ein Tweet hier\tOTHER\tOTHER\nNoch einer\tOFFENSE\tINSULT\n")
    with pytest.raises(UsageError, match="no header.*'OTHER' is there twice"):
        load_raw_dataset(str(tabs))
    raw = load_raw_dataset(str(tabs), column_names=["text", "coarse", "fine"])
    assert raw["train"]["coarse"] == ["OTHER", "OFFENSE"]
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("text;label\nhallo welt;a\ntschuess;b\n")
    assert load_raw_dataset(str(semicolons))["train"].column_names == ["text", "label"]
    bom = tmp_path / "bom.csv"
    bom.write_text("text,label\nhello,a\nbye,b\n", encoding="utf-8-sig")
    assert load_raw_dataset(str(bom))["train"].column_names == ["text", "label"]

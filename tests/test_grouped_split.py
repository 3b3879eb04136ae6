"""--group_column and --group_by_shared_words: validation (and a carved test split) held out by whole groups
(hf_bilstm.grouped_split, hf_bilstm.shared_word_groups)."""

import csv
import json
import os
import random
import re

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from helpers import QUIET, TINY, error_line

from hf_bilstm.commands import train as train_cmd
from hf_bilstm.data import prepare_splits
from hf_bilstm.errors import UsageError
from hf_bilstm.grouped_split import grouped_carve


def grouped_rows(groups: int = 80, seed: int = 0) -> dict:
    """Products with 1-8 reviews each; a product's reviews lean to one label (as real ones do), 30 % positive."""
    rng = random.Random(seed)
    rows = {"text": [], "label": [], "product": []}
    for group in range(groups):
        lean = 0.3 if rng.random() < 0.5 else 0.7
        for review in range(rng.randint(1, 8)):
            label = int(rng.random() < lean * (0.3 / 0.5))
            rows["text"].append(f"review {review} of product {group} {'good' if label else 'bad'}")
            rows["label"].append(["neg", "pos"][label])
            rows["product"].append(f"p{group}")
    return rows


def group_of(rows: dict) -> dict:
    return dict(zip(rows["text"], rows["product"]))


def test_no_group_is_on_two_sides_and_the_label_ratio_stays_close():
    rows = grouped_rows()
    splits = prepare_splits(
        DatasetDict(train=Dataset.from_dict(rows)), validation_fraction=0.2, test_fraction=0.2, group_column="product"
    )
    owner = group_of(rows)
    sides = {name: {owner[text] for text in dataset["text"]} for name, dataset in splits.items()}
    assert not sides["train"] & sides["validation"] and not sides["train"] & sides["test"]
    assert not sides["validation"] & sides["test"]
    assert sum(len(dataset) for _, dataset in splits.items()) == len(rows["text"])  # every row, once
    assert splits.grouped == {"column": "product"} | {name: len(groups) for name, groups in sides.items()}
    assert splits.validation.column_names == ["text", "label"]  # the groups stay out of what is trained on
    share = np.mean(np.asarray(rows["label"]) == "pos")
    for dataset in (splits.validation, splits.test):
        assert abs(np.mean(dataset["label"]) - share) < 0.08  # stratified by label
    # about the fraction asked of the rows: 20 % of the whole for test, then 20 % of the rest for validation
    assert abs(len(splits.test) - 0.2 * len(rows["text"])) <= 8
    assert abs(len(splits.validation) - 0.2 * (len(rows["text"]) - len(splits.test))) <= 8


def test_the_grouped_carve_is_the_same_for_a_seed_and_another_for_another_seed():
    raw = DatasetDict(train=Dataset.from_dict(grouped_rows()))

    def validation(seed, data=raw):
        return prepare_splits(data, test_split=None, seed=seed, group_column="product").validation["text"]

    assert validation(3) == validation(3)
    assert validation(3) != validation(4)
    shuffled = DatasetDict(train=raw["train"].shuffle(seed=0))  # the rows' order does not choose the groups
    assert sorted(validation(3, shuffled)) == sorted(validation(3))


def test_without_labels_to_stratify_by_the_row_count_is_matched():
    keys = [f"g{i // 3}" for i in range(300)]  # 100 groups of 3 rows
    rest, carved = grouped_carve(keys, None, 0.1, seed=0, what="validation", column="g")
    assert abs(len(carved) - 30) <= 3 and len(rest) + len(carved) == 300
    assert not {keys[i] for i in rest} & {keys[i] for i in carved}
    rows = {"text": [f"t{i}" for i in range(300)], "score": [i / 300 for i in range(300)], "g": keys}
    splits = prepare_splits(
        DatasetDict(train=Dataset.from_dict(rows)), label_column="score", test_split=None, group_column="g"
    )
    owner = dict(zip(rows["text"], keys))
    assert not {owner[t] for t in splits.train["text"]} & {owner[t] for t in splits.validation["text"]}


def bad_groups(**changes) -> DatasetDict:
    rows = grouped_rows(groups=20) | changes
    return DatasetDict(train=Dataset.from_dict(rows))


@pytest.mark.parametrize(
    "raw, column, message",
    [
        (bad_groups(), "shop", r"no column 'shop' \(--group_column\); its columns are \['text', 'label', 'product'\]"),
        (bad_groups(), "label", "also the text or label column"),
        (lambda: bad_groups(product=["same"] * len(grouped_rows(20)["text"])), "product", "holds one group .'same'."),
        (lambda: bad_groups(product=[None] + grouped_rows(20)["product"][1:]), "product", "row 0: .* is empty"),
        (lambda: bad_groups(product=[""] + grouped_rows(20)["product"][1:]), "product", "row 0: .* is empty"),
    ],
)
def test_bad_group_columns_are_one_line_errors(raw, column, message):
    raw = raw() if callable(raw) else raw
    with pytest.raises(UsageError, match=message):
        prepare_splits(raw, test_split=None, group_column=column)


def test_too_few_groups_for_the_fraction_is_refused_with_the_fix():
    rows = {"text": [f"t{i}" for i in range(300)], "label": [i % 2 for i in range(300)]}
    rows["g"] = [f"g{i % 3}" for i in range(300)]  # three groups of 100 rows: none comes near 10 %
    with pytest.raises(UsageError, match=r"3 groups hold 300 rows, the smallest 100.*more \(smaller\) groups"):
        prepare_splits(DatasetDict(train=Dataset.from_dict(rows)), test_split=None, group_column="g")


def test_a_group_column_that_carves_nothing_is_refused():
    rows = grouped_rows(groups=20)
    half = len(rows["text"]) // 2
    raw = DatasetDict(
        train=Dataset.from_dict({k: v[:half] for k, v in rows.items()}),
        validation=Dataset.from_dict({k: v[half:] for k, v in rows.items()}),
    )
    with pytest.raises(UsageError, match="own validation and test splits, so nothing is carved"):
        prepare_splits(raw, test_split=None, group_column="product")


def write_grouped_csv(path, seed: int = 0) -> dict:
    rows = grouped_rows(groups=60, seed=seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment", "product"])
        writer.writerows(zip(rows["text"], rows["label"], rows["product"]))
    return rows


def test_own_data_file_trains_with_a_grouped_carve_said_in_plan_and_card(tmp_path, capsys):
    data = tmp_path / "reviews.csv"
    write_grouped_csv(data)
    out = tmp_path / "run"
    argv = ["--train_file", str(data), "--text_column", "review", "--label_column", "sentiment"]
    argv += ["--group_column", "product", "--output_dir", str(out), *TINY, *QUIET, "--num_train_epochs", "1"]
    assert train_cmd.main(argv) == 0
    printed = capsys.readouterr().err
    plan = printed[printed.index("Training plan:") :]
    assert "carve: by whole groups of column 'product', no group on both sides (groups: train " in plan
    assert "validation carved by --group_column 'product'" in printed and "test carved by --group_column" in printed
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "held out by whole groups of column `product`" in card
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_samples"] > 0 and results["test_samples"] > 0


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--group_column", "a,b"], "must name one column"),
        (["--group_column", "sentiment"], "also the text or label column"),
        (["--group_column", "shop"], "no column 'shop' .--group_column."),
    ],
)
def test_group_column_flag_errors(tmp_path, capsys, flags, message):
    data = tmp_path / "reviews.csv"
    write_grouped_csv(data)
    argv = ["--train_file", str(data), "--text_column", "review", "--label_column", "sentiment"]
    argv += [*flags, "--output_dir", str(tmp_path / "run"), *TINY, *QUIET]
    assert train_cmd.main(argv) == 2
    assert re.search(message, error_line(capsys))
    assert not os.path.exists(tmp_path / "run" / "model.safetensors")


def movie_reviews(movies: int = 40, seed: int = 0) -> dict:
    """Reviews with no group column: each movie's 2-6 reviews name its title and its lead (words no other movie has),
    in common words otherwise; a movie leans to one label."""
    rng = random.Random(seed)
    common = "the film was quite long but the story and the acting were fine overall".split()
    rows = {"text": [], "label": [], "movie": []}
    for movie in range(movies):
        lean = rng.choice([0.2, 0.8])
        for _ in range(rng.randint(2, 6)):
            label = int(rng.random() < lean)
            words = rng.sample(common, 8) + [f"Title{movie}x", f"Lead{movie}y", ["awful", "great"][label]]
            rng.shuffle(words)
            rows["text"].append(" ".join(words))
            rows["label"].append(["neg", "pos"][label])
            rows["movie"].append(movie)
    return rows


def test_shared_word_groups_join_rows_sharing_two_rare_words_up_to_a_size():
    from hf_bilstm.shared_word_groups import shared_word_groups

    texts = [
        "Zorblax and Quibbly",
        "Quibbly met Zorblax",
        "Zorblax only",
        "nothing rare here",
        "Zorblax Quibbly again",
    ]
    groups = shared_word_groups(texts)
    assert groups[0] == groups[1] == groups[4]  # two rare words in common
    assert len({groups[0], groups[2], groups[3]}) == 3  # one shared rare word, or none: a group of its own
    capped = shared_word_groups(texts, largest=2)
    assert max(capped.count(group) for group in capped) == 2
    # a word in more rows than `rare_rows` is not rare: nothing is joined by it
    assert len(set(shared_word_groups(texts, rare_rows=2))) == len(texts)


def test_shared_word_groups_do_not_depend_on_the_hash_seed():
    """Python randomises str hashes per process; the groups (so the carve, which export repeats) must not change."""
    import subprocess
    import sys

    code = (
        "import json, sys; from hf_bilstm.shared_word_groups import shared_word_groups; "
        "print(json.dumps(shared_word_groups(json.load(sys.stdin))))"
    )
    texts = json.dumps(movie_reviews(movies=30)["text"])
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            input=texts,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
        ).stdout  # fmt: skip
        for hash_seed in (1, 2, 3)
    }
    assert len(outputs) == 1


def test_group_by_shared_words_keeps_each_movie_on_one_side_without_a_group_column():
    rows = movie_reviews()
    raw = DatasetDict(train=Dataset.from_dict({"text": rows["text"], "label": rows["label"]}))
    splits = prepare_splits(raw, validation_fraction=0.2, test_fraction=0.2, group_by_shared_words=True)
    owner = dict(zip(rows["text"], rows["movie"]))
    sides = {name: {owner[text] for text in dataset["text"]} for name, dataset in splits.items()}
    assert not sides["train"] & sides["validation"] and not sides["train"] & sides["test"]
    assert not sides["validation"] & sides["test"]
    assert splits.grouped["column"] == "--group_by_shared_words" and splits.grouped["validation"] >= 2
    assert splits.validation.column_names == ["text", "label"]
    # a random carve of the same rows does put some movies on both sides: the flag is what kept them apart
    plain = prepare_splits(raw, validation_fraction=0.2, test_fraction=0.2)
    assert {owner[text] for text in plain.train["text"]} & {owner[text] for text in plain.validation["text"]}


def test_group_by_shared_words_trains_and_says_so_in_plan_and_card(tmp_path, capsys):
    rows = movie_reviews()
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("review", "sentiment"), *zip(rows["text"], rows["label"])])
    out = tmp_path / "run"
    argv = ["--train_file", str(data), "--text_column", "review", "--label_column", "sentiment"]
    argv += ["--group_by_shared_words", "true", "--output_dir", str(out), *TINY, *QUIET, "--num_train_epochs", "1"]
    assert train_cmd.main(argv) == 0
    printed = capsys.readouterr().err
    assert "carve: by whole groups of rows sharing rare words, no group on both sides" in printed
    assert "validation carved by --group_by_shared_words:" in printed
    assert "held out by whole groups of rows that share rare words" in (out / "README.md").read_text("utf-8")


def test_group_column_and_group_by_shared_words_together_are_refused(tmp_path, capsys):
    data = tmp_path / "reviews.csv"
    write_grouped_csv(data)
    argv = ["--train_file", str(data), "--text_column", "review", "--label_column", "sentiment"]
    argv += ["--group_column", "product", "--group_by_shared_words", "true", "--output_dir", str(tmp_path / "run")]
    assert train_cmd.main([*argv, *TINY, *QUIET]) == 2
    assert "--group_column 'product' and --group_by_shared_words both say how to group the rows" in error_line(capsys)
    with pytest.raises(UsageError, match="both say how to group the rows"):
        prepare_splits(
            DatasetDict(train=Dataset.from_dict(grouped_rows())), group_column="product", group_by_shared_words=True
        )

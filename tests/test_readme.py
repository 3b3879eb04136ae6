"""The README's quick example runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_quick_example_runs_as_written(tmp_path):
    section = README.read_text().split("## Quick example", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'label': 'pos'" in result.stdout or "'label': 'neg'" in result.stdout
    assert (tmp_path / "my-bilstm" / "model.safetensors").exists()


# ------------------------------------------------------------------------------------------------ "Your own data"
OWN_DATA_WORDS = {
    "NUM": ["how", "many", "count", "number"],
    "HUM": ["who", "person", "named", "wrote"],
    "LOC": ["where", "city", "country", "place"],
}


def own_data_rows(count: int, seed: int) -> list[tuple[str, int]]:
    """Short texts of three classes (ids 0-2), each with two words of its class among filler words; all different."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = i % 3
        words = rng.choices([f"w{n}" for n in range(30)], k=6) + rng.sample(list(OWN_DATA_WORDS.values())[label], 2)
        rng.shuffle(words)
        rows.append((" ".join(words) + f" n{seed}x{i}", label))
    return rows


def write_own_data(root: Path) -> None:
    """Small files in the shapes of the README's "Your own data" examples, at the paths the examples name."""
    import csv

    data = root / "data"
    (data / "emotions").mkdir(parents=True)
    (data / "sst").mkdir()
    rows = own_data_rows(90, 0)
    names = list(OWN_DATA_WORDS)

    def write(path: Path, header, table, delimiter=","):
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            if header:
                writer.writerow(header)
            writer.writerows(table)

    write(data / "questions.csv", ["question", "category"], [(t, names[y]) for t, y in rows])
    (data / "more-questions.txt").write_text("\n".join(t for t, _ in own_data_rows(30, 5)) + "\n", encoding="utf-8")
    write(data / "spam.tsv", None, [(y % 2, t) for t, y in rows], delimiter="\t")  # headerless label<TAB>text
    write(
        data / "emotions" / "train.tsv",
        None,
        [(t, f"{y},{(y + 1) % 3}" if i % 4 else str(y), f"id{i}") for i, (t, y) in enumerate(rows)],
        delimiter="\t",
    )
    (data / "emotions" / "labels.txt").write_text("joy\nanger\nfear\n", encoding="utf-8")
    write(
        data / "scores.csv",
        ["text", "score"],
        [(t, round(y / 2 + 0.05 * (i % 3), 2)) for i, (t, y) in enumerate(rows)],
    )
    write(data / "news.csv", ["title", "description", "label"], [(t[:12], t[12:], names[y]) for t, y in rows])
    write(data / "sst" / "train.tsv", ["sentence", "label"], [(t, y % 2) for t, y in rows], delimiter="\t")
    write(data / "sst" / "dev.tsv", ["sentence", "label"], [(t, y % 2) for t, y in own_data_rows(24, 1)], "\t")
    write(data / "sst" / "test.tsv", ["index", "sentence"], list(enumerate(t for t, _ in own_data_rows(12, 2))), "\t")
    for split, count, seed in (("train", 60, 3), ("test", 12, 4)):
        for i, (text, label) in enumerate(own_data_rows(count, seed)):
            folder = data / "polarity" / split / ("pos" if label % 2 else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.txt").write_text(text + "\n", encoding="utf-8")


def readme_commands(section: str) -> list[str]:
    """The commands of the section's bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                commands.append(command.strip())
    return commands


def test_own_data_examples_run_as_written(tmp_path, monkeypatch, capsys):
    """Every command of "Your own data", as written, on small files of each shape (train commands get a tiny model and
    one epoch on top, for time); then what each shape promises: the labels, the score, the results files."""
    import json
    import shlex

    from helpers import QUIET, TINY

    from hf_bilstm import cli

    section = README.read_text().split("## Your own data", 1)[1].split("\n## ", 1)[0]
    commands = readme_commands(section)
    assert sum(command.startswith("hf-bilstm train") for command in commands) == 8  # one per shape
    write_own_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    tiny = [*TINY, *QUIET, "--num_train_epochs", "1", "--per_device_train_batch_size", "16"]
    printed = {}
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "hf-bilstm", command
        extra = tiny if argv[1] == "train" else ["--device", "cpu"] if argv[1] in ("predict", "evaluate") else []
        capsys.readouterr()
        assert cli.main([*argv[1:], *extra]) == 0, (command, capsys.readouterr().err[-2000:])
        printed[command] = capsys.readouterr().out
    runs = tmp_path / "runs"
    for card in runs.glob("*/README.md"):  # models of data that is not IMDB: their cards say nothing of it
        words = re.findall(r"imdb|reviews?|movies?|films?", card.read_text(encoding="utf-8").lower())
        assert not words, (card, words)
    schemas = {name: json.loads((runs / name / "data_schema.json").read_text()) for name in ("emotions", "scores")}
    assert schemas["emotions"]["problem_type"] == "multi_label_classification"
    assert schemas["emotions"]["label_names"] == ["joy", "anger", "fear"]
    assert schemas["scores"]["problem_type"] == "regression"
    assert json.loads((runs / "news" / "data_schema.json").read_text())["text_columns"] == ["title", "description"]
    assert json.loads((runs / "spam" / "config.json").read_text())["id2label"] == {"0": "ham", "1": "spam"}
    assert len((runs / "sst" / "predict_results.tsv").read_text().splitlines()) == 13  # a header and 12 rows
    assert (
        sorted(os.listdir(runs / "polarity"))
        and "test_accuracy" in (runs / "polarity" / "all_results.json").read_text()
    )
    predictions = (runs / "news-predictions.csv").read_text().splitlines()
    assert predictions[0] == "title,description,label,predicted_label,predicted_score" and len(predictions) == 91
    emotions = json.loads(
        next(out for command, out in printed.items() if "runs/emotions" in command and "predict" in command)
    )
    assert set(emotions) == {"text", "labels", "scores"} and set(emotions["labels"]) <= {"joy", "anger", "fear"}
    score = next(out for command, out in printed.items() if "predict runs/scores" in command)
    float(score.strip())  # one number: the score

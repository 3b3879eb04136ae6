"""scripts/evaluate_out_of_domain.py: SST-2's 0/1 labels become the IMDB models' names, in a file of its own."""

import csv

import pytest
from helpers import load_script


def test_labels_become_the_models_names_and_the_source_is_untouched(tmp_path, monkeypatch):
    relabelled = load_script(monkeypatch, "evaluate_out_of_domain").relabelled
    source = tmp_path / "dev.tsv"
    source.write_text('sentence\tlabel\nit \'s a "charming" journey .\t1\nbleak\t0\n', encoding="utf-8")
    before = source.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    path = relabelled(str(source), str(out))
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows == [["sentence", "label"], ['it \'s a "charming" journey .', "pos"], ["bleak", "neg"]]
    assert source.read_bytes() == before


def test_another_layout_is_refused(tmp_path, monkeypatch):
    relabelled = load_script(monkeypatch, "evaluate_out_of_domain").relabelled
    source = tmp_path / "dev.tsv"
    source.write_text("text\tlabel\nbleak\t0\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="expected the columns sentence, label"):
        relabelled(str(source), str(tmp_path))

"""ONNX export of multi-label and regression models: the export's parity check, and predict / the pipeline over ONNX
Runtime giving the PyTorch model's answers (labels at or above the threshold, or the raw score)."""

import csv
import io
import json

import numpy as np
import pytest
import torch
from helpers import TEXTS, save_tiny_model, train_briefly

from hf_bilstm.commands import export as export_cmd
from hf_bilstm.commands import predict as predict_cmd
from hf_bilstm.onnx.runtime import ORTModelForSequenceClassification

pytestmark = pytest.mark.slow  # one export per kind: a fresh exporter process, tens of seconds on 2 cores

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install -e '.[onnx]')")

KINDS = {
    "multi_label": dict(id2label={0: "joy", 1: "anger", 2: "fear"}, problem_type="multi_label_classification"),
    "regression": dict(id2label={0: "score"}, problem_type="regression"),
}


@pytest.fixture(scope="module", params=list(KINDS))
def exported(request, tmp_path_factory):
    """A tiny model of the kind, exported once with `--quantize int8 --train_file A --test_file B` (the int8 checks
    on data files; predict's onnxruntime backend reads the fp32 graph unless asked for the quantized one)."""
    from hf_bilstm.data_schema import DataSchema, save_schema

    folder = tmp_path_factory.mktemp(request.param) / "model"
    model, tokenizer = save_tiny_model(folder, seed=3, **KINDS[request.param])
    with torch.no_grad():  # outputs away from 0, so that the threshold is not a coin toss between backends
        model.classifier.out_proj.bias.copy_(torch.tensor([-1.5, 1.5, 2.0][: model.config.num_labels]))
    if request.param == "regression":  # scores that differ from text to text by more than int8's rounding
        train_briefly(model, tokenizer, TEXTS, [(i % 5) / 4 for i in range(len(TEXTS))], steps=80)
    model.save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n\n# model\n", encoding="utf-8")
    problem_type = KINDS[request.param]["problem_type"]
    # train: the texts the model learned from (validation is carved from them); test: other texts
    files = {
        "train.csv": [f"{t} {i}" for i, t in enumerate(TEXTS * 2)],
        "test.csv": [f"{t} row {i}" for i, t in enumerate(TEXTS)],
    }
    for name, texts in files.items():
        if problem_type == "regression":
            header, rows = ["text", "score"], [(text, (i % 5) / 4) for i, text in enumerate(texts)]
        else:
            header, rows = ["text", "label"], [(t, "joy,fear" if i % 2 else "anger") for i, t in enumerate(texts)]
        with open(folder.parent / name, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])
    if problem_type == "regression":
        save_schema(str(folder), DataSchema(problem_type=problem_type, label_columns=["score"], label_names=["score"]))
    else:
        names = ["joy", "anger", "fear"]
        save_schema(str(folder), DataSchema(problem_type=problem_type, label_separator=",", label_names=names))
    argv = [str(folder), "--quantize", "int8"]
    argv += ["--train_file", str(folder.parent / "train.csv"), "--test_file", str(folder.parent / "test.csv")]
    assert export_cmd.main(argv) == 0
    return folder


def predicted(folder, *extra):
    out = io.StringIO()
    argv = [str(folder), *TEXTS[:4], "", "--json", "--threshold", "0.5", *extra]
    if "regression" in str(folder):
        argv.remove("--threshold"), argv.remove("0.5")
    assert predict_cmd.main(argv, stdout=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_export_checks_the_logits_and_predict_on_onnx_answers_as_torch(exported):
    report = json.loads((exported / "onnx" / "export_report.json").read_text())
    assert report["fp32"]["max_logit_difference"] <= 1e-4
    torch_answers, ort_answers = predicted(exported), predicted(exported, "--backend", "onnxruntime")
    assert len(torch_answers) == 5
    for want, got in zip(torch_answers, ort_answers):
        if "labels" in want:
            assert got["labels"] == want["labels"]
            assert got["scores"] == pytest.approx(want["scores"], abs=1e-4)
        else:
            assert set(got) == {"text", "score"} and got["score"] == pytest.approx(want["score"], abs=1e-4)


def test_pipeline_over_onnx_reads_the_problem_type(exported):
    from transformers import AutoTokenizer, pipeline

    model = ORTModelForSequenceClassification.from_pretrained(exported)
    classifier = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(exported))
    torch_classifier = pipeline("text-classification", model=str(exported), device="cpu")
    for text in TEXTS[:3]:
        got = classifier(text, top_k=None, truncation=True)
        want = torch_classifier(text, top_k=None, truncation=True)
        assert [r["label"] for r in got] == [r["label"] for r in want]
        assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], abs=1e-4)
    logits = model(**classifier.tokenizer(TEXTS[0], return_tensors="pt")).logits.numpy()[0]
    scores = {r["label"]: r["score"] for r in classifier(TEXTS[0], top_k=None)}
    if model.config.problem_type == "regression":  # the raw score, no sigmoid
        assert list(scores.values()) == pytest.approx([float(logits[0])], abs=1e-5)
    else:  # a sigmoid per label, not a softmax over them
        assert sorted(scores.values()) == pytest.approx(sorted(1 / (1 + np.exp(-logits))), abs=1e-5)
        assert sum(scores.values()) != pytest.approx(1.0, abs=1e-3)


def test_int8_checks_read_a_data_file_with_the_problem_types_figure(exported):
    """`export --quantize int8 --train_file A --test_file B` (the fixture's export): the training's columns
    (data_schema.json), agreement on validation carved from A as train carves it, and the problem type's test figure
    (micro F1, or Pearson) on B, in the report and the card."""
    problem_type = json.loads((exported / "config.json").read_text())["problem_type"]
    int8 = json.loads((exported / "onnx" / "export_report.json").read_text())["int8"]
    metric = "pearson" if problem_type == "regression" else "f1_micro"
    assert int8["metric"] == metric and int8["test_samples"] == len(TEXTS) and int8["validation_samples"] > 0
    assert f"fp32_test_{metric}" in int8 and abs(int8[f"fp32_test_{metric}"] - int8[f"test_{metric}"]) <= 0.005
    if metric != "pearson":  # a score has no discrete answer: its agreement is reported, not a gate
        assert int8["validation_agreement"] >= 0.99
    card = (exported / "README.md").read_text()
    assert ("| test Pearson" if metric == "pearson" else "| test micro F1") in card


def test_the_int8_sums_onnx_eval_js_is_told_follow_the_cpu(tmp_path, monkeypatch):
    import platform

    from hf_bilstm.onnx.javascript import onnxruntime_int8_products

    def cpu(flags: str) -> str:
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n")
        return str(path)

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert onnxruntime_int8_products(cpu("avx2 fma")) == "saturating"  # MLAS's vpmaddubsw kernels
    assert onnxruntime_int8_products(cpu("avx2 avx512bw")) == "saturating"
    assert onnxruntime_int8_products(cpu("avx2 avx512bw avx512_vnni")) == "exact"
    assert onnxruntime_int8_products(cpu("avx2 avx_vnni")) == "exact"
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert onnxruntime_int8_products(cpu("fp asimd")) == "exact"

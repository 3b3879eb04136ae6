"""ONNX serving: `hf-bilstm export` (checked fp32 and int8 files), the onnxruntime backend of predict and evaluate,
the pipeline over `ORTModelForSequenceClassification`, and the refusals around them."""

import json
import os
import shutil
import sys

import numpy as np
import pytest
import torch
from helpers import TEXTS, import_blocker, save_tiny_model

from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import export as export_cmd
from hf_bilstm.commands import predict as predict_cmd
from hf_bilstm.data import UsageError
from hf_bilstm.inference import load_classifier, predict
from hf_bilstm.model_loading import load_onnx_classifier_folder
from hf_bilstm.onnx import export as onnx_export
from hf_bilstm.onnx.graph import ExportableClassifier
from hf_bilstm.onnx.runtime import ORTModelForSequenceClassification

# Minutes-scale on 2 cores: `pytest -m "not slow"` leaves it out of the quick loop; CI runs it.
pytestmark = pytest.mark.slow

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install -e '.[onnx]')")

VARIED = [
    "A great movie!",
    "",
    "Terrible, boring film. The plot made no sense. " * 6,
    "Wonderful direction, great music, a joy to watch, I loved the acting and the story and the ending.",
    "bad",
]


def test_export_writes_optimum_layout_and_a_report_of_what_it_measured(exported):
    assert sorted(os.listdir(exported / "onnx")) == ["export_report.json", "model.onnx", "model_quantized.onnx"]
    report = json.loads((exported / "onnx" / "export_report.json").read_text())
    assert report["fp32"]["max_logit_difference"] <= 1e-4
    assert report["exporter"].startswith("torch.onnx.export(dynamo=True")  # the current exporter
    int8 = report["int8"]
    assert int8["validation_agreement"] >= 0.99 and int8["test_samples"] == 60
    assert abs(int8["fp32_test_accuracy"] - int8["test_accuracy"]) <= 0.005
    assert int8["bytes"] < report["fp32"]["bytes"]
    card = (exported / "README.md").read_text()
    assert card.count("## ONNX Runtime") == 1 and "## Results" in card and f"{int8['test_accuracy']:.4f}" in card
    assert not [name for name in os.listdir(exported) if name.startswith(".onnx-export-")]  # staging removed


def test_onnx_graph_has_dynamic_batch_and_length_and_quantized_recurrent_weights(exported):
    import onnx

    fp32 = onnx.load(str(exported / "onnx" / "model.onnx"))
    assert [i.name for i in fp32.graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in fp32.graph.output] == ["logits"]
    for value in fp32.graph.input:
        assert all(not dim.HasField("dim_value") for dim in value.type.tensor_type.shape.dim)
    # One node per layer for both directions, reading each row's length: no reversing gathers around it.
    lstms = [node for node in fp32.graph.node if node.op_type == "LSTM"]
    assert len(lstms) == 2  # the fixture's two layers
    for node in lstms:
        assert onnx.helper.get_node_attr_value(node, "direction") == b"bidirectional"
        assert len(node.input) >= 5 and node.input[4]  # sequence_lens
    assert not {"GatherElements", "ReverseSequence"} & {node.op_type for node in fp32.graph.node}
    int8 = onnx.load(str(exported / "onnx" / "model_quantized.onnx"))
    int8_ops = [node.op_type for node in int8.graph.node]
    assert int8_ops.count("DynamicQuantizeLSTM") == 2 and "LSTM" not in int8_ops
    # The embedding as uint8 rows (Gather, Cast, then each row's scale and min): no float table is gathered.
    tables = {tensor.name: tensor for tensor in int8.graph.initializer}
    gathered = [tables[node.input[0]] for node in int8.graph.node
                if node.op_type == "Gather" and node.input[0] in tables]
    assert [tensor.data_type for tensor in gathered if tensor.dims[-1] > 1] == [onnx.TensorProto.UINT8]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_ort_logits_equal_pytorch_on_texts_of_many_lengths(exported, padding_side):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch_model = AutoModelForSequenceClassification.from_pretrained(exported).eval()
    ort_model = ORTModelForSequenceClassification.from_pretrained(exported)
    tokenizer = AutoTokenizer.from_pretrained(exported)
    tokenizer.padding_side = padding_side
    texts = VARIED + [" ".join(TEXTS[: n + 1]) for n in range(8)]
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        expected = torch_model(**batch).logits
    got = ort_model(**batch).logits
    assert got.shape == expected.shape and float((got - expected).abs().max()) <= 1e-4


def test_the_graph_moves_holes_and_left_padding_as_the_model_does():
    from helpers import tiny_classifier

    for overrides in (
        {},
        {"rnn_type": "gru", "num_layers": 2},
        {"bidirectional": False, "pooling": "mean"},
        {"separate_directions": True, "pooling": "max"},
        {"rnn_type": "rnn", "num_layers": 2, "pooling": "max_mean"},
        {"separate_directions": True, "num_layers": 2, "pooling": "max_mean"},
    ):
        model = tiny_classifier(**overrides)
        ids = torch.randint(4, 100, (4, 9))
        mask = torch.ones_like(ids)
        mask[0, 6:] = 0
        mask[1, :3] = 0
        mask[2] = 0
        mask[3, [2, 5]] = 0
        with torch.no_grad():
            assert torch.allclose(
                model(input_ids=ids, attention_mask=mask).logits, ExportableClassifier(model)(ids, mask)
            )


@pytest.mark.parametrize("rnn_type", ["gru", "rnn"])
def test_gru_and_plain_rnn_export_with_dynamic_lengths(tmp_path, rnn_type, exported_gru):
    if rnn_type == "gru":  # conftest's exported one-direction GRU (shared with the tests that need a second graph)
        folder = exported_gru
    else:
        folder = tmp_path
        save_tiny_model(folder, rnn_type=rnn_type)
        assert export_cmd.main([str(folder)]) == 0
    report = json.loads((folder / "onnx" / "export_report.json").read_text())
    assert report["fp32"]["max_logit_difference"] <= 1e-4 and "int8" not in report
    model, tokenizer = load_onnx_classifier_folder(str(folder))
    for length in (1, 3, 40):  # lengths other than the export's example
        ids = torch.randint(4, len(tokenizer), (2, length))
        assert model(input_ids=ids).logits.shape == (2, 2)


def test_predict_and_evaluate_with_onnxruntime_give_the_torch_answers(exported, toy, capsys):
    args = [str(exported), *VARIED, "--json"]
    assert predict_cmd.main(args) == 0
    torch_lines = capsys.readouterr().out.splitlines()
    for extra in (["--backend", "onnxruntime"], ["--backend", "onnxruntime", "--quantized"]):
        assert predict_cmd.main(args + extra) == 0
        ort_lines = capsys.readouterr().out.splitlines()
        assert [json.loads(line)["label"] for line in ort_lines] == [json.loads(line)["label"] for line in torch_lines]
        if "--quantized" not in extra:
            for got, want in zip(ort_lines, torch_lines):
                assert json.loads(got)["score"] == pytest.approx(json.loads(want)["score"], abs=1e-4)
    metrics = {}
    for backend in ("torch", "onnxruntime"):
        assert evaluate_cmd.main([str(exported), "--dataset", toy, "--device", "cpu", "--backend", backend]) == 0
        metrics[backend] = json.loads(capsys.readouterr().out)
    assert metrics["onnxruntime"]["test_accuracy"] == metrics["torch"]["test_accuracy"]
    assert metrics["onnxruntime"]["test_loss"] == pytest.approx(metrics["torch"]["test_loss"], abs=1e-4)


def test_a_pipeline_over_the_onnx_model(exported):
    from transformers import AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(exported)
    torch_pipe = pipeline("text-classification", model=str(exported), device="cpu")
    for quantized in (False, True):
        model = ORTModelForSequenceClassification.from_pretrained(exported, quantized=quantized)
        ort_pipe = pipeline("text-classification", model=model, tokenizer=tokenizer)
        got, want = ort_pipe(VARIED, truncation=True), torch_pipe(VARIED, truncation=True)
        assert [r["label"] for r in got] == [r["label"] for r in want]
        assert ort_pipe("one text", top_k=None)[0]["label"] in ("neg", "pos")
    with pytest.raises(ValueError, match="text pair"):
        ort_pipe({"text": "a", "text_pair": "b"})


def test_a_retrained_model_refuses_its_stale_export(exported, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        model.classifier.out_proj.bias += 1.0
    model.save_pretrained(folder)
    assert predict_cmd.main([str(folder), "hi", "--backend", "onnxruntime"]) == 2
    assert "export again" in capsys.readouterr().err.lower()
    from hf_bilstm.hub import PushRefusedError, collect_files

    with pytest.raises(PushRefusedError, match="other weights"):
        collect_files(folder)


def test_push_uploads_the_export(exported):
    from hf_bilstm.hub import collect_files

    files, _ = collect_files(exported)
    assert {"onnx/model.onnx", "onnx/model_quantized.onnx", "onnx/export_report.json"} <= set(files)


def test_export_refuses_what_it_did_not_write_and_failed_checks_write_nothing(tmp_path, toy, capsys, monkeypatch):
    save_tiny_model(tmp_path)
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "mine.onnx").write_text("the user's")
    assert export_cmd.main([str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "onnx" / "mine.onnx").read_text() == "the user's"
    shutil.rmtree(tmp_path / "onnx")
    monkeypatch.setattr(onnx_export, "MIN_INT8_AGREEMENT", 1.01)  # a check that cannot pass
    assert export_cmd.main([str(tmp_path), "--quantize", "int8", "--dataset", toy]) == 2
    assert "agree with fp32" in capsys.readouterr().err
    assert not (tmp_path / "onnx").exists()
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".onnx")) == []


def test_missing_extra_and_bad_flags_name_the_fix(tmp_path, capsys, monkeypatch, model_dir):
    assert predict_cmd.main([str(model_dir), "hi", "--backend", "onnxruntime"]) == 2
    assert "hf-bilstm export" in capsys.readouterr().err  # not exported yet: says how to
    assert predict_cmd.main([str(model_dir), "hi", "--quantized"]) == 2
    assert "--backend onnxruntime" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails, as without the extra
    with pytest.raises(UsageError, match=r"pip install -e \"\.\[onnx\]\""):
        ORTModelForSequenceClassification.from_pretrained(model_dir)
    assert export_cmd.main([str(model_dir)]) == 2
    assert ".[onnx]" in capsys.readouterr().err
    assert not (model_dir / "onnx").exists()


def test_empty_and_out_of_vocabulary_inputs(exported):
    model = ORTModelForSequenceClassification.from_pretrained(exported)
    empty = model(input_ids=torch.zeros(2, 0, dtype=torch.long)).logits
    assert empty.shape == (2, 2) and bool(torch.isfinite(empty).all())
    with pytest.raises(ValueError, match="outside this model's vocabulary"):
        model(input_ids=torch.tensor([[10**6]]))
    assert np.isfinite(model(input_ids=torch.tensor([[5, 6]])).logits.numpy()).all()


def test_int8_answers_do_not_depend_on_the_batch(exported):
    """Dynamic quantization ranges activations per call; the int8 model runs each text alone, so a text's logits are
    the same in any batch, order and padding side as alone (fp32 to float rounding)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(exported)
    texts = VARIED + [text for text in TEXTS[:6]] + ["great " * 30 + "awful", "awful " * 3]
    for quantized in (True, False):
        model = ORTModelForSequenceClassification.from_pretrained(exported, quantized=quantized)
        alone = [model(**tokenizer([text], return_tensors="pt")).logits[0] for text in texts]
        for side in ("right", "left"):
            tokenizer.padding_side = side
            for size in (2, 5, len(texts)):
                order = list(range(len(texts)))[::-1] if size == 5 else list(range(len(texts)))
                for start in range(0, len(order), size):
                    rows = order[start : start + size]
                    batch = tokenizer([texts[i] for i in rows], padding=True, return_tensors="pt")
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                    for row, index in enumerate(rows):
                        if quantized:
                            assert torch.equal(logits[row], alone[index]), (texts[index], size, side)
                        else:
                            assert torch.allclose(logits[row], alone[index], atol=1e-5)


def test_the_readme_onnxruntime_example_runs_without_torch(exported, tmp_path):
    """README "ONNX Runtime without torch", as a user copies it (torch and hf_bilstm blocked), gives predict's answers,
    long texts cut on the saved side."""
    import re
    import subprocess
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme.split("### ONNX Runtime without torch", 1)[1], re.S).group(1)
    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps(dict(settings, truncation_side="left")))
    texts = VARIED + ["great " * 80 + "awful " * 30]
    script = import_blocker("torch", "hf_bilstm") + code.replace('"runs/bilstm-imdb"', repr(str(folder)))
    script += "\nimport json\n"
    script += f"print(json.dumps(classify({texts!r})))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    classifier = load_classifier(str(folder), "cpu", "onnxruntime", False)
    expected = predict(classifier, texts)
    assert [label for label, _ in got] == [answer["label"] for answer in expected]
    assert max(abs(score - answer["score"]) for (_, score), answer in zip(got, expected)) < 1e-5

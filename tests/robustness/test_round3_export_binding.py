"""Round 3, export binding (issue 33, point 2): `onnx/export_report.json` records the sha256 of the weights, the
tokenizer files and each ONNX file; `predict`/`evaluate --backend onnxruntime` and `push` check them and refuse a
mismatch in one line (an ONNX file copied from another model, a tokenizer changed after the export, a report too old
to say); `upgrade` keeps a vouching report true (docs/robustness.md)."""

import io
import json
import shutil

import pytest
from helpers import TEXTS, copy_folder, save_tiny_model

from hf_bilstm.commands import evaluate as evaluate_cmd
from hf_bilstm.commands import predict as predict_cmd
from hf_bilstm.commands import push as push_cmd
from hf_bilstm.commands import upgrade as upgrade_cmd
from hf_bilstm.onnx.runtime import export_binding, file_sha256

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")

REPO = "alice/tiny-bilstm"


def bind(folder, onnx_bytes: bytes, **report) -> None:
    """An onnx/ folder as an export leaves it, with `onnx_bytes` as model.onnx (the hash checks run before ONNX
    Runtime reads the file, so any bytes stand for a graph here; the real export is checked in the slow test)."""
    (folder / "onnx").mkdir(exist_ok=True)
    (folder / "onnx" / "model.onnx").write_bytes(onnx_bytes)
    binding = export_binding(str(folder), {"model.onnx": str(folder / "onnx" / "model.onnx")})
    binding.update(report)
    (folder / "onnx" / "export_report.json").write_text(json.dumps({"fp32": {"max_logit_difference": 0}, **binding}))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bound") / "model"
    save_tiny_model(folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n")
    bind(folder, b"graph of this model")
    return folder


@pytest.fixture
def folder(built, tmp_path):
    return copy_folder(built, tmp_path, "model")


def one_error(code: int, capsys, *words) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def predict(folder):
    return predict_cmd.main(
        [str(folder), "--backend", "onnxruntime", "--device", "cpu", "great"], stdout=io.StringIO()
    )


def evaluate(folder, dataset):
    return evaluate_cmd.main([str(folder), "--backend", "onnxruntime", "--dataset", dataset, "--device", "cpu"])


def test_the_report_records_the_hashes_of_weights_tokenizer_and_graph(built):
    report = json.loads((built / "onnx" / "export_report.json").read_text())
    assert report["weights_sha256"] == file_sha256(str(built / "model.safetensors"))
    assert set(report["tokenizer_sha256"]) == {"tokenizer.json"}  # the ids; tokenizer_config.json's settings are free
    assert report["onnx_sha256"] == {"model.onnx": file_sha256(str(built / "onnx" / "model.onnx"))}


def test_an_onnx_file_copied_from_another_model_is_refused(folder, tmp_path, toy, capsys):
    # On main predict answered with the other model's graph, the report kept vouching for these weights.
    other = tmp_path / "other"
    save_tiny_model(other, seed=1)
    bind(other, b"graph of another model")
    shutil.copyfile(other / "onnx" / "model.onnx", folder / "onnx" / "model.onnx")
    one_error(predict(folder), capsys, "onnx/model.onnx", "copied from another model", "hf-bilstm export")
    one_error(evaluate(folder, toy), capsys, "onnx/model.onnx", "copied from another model")


def test_a_tokenizer_changed_after_the_export_is_refused(folder, capsys):
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[5:7]  # two words swap ids: the graph would read the wrong rows
    vocab[first], vocab[second] = vocab[second], vocab[first]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    one_error(predict(folder), capsys, "tokenizer.json", "hf-bilstm export")


@pytest.mark.parametrize("drop", ["onnx_sha256", "tokenizer_sha256"])
def test_an_old_report_without_hashes_says_how_to_export_again(folder, capsys, drop):
    report = json.loads((folder / "onnx" / "export_report.json").read_text())
    del report[drop]
    (folder / "onnx" / "export_report.json").write_text(json.dumps(report))
    one_error(predict(folder), capsys, "sha256", f"hf-bilstm export {folder} --overwrite")


@pytest.mark.parametrize("text", ["[1, 2]", "{damaged", None])
def test_a_damaged_or_missing_report_is_refused_in_one_line(folder, capsys, text):
    path = folder / "onnx" / "export_report.json"
    path.unlink() if text is None else path.write_text(text)
    one_error(predict(folder), capsys, "export_report.json", "hf-bilstm export")


def test_push_refuses_a_graph_its_report_does_not_vouch_for(hub_env, folder, capsys):
    (folder / "onnx" / "model.onnx").write_bytes(b"graph of another model")
    one_error(push_cmd.main([str(folder), REPO, "--no_verify"]), capsys, "onnx/model.onnx", "sha256")
    assert REPO not in hub_env.repos


def test_upgrade_keeps_a_vouching_report_true_and_never_blesses_a_swapped_graph(folder, capsys):
    # An older tokenizer.json (no Split pre-tokenizer) is rewritten by upgrade: the report follows it.
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["pre_tokenizer"] = {"type": "Whitespace"}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    bind(folder, b"graph of this model")
    assert upgrade_cmd.main([str(folder), "--texts_file", _texts(folder)]) == 0
    report = json.loads((folder / "onnx" / "export_report.json").read_text())
    assert report["tokenizer_sha256"]["tokenizer.json"] == file_sha256(str(folder / "tokenizer.json"))
    assert predict(folder) != 2 or "sha256" not in capsys.readouterr().err
    # A swapped graph stays refused after an upgrade: the report is not rewritten to vouch for it.
    (folder / "onnx" / "model.onnx").write_bytes(b"graph of another model")
    upgrade_cmd.main([str(folder)])
    capsys.readouterr()
    one_error(predict(folder), capsys, "onnx/model.onnx")


def _texts(folder) -> str:
    path = folder.parent / "texts.txt"
    path.write_text("\n".join(TEXTS))
    return str(path)


@pytest.mark.slow
def test_a_real_export_is_bound_and_a_copied_graph_refused(exported, exported_gru, tmp_path, capsys):
    """conftest's two exported folders (real `hf-bilstm export` runs of two different models): one's graph copied
    into the other is refused."""
    first = tmp_path / "first"
    shutil.copytree(exported, first)
    report = json.loads((first / "onnx" / "export_report.json").read_text())
    assert report["onnx_sha256"]["model.onnx"] == file_sha256(str(first / "onnx" / "model.onnx"))
    assert predict(first) == 0
    capsys.readouterr()
    shutil.copyfile(exported_gru / "onnx" / "model.onnx", first / "onnx" / "model.onnx")
    one_error(predict(first), capsys, "onnx/model.onnx", "copied from another model")

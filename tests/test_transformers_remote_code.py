"""The trust_remote_code path: a saved folder works in a process where `hf_bilstm` cannot be imported."""

import json
import textwrap

import pytest
import torch
from helpers import BLOCK_HF_BILSTM, child_result, run_child, save_tiny_model

# Loaded in the child process: blocks every import of hf_bilstm, then loads only through the folder's code files.
CHILD = BLOCK_HF_BILSTM + textwrap.dedent(
    """
    import json, sys

    try:
        import hf_bilstm  # noqa: F401
        raise SystemExit("hf_bilstm should not be importable here")
    except ImportError:
        pass

    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline

    folder, texts = sys.argv[1], json.loads(sys.argv[2])
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    base = AutoModel.from_pretrained(folder, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    classifier = pipeline("text-classification", model=folder, trust_remote_code=True)
    print("RESULT " + json.dumps({
        "config_module": type(config).__module__,
        "model_module": type(model).__module__,
        "base_class": type(base).__name__,
        "logits": logits.tolist(),
        "pipeline": classifier(texts, top_k=None),
        "blocked": "hf_bilstm" not in sys.modules,
    }))
    """
)


def run_without_hf_bilstm(folder, texts, tmp_path):
    result = run_child(CHILD, [str(folder), json.dumps(texts)], tmp_path)
    assert "[y/N]" not in result.stdout  # nothing asked on the terminal
    return child_result(result)


def test_folder_carries_code_files_and_auto_map(tmp_path):
    save_tiny_model(tmp_path)
    assert (tmp_path / "configuration_bilstm.py").exists() and (tmp_path / "modeling_bilstm.py").exists()
    config = json.loads((tmp_path / "config.json").read_text())
    expected = {
        "AutoConfig": "configuration_bilstm.BiLSTMConfig",
        "AutoModel": "modeling_bilstm.BiLSTMModel",
        "AutoModelForSequenceClassification": "modeling_bilstm.BiLSTMForSequenceClassification",
    }
    assert expected.items() <= config["auto_map"].items()
    assert config["architectures"] == ["BiLSTMForSequenceClassification"]


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_trust_remote_code_without_the_package_gives_the_same_logits(tmp_path):
    folder = tmp_path / "model"
    model, tokenizer = save_tiny_model(folder)
    texts = ["a great movie!", "terrible, boring film", ""]
    child = run_without_hf_bilstm(folder, texts, tmp_path)
    assert child["blocked"]
    assert not child["model_module"].startswith("hf_bilstm") and "modeling_bilstm" in child["model_module"]
    assert not child["config_module"].startswith("hf_bilstm")
    assert child["base_class"] == "BiLSTMModel"
    with torch.no_grad():
        expected = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(torch.tensor(child["logits"]), expected, atol=1e-5, rtol=0)
    assert all(sorted(r["label"] for r in result) == ["neg", "pos"] for result in child["pipeline"])


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_resaving_a_remote_code_model_keeps_code_and_auto_map(tmp_path):
    folder = tmp_path / "model"
    save_tiny_model(folder)
    resave = BLOCK_HF_BILSTM + textwrap.dedent(
        """
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1], trust_remote_code=True)
        model.save_pretrained(sys.argv[2])
        """
    )
    again = tmp_path / "again"
    result = run_child(resave, [str(folder), str(again)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (again / "modeling_bilstm.py").read_bytes() == (folder / "modeling_bilstm.py").read_bytes()
    assert (
        json.loads((again / "config.json").read_text())["auto_map"]
        == json.loads((folder / "config.json").read_text())["auto_map"]
    )

"""An exported folder on transformers 4.x, where Optimum lives (Optimum 2.1 pins transformers 4.57): the tokenizer
loads and gives transformers 5's ids (long texts cut on the saved side), the remote-code model keeps `pad_token_id`
and gives the same logits, Optimum's ORTModelForSequenceClassification runs onnx/ with the same logits.

Runs in a separate environment named by HF_BILSTM_TRANSFORMERS4_PYTHON (a Python with transformers 4.x and
optimum[onnxruntime]; .ci/run makes one), with hf_bilstm blocked so that only the folder's own code is used.
Without it the test is skipped, and under CI=true it fails."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
from helpers import BLOCK_HF_BILSTM, TEXTS

pytestmark = pytest.mark.slow
PYTHON = os.environ.get("HF_BILSTM_TRANSFORMERS4_PYTHON")
if not PYTHON and os.environ.get("CI") == "true":
    raise RuntimeError("CI=true but HF_BILSTM_TRANSFORMERS4_PYTHON is unset: .ci/run makes that environment.")

TEXTS_4X = TEXTS[:6] + [
    "Clichés and naïveté, but the café scene is great!",
    "awful " * 50 + "great wonderful loved it " * 20,
    "great wonderful loved it " * 20 + "awful boring " * 40,
]

CHILD = (
    BLOCK_HF_BILSTM
    + """
import json, sys
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from optimum.onnxruntime import ORTModelForSequenceClassification

folder, texts_file, out_file = sys.argv[1:]
texts = json.load(open(texts_file, encoding="utf-8"))
tokenizer = AutoTokenizer.from_pretrained(folder)
ids = [tokenizer(text, truncation=True)["input_ids"] for text in texts]
model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
import torch
with torch.no_grad():
    torch_logits = [
        model(**tokenizer(text, truncation=True, return_tensors="pt")).logits[0].tolist() for text in texts
    ]
optimum = {}
for name in ("model.onnx", "model_quantized.onnx"):
    ort_model = ORTModelForSequenceClassification.from_pretrained(
        folder, subfolder="onnx", file_name=name, trust_remote_code=True
    )
    optimum[name] = [
        ort_model(**tokenizer(text, truncation=True, return_tensors="pt")).logits[0].tolist() for text in texts
    ]
json.dump({
    "transformers": transformers.__version__, "tokenizer_class": type(tokenizer).__name__,
    "truncation_side": tokenizer.truncation_side, "pad_token_id": model.config.pad_token_id,
    "ids": ids, "torch": torch_logits, "optimum": optimum,
}, open(out_file, "w"))
"""
)


@pytest.mark.skipif(not PYTHON, reason="HF_BILSTM_TRANSFORMERS4_PYTHON is unset (a Python with transformers 4.x)")
@pytest.mark.parametrize("side", ["right", "left"])
def test_transformers_4_and_optimum_read_the_folder_as_transformers_5(exported, tmp_path, side):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_bilstm.commands import upgrade
    from hf_bilstm.onnx.runtime import ORTModelForSequenceClassification

    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    assert upgrade.main([str(folder)]) == 0  # a folder saved the old way (tokenizer class TokenizersBackend)
    path = folder / "tokenizer_config.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), truncation_side=side)))
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS_4X), encoding="utf-8")
    command = [PYTHON, str(tmp_path / "child.py"), str(folder), str(tmp_path / "texts.json"), str(tmp_path / "o.json")]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads((tmp_path / "o.json").read_text())
    assert got["transformers"].startswith("4.")
    read = (got["tokenizer_class"], got["truncation_side"], got["pad_token_id"])
    assert read == ("PreTrainedTokenizerFast", side, 0)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert got["ids"] == [tokenizer(text, truncation=True)["input_ids"] for text in TEXTS_4X]
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    for name, quantized in (("model.onnx", False), ("model_quantized.onnx", True)):
        ours = ORTModelForSequenceClassification.from_pretrained(folder, quantized=quantized)
        batch = tokenizer(TEXTS_4X, truncation=True, padding=True, return_tensors="pt")
        expected = ours(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.numpy()
        assert np.abs(np.asarray(got["optimum"][name]) - expected).max() < 1e-5, name
    with torch.no_grad():
        expected = model(**tokenizer(TEXTS_4X, truncation=True, padding=True, return_tensors="pt")).logits.numpy()
    assert np.abs(np.asarray(got["torch"]) - expected).max() < 1e-5

"""Trust: what is saved next to the weights is exactly the package's code, and nothing read from a folder's config
steers how (or from where) anything is loaded (the SpanMarker#85 injection)."""

import ast
import json
import pickle
import re
from pathlib import Path

import pytest
import torch
from helpers import LABELS, PicklePayload, save_tiny_model, tiny_classifier
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline

import hf_bilstm
from hf_bilstm import BiLSTMConfig, BiLSTMForPreTraining, BiLSTMModel

PACKAGE = Path(hf_bilstm.__file__).parent
README = PACKAGE.parent / "README.md"
CODE_FILES = ("configuration_bilstm.py", "modeling_bilstm.py")


@pytest.mark.parametrize("kind", ["classifier", "encoder", "language model"])
def test_saved_code_files_are_byte_identical_to_the_package(tmp_path, kind):
    if kind == "classifier":
        model = tiny_classifier()
    elif kind == "encoder":
        model = BiLSTMModel(BiLSTMConfig(vocab_size=100, embedding_dim=16, hidden_size=8))
    else:
        config = BiLSTMConfig(vocab_size=100, embedding_dim=16, hidden_size=8, num_layers=1)
        model = BiLSTMForPreTraining(config)
    model.save_pretrained(tmp_path)
    for name in CODE_FILES:
        assert (tmp_path / name).read_bytes() == (PACKAGE / name).read_bytes(), name
    # and only those: no other code travels with the weights
    assert sorted(p.name for p in tmp_path.glob("*.py")) == sorted(CODE_FILES)


def test_remote_code_files_import_only_torch_transformers_and_each_other():
    allowed = {"torch", "transformers", "os", "dataclasses", "configuration_bilstm"}
    for name in CODE_FILES:
        tree = ast.parse((PACKAGE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0] or "configuration_bilstm"}
                if node.level:  # relative: only the sibling file that travels with it
                    assert node.module == "configuration_bilstm", (name, node.module)
            else:
                continue
            assert roots <= allowed, (name, roots)


# Loading options a hostile config.json might carry, hoping that some loader forwards them.
DECOYS = {
    "subfolder": "decoy",
    "use_safetensors": False,
    "weights_only": False,
    "trust_remote_code": True,
    "revision": "decoy-revision",
    "code_revision": "decoy-revision",
    "token": "hf_decoy_token",
    "local_files_only": False,
    "force_download": True,
    "_name_or_path": "decoy-user/decoy-repo",
}


@pytest.fixture
def hostile_folder(tmp_path):
    """A good model folder whose config.json also carries DECOYS, with a decoy model in decoy/ (other weights), a
    pickle that would run code if opened, and a cache_dir that must never be created."""
    folder = tmp_path / "model"
    model, _ = save_tiny_model(folder)
    save_tiny_model(folder / "decoy", seed=1)
    marker = tmp_path / "pickle-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(PicklePayload(marker)))
    config = json.loads((folder / "config.json").read_text())
    config.update(DECOYS, cache_dir=str(tmp_path / "decoy-cache"))
    (folder / "config.json").write_text(json.dumps(config))
    return folder, model, marker, tmp_path / "decoy-cache"


def assert_same_weights(model, reference, prefix=""):
    reference = {k[len(prefix) :]: v for k, v in reference.state_dict().items() if k.startswith(prefix)}
    loaded = model.state_dict()
    assert loaded.keys() == reference.keys()
    for name, tensor in reference.items():
        assert torch.equal(loaded[name], tensor), name


def test_config_values_are_never_forwarded_into_loading_calls(hostile_folder):
    folder, model, marker, decoy_cache = hostile_folder
    classifier = AutoModelForSequenceClassification.from_pretrained(folder)
    assert_same_weights(classifier, model)  # the top-level weights, not decoy/'s
    assert classifier.config.revision == "decoy-revision"  # read as a plain attribute, and used for nothing
    assert_same_weights(AutoModel.from_pretrained(folder), model, prefix="bilstm.")
    AutoTokenizer.from_pretrained(folder)
    answer = pipeline("text-classification", model=str(folder))("a great movie")
    assert answer[0]["label"] in LABELS.values()

    # starting a fine-tune from a folder (hf-bilstm train --model_name_or_path) reuses its config for the new model
    from hf_bilstm.arguments import ModelArguments
    from hf_bilstm.training.trainer import build_model_from_pretrained

    fine_tune = build_model_from_pretrained(str(folder), ModelArguments(), list(LABELS.values()))
    for name, tensor in model.bilstm.state_dict().items():
        assert torch.equal(fine_tune.bilstm.state_dict()[name], tensor), name

    assert not marker.exists(), "a pickle in the folder was opened"
    assert not decoy_cache.exists(), "cache_dir from config.json was used"


LOADERS = {"from_pretrained", "load_dataset", "hf_hub_download", "snapshot_download", "cached_file", "cached_files"}
LOADERS |= {"pipeline", "load_file", "safe_open", "torch.load"}


def _mentions_config(node) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and (sub.id.lower() in ("config", "cfg") or sub.id.lower().endswith("_config")):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in ("config", "to_dict"):
            return True
    return False


def config_fed_loading_calls(source: str) -> list[str]:
    """Loading calls whose arguments (a path or an option) are computed from a config."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            name = name if name in LOADERS else f"{func.value.id}.{name}"
        if name in LOADERS and any(_mentions_config(v) for v in [*node.args, *(k.value for k in node.keywords)]):
            found.append(f"{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_no_loading_call_in_the_package_takes_arguments_from_a_config():
    # the scanner sees the SpanMarker#85 pattern ...
    spanmarker = (
        "encoder = AutoModel.from_pretrained(config.encoder['_name_or_path'], **config.encoder)\n"
        "weights = torch.load(self.config.path)\n"
        "x = load_dataset(name, cache_dir=cache_dir)\n"
    )
    assert len(config_fed_loading_calls(spanmarker)) == 2
    # ... and the package has none
    offenders = {path.name: config_fed_loading_calls(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}
    assert not {name: calls for name, calls in offenders.items() if calls}


def test_readme_says_to_pin_revision_with_trust_remote_code():
    text = README.read_text()
    paragraphs = re.split(r"\n\s*\n", text)
    # the advice itself: a paragraph that names both trust_remote_code and pinning revision=
    assert any("trust_remote_code" in p and "revision=" in p and re.search(r"\bpin", p) for p in paragraphs)
    # and every README call that loads a Hub id with trust_remote_code=True pins a revision
    calls = re.findall(r"\w+\((?:[^()]|\([^()]*\))*trust_remote_code=True(?:[^()]|\([^()]*\))*\)", text)
    assert calls
    for call in calls:
        hub_id = re.search(r"[\"']([\w.-]+/[\w.-]+)[\"']", call)
        if hub_id and not hub_id.group(1).startswith((".", "/")):
            assert "revision=" in call, call

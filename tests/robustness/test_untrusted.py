"""`hf-bilstm push` runs and sends nothing it was not asked to: code files must be the package's, the verifying process
holds no token, symlinks and other repositories' code are refused (docs/robustness.md, "Trust").
"""

import json
import os

import pytest
from conftest import WRITE_TOKEN
from helpers import run_push

from hf_bilstm import BiLSTMForSequenceClassification, hub_verification

REPO = "alice/tiny-bilstm"


def plant_token_thief(folder, mark, name="modeling_bilstm.py"):
    """Edits a code file so that, when run, it writes the HF_TOKEN of its environment to `mark`."""
    code = (folder / name).read_text()
    thief = f"import os as _os\nopen({str(mark)!r}, 'w').write(_os.environ.get('HF_TOKEN', '<no token>'))\n"
    (folder / name).write_text(thief + code)


@pytest.mark.parametrize("how", ["token thief in modeling", "token thief in configuration", "one byte"])
def test_push_refuses_code_files_that_differ_from_the_package(hub_env, pushable_folder, tmp_path, capsys, how):
    mark = tmp_path / "stolen"
    if how == "one byte":
        path = pushable_folder / "modeling_bilstm.py"
        path.write_bytes(path.read_bytes() + b" ")
        differing = "modeling_bilstm.py"
    else:
        differing = "modeling_bilstm.py" if "modeling" in how else "configuration_bilstm.py"
        plant_token_thief(pushable_folder, mark, differing)
    code, _, err = run_push([pushable_folder, REPO, "--license", "mit"], capsys)
    assert code == 2 and differing in err and "differ from the installed hf_bilstm" in err
    assert "--allow_custom_code" in err
    assert REPO not in hub_env.repos and not mark.exists()  # nothing sent, nothing run


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_a_deliberate_custom_push_is_verified_without_the_token(hub_env, pushable_folder, tmp_path, capsys):
    mark = tmp_path / "stolen"
    plant_token_thief(pushable_folder, mark)
    code, _, err = run_push([pushable_folder, REPO, "--license", "mit", "--allow_custom_code"], capsys)
    assert code == 0, err
    assert "custom code files ['modeling_bilstm.py']" in err
    assert mark.read_text() == "<no token>"  # the pushed code ran, in a process without the write token
    assert WRITE_TOKEN not in mark.read_text() and os.environ["HF_TOKEN"] == WRITE_TOKEN


def test_verification_environment_holds_no_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_secret2")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws_secret")
    env = hub_verification.fresh_process_env(str(tmp_path))
    assert not any("secret" in value for value in env.values())
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_HOME"] == str(tmp_path)


@pytest.mark.parametrize("name", ["eval_results.json", "README.md", "tokenizer.json", "model.safetensors"])
def test_push_refuses_symlinks(hub_env, pushable_folder, tmp_path, capsys, name):
    outside = tmp_path / "secret.txt"
    outside.write_text('{"password": "hunter2"}')
    folder = pushable_folder
    target = outside if name in ("eval_results.json", "README.md") else (folder / name).rename(folder / f"real-{name}")
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to(target)
    code, _, err = run_push([pushable_folder, REPO, "--license", "mit"], capsys)
    assert code == 2 and "is a symbolic link" in err and name in err
    assert REPO not in hub_env.repos


@pytest.mark.parametrize(
    "key, value",
    [
        ("AutoModel", "other/repo--modeling_bilstm.BiLSTMModel"),
        ("AutoConfig", "evil/x--configuration_bilstm.BiLSTMConfig"),
        ("AutoTokenizer", ["other/repo--tokenization.Tok", None]),
        ("AutoModelForSequenceClassification", "some_other_module.Classifier"),
    ],
)
def test_auto_map_pointing_at_other_code_is_refused_and_dropped_on_save(hub_env, pushable_folder, capsys, key, value):
    config = json.loads((pushable_folder / "config.json").read_text())
    config["auto_map"][key] = value
    (pushable_folder / "config.json").write_text(json.dumps(config))
    code, _, err = run_push([pushable_folder, REPO, "--license", "mit"], capsys)
    assert code == 2 and "points at code outside the folder" in err and key in err
    assert REPO not in hub_env.repos
    if "--" in json.dumps(value):  # re-saving drops another repository's entry and keeps the folder's own
        model = BiLSTMForSequenceClassification.from_pretrained(pushable_folder)
        model.save_pretrained(pushable_folder)
        saved = json.loads((pushable_folder / "config.json").read_text())["auto_map"]
        assert "--" not in json.dumps(saved) and saved["AutoModel"] == "modeling_bilstm.BiLSTMModel"


@pytest.mark.parametrize(
    "auto_map",
    [
        {"AutoTokenizer": ["other/repo--tokenization_evil.EvilTokenizer", None]},
        {"AutoTokenizer": [None, "tokenization_bilstm.BiLSTMTokenizerFast"]},
        {"AutoTokenizer": "evil/repo--tok.Tok"},
    ],
)
def test_a_tokenizer_config_auto_map_is_refused(hub_env, pushable_folder, capsys, auto_map):
    """AutoTokenizer reads an auto_map in tokenizer_config.json too, and would run that class under trust_remote_code:
    the folder's code has no tokenizer, so any entry there is someone else's code, refused before anything is sent."""
    settings = json.loads((pushable_folder / "tokenizer_config.json").read_text())
    settings["auto_map"] = auto_map
    (pushable_folder / "tokenizer_config.json").write_text(json.dumps(settings))
    code, _, err = run_push([pushable_folder, REPO, "--license", "mit"], capsys)
    assert code == 2 and "tokenizer_config.json has auto_map" in err and "trust_remote_code" in err
    assert REPO not in hub_env.repos

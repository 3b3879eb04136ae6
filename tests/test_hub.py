"""`hf-bilstm push` against the local Hub stand-in (tests/hub_server.py): round trip, no-op re-push, card, failures."""

import contextlib
import hashlib
import io
import json
import shlex
from pathlib import Path

import pytest
import torch
from conftest import HUB_ORGS, HUB_TOKENS, OTHER_TOKEN, READ_TOKEN, WRITE_TOKEN, hub_environment
from helpers import CARD, TEST_RESULTS, TEXTS, make_model_folder, run_push
from hub_server import HubStandIn

from hf_bilstm import hub, hub_verification
from hf_bilstm.commands import push as push_cmd
from hf_bilstm.commands import train as train_cmd

REPO = "alice/tiny-bilstm"


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def write_tiny_dataset(folder: Path) -> Path:
    """A local dataset folder (train/test JSON lines, string labels) that `hf-bilstm train` reads in seconds."""
    folder.mkdir(parents=True)
    for split in ("train", "test"):  # every text once: a text in two splits is refused (or dropped)
        rows = [
            {"text": f"{text} ({split} review {i})", "label": ["pos", "neg"][i % 2]} for i, text in enumerate(TEXTS)
        ]
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    return folder


def train_argv(data: Path, output_dir: Path, *extra: str) -> list[str]:
    tiny = ["--preset", "tutorial", "--embedding_dim", "16", "--hidden_size", "8", "--num_layers", "1"]
    tiny += ["--vocab_size", "100", "--min_frequency", "1", "--max_length", "32", "--num_train_epochs", "1"]
    tiny += ["--per_device_train_batch_size", "4"]
    return ["--dataset", str(data), "--output_dir", str(output_dir), *tiny, *extra]


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """`hf-bilstm train --push_to_hub` on a tiny dataset: train, push, verify. The expensive step, done once."""

    tmp = tmp_path_factory.mktemp("pushed")
    data = write_tiny_dataset(tmp / "imdb_sample")
    server = HubStandIn(HUB_TOKENS, HUB_ORGS).start()
    reports = []
    with pytest.MonkeyPatch.context() as mp, hub_environment(mp, server.url, tmp / "hf_home", WRITE_TOKEN):
        verify = hub.verify_push
        mp.setattr(hub, "verify_push", lambda *args, **kwargs: reports.append(verify(*args, **kwargs)) or reports[-1])
        stdout = io.StringIO()  # and stderr, where train reports the push as it goes
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stdout):
            # Private: the verifying process can read it only with the token it was handed.
            argv = train_argv(data, tmp / "out", "--push_to_hub", "--hub_model_id", REPO, "--hub_private_repo", "true")
            argv += ["--license", "mit", "--dataset_name", "alice/imdb-sample"]  # a local copy of a Hub dataset
            code = train_cmd.main(argv)
        assert code == 0, stdout.getvalue()[-3000:]
        yield dict(server=server, folder=tmp / "out", report=reports[0], stdout=stdout.getvalue(), tmp=tmp)
    server.stop()


def test_train_push_to_hub_uploads_the_model_without_pickles(pushed):
    server, folder = pushed["server"], pushed["folder"]
    head = server.head(REPO)
    results = ["all_results.json", "eval_results.json", "test_results.json", "train_results.json"]
    code = ["configuration_bilstm.py", "modeling_bilstm.py"]
    assert sorted(head.files) == sorted(
        [".gitattributes", "README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
        + ["data_schema.json"]  # the data's columns and labels, read by evaluate/predict (hf_bilstm.data_schema)
        + code
        + results
    )
    assert server.repos[REPO].private
    assert not list(folder.glob("*.bin"))  # the Trainer's pickled training_args.bin is not even kept in the folder
    assert head.files["model.safetensors"].lfs_oid is not None  # went through the LFS batch API
    assert server.file_bytes(REPO, "model.safetensors") == (folder / "model.safetensors").read_bytes()
    assert set(hub.AUTO_CLASSES) <= set(json.loads(server.file_bytes(REPO, "config.json"))["auto_map"])
    assert f'revision="{head.sha}"' in pushed["stdout"] and "Verified" in pushed["stdout"]
    assert server.unhandled == []  # the client used nothing the stand-in does not implement


def test_fresh_process_without_hf_bilstm_gets_identical_logits(pushed):
    """The verification ran AutoTokenizer + AutoModelForSequenceClassification + pipeline from the pinned commit."""
    report, sha = pushed["report"], pushed["server"].head(REPO).sha
    assert report["module"].startswith("transformers_modules") and sha in report["module"]  # code of that commit
    assert report["pipeline_module"].startswith("transformers_modules") and not report["hf_bilstm_loaded"]
    # Downloads in that process were pinned to the new commit (the stand-in logs every request).
    resolved = [path for method, path in pushed["server"].requests if "/resolve/" in path]
    assert resolved and all(f"/resolve/{sha}/" in path for path in resolved)
    # Checked here independently of compare_logits: the local model, on the texts the verification used.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(pushed["folder"])
    model = AutoModelForSequenceClassification.from_pretrained(pushed["folder"]).eval()
    with torch.no_grad():
        local = torch.stack([model(**tokenizer(t, return_tensors="pt")).logits[0] for t in hub.VERIFY_TEXTS])
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    for way in ("auto", "pipeline"):
        remote = torch.tensor([[row[label] for label in labels] for row in report[way]])
        torch.testing.assert_close(remote, local, atol=1e-5, rtol=0, msg=way)
    assert not torch.allclose(local[0], local[1])  # the texts do tell the model something


def test_repush_of_unchanged_folder_creates_nothing(pushed, capsys):
    server = pushed["server"]
    sha = server.head(REPO).sha
    with pytest.MonkeyPatch.context() as mp, hub_environment(mp, server.url, pushed["tmp"] / "again", WRITE_TOKEN):
        commits, lfs_objects = server.commit_count(REPO), len(server.lfs_store)
        assert push_cmd.main([str(pushed["folder"]), REPO, "--no_verify"]) == 0
    out = capsys.readouterr().out
    assert "Nothing changed" in out and sha in out
    assert server.commit_count(REPO) == commits and len(server.lfs_store) == lfs_objects
    assert server.head(REPO).sha == sha


def test_card_metadata_and_model_index_parse_back(pushed):
    from huggingface_hub import ModelCard

    server = pushed["server"]
    with pytest.MonkeyPatch.context() as mp, hub_environment(mp, server.url, pushed["tmp"] / "card", WRITE_TOKEN):
        card = ModelCard.load(REPO)
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    assert data.license == "mit" and data.datasets == ["alice/imdb-sample"]  # the flags; the folder name is not an id
    test_results = json.loads((pushed["folder"] / "test_results.json").read_text())
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    assert results[("test", "accuracy")] == test_results["test_accuracy"]
    assert all(r.task_type == "text-classification" for r in data.eval_results)
    assert {r.dataset_type for r in data.eval_results} == {"alice/imdb-sample"}
    assert f'model="{REPO}"' in card.text  # the card's usage snippet names the Hub repo


def test_train_push_to_hub_without_token_fails_before_training(hub_env, tmp_path, monkeypatch, capsys):

    monkeypatch.delenv("HF_TOKEN")
    data = write_tiny_dataset(tmp_path / "data")
    code = train_cmd.main(train_argv(data, tmp_path / "out", "--push_to_hub", "--hub_model_id", REPO))
    err = capsys.readouterr().err
    assert code == 2 and "No Hugging Face token" in err and "hf auth login" in err and "Nothing was trained" in err
    assert not (tmp_path / "out").exists()
    code = train_cmd.main(train_argv(data, tmp_path / "out", "--push_to_hub"))
    assert code == 2 and "--hub_model_id USER/NAME" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and hub_env.repos == {}


def test_card_is_completed_from_results_without_clobbering_it(hub_env, tmp_path, capsys):
    folder = tmp_path / "model"
    make_model_folder(folder)  # CARD: license, datasets, language, tags; no model-index
    assert run_push([folder, REPO, "--no_verify"], capsys)[0] == 0
    from huggingface_hub import ModelCard

    card = ModelCard(hub_env.file_bytes(REPO, "README.md").decode())
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    assert data.license == "apache-2.0" and data.datasets == ["stanfordnlp/imdb"]
    assert data.language == "en" and data.tags == ["sentiment"] and "A tiny test model." in card.text
    results = {(r.dataset_type, r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    assert results == {
        ("stanfordnlp/imdb", "test", "accuracy"): TEST_RESULTS["test_accuracy"],
        ("stanfordnlp/imdb", "test", "f1"): TEST_RESULTS["test_f1"],
    }
    assert (folder / "README.md").read_text() == CARD  # completed in the upload, not in the local folder


def test_printed_snippet_pins_the_commit():
    snippet = hub.usage_snippet(REPO, "0123456789abcdef0123456789abcdef01234567")
    assert 'revision="0123456789abcdef0123456789abcdef01234567"' in snippet and "trust_remote_code=True" in snippet


# ------------------------------------------------------------------------------------------------ failures
def test_missing_token_fails_before_any_request_with_the_fix(hub_env, pushable_folder, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    code, _, err = run_push([pushable_folder, REPO, "--no_verify"], capsys)
    assert code == 1 and "No Hugging Face token" in err and "hf auth login" in err and "HF_TOKEN" in err
    assert [r for r in hub_env.requests if r[1] != "/api/agent-harnesses"] == []
    with pytest.raises(hub.HubPushError, match="No Hugging Face token"):
        hub.check_token(REPO)  # what `hf-bilstm train --push_to_hub` calls before training


def test_stored_login_is_used(hub_env, pushable_folder, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN")
    Path(constants.HF_TOKEN_PATH).parent.mkdir(parents=True, exist_ok=True)
    Path(constants.HF_TOKEN_PATH).write_text(WRITE_TOKEN)
    code, out, err = run_push([pushable_folder, REPO, "--no_verify"], capsys)
    assert code == 0, err
    assert "model.safetensors" in hub_env.head(REPO).files


@pytest.mark.parametrize(
    "token, message, fix",
    [
        ("hf_not_a_token", "refused", "hf auth login"),
        (READ_TOKEN, "read-only", "settings/tokens"),
        (OTHER_TOKEN, "cannot write to the namespace 'alice'", "Use bob/tiny-bilstm"),
    ],
)
def test_unusable_token_is_a_clear_error(hub_env, pushable_folder, monkeypatch, capsys, token, message, fix):
    monkeypatch.setenv("HF_TOKEN", token)
    code, _, err = run_push([pushable_folder, REPO, "--no_verify"], capsys)
    assert code == 1 and message in err and fix in err
    assert hub_env.repos == {}


def test_organisation_namespace_is_allowed(hub_env, pushable_folder, capsys):
    code, _, err = run_push([pushable_folder, "bilstm-org/tiny", "--no_verify"], capsys)
    assert code == 0, err
    assert "bilstm-org/tiny" in hub_env.repos


@pytest.mark.parametrize("repo_id", ["tiny-bilstm", "alice/tiny/bilstm", "alice/bad--name", "alice/-x", "alice/x.git"])
def test_invalid_repo_id_is_a_clear_error(hub_env, pushable_folder, capsys, repo_id):
    code, _, err = run_push([pushable_folder, repo_id, "--no_verify"], capsys)
    assert code == 2 and "Invalid repo id" in err and repr(repo_id) in err
    assert [r for r in hub_env.requests if r[1] != "/api/agent-harnesses"] == []


def test_unreachable_hub_keeps_folder_and_prints_retry(
    hub_env, pushable_folder, monkeypatch, capsys, unreachable_endpoint
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", unreachable_endpoint)
    before = folder_digest(pushable_folder)
    code, _, err = run_push([pushable_folder, REPO, "--private"], capsys)
    assert code == 1 and "Could not reach the Hub" in err
    assert f"hf-bilstm push {pushable_folder.resolve()} {REPO} --private" in err
    assert folder_digest(pushable_folder) == before


@pytest.mark.parametrize("route, status", [("create", 503), ("commit", 500), ("lfs-upload", 403)])
def test_server_error_keeps_folder_and_retry_command_works(hub_env, pushable_folder, capsys, route, status):
    before = folder_digest(pushable_folder)
    hub_env.fail_next[route] = status
    code, _, err = run_push([pushable_folder, REPO, "--commit_message", "first try"], capsys)
    assert code == 1 and "The local folder is intact" in err
    assert folder_digest(pushable_folder) == before
    assert REPO not in hub_env.repos or hub_env.commit_count(REPO) == 1  # only the repo's initial commit
    retry = err.strip().splitlines()[-1].strip()
    assert retry == f"hf-bilstm push {pushable_folder.resolve()} {REPO} --commit_message 'first try'"
    code, _, err = run_push([*shlex.split(retry)[2:], "--no_verify"], capsys)
    assert code == 0, err
    assert hub_env.head(REPO).title == "first try" and "model.safetensors" in hub_env.head(REPO).files


def test_private_push_to_existing_public_repo_is_refused(hub_env, pushable_folder, capsys):
    assert run_push([pushable_folder, REPO, "--no_verify"], capsys)[0] == 0
    commits = hub_env.commit_count(REPO)
    code, _, err = run_push([pushable_folder, REPO, "--private", "--no_verify"], capsys)
    assert code == 1 and "is public" in err and hub_env.commit_count(REPO) == commits


def test_private_repo_and_branch(hub_env, pushable_folder, capsys):
    code, out, err = run_push([pushable_folder, REPO, "--private", "--revision", "v2", "--no_verify"], capsys)
    assert code == 0, err
    repo = hub_env.repos[REPO]
    assert repo.private and "model.safetensors" in hub_env.head(REPO, "v2").files
    assert "model.safetensors" not in hub_env.head(REPO, "main").files


def test_folder_with_only_a_pickle_is_refused(hub_env, tmp_path, capsys):
    folder = tmp_path / "model"
    make_model_folder(folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    code, _, err = run_push([folder, REPO, "--no_verify"], capsys)
    assert code == 2 and "no model.safetensors" in err and "pytorch_model.bin" in err and "pickles" in err
    assert hub_env.repos == {}


def test_folder_without_tokenizer_is_refused(hub_env, pushable_folder, capsys):
    (pushable_folder / "tokenizer.json").unlink()
    code, _, err = run_push([pushable_folder, REPO, "--no_verify"], capsys)
    assert code == 2 and "tokenizer.json" in err and "tokenizer.save_pretrained" in err
    assert hub_env.repos == {}


def test_plain_save_pretrained_folder_goes_up_with_warnings_naming_the_flags(hub_env, tmp_path, capsys):
    """No card at all (what save_pretrained leaves): pushed, warning that --license and --dataset would say more."""
    from huggingface_hub import ModelCard

    bare = tmp_path / "bare"
    make_model_folder(bare, card=None)
    code, _, err = run_push([bare, REPO, "--no_verify"], capsys)
    assert code == 0, err
    assert "declares no license" in err and "--license" in err and "--dataset" in err
    data = ModelCard(hub_env.file_bytes(REPO, "README.md").decode()).data
    assert data.license is None and data.datasets is None and data.eval_results is None  # nothing made up
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    code, _, err = run_push([bare, REPO, "--no_verify", "--license", "mit", "--dataset", "stanfordnlp/imdb"], capsys)
    assert code == 0, err
    assert "--license" not in err
    data = ModelCard(hub_env.file_bytes(REPO, "README.md").decode()).data
    assert data.license == "mit" and data.datasets == ["stanfordnlp/imdb"]
    accuracy = [r for r in data.eval_results if r.metric_type == "accuracy"]
    assert accuracy[0].metric_value == TEST_RESULTS["test_accuracy"] and accuracy[0].metric_name == "Accuracy (test)"


def test_compare_logits_rejects_mismatch_and_local_code():
    expected = [{"neg": 0.1, "pos": -0.2}, {"neg": 0.3, "pos": 0.4}]
    module = "transformers_modules.alice.m.abc.modeling_bilstm"
    good = {"module": module, "pipeline_module": module, "hf_bilstm_loaded": False, "auto": expected}
    assert hub_verification.compare_logits(expected, {**good, "pipeline": expected}, "r") == 0.0
    shifted = [{"neg": 0.1, "pos": -0.2}, {"neg": 0.3, "pos": 0.4 + 2e-5}]
    with pytest.raises(hub.HubPushError, match="different logits .*pipeline"):
        hub_verification.compare_logits(expected, {**good, "pipeline": shifted}, "r")
    with pytest.raises(hub.HubPushError, match="rows"):
        hub_verification.compare_logits(expected, {**good, "pipeline": expected[:1]}, "r")
    with pytest.raises(hub.HubPushError, match="labels"):
        hub_verification.compare_logits(expected, {**good, "pipeline": [{"LABEL_0": 0.1, "LABEL_1": -0.2}] * 2}, "r")
    local = {**good, "pipeline": expected, "pipeline_module": "hf_bilstm.modeling_bilstm"}
    with pytest.raises(hub.HubPushError, match="did not run the pushed code"):
        hub_verification.compare_logits(expected, local, "r")


def test_card_without_hub_dataset_takes_it_from_its_model_index(hub_env, pushable_folder, capsys):
    # What a model trained on a local copy of IMDB gets: model-index names the dataset, `datasets:` does not.
    card = """---
license: apache-2.0
model-index:
- name: tiny
  results:
  - task: {type: text-classification}
    dataset: {type: imdb, name: imdb, split: test}
    metrics:
    - {type: accuracy, value: 0.9}
---
# tiny
"""
    (pushable_folder / "README.md").write_text(card)
    code, out, err = run_push([pushable_folder, REPO, "--no_verify"], capsys)
    assert code == 0, err
    assert "using 'imdb' from its model-index" in err
    from huggingface_hub import ModelCard

    data = ModelCard(hub_env.file_bytes(REPO, "README.md").decode()).data
    assert data.datasets == ["imdb"] and data.eval_results[0].metric_value == 0.9
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"

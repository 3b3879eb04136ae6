"""Shared fixtures. The Hub fixtures point huggingface_hub at the local stand-in server in `hub_server.py`."""

import os
from contextlib import contextmanager

# Under `-n N` the N worker processes share the machine's cores: each gets its share of torch threads (at least one),
# set before torch loads here and inherited by the commands the tests start. Two 2-thread workers on 2 cores made
# each wait at OpenMP barriers for a thread the other worker held (the busy-machine case of issue 29).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
if _WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _WORKERS))

import pytest  # noqa: E402
from helpers import (  # noqa: E402
    copy_folder,
    free_port,
    make_model_folder,
    save_tiny_model,
    single_torch_thread,
    train_briefly,
    write_toy_dataset,
)
from hub_server import HubStandIn  # noqa: E402

WRITE_TOKEN = "hf_standin_write_alice"
READ_TOKEN = "hf_standin_read_alice"
OTHER_TOKEN = "hf_standin_write_bob"
HUB_TOKENS = {WRITE_TOKEN: ("alice", "write"), READ_TOKEN: ("alice", "read"), OTHER_TOKEN: ("bob", "write")}
HUB_ORGS = {"alice": ["bilstm-org"]}

# Environment variables that would let a test reach a real Hub, a real cache or a real login.
_HUB_ENV = (
    "HF_ENDPOINT",
    "HF_TOKEN",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_TOKEN_PATH",
    "HF_HUB_OFFLINE",
    "HF_HUB_DISABLE_XET",
)


@contextmanager
def hub_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str, home, token: str | None):
    """
    Points huggingface_hub at `endpoint` with an empty `home` (cache, stored login) and `token` in HF_TOKEN.

    huggingface_hub reads these variables into `huggingface_hub.constants` when it is imported, so both the
    environment (for subprocesses) and the constants (for this process) are set; the constants that a version of
    huggingface_hub does not have are left alone.
    """
    from huggingface_hub import constants

    home = str(home)
    for name in _HUB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", home)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the stand-in speaks LFS, not xet
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    if token is not None:
        monkeypatch.setenv("HF_TOKEN", token)
    values = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
        "HF_HOME": home,
        "HF_HUB_CACHE": os.path.join(home, "hub"),
        "HUGGINGFACE_HUB_CACHE": os.path.join(home, "hub"),
        "HF_TOKEN_PATH": os.path.join(home, "token"),
        "HF_STORED_TOKENS_PATH": os.path.join(home, "stored_tokens"),
        "AGENT_HARNESSES_PATH": os.path.join(home, ".agent_harnesses.json"),
    }
    for name, value in values.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    yield


@pytest.fixture
def hub_server():
    """A fresh, empty stand-in Hub on 127.0.0.1 (users alice, with org bilstm-org, and bob)."""
    hub = HubStandIn(HUB_TOKENS, HUB_ORGS).start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_env(hub_server, tmp_path, monkeypatch):
    """The stand-in Hub, with HF_ENDPOINT pointing at it, alice's write token in HF_TOKEN and an empty HF_HOME."""
    with hub_environment(monkeypatch, hub_server.url, tmp_path / "hf_home", WRITE_TOKEN):
        yield hub_server


@pytest.fixture
def unreachable_endpoint():
    """An http://127.0.0.1 URL on which nothing listens (connections are refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(autouse=True)
def package_log_level():
    """hf_bilstm's own level (NOTSET: transformers' verbosity) comes back after each test: a command run in-process
    (`show_progress`), `--log_level` or a test sets it for the whole process."""
    from hf_bilstm import logs

    root = logs._configure_root()
    own_level = root.own_level
    yield root
    root.setLevel(own_level)


@pytest.fixture
def one_torch_thread():
    """Training tests on 2 shared cores: one torch thread avoids oversubscription (up to 40x slower RNN steps)."""
    with single_torch_thread():
        yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny saved classifier folder, built once per test module (a module may define its own)."""
    folder = tmp_path_factory.mktemp("model")
    save_tiny_model(folder)
    return folder


@pytest.fixture
def copy(model_dir, tmp_path):
    """A private copy of `model_dir` that a test may damage."""
    return copy_folder(model_dir, tmp_path, "model")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_TOKEN", "hf_offline_test_token")
    assert huggingface_hub.is_offline_mode()


@pytest.fixture
def pushable_folder(tmp_path):
    """A complete trained-model folder as `hf-bilstm train` leaves it, with the files that must not be pushed."""
    folder = tmp_path / "model"
    make_model_folder(folder)
    return folder


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A small labelled dataset folder (train and test) in the IMDB layout."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), n_train=200, n_test=60)


def require_onnx_export():
    for module in ("onnxruntime", "onnxscript"):
        pytest.importorskip(module, reason="the onnx extra is not installed (pip install -e '.[onnx]')")


@pytest.fixture(scope="session")
def exported(tmp_path_factory, toy):
    """A trained tiny 2-layer BiLSTM folder, exported with --quantize int8 (the checks ran on the toy dataset)."""
    from datasets import load_dataset

    from hf_bilstm.commands import export as export_cmd

    require_onnx_export()
    folder = tmp_path_factory.mktemp("exported")
    # hidden 64: recurrent weights past the exporter's constant-folding limit, as in a real model (so that they must be
    # folded for the quantizer to see them)
    model, tokenizer = save_tiny_model(folder, num_layers=2, pooling="max_mean", hidden_size=64)
    train = load_dataset(toy, split="train")
    train_briefly(model, tokenizer, list(train["text"]), list(train["label"])).save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n\n# tiny\n\n## Results\n\nsome.\n")
    code = export_cmd.main([str(folder), "--quantize", "int8", "--dataset", toy])
    assert code == 0
    return folder


@pytest.fixture(scope="session")
def exported_gru(tmp_path_factory):
    """A tiny one-direction GRU folder, exported (fp32 only): another model's graph, for the tests that need two."""
    from hf_bilstm.commands import export as export_cmd

    require_onnx_export()
    folder = tmp_path_factory.mktemp("exported_gru")
    save_tiny_model(folder, rnn_type="gru", bidirectional=False)
    assert export_cmd.main([str(folder)]) == 0
    return folder


# transformers' vendored test mixins: imported by test_transformers_common.py / test_tokenizer_common.py, never
# collected themselves (their own example test classes download models from the Hub).
collect_ignore = ["transformers_common"]


# transformers' vendored common tests that take seconds each on 2 cores (a model per dtype, gradient checkpointing);
# CI runs them, `-m "not slow"` leaves them out.
SLOW_VENDORED = {
    "test_bc_torch_dtype",
    "test_enable_input_require_grads",
    "test_enable_input_require_grads_with_gradient_checkpointing",
}


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    # `-n N` (pytest-xdist; README, Test): each test file runs on one worker (`--dist loadfile`), so that its
    # module-scoped fixtures are built once, unless `--dist` says otherwise.
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "no":
        config.option.dist = "loadfile"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.name in SLOW_VENDORED and item.path.name == "test_transformers_common.py":
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    # Marks that transformers' vendored mixins put on tests for hardware this project never has (flash attention,
    # torch.compile runs); registered so that --strict-markers accepts them.
    marks = ("flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test", "accelerate_tests")
    for mark in marks:
        config.addinivalue_line("markers", f"{mark}: used by transformers' vendored common tests")

"""The threading policy: chosen before torch loads (what torch's environment held at that moment), a user's own
setting wins, `--torch_threads` is checked and applied, ONNX Runtime sessions do not spin (hf_bilstm/cpu_threads.py).

The subprocesses get an environment built here, without the variables this project's shells export
(OMP_WAIT_POLICY, GOMP_SPINCOUNT), so that they see what a new user's shell would give them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_bilstm import cli
from hf_bilstm.cpu_threads import TORCH_THREADS_FLAG, max_torch_threads, take_torch_threads

REPO = Path(__file__).resolve().parent.parent

# Runs `target` (a module run as __main__, or a script path) with `argv`, and prints as JSON what the environment
# held when `torch` and `onnxruntime` were first imported, and torch's thread count at the end.
PROBE = r"""
import json, os, runpy, sys
seen = {}
class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name in ("torch", "onnxruntime") and name not in seen:
            seen[name] = {key: os.environ.get(key) for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
        return None
sys.meta_path.insert(0, Recorder())
kind, target, *argv = sys.argv[1:]
sys.argv = [target, *argv]
code = 0
try:
    if kind == "module":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))  # as `python scripts/NAME.py` puts it first
        runpy.run_path(target, run_name="__main__")
except SystemExit as stop:
    code = stop.code or 0
import torch
print("PROBE " + json.dumps({"seen": seen, "threads": torch.get_num_threads(), "code": code}))
"""

# What a user's shell may hold that decides threading; removed from the subprocess unless a test sets it.
THREADING_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def clean_env(**settings) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in THREADING_ENV}
    env.update(PYTHONPATH=str(REPO), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", **settings)
    return env


def probe(kind: str, target: str, *argv: str, **settings) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, kind, target, *argv],
        env=clean_env(**settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("PROBE ") :]) | {"stderr": done.stderr}


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_cli_sets_a_short_spin_before_torch_loads():
    result = probe("module", "hf_bilstm.cli", "train", "--help")
    assert result["code"] == 0
    assert result["seen"]["torch"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert result["seen"]["torch"]["GOMP_SPINCOUNT"] == "300"


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_users_wait_policy_wins():
    result = probe("module", "hf_bilstm.cli", "predict", "--help", OMP_WAIT_POLICY="ACTIVE")
    assert result["seen"]["torch"]["OMP_WAIT_POLICY"] == "ACTIVE"
    assert result["seen"]["torch"]["GOMP_SPINCOUNT"] is None  # ACTIVE spins for good: not shortened behind the back


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    ["train.py", "pretrain.py", "benchmark_cpu_training.py", "benchmark_cpu_inference.py"],
)
def test_scripts_set_a_short_spin_before_torch_loads(script):
    result = probe("path", f"scripts/{script}", "--help")
    assert result["code"] == 0
    assert result["seen"]["torch"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert result["seen"]["torch"]["GOMP_SPINCOUNT"] == "300"


@pytest.mark.slow
def test_spin_count_counts_as_the_users_choice_and_thread_count_is_kept():
    # GOMP_SPINCOUNT overrides the policy's spinning in libgomp: the user decided, so nothing is set.
    result = probe("module", "hf_bilstm.cli", "predict", "--help", GOMP_SPINCOUNT="1000", OMP_NUM_THREADS="1")
    assert result["seen"]["torch"]["OMP_WAIT_POLICY"] is None
    assert result["seen"]["torch"]["GOMP_SPINCOUNT"] == "1000"
    assert result["threads"] == 1  # the user's OMP_NUM_THREADS, untouched


@pytest.mark.slow
def test_nonsense_environment_gets_torchs_own_behaviour():
    result = probe("module", "hf_bilstm.cli", "predict", "--help", OMP_WAIT_POLICY="sideways", OMP_NUM_THREADS="lots")
    assert result["code"] == 0
    assert result["seen"]["torch"]["OMP_WAIT_POLICY"] == "sideways"
    assert result["threads"] >= 1


@pytest.mark.parametrize("value", ["0", "-1", "100000", "two", "1.5", ""])
@pytest.mark.parametrize("command", ["train", "predict"])
def test_bad_torch_threads_is_one_line_naming_the_flag(value, command, capsys):
    argv = [command, TORCH_THREADS_FLAG + "=" + value] if value == "" else [command, TORCH_THREADS_FLAG, value]
    with pytest.raises(SystemExit) as stop:
        cli.main(argv + ["--output_dir", "x"] if command == "train" else argv + ["folder", "text"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert TORCH_THREADS_FLAG in err[0] and f"1 to {max_torch_threads()}" in err[0], err
    assert "Traceback" not in "\n".join(err)


def test_torch_threads_is_applied_and_wins(tmp_path):
    from hf_bilstm.commands.predict import make_parser

    before = torch.get_num_threads()
    try:
        args = make_parser().parse_command(["--torch-threads", "1", "folder", "a text"])
        assert torch.get_num_threads() == 1
        assert args.texts == ["a text"]  # the flag is not read as a text
    finally:
        torch.set_num_threads(before)


def test_take_torch_threads_spellings():
    assert take_torch_threads(["a", "--torch_threads", "2", "b"]) == (["a", "b"], "2")
    assert take_torch_threads(["--torch_threads=3"]) == ([], "3")
    assert take_torch_threads(["--torch_threads"]) == ([], "")
    assert take_torch_threads(["--", "--torch_threads", "2"]) == (["--", "--torch_threads", "2"], None)


def test_misspelled_torch_threads_is_suggested(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--torch_thread", "1", "folder", "text"])
    assert "did you mean --torch_threads?" in capsys.readouterr().err


def test_onnxruntime_threads_stop_spinning_when_a_run_ends():
    ort = pytest.importorskip("onnxruntime")
    from hf_bilstm.onnx.runtime import session_options

    options = session_options(ort)
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    # inside a run ONNX Runtime spins as it does by default (measured: no collapse beside a busy process)
    with pytest.raises(Exception, match="does not have configuration"):
        options.get_session_config_entry("session.intra_op.allow_spinning")

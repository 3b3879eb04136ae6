"""`torchrun --nproc_per_node 2 ... hf-bilstm train` trains with DDP through the Trainer (2 CPU processes, gloo)."""

import json
import os
import subprocess
import sys

import pytest
from helpers import free_port, write_toy_dataset

# Minutes-scale on 2 cores: `pytest -m "not slow"` leaves it out of the quick loop; CI runs it.
pytestmark = pytest.mark.slow


def test_torchrun_two_processes_on_cpu(tmp_path):
    dataset = write_toy_dataset(tmp_path / "data", n_train=160, n_test=40)
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    command += ["--master_port", str(free_port()), "-m", "hf_bilstm.cli", "train", "--dataset", dataset]
    command += ["--output_dir", str(out), "--use_cpu", "true", "--embedding_dim", "16", "--hidden_size", "8"]
    command += ["--num_layers", "1", "--vocab_size", "100", "--per_device_train_batch_size", "8"]
    command += ["--num_train_epochs", "1", "--disable_tqdm", "true"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    result = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    # 144 training rows, 8 per process: 9 steps with 2 processes (one process alone would take 18).
    assert state["global_step"] == 9 and state["epoch"] == 1.0
    results = json.loads((out / "all_results.json").read_text())
    assert results["train_samples"] == 144 and results["test_samples"] == 40
    assert "2 x CPU" in (out / "README.md").read_text()
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()

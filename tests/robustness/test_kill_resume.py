"""Kill and resume: `hf-bilstm train` killed with SIGKILL after its first checkpoint, then resumed with
--resume_from_checkpoint, ends with the metrics of an uninterrupted run; a half-written checkpoint is never loaded."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import write_toy_dataset
from safetensors.torch import load_file

from hf_bilstm.commands import train as train_cmd

# Minutes-scale on 2 cores: `pytest -m "not slow"` leaves it out of the quick loop; CI runs it. One torch thread, as
# in the child: the same kernels, so the same floating-point sums.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

# 144 training rows / 16 = 9 steps an epoch, 2 epochs; a checkpoint (and an evaluation) every 3 steps.
ARGS = [
    "--embedding_dim", "16", "--hidden_size", "8", "--num_layers", "1", "--vocab_size", "100",
    "--embedding_dropout", "0.1", "--classifier_dropout", "0.1",
    "--per_device_train_batch_size", "16", "--num_train_epochs", "2", "--learning_rate", "0.01",
    "--eval_strategy", "steps", "--save_strategy", "steps", "--eval_steps", "3", "--save_steps", "3",
    "--save_total_limit", "3", "--logging_steps", "3", "--seed", "7",
    "--disable_tqdm", "true", "--report_to", "none", "--use_cpu", "true",
]  # fmt: skip
# train_loss is left out: after a resume transformers averages only the steps run since (its own accounting).
FINAL_METRICS = ("eval_accuracy", "eval_loss", "test_accuracy", "test_loss")

# The child runs the real command; each optimizer step is slowed down so that the kill lands mid-training.
CHILD = """
import sys, time
import torch
import transformers

torch.set_num_threads(1)
step = transformers.Trainer.training_step
def slow_step(self, *args, **kwargs):
    time.sleep(float(sys.argv[1]))
    return step(self, *args, **kwargs)
transformers.Trainer.training_step = slow_step
from hf_bilstm.cli import main
sys.exit(main(["train", *sys.argv[2:]]))
"""


def final_metrics(folder):
    with open(os.path.join(folder, "all_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    return {key: results[key] for key in FINAL_METRICS}


def complete(checkpoint):
    return os.path.exists(os.path.join(checkpoint, "trainer_state.json"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("data"), n_train=160, n_test=40)


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("uninterrupted") / "model")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert train_cmd.main(["--dataset", dataset, "--output_dir", folder, *ARGS]) == 0
    finally:
        torch.set_num_threads(threads)
    return folder


@pytest.fixture(scope="module")
def killed(dataset, tmp_path_factory):
    """An output folder whose `hf-bilstm train` process was SIGKILLed right after checkpoint-3 was complete."""
    folder = str(tmp_path_factory.mktemp("killed") / "model")
    log = open(os.path.join(os.path.dirname(folder), "train.log"), "w")
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-c", CHILD, "0.4", "--dataset", dataset, "--output_dir", folder, *ARGS]
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    first = os.path.join(folder, "checkpoint-3")
    deadline = time.time() + 240
    while not complete(first) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    log.close()
    assert complete(first), open(log.name).read()[-3000:]
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    assert not os.path.exists(os.path.join(folder, "all_results.json"))
    assert not complete(os.path.join(folder, "checkpoint-18"))
    return folder


def half_written(folder):
    """Fakes a kill in the middle of saving the next checkpoint: weights cut short, no trainer_state.json yet."""
    steps = sorted(int(name.split("-")[1]) for name in os.listdir(folder) if name.startswith("checkpoint-"))
    last = os.path.join(folder, f"checkpoint-{steps[-1]}")
    partial = os.path.join(folder, f"checkpoint-{steps[-1] + 3}")
    os.makedirs(partial)
    weights = open(os.path.join(last, "model.safetensors"), "rb").read()
    with open(os.path.join(partial, "model.safetensors"), "wb") as handle:
        handle.write(weights[: len(weights) // 3])
    shutil.copy(os.path.join(last, "config.json"), partial)
    return last, partial


def test_resume_after_sigkill_skips_the_half_written_checkpoint_and_matches_the_uninterrupted_run(
    killed, dataset, uninterrupted, tmp_path, capsys
):
    folder = str(tmp_path / "model")
    shutil.copytree(killed, folder)
    last, partial = half_written(folder)
    argv = ["--dataset", dataset, "--output_dir", folder, *ARGS, "--resume_from_checkpoint", "last"]
    assert train_cmd.main(argv) == 0
    assert f"skipping incomplete checkpoint {partial}" in capsys.readouterr().err
    assert final_metrics(folder) == pytest.approx(final_metrics(uninterrupted), abs=1e-6)
    resumed, reference = (
        load_file(os.path.join(folder, "model.safetensors")),
        load_file(os.path.join(uninterrupted, "model.safetensors")),
    )
    assert resumed.keys() == reference.keys()
    for name in reference:
        torch.testing.assert_close(resumed[name], reference[name], atol=1e-6, rtol=0, msg=name)


def test_half_written_checkpoint_named_explicitly_is_refused(killed, dataset, tmp_path, capsys):
    folder = str(tmp_path / "model")
    shutil.copytree(killed, folder)
    _, partial = half_written(folder)
    argv = ["--dataset", dataset, "--output_dir", folder, *ARGS, "--resume_from_checkpoint", partial]
    assert train_cmd.main(argv) == 2
    assert f"--resume_from_checkpoint {partial!r} is incomplete" in capsys.readouterr().err

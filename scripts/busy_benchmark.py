"""Measuring on a busy CPU (`--busy N` of the CPU benchmarks), before and after the threading policy.

`busy_processes(N)`: N processes that each keep one core busy with pure-Python arithmetic (no threads, no memory to
speak of), the way another user's job would. Each stops by itself after `seconds` (so a benchmark that dies never
leaves them running for long) and is ended when the block exits, whatever happens inside.

`run_child(arm, ...)`: a benchmark's measuring child process, in a new user's environment (no OMP_*/GOMP_*
variables), either as shipped (`after`: hf_bilstm chooses GOMP_SPINCOUNT=300 and OMP_WAIT_POLICY=PASSIVE before
torch loads, ONNX Runtime sessions whose threads stop spinning when a run ends) or as before the change (`before`:
torch is imported before hf_bilstm, so libgomp starts with its default spinning, and the child keeps ONNX Runtime's
defaults, see `child_setup`).
"""

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager

ARMS = ("after", "before")
# What a user's shell may hold that decides threading: the children get none of it.
THREADING_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# The `before` arm: torch (and so libgomp) loads before hf_bilstm can choose the policy, as in the code before it did.
# sys.path as `python SCRIPT` makes it (the script's folder first: it imports its neighbours).
TORCH_FIRST = (
    "import os, runpy, sys, torch\nsys.argv = sys.argv[1:]\n"
    "sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)

# A CPU-bound loop that checks the clock every ~10 ms and ends itself at its deadline.
LOOP = "import sys, time\nend = time.time() + float(sys.argv[1])\nx = 0\nwhile time.time() < end:\n" + (
    "    for i in range(100000):\n        x += i\n"
)


@contextmanager
def busy_processes(count: int, seconds: float = 3600.0):
    """Runs `count` CPU-bound processes for the duration of the block (each at most `seconds`); yields their pids."""
    processes = [
        subprocess.Popen([sys.executable, "-c", LOOP, str(seconds)], stdin=subprocess.DEVNULL) for _ in range(count)
    ]
    try:
        if processes:
            time.sleep(0.5)  # started and spinning before the measurement begins
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def busy_flag(parser) -> None:
    """Adds `--busy N` to a benchmark's argparse parser."""
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="also measure with N other CPU-bound processes running (idle and busy figures side by side)",
    )


def run_child(arm: str, script: str, args: list[str]) -> dict:
    """Runs `script args --child_arm arm` as `arm` (see the module's text); returns the JSON of its `RESULT ` line,
    with the wait policy the child's torch started with."""
    env = {key: value for key, value in os.environ.items() if key not in THREADING_ENV}
    env["TOKENIZERS_PARALLELISM"] = "false"
    prefix = [sys.executable, script] if arm == "after" else [sys.executable, "-c", TORCH_FIRST, script]
    done = subprocess.run([*prefix, *args, "--child_arm", arm], env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{arm} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def child_setup(arm: str) -> dict:
    """In the child: for `before`, ONNX Runtime sessions spin as they did; returns what the child runs with."""
    if arm == "before":
        from hf_bilstm.cpu_threads import ORT_SESSION_SETTINGS

        ORT_SESSION_SETTINGS.clear()  # session_options reads this dict: nothing added, ONNX Runtime's defaults
    import torch

    return {
        "arm": arm,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
        "torch_threads": torch.get_num_threads(),
    }


def summarize_pairs(values: dict[str, list[float]]) -> dict:
    """A/B over alternating pairs: each arm's values, means, and after / before (of the means and per pair)."""
    before, after = values["before"], values["after"]
    mean_before, mean_after = sum(before) / len(before), sum(after) / len(after)
    return {
        "before": before,
        "after": after,
        "mean_before": round(mean_before, 1),
        "mean_after": round(mean_after, 1),
        "after_over_before": round(mean_after / mean_before, 3),
        "after_over_before_per_pair": [round(a / b, 3) for a, b in zip(after, before)],
    }

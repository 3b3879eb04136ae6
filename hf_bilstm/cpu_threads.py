"""How the CPU's threads wait: chosen before torch and ONNX Runtime start, so that a busy machine does not collapse.

A recurrent layer runs thousands of small parallel regions per step (one per time step and direction). With
libgomp's default policy, torch's OpenMP threads spin at every barrier; when another process holds one of the cores,
each barrier waits for a thread that is not scheduled, and training slows down 10-36x on a 2-core machine with one
other busy process (measured in issue 29). Threads that sleep instead of spinning (`OMP_WAIT_POLICY=PASSIVE`) kept a
bare LSTM step at its speed beside a busy process in a first probe (README, "On a CPU that is also doing something
else"); `scripts/benchmark_cpu_training.py --busy 1` and `benchmark_cpu_inference.py --busy 1` measure it in full.

libgomp reads `OMP_WAIT_POLICY` once, when torch loads it, so it has to be in the environment before `import torch`:
this module sets it on import (the package's `__init__` imports it before anything that loads torch). A value the
user set, or `GOMP_SPINCOUNT` (which overrides the policy's spin count), is left alone, whatever it says: nonsense
gets libgomp's own behaviour (a warning, its default), not an error from us.
"""

import os
import sys

WAIT_POLICY = "PASSIVE"
# Set by the user → the user's choice stands (GOMP_SPINCOUNT decides the spinning that the policy would).
USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
# ONNX Runtime's own thread pools (not OpenMP) spin a bounded while inside a run, then block; they keep spinning after
# a run until `force_spinning_stop` ends it. Measured on 2 cores (benchmarks/results/2026-12-05-cpu-inference-busy*):
# without any spinning (`allow_spinning` 0) int8 batches served 17 % fewer texts/s on an idle machine and fp32 single
# texts 31 % fewer; with ONNX Runtime's own spinning and `force_spinning_stop`, idle speed was that of the defaults
# (0.99x) and one busy process left 0.58x (fp32) and 0.86x (int8) of it at batch 32 -- no collapse. So runs spin, and
# the threads stop spinning when a run ends, leaving the cores to other processes between requests.
ORT_SESSION_SETTINGS = {"session.force_spinning_stop": "1"}
TORCH_THREADS_FLAG = "--torch_threads"


def choose_wait_policy(environ=os.environ) -> str | None:
    """Sets `OMP_WAIT_POLICY=PASSIVE` unless the user chose (see `USER_SETTINGS`) or torch is loaded already (too
    late: libgomp has read its environment). Returns what it set, or None."""
    if any(name in environ for name in USER_SETTINGS) or "torch" in sys.modules:
        return None
    environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return WAIT_POLICY


def describe() -> str:
    """`OMP_WAIT_POLICY=PASSIVE` (or the user's value, or libgomp's default), for the run plan and benchmarks."""
    policy = os.environ.get("OMP_WAIT_POLICY")
    spin = os.environ.get("GOMP_SPINCOUNT")
    text = f"OMP_WAIT_POLICY={policy}" if policy is not None else "OMP_WAIT_POLICY unset (libgomp spins)"
    return text + (f", GOMP_SPINCOUNT={spin}" if spin is not None else "")


def max_torch_threads() -> int:
    return os.cpu_count() or 1


def parse_torch_threads(value: str) -> int:
    """The value of `--torch_threads`: an integer from 1 to the number of CPUs; a `ValueError` with one line naming
    the flag otherwise (more threads than CPUs only wait for each other)."""
    limit = max_torch_threads()
    try:
        threads = int(value)
    except (TypeError, ValueError):
        threads = None
    if threads is None or not 1 <= threads <= limit:
        raise ValueError(
            f"{TORCH_THREADS_FLAG} must be an integer from 1 to {limit} (this machine's CPUs), but it was {value!r}. "
            f"Leave it out to use torch's default (or OMP_NUM_THREADS)."
        )
    return threads


def take_torch_threads(argv: list[str]) -> tuple[list[str], str | None]:
    """Removes `--torch_threads N` / `--torch_threads=N` (or `--torch-threads`) from `argv`, before any `--`;
    returns (the other arguments, the value written or None). A flag without a value gives the value ''."""
    spellings = (TORCH_THREADS_FLAG, TORCH_THREADS_FLAG.replace("_", "-"))
    rest, value, index = [], None, 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            rest += argv[index:]
            break
        name, equals, written = token.partition("=")
        if name in spellings:
            if equals:
                value = written
            elif index + 1 < len(argv) and not argv[index + 1].startswith("--"):
                value, index = argv[index + 1], index + 1
            else:
                value = ""
        else:
            rest.append(token)
        index += 1
    return rest, value


def apply_torch_threads(threads: int) -> None:
    """Torch's intra-op threads for this process (the user's `--torch_threads`, which wins over OMP_NUM_THREADS)."""
    import torch

    torch.set_num_threads(threads)


# On import, before the package loads transformers and torch.
choose_wait_policy()

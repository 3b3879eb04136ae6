"""How the CPU's threads wait: chosen before torch and ONNX Runtime start, so that a busy machine does not collapse.

A recurrent layer runs thousands of small parallel regions per step (one per time step and direction). With
libgomp's default (spin 300,000 times at every barrier before sleeping), torch's OpenMP threads spin; when another
process holds one of the cores, each barrier waits for a thread that is not scheduled, and training slowed down
10-36x on a 2-core machine with one other busy process (measured in issue 29). Threads that sleep at once
(`OMP_WAIT_POLICY=PASSIVE`) keep training at its speed beside a busy process but cost torch's `predict` a quarter of
its idle speed (a vCPU halting and being woken at each barrier). A short spin, `GOMP_SPINCOUNT=300`, keeps both: in
`scripts/probe_wait_policy.py` (2 rounds, quiet 2-core AMD EPYC) it gave the default's idle speed or more for
predict (batch 32 and 1) and training, and about half of it beside a busy process, where 10,000 spins and more
collapse; `scripts/benchmark_cpu_training.py --busy 1` and `benchmark_cpu_inference.py --busy 1` measure it in full.
`GOMP_SPINCOUNT` overrides the policy's spin count in libgomp (torch's OpenMP on Linux); other OpenMP runtimes
(LLVM's libomp) do not read it and get `OMP_WAIT_POLICY=PASSIVE`.

libgomp reads its environment once, when torch loads it, so it has to be set before `import torch`: this module
sets it on import (the package's `__init__` imports it before anything that loads torch). A value the user set for
either variable is left alone, whatever it says: nonsense gets libgomp's own behaviour (a warning, its default), not
an error from us.
"""

import os
import sys

WAIT_POLICY = "PASSIVE"
SPIN_COUNT = "300"
# What the package sets when the user set neither (one choice: GOMP_SPINCOUNT wins over the policy in libgomp).
WAIT_SETTINGS = {"OMP_WAIT_POLICY": WAIT_POLICY, "GOMP_SPINCOUNT": SPIN_COUNT}
# Set by the user → the user's choice stands.
USER_SETTINGS = tuple(WAIT_SETTINGS)
# ONNX Runtime's own thread pools (not OpenMP) spin a bounded while inside a run, then block; they keep spinning after
# a run until `force_spinning_stop` ends it. Measured on 2 cores (benchmarks/results/2026-12-05-cpu-inference-busy*):
# without any spinning (`allow_spinning` 0) int8 batches served 17 % fewer texts/s on an idle machine and fp32 single
# texts 31 % fewer; with ONNX Runtime's own spinning and `force_spinning_stop`, idle speed was that of the defaults
# (0.99x) and one busy process left 0.58x (fp32) and 0.86x (int8) of it at batch 32 -- no collapse. So runs spin, and
# the threads stop spinning when a run ends, leaving the cores to other processes between requests.
ORT_SESSION_SETTINGS = {"session.force_spinning_stop": "1"}
TORCH_THREADS_FLAG = "--torch_threads"


def choose_wait_policy(environ=os.environ) -> dict[str, str] | None:
    """Sets `WAIT_SETTINGS` (`GOMP_SPINCOUNT=300`, `OMP_WAIT_POLICY=PASSIVE`) unless the user chose (see
    `USER_SETTINGS`) or torch is loaded already (too late: libgomp has read its environment). Returns what it set,
    or None."""
    if any(name in environ for name in USER_SETTINGS) or "torch" in sys.modules:
        return None
    environ.update(WAIT_SETTINGS)
    return dict(WAIT_SETTINGS)


def describe() -> str:
    """`OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT=300` (or the user's values, or libgomp's default), for the run plan
    and benchmarks."""
    policy = os.environ.get("OMP_WAIT_POLICY")
    spin = os.environ.get("GOMP_SPINCOUNT")
    text = f"OMP_WAIT_POLICY={policy}" if policy is not None else "OMP_WAIT_POLICY unset (libgomp spins)"
    return text + (f", GOMP_SPINCOUNT={spin}" if spin is not None else "")


def waits_briefly(environ=os.environ) -> bool:
    """Whether torch's threads stop spinning soon at a barrier: a spin count of at most 1,000 (beyond it a busy core
    collapsed the speed in the probe), or `OMP_WAIT_POLICY=PASSIVE` with no spin count. Spellings libgomp reads but
    this does not (`10k`, `infinite`) count as long spins."""
    spin = environ.get("GOMP_SPINCOUNT")
    if spin is not None:
        return spin.strip().isdigit() and int(spin) <= 1000
    return environ.get("OMP_WAIT_POLICY", "").strip().upper() == WAIT_POLICY


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

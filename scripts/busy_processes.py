"""Other work on the CPU, for benchmarks that measure a busy machine (`--busy N`): N processes that each keep one core
busy with pure-Python arithmetic (no threads, no memory to speak of), the way another user's job would.

Each stops by itself after `seconds` (so a benchmark that dies never leaves them running for long) and is ended by
`busy_processes` when its block exits, whatever happens inside.
"""

import subprocess
import sys
import time
from contextlib import contextmanager

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

"""README command 1 (`hf-bilstm train --dataset ../shared/data/imdb --output_dir runs/bilstm-imdb`) on a fresh clone,
as a new user's shell runs it (no OMP_* / GOMP_* variables, an empty Hugging Face cache), once on an idle machine and
once with N other CPU-bound processes running (scripts/busy_benchmark.py): wall times side by side (target: busy at
most 2x idle), with what the command printed (plan, estimate, result).

    git clone /work/main /work/tmp-clone && python scripts/benchmark_readme_busy.py --clone /work/tmp-clone --busy 1
    python scripts/benchmark_readme_busy.py --clone /work/tmp-clone --extra "--max_train_samples 640" \\
        --output /tmp/x.json                                                       # a small try, about a minute
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from busy_benchmark import busy_processes
from run_record import cpu_name, write_json

REPO = Path(__file__).resolve().parent.parent

COMMAND = ["hf-bilstm", "train", "--dataset", "../shared/data/imdb", "--output_dir"]
TARGET_RATIO = 2.0
# What a user's shell may hold that decides threading: a new user's shell has none of it.
THREADING_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HOME")


def run_once(clone: Path, output_dir: str, extra: list[str]) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in THREADING_ENV}
    with tempfile.TemporaryDirectory(prefix="hf-home-") as hf_home:
        env.update(PYTHONPATH=str(clone), HF_HOME=hf_home, HF_HUB_OFFLINE="1")
        shutil.rmtree(clone / output_dir, ignore_errors=True)
        command = [*COMMAND, output_dir, *extra]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - started
    printed = (done.stdout + done.stderr).splitlines()
    if done.returncode:
        raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}):\n" + "\n".join(printed[-30:]))
    results = {}
    for name in ("all_results.json", "results.json"):
        if (clone / output_dir / name).is_file():
            results = json.loads((clone / output_dir / name).read_text())
            break
    return {
        "command": shlex.join(command),
        "wall_seconds": round(wall, 1),
        "printed_plan": [line for line in printed if line.startswith("  ") and ":" in line][:8],
        "printed_estimate": [line for line in printed if "measured" in line or "warning" in line],
        "printed_end": [line for line in printed if "done in" in line],
        "results": {key: value for key, value in results.items() if isinstance(value, (int, float))},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clone", required=True, help="a fresh clone of the project, beside ../shared")
    parser.add_argument("--busy", type=int, default=1, metavar="N", help="other CPU-bound processes in the busy run")
    parser.add_argument("--extra", default="", help="more flags for the command (for a small try)")
    parser.add_argument("--output", help="results JSON (default benchmarks/results/<date>-readme-command-1-busy.json)")
    args = parser.parse_args()
    clone = Path(args.clone).resolve()
    if not (clone / ".." / "shared" / "data" / "imdb").is_dir():
        raise SystemExit(f"{clone}/../shared/data/imdb is missing: clone beside the shared folder.")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    date = datetime.date.today().isoformat()
    output = args.output or str(REPO / "benchmarks" / "results" / f"{date}-readme-command-1-busy.json")
    import torch

    record = {
        "what": "README command 1 on a fresh clone, idle and with other CPU-bound processes running",
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "date": date,
        "command": shlex.join(["python", "scripts/benchmark_readme_busy.py", *sys.argv[1:]]),
        "clone_commit": commit,
        "environment": "no OMP_*/GOMP_* variables (a new user's shell), empty HF_HOME, PYTHONPATH=the clone",
        "busy_processes": args.busy,
        "runs": {},
    }
    extra = shlex.split(args.extra)
    for mode, count in (("idle", 0), ("busy", args.busy)):
        with busy_processes(count):
            record["runs"][mode] = run_once(clone, f"runs/bilstm-imdb-{mode}", extra)
        print(mode, json.dumps(record["runs"][mode]), flush=True)
        write_json(record, output)  # after each run: a stopped benchmark keeps what it measured
    ratio = record["runs"]["busy"]["wall_seconds"] / record["runs"]["idle"]["wall_seconds"]
    record["busy_over_idle_wall"] = round(ratio, 3)
    record["target"] = {"busy_over_idle_wall_max": TARGET_RATIO, "met": ratio <= TARGET_RATIO}
    write_json(record, output)
    print(f"busy / idle wall: {ratio:.2f} (target <= {TARGET_RATIO}); wrote {output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What every benchmark result records about the run: the commit of the code that ran and the CPU it ran on.

The scripts import it from beside them (`python scripts/NAME.py` puts scripts/ first on sys.path)."""

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """HEAD's commit, with "-dirty" when hf_bilstm/ has changes not committed; "unknown" outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hf_bilstm"], cwd=REPO, capture_output=True)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (else what `platform` says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json(record: dict, path: str) -> None:
    """Writes `record` to `path` atomically (a stopped run leaves the previous file or the new one, never half of
    one), making its folder if needed."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    os.replace(handle.name, path)


def run_header(benchmark: str, device_detail: str = "") -> dict:
    """The fields every result JSON opens with: what ran, on which CPU (`device_detail` appended), when, the command
    line of the running script as typed, and the commit."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    return {
        "benchmark": benchmark,
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} cores{device_detail}",
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", script, *sys.argv[1:]]),
        "commit": git_commit(),
    }

#!/usr/bin/env bash
# GPU benchmark of issue 3: trains the `tutorial` and `base` presets on the full IMDB on one GPU, measures the
# Trainer's overhead against a bare PyTorch loop, and writes benchmarks/results/<date>-<device>.json.
#
#   scripts/benchmark_gpu.sh                      # on a GPU machine, from the repository root
#   scripts/benchmark_gpu.sh --tiny               # (or BENCH_TINY=1) toy size on a CPU: results go to /tmp only
#   scripts/benchmark_gpu.sh --presets base --dataset /path/to/imdb
#
# Machine setup (datasets from .whl/, the data folder) is in scripts/gpu_env.sh.
set -euo pipefail
source "$(dirname "$0")/gpu_env.sh"
exec python3 scripts/benchmark_gpu.py "$@"

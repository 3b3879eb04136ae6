#!/usr/bin/env bash
# GPU benchmark of issue 6: the whole pipeline, tokenizer -> LM pretraining -> fine-tuning -> test evaluation, in one
# command (target: <= 10 minutes on one H100), writing benchmarks/results/<date>-<device>-pretrain.json.
#
#   scripts/benchmark_gpu_pretrain.sh                       # on a GPU machine, from the repository root
#   scripts/benchmark_gpu_pretrain.sh --tiny                # (or BENCH_TINY=1) toy size on a CPU: results in /tmp
#   scripts/benchmark_gpu_pretrain.sh --candidates tools    # fine-tune only the named candidate(s)
#
# Machine setup (datasets from .whl/, the data folder) is in scripts/gpu_env.sh.
set -euo pipefail
source "$(dirname "$0")/gpu_env.sh"
exec python3 scripts/benchmark_gpu_pretrain.py "$@"

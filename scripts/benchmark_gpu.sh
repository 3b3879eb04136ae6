#!/usr/bin/env bash
# GPU benchmark of issue 3: trains the `tutorial` and `base` presets on the full IMDB on one GPU, measures the
# Trainer's overhead against a bare PyTorch loop, and writes benchmarks/results/<date>-<device>.json.
#
#   scripts/benchmark_gpu.sh                      # on a GPU machine, from the repository root
#   scripts/benchmark_gpu.sh --tiny               # (or BENCH_TINY=1) toy size on a CPU: results go to /tmp only
#   scripts/benchmark_gpu.sh --presets base --dataset /path/to/imdb
#
# The dataset defaults to ../shared/data/imdb. A machine without network and without `datasets` installs it from
# wheels in .whl/ (git-ignored), prepared beforehand on a machine with network:
#   pip download datasets==5.2.0 'dill<0.4.2' 'multiprocess<0.70.20' xxhash -d .whl
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import datasets" 2>/dev/null; then
  if [ -d .whl ]; then
    python3 -m pip install -q --no-index --find-links .whl datasets
  else
    echo "benchmark_gpu.sh: the 'datasets' package is missing and there is no .whl/ folder to install it from." >&2
    exit 1
  fi
fi
python3 -c "import hf_bilstm" 2>/dev/null || python3 -m pip install -q --no-deps -e .
export TOKENIZERS_PARALLELISM=false HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec python3 scripts/benchmark_gpu.py "$@"

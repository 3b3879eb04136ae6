#!/usr/bin/env bash
# GPU benchmark of issue 6: the whole pipeline, tokenizer -> LM pretraining -> fine-tuning -> test evaluation, in one
# command (target: <= 10 minutes on one H100), writing benchmarks/results/<date>-<device>-pretrain.json.
#
#   scripts/benchmark_gpu_pretrain.sh                       # on a GPU machine, from the repository root
#   scripts/benchmark_gpu_pretrain.sh --tiny                # (or BENCH_TINY=1) toy size on a CPU: results in /tmp
#   scripts/benchmark_gpu_pretrain.sh --candidates tools    # fine-tune only one candidate (saves ~1/3 of the time)
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
    echo "benchmark_gpu_pretrain.sh: the 'datasets' package is missing and there is no .whl/ folder to install it from." >&2
    exit 1
  fi
fi
python3 -c "import hf_bilstm" 2>/dev/null || python3 -m pip install -q --no-deps -e .
export TOKENIZERS_PARALLELISM=false HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec python3 scripts/benchmark_gpu_pretrain.py "$@"

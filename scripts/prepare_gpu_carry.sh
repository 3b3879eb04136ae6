#!/usr/bin/env bash
# Run on the development machine (it has PyPI and ../shared) before a GPU benchmark: fills the two git-ignored folders
# that a bare, offline GPU machine needs, and checks that they fit the 64 MiB that travels with the working tree.
#   .whl/        datasets and the two pins it needs there (the GPU machine's Python has no `datasets`)
#   .data/imdb   a copy of ../shared/data/imdb (../shared does not travel)
# Then run the benchmark there with carry [".whl", ".data"], e.g.
#   bash scripts/benchmark_gpu_pretrain.sh --results_dir "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
  -d .whl datasets==5.2.0 'dill<0.4.2' 'multiprocess<0.70.20'
mkdir -p .data
rm -rf .data/imdb && cp -r ../shared/data/imdb .data/imdb
{ git check-ignore -q .whl && git check-ignore -q .data; } || { echo "prepare_gpu_carry.sh: .whl/ and .data/ must be git-ignored" >&2; exit 1; }
size=$(du -sm .whl .data | awk '{s += $1} END {print s}')
echo "carry: .whl + .data = ${size} MiB (limit 64)"
[ "$size" -le 64 ] || { echo "prepare_gpu_carry.sh: over the 64 MiB carry limit" >&2; exit 1; }

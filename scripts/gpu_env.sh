# Sourced by the scripts/benchmark_gpu*.sh scripts: prepares a bare GPU machine and the environment they share.
#
# A machine without network and without `datasets` installs it from wheels in .whl/ (git-ignored), fetched
# beforehand on a machine with network:
#   python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
#     -d .whl datasets==5.2.0 'dill<0.4.2' 'multiprocess<0.70.20'
# The data: ../shared/data/imdb, or a copy in .data/imdb (git-ignored) when ../shared is not there;
# HF_BILSTM_IMDB or --dataset name another folder.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! python3 -c "import datasets" 2>/dev/null; then
  if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "$(basename "$0"): the 'datasets' package is missing and there is no .whl/ folder to install it from." >&2
    exit 1
  fi
fi
python3 -c "import hf_bilstm" 2>/dev/null || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${HF_BILSTM_IMDB:-}" ] && [ ! -d ../shared/data/imdb ] && [ -d .data/imdb ]; then
  export HF_BILSTM_IMDB="$PWD/.data/imdb"
fi
export TOKENIZERS_PARALLELISM=false HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

"""Same as `hf-bilstm train`: train a classifier on a dataset (`python scripts/train.py --help`)."""

import sys

from hf_bilstm.commands.train import main

if __name__ == "__main__":
    sys.exit(main())

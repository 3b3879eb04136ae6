"""Same as `hf-bilstm pretrain`: a bidirectional LSTM LM on unlabeled text (`python scripts/pretrain.py --help`)."""

import sys

from hf_bilstm.commands.pretrain import main

if __name__ == "__main__":
    sys.exit(main())

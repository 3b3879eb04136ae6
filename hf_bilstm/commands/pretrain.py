"""`hf-bilstm pretrain`: a bidirectional LSTM language model from unlabelled text (hf_bilstm.training.pretraining
does the work)."""

import json
import sys

from ..training.pretraining import parse_args, pretrain
from . import command_main


def run(argv: list[str]) -> int:
    args, training_args = parse_args(argv)
    output_dir = training_args.output_dir
    results = pretrain(args, training_args)
    print(json.dumps({k: results[k] for k in ("lm_perplexity", "train_tokens", "steps", "seconds")}, indent=2))
    print(f"Saved the language model to {output_dir}")
    return 0


main = command_main("pretrain")


if __name__ == "__main__":
    sys.exit(main())

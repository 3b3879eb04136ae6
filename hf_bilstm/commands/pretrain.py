"""`hf-bilstm pretrain`: a bidirectional LSTM language model from unlabelled text (hf_bilstm.training.pretraining
does the work)."""

import json
import sys
import time

from ..logs import get_logger
from ..training.pretraining import parse_args, pretrain
from ..training.time_budget import overshoot_line
from . import command_main

logger = get_logger(__name__)


def run(argv: list[str]) -> int:
    started = time.time()
    args, training_args = parse_args(argv)
    output_dir = training_args.output_dir
    results = pretrain(args, training_args)
    rest = "loading and tokenizing count against it and the final evaluation is reserved at its measured time"
    line = overshoot_line("hf-bilstm pretrain", time.time() - started, args.max_train_seconds, "LM training", rest)
    if line and training_args.process_index == 0:
        logger.warning(line)
    print(json.dumps({k: results[k] for k in ("lm_perplexity", "train_tokens", "steps", "seconds")}, indent=2))
    print(f"Saved the language model to {output_dir}")
    return 0


main = command_main("pretrain")


if __name__ == "__main__":
    sys.exit(main())

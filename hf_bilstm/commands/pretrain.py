"""`hf-bilstm pretrain`: a bidirectional LSTM language model from unlabelled text (hf_bilstm.training.pretraining
does the work)."""

import json
import sys

from ..training.pretraining import parse_args, pretrain


def run(argv: list[str]) -> int:
    args, training_args = parse_args(argv)
    output_dir = training_args.output_dir
    results = pretrain(args, training_args)
    print(json.dumps({k: results[k] for k in ("lm_perplexity", "train_tokens", "steps", "seconds")}, indent=2))
    print(f"Saved the language model to {output_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`hf-bilstm pretrain`; hf_bilstm.cli turns what goes wrong into one line and an exit code."""
    from ..cli import run_command

    return run_command("pretrain", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())

"""The `hf-bilstm` command: one subcommand per job, each implemented by the module that owns that job."""

import importlib
import sys

# subcommand -> (module, one-line help). Each module has `main(argv: list[str]) -> int`.
COMMANDS = {
    "train": ("hf_bilstm.training.trainer", "train a classifier on a dataset with the Trainer"),
    "evaluate": ("hf_bilstm.inference", "evaluate a model folder on a split of a dataset"),
    "predict": ("hf_bilstm.commands.predict", "label texts from arguments, a file or stdin"),
    "export": ("hf_bilstm.onnx.export", "export a model folder to ONNX (and int8), checked against PyTorch"),
    "push": ("hf_bilstm.hub", "push a model folder to the Hub and verify that it loads back"),
    "pretrain": ("hf_bilstm.training.pretraining", "pretrain a bidirectional LSTM language model on unlabeled text"),
}


def usage() -> str:
    lines = ["usage: hf-bilstm <command> [options]   (hf-bilstm <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"hf-bilstm: unknown command {command!r}.\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())

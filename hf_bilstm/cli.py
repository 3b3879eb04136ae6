"""The `hf-bilstm` command: one subcommand per job, each in `hf_bilstm.commands`, and the one place where an error
becomes one line and an exit code (`run_command`)."""

import importlib
import sys

from .errors import exit_code_for

# subcommand -> (module, one-line help). Each module has `run(argv: list[str]) -> int`, which raises what goes wrong.
COMMANDS = {
    "train": ("hf_bilstm.commands.train", "train a classifier on a dataset with the Trainer"),
    "evaluate": ("hf_bilstm.commands.evaluate", "evaluate a model folder on a split of a dataset"),
    "predict": ("hf_bilstm.commands.predict", "label texts from arguments, a file or stdin"),
    "export": ("hf_bilstm.commands.export", "export a model folder to ONNX (and int8), checked against PyTorch"),
    "upgrade": ("hf_bilstm.commands.upgrade", "rewrite an older model folder for transformers 4.x / transformers.js"),
    "push": ("hf_bilstm.commands.push", "push a model folder to the Hub and verify that it loads back"),
    "pretrain": ("hf_bilstm.commands.pretrain", "pretrain a bidirectional LSTM language model on unlabeled text"),
}
# What a command that ran out of room suggests after the space is freed.
RERUN = {"train": "run again (with --resume_from_checkpoint last to continue from the last complete checkpoint)"}


def usage() -> str:
    lines = ["usage: hf-bilstm <command> [options]   (hf-bilstm <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def flag_value(argv: list[str], name: str) -> str | None:
    """The value given for `--name` (either spelling, `--name value` or `--name=value`), or None."""
    spellings = {f"--{name}", f"--{name.replace('_', '-')}"}
    for i, token in enumerate(argv):
        flag, equals, value = token.partition("=")
        if flag in spellings:
            return value if equals else (argv[i + 1] if i + 1 < len(argv) else None)
    return None


def run_command(command: str, argv: list[str], **streams) -> int:
    """
    Runs one subcommand: 0 when it succeeds; a usage error (or another user-facing error: a push the Hub refused)
    is one line on stderr and its exit code, a write that ran out of room is exit 1 saying what was kept
    (hf_bilstm.errors.exit_code_for); anything else is a bug and propagates with its traceback.
    """
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return module.run(list(argv), **streams)
    except Exception as error:
        output_dir = flag_value(argv, "output_dir") or flag_value(argv, "output_file") or "--output_dir"
        return exit_code_for(f"hf-bilstm {command}", error, output_dir, RERUN.get(command, "run again"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"hf-bilstm: unknown command {command!r}.\n\n{usage()}", file=sys.stderr)
        return 2
    return run_command(command, rest)


if __name__ == "__main__":
    sys.exit(main())

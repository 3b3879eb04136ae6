"""One module per `hf-bilstm` subcommand: parse the flags, call the library, print; `hf_bilstm.cli` answers errors."""

import sys


def command_main(command: str):
    """The `main(argv=None, **streams)` of `hf-bilstm COMMAND`, for `python -m hf_bilstm.commands.COMMAND` and
    Python callers: `hf_bilstm.cli.run_command` runs the command and turns what goes wrong into one line and an exit
    code."""

    def main(argv: list[str] | None = None, **streams) -> int:
        from ..cli import run_command  # lazily: the cli finds the commands by name, and never the reverse at import

        return run_command(command, sys.argv[1:] if argv is None else argv, **streams)

    main.__doc__ = f"`hf-bilstm {command}`; hf_bilstm.cli turns what goes wrong into one line and an exit code."
    return main

"""`hf-bilstm push`: a model folder to the Hub, verified by loading it back (hf_bilstm.hub does the work)."""

import argparse
import sys
from dataclasses import dataclass

from ..flag_parser import FlagParser, option, positional, switch
from ..hub import describe, push_folder, validate_branch, validate_repo_id
from ..logs import show_progress
from . import command_main


# ------------------------------------------------------------------------------------------------ command line
@dataclass
class PushArguments:
    """The arguments of `hf-bilstm push`."""

    folder: str = positional("the model folder (output of `hf-bilstm train` or save_pretrained)")
    repo_id: str = positional("USER/NAME (or ORG/NAME) of the model repository; created if absent")
    private: bool = switch("create the repository as private")
    revision: str = option("main", "branch to push to (created if absent; default main)")
    commit_message: str | None = option(None, "message of the commit")
    no_verify: bool = switch("skip loading the pushed model back")
    license: str | None = option(None, "license for a card that declares none, e.g. apache-2.0")
    dataset: str | None = option(None, "dataset id for a card that names none, e.g. stanfordnlp/imdb")
    allow_custom_code: bool = switch(
        "push code files that differ from the installed hf_bilstm's (a deliberate custom model)"
    )


def build_parser() -> FlagParser:
    return FlagParser(
        PushArguments,
        prog="hf-bilstm push",
        description="Push a model folder (weights, config, code, tokenizer, card, results) to the Hugging Face Hub "
        "and verify that it loads back without hf_bilstm. The token comes from HF_TOKEN or `hf auth login`.",
        formatter_class=argparse.HelpFormatter,  # the help texts state their defaults where it matters
    )


def run(argv: list[str]) -> int:
    args = build_parser().parse_command(argv)
    show_progress()
    validate_repo_id(args.repo_id)
    validate_branch(args.revision)
    result = push_folder(
        args.folder,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        verify=not args.no_verify,
        license=args.license,
        dataset=args.dataset,
        allow_custom_code=args.allow_custom_code,
    )
    print(describe(result))
    return 0


main = command_main("push")


if __name__ == "__main__":
    sys.exit(main())

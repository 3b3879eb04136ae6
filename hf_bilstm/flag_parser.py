"""The command-line parser every `hf-bilstm` command shares: a misspelled flag is answered with the closest real one.

`FlagParser` is `HfArgumentParser` (dataclasses → flags, both `--snake_case` and `--dash-case` spellings), extended
with `positional()` and `switch()` fields, since HfArgumentParser makes every field a `--flag` taking a value. It
refuses an unknown flag with exit 2 and one line such as
`unrecognized argument --hiden_size (did you mean --hidden_size?)`, and accepts no abbreviations.
"""

import argparse
import dataclasses
import difflib
import sys

from transformers import HfArgumentParser

from .cpu_threads import TORCH_THREADS_FLAG, apply_torch_threads, parse_torch_threads, take_torch_threads

# Other tools' names for our flags — transformers' examples/pytorch/text-classification/run_classification.py and
# common habits — answered with ours (where the command has that flag), not with the nearest spelling:
# `--batch_size` is not `--auto_find_batch_size`.
OTHER_SPELLINGS = {
    "batch_size": ("per_device_train_batch_size", "batch_size"),
    "train_batch_size": ("per_device_train_batch_size", "batch_size"),
    "eval_batch_size": ("per_device_eval_batch_size", "batch_size"),
    "max_seq_length": ("max_length",),
    "max_seq_len": ("max_length",),
    "text_column_name": ("text_column",),
    "text_column_names": ("text_column",),
    "label_column_name": ("label_column",),
    "max_predict_samples": ("max_test_samples",),
    "predict_file": ("test_file", "file"),
    "input_file": ("file", "test_file"),
    "train_file": ("train_file", "dataset", "test_file"),
    "validation_file": ("validation_file", "dataset"),
    "dataset_name": ("dataset",),
    "metric_name": ("metric_for_best_model",),
    "epochs": ("num_train_epochs",),
    "num_epochs": ("num_train_epochs",),
    "lr": ("learning_rate",),
    "model": ("model_name_or_path",),
    "model_path": ("model_name_or_path",),
    "output": ("output_dir", "output_file"),
    "output_path": ("output_dir", "output_file"),
    "threads": ("torch_threads",),
    "num_threads": ("torch_threads",),
}


def closest_flag(given: str, known: list[str]) -> str | None:
    """The real flag nearest to a misspelled `given` (`--hiden_size` → `--hidden_size`), or None if none is near;
    another tool's name for one of ours (`--batch_size` → `--per_device_train_batch_size`) is answered with ours."""
    name = given.split("=", 1)[0]
    # Compared in one spelling, answered in the user's: --hiden-size gets --hidden-size.
    dashed = "-" in name[2:] and "_" not in name
    candidates = {flag.replace("-", "_")[2:]: flag for flag in known if flag.startswith("--")}
    for target in OTHER_SPELLINGS.get(name.replace("-", "_")[2:].lower(), ()):
        if target in candidates:
            return "--" + (target.replace("_", "-") if dashed else target)
    match = difflib.get_close_matches(name.replace("-", "_")[2:], list(candidates), n=1, cutoff=0.6)
    if not match:
        return None
    return "--" + (match[0].replace("_", "-") if dashed else match[0])


class OneLineErrors:
    """For `argparse.ArgumentParser` subclasses: an error is one line on stderr (exit 2), never the usage."""

    def error(self, message: str):
        # argparse prints the whole usage first; for `train` that is every TrainingArguments flag, pages of it. One
        # line, so that the error is the last line a user (or a script reading stderr) sees.
        message = " ".join(part.strip() for part in str(message).split("\n") if part.strip())
        self.exit(2, f"{self.prog}: error: {message}\n")


class SuggestingParser(OneLineErrors):
    """For `argparse.ArgumentParser` subclasses: an unknown flag is refused with a suggestion, errors in one line;
    `--` ends the options (what follows is positional, even `-1/10, awful`)."""

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if "--" in args:
            cut = args.index("--")
            namespace, extras = self._parse_known_flags(args[:cut], namespace)
            return self._take_positionals(namespace, extras, args[cut + 1 :])
        return self._parse_known_flags(args, namespace)

    def _take_positionals(self, namespace, extras, rest: list[str]):
        """Words after `--` go to the positionals not yet filled, then to the last one that takes many."""
        for action in self._get_positional_actions():
            if not rest:
                break
            current = getattr(namespace, action.dest, None)
            if action.nargs in ("*", "+"):
                setattr(namespace, action.dest, list(current or []) + rest)
                rest = []
            elif current is None:
                setattr(namespace, action.dest, rest.pop(0))
        return namespace, extras + rest

    def _parse_known_flags(self, args, namespace):
        if getattr(self, "_intermixing", False) or not self._get_positional_actions():
            namespace, extras = super().parse_known_args(args, namespace)
        else:
            # Texts may follow flags (`predict FOLDER --json "great film"`): plain argparse gives a `*` positional
            # its (empty) share right after FOLDER and then refuses the text; intermixed parsing collects it.
            self._intermixing = True
            try:
                namespace, extras = super().parse_known_intermixed_args(args, namespace)
            finally:
                self._intermixing = False
        unknown = [token for token in extras if token.startswith("-") and token not in ("-", "--")]
        if unknown:
            described = []
            for token in unknown:
                guess = closest_flag(token, list(self._option_string_actions))
                described.append(f"{token} (did you mean {guess}?)" if guess else token)
            word = "argument" if len(unknown) == 1 else "arguments"
            self.error(f"unrecognized {word} {', '.join(described)}")
        return namespace, extras


class GivenHelp(argparse._HelpAction):
    """`-h`/`--help`: prints the help and exits, except in `FlagParser.parse_given`, which records it as one of the
    flags given (`help`): the command then shows the defaults that depend on the other flags (a preset's values)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(parser, "collecting_given", False):
            setattr(namespace, self.dest, True)
        else:
            super().__call__(parser, namespace, values, option_string)


def option(default, help: str) -> dataclasses.Field:
    """A dataclass field for a `--flag` with its help text."""
    return dataclasses.field(default=default, metadata={"help": help})


def positional(help: str, **kwargs) -> dataclasses.Field:
    """A dataclass field parsed as a positional argument (`predict FOLDER TEXT...`), which HfArgumentParser lacks."""
    default = {"default_factory": list} if kwargs.get("nargs") in ("*", "+") else {}
    return dataclasses.field(**default, metadata={"positional": True, "help": help, **kwargs})


def not_a_flag(help: str) -> dataclasses.Field:
    """A dataclass field with no flag of its own: the command fills it from another flag's value."""
    return dataclasses.field(default=None, metadata={"no_flag": True, "help": help})


def switch(help: str) -> dataclasses.Field:
    """A `bool` field given as a bare flag (`--json`), False unless written.

    HfArgumentParser's bool flags take an optional value (`--json true`), so `predict FOLDER --json "great film"`
    would read the text as that value and fail; a switch never takes the next word.
    """
    return dataclasses.field(default=False, metadata={"switch": True, "help": help})


class FlagParser(SuggestingParser, HfArgumentParser):
    """`HfArgumentParser` over dataclasses, without abbreviations, answering a misspelled flag with the closest.

    Every command also takes `--torch_threads N` (torch's intra-op threads, applied once the command line parsed):
    taken out of the arguments before the dataclasses see them, so no command's arguments carry it."""

    def register(self, registry_name, value, object):
        # argparse registers its `help` action while the parser is made, before adding -h/--help: ours instead.
        super().register(registry_name, value, GivenHelp if (registry_name, value) == ("action", "help") else object)

    def __init__(self, dataclass_types, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(dataclass_types, **kwargs)
        # For --help and misspelling suggestions only (SUPPRESS: never in the namespace); parsed by take_torch_threads.
        self.add_argument(
            TORCH_THREADS_FLAG,
            TORCH_THREADS_FLAG.replace("_", "-"),
            default=argparse.SUPPRESS,
            metavar="N",
            help="torch's CPU threads for this run (default: torch's, i.e. OMP_NUM_THREADS or one per core). Threads "
            "spin only briefly before they sleep (GOMP_SPINCOUNT=300, unless you set it or OMP_WAIT_POLICY), so that "
            "another busy process does not slow a run 10-36x.",
        )

    @staticmethod
    def _parse_dataclass_field(parser, field: dataclasses.Field):
        metadata = dict(field.metadata)
        if metadata.get("no_flag"):  # set by the command from another flag (not_a_flag)
            return
        if metadata.pop("positional", False):
            parser.add_argument(field.name, **metadata)
        elif metadata.pop("switch", False):
            spellings = dict.fromkeys([f"--{field.name}", f"--{field.name.replace('_', '-')}"])
            parser.add_argument(*spellings, action="store_true", **metadata)
        else:
            HfArgumentParser._parse_dataclass_field(parser, field)

    def _take_torch_threads(self, args) -> tuple[list[str], int | None]:
        args, threads = take_torch_threads(list(sys.argv[1:] if args is None else args))
        if threads is not None:
            try:
                threads = parse_torch_threads(threads)
            except ValueError as error:
                self.error(str(error))
        return args, threads

    def parse_given(self, args: list[str]) -> dict:
        """The flags written in `args`, `{field: value}`, and no others: argparse's own reading (`--no_x` is x,
        `--x=v`, dash spellings, nothing after `--` is a flag, `-h` is `help`), in one pass with every default
        suppressed, so that a value equal to a default still counts as given. The command then builds its
        dataclasses from its defaults with these on top (`dataclass_from`); a stray word is refused (exit 2)."""
        args, threads = self._take_torch_threads(args)
        defaults = [(action, action.default) for action in self._actions]
        parser_defaults = dict(self._defaults)
        self.collecting_given = True
        try:
            for action, _ in defaults:
                action.default = argparse.SUPPRESS
            self._defaults.clear()
            namespace, remaining = self.parse_known_args(args)
        finally:
            for action, default in defaults:
                action.default = default
            self._defaults.update(parser_defaults)
            self.collecting_given = False
        if remaining:
            self.error(f"unrecognized arguments: {' '.join(remaining)}")
        if threads is not None:
            apply_torch_threads(threads)
        return vars(namespace)

    def show_help(self, defaults: dict, description: str | None = None):
        """Prints the help with `defaults` shown as the flags' defaults (what a run would use), and exits 0."""
        self.set_defaults(**defaults)
        if description:
            self.description = description
        self.print_help()
        self.exit()

    def parse_args_into_dataclasses(self, args=None, return_remaining_strings=False, **kwargs):
        args, threads = self._take_torch_threads(args)
        parsed = super().parse_args_into_dataclasses(args=args, return_remaining_strings=True, **kwargs)
        if threads is not None:
            apply_torch_threads(threads)
        if return_remaining_strings:
            return parsed
        # HfArgumentParser raises ValueError (a traceback) for a stray word; argparse's exit 2 and one line instead.
        *outputs, remaining = parsed
        if remaining:
            self.error(f"unrecognized arguments: {' '.join(remaining)}")
        return tuple(outputs)

    def parse_command(self, args: list[str]):
        """The one dataclass of a command's arguments (`hf-bilstm predict`, `evaluate`, `push`, `export`)."""
        (parsed,) = self.parse_args_into_dataclasses(args=args)
        return parsed


def dataclass_from(dtype, values: dict):
    """An instance of the dataclass `dtype` from the entries of `values` that are its fields (the others are another
    dataclass's); a field without an entry keeps its own default."""
    names = {item.name for item in dataclasses.fields(dtype) if item.init}
    return dtype(**{name: value for name, value in values.items() if name in names})

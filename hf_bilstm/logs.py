"""The package's loggers: `transformers.utils.logging` loggers under `hf_bilstm`, printed on stderr.

They propagate like any library's: an application's handlers on the root logger (`logging.basicConfig`, pytest's
`caplog`) get every message. The package's own stderr handler prints a message only while no root handler writes to
the terminal already, so a message shows once either way.

Library code logs, and its messages never name a command; the commands print their results. Until something sets
hf_bilstm's level, it is transformers' verbosity, as for a transformers model's messages: warnings by default,
`transformers.logging.set_verbosity_info()` (or `TRANSFORMERS_VERBOSITY=info`) in a user's script shows hf_bilstm's
information too, `set_verbosity_error()` hides its warnings. A level set on the `hf_bilstm` logger wins: a command's
(`show_progress`, as `train` does), `--log_level`'s (`follow_log_level`) or the application's own `setLevel`;
`quiet_libraries` keeps `predict` and `evaluate` to their results unless `--verbose`.
"""

import logging as _logging
import sys
from contextlib import contextmanager

from transformers.utils import logging

_ROOT = "hf_bilstm"


def _terminal_handler_at_root(record: _logging.LogRecord) -> bool:
    """Whether a handler of the root logger writes `record` to stderr or stdout itself (an application's
    `logging.basicConfig`): that handler prints the propagated message, in the application's format."""
    streams = (sys.stderr, sys.__stderr__, sys.stdout, sys.__stdout__)
    return any(
        isinstance(handler, _logging.StreamHandler) and handler.stream in streams and record.levelno >= handler.level
        for handler in _logging.getLogger().handlers
    )


class _StderrHandler(_logging.Handler):
    """Writes to the `sys.stderr` of the moment, so that a redirected or captured stderr gets the messages too,
    unless the application's own root handler prints them already."""

    def emit(self, record: _logging.LogRecord) -> None:
        if _terminal_handler_at_root(record):
            return
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # the logging module's own rule: a message that cannot be written never breaks the caller
            self.handleError(record)


class _PackageLogger(_logging.Logger):
    """
    The `hf_bilstm` logger: its level is the one set on it (`own_level`), and while none is (NOTSET), transformers'
    verbosity. The `logging` module reads a logger's `level` attribute when its children work out their effective
    level, and transformers' `set_verbosity` clears the loggers' caches, so a change of verbosity shows at once.
    """

    @property
    def level(self) -> int:
        return self.own_level or _logging.getLogger("transformers").getEffectiveLevel()

    @level.setter
    def level(self, value: int) -> None:
        self.own_level = value


def _configure_root() -> _PackageLogger:
    root = _logging.getLogger(_ROOT)
    if not isinstance(root, _PackageLogger):
        logging.get_logger("transformers")  # transformers' own level set up (TRANSFORMERS_VERBOSITY) before it is read
        # the logger may exist already (a user's getLogger("hf_bilstm")): it keeps its handlers and any level set on it
        own_level = root.__dict__.pop("level", _logging.NOTSET)
        root.__class__ = _PackageLogger
        root.setLevel(own_level)
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_logging.Formatter("%(message)s"))
        root.addHandler(handler)
    return root


def get_logger(name: str) -> _logging.Logger:
    """The logger of an `hf_bilstm` module (`get_logger(__name__)`)."""
    _configure_root()
    return logging.get_logger(name)


def show_progress() -> None:
    """hf_bilstm's information messages on (what a long command like `train` reports as it goes)."""
    _configure_root().setLevel(_logging.INFO)


def follow_log_level(training_args) -> None:
    """
    `--log_level` (and `--log_level_replica` on the other processes), the Trainer's flags for transformers' loggers,
    set hf_bilstm's level too; left at "passive", hf_bilstm keeps its own (information for `train`, else warnings).
    """
    name = training_args.log_level if training_args.should_log else training_args.log_level_replica
    if name != "passive":
        _configure_root().setLevel(logging.get_log_levels_dict()[name])


def _not_our_onnx_model_notice(record: _logging.LogRecord) -> bool:
    return not str(record.msg).startswith("The model 'ORTModelForSequenceClassification' is not supported")


@contextmanager
def quiet_libraries(verbose: bool = False):
    """
    For commands whose output is their result (`predict`, `evaluate`): transformers' and datasets' progress bars
    ("Loading weights", "Map") and notices are off for the block unless `verbose`; errors still show, and so do
    hf_bilstm's own warnings. The previous settings come back afterwards.
    """
    import datasets.utils.logging as datasets_logging

    if verbose:
        previous = _configure_root().own_level
        _configure_root().setLevel(_logging.INFO)
        try:
            yield
        finally:
            _configure_root().setLevel(previous)
        return
    root = _configure_root()
    own_level = root.own_level
    root.setLevel(root.getEffectiveLevel())  # hf_bilstm's warnings stay on while transformers' go quiet
    saved = (
        logging.get_verbosity(),
        logging.is_progress_bar_enabled(),
        datasets_logging.get_verbosity(),
        datasets_logging.is_progress_bar_enabled(),
    )
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    datasets_logging.set_verbosity_error()
    datasets_logging.disable_progress_bar()
    # transformers' pipeline logs an *error* for any model class outside its mapping, our ONNX Runtime one included,
    # although it works: not a result, so it goes too (and shows with --verbose).
    pipeline_logger = _logging.getLogger("transformers.pipelines.base")
    pipeline_logger.addFilter(_not_our_onnx_model_notice)
    try:
        yield
    finally:
        pipeline_logger.removeFilter(_not_our_onnx_model_notice)
        root.setLevel(own_level)
        logging.set_verbosity(saved[0])
        datasets_logging.set_verbosity(saved[2])
        if saved[1]:
            logging.enable_progress_bar()
        if saved[3]:
            datasets_logging.enable_progress_bar()

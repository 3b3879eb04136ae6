"""The package's loggers: `transformers.utils.logging` loggers under `hf_bilstm`, printed on stderr.

Library code logs; only the commands' `main` functions print. Warnings show by default, information with
`set_verbosity(logging.INFO)` (what `--verbose` does).
"""

import logging as _logging
import sys

from transformers.utils import logging

_ROOT = "hf_bilstm"


class _StderrHandler(_logging.Handler):
    """Writes to the `sys.stderr` of the moment, so that a redirected or captured stderr gets the messages too."""

    def emit(self, record: _logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # the logging module's own rule: a message that cannot be written never breaks the caller
            self.handleError(record)


def _configure_root() -> _logging.Logger:
    root = _logging.getLogger(_ROOT)
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(_logging.WARNING)
        root.propagate = False  # an application's root handlers would print each message twice
    return root


def get_logger(name: str) -> _logging.Logger:
    """The logger of an `hf_bilstm` module (`get_logger(__name__)`)."""
    _configure_root()
    return logging.get_logger(name)


def set_verbosity(level: int) -> None:
    """The level of hf_bilstm's messages and of transformers' (its loading reports and progress bars)."""
    _configure_root().setLevel(level)
    logging.set_verbosity(level)
    if level > _logging.INFO:
        logging.disable_progress_bar()
    else:
        logging.enable_progress_bar()

"""Reading the JSON files of a model folder or a checkpoint (`read_json`): one loader that checks the file's shape, so
that a damaged, truncated, non-UTF-8 or list-shaped file is one line naming the file and the fix, never an
`AttributeError: 'list' object has no attribute 'get'` deep in a command.
"""

import json

from .errors import UsageError

_KINDS = {dict: "a JSON object ({...})", list: "a JSON list ([...])"}


def _kind_of(value) -> str:
    return {dict: "a JSON object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def read_json(path, expected: type = dict, fix: str = "write it again (or delete it)"):
    """
    The value of the JSON file at `path`, which must be `expected` (dict or list). A file that is not UTF-8, not JSON
    or of another shape raises `UsageError` naming the file, what is wrong and `fix` (what the user can do).
    A missing or unreadable file raises the OSError (the caller decides whether a file may be missing).
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(f"{str(path)!r} is not UTF-8 text ({error}); {fix}.") from None
    except ValueError as error:
        raise UsageError(f"{str(path)!r} is not valid JSON ({error}); {fix}.") from None
    if not isinstance(value, expected):
        raise UsageError(
            f"{str(path)!r} holds {_kind_of(value)}, not {_KINDS.get(expected, expected.__name__)}; {fix}."
        )
    return value

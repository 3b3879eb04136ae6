"""The errors a user can fix, and what a command answers for them.

`UsageError` is a problem with what the user asked for (arguments, dataset, folders): one line naming the problem and
the fix, exit 2, no traceback. `exit_code_for` is how every command answers it (called by `hf_bilstm.cli`), a write
that ran out of room (exit 1, naming the file and saying what was kept), or a write the system refused (a read-only
file system, no permission: exit 2, naming the file); anything else is a bug and propagates. Other modules'
user-facing errors (`hub.HubPushError`, `cards.CardError`) declare their `exit_code` and are answered the same way.
"""

import errno
import os
import re
import sys


class UsageError(ValueError):
    """A problem with what the user asked for (arguments, dataset, folders); the message says what to do."""

    def __init__(self, message: str = ""):
        # One line on the terminal: the errors of other libraries that a message quotes (the Hub's, transformers')
        # carry line breaks of their own.
        super().__init__(" ".join(part.strip() for part in str(message).split("\n") if part.strip()))


# The Hub's: `hf-bilstm push` and `train --push_to_hub` (hf_bilstm.hub).
class HubPushError(RuntimeError):
    """A push or its verification failed; the message says what happened and how to fix or retry it."""

    exit_code = 1  # what `hf-bilstm push` answers (hf_bilstm.errors.exit_code_for)


class PushRefusedError(HubPushError, ValueError):
    """The folder cannot be pushed as it is (checked before anything runs or is sent): exit 2, like a usage error."""

    exit_code = 2


class HubUnreachableError(HubPushError):
    """The Hub did not answer (network, DNS, timeout)."""


# errno values of a write that ran out of room: a full disk, a file-size limit (`ulimit -f`), a quota.
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_ROOM_TEXT = re.compile(r"os error (" + "|".join(str(code) for code in sorted(_NO_ROOM)) + r")\b")
# errno values of a write the system refused: a read-only file system, a folder or file without write permission.
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def _causes(error: BaseException | None):
    """`error`, then what caused it (`raise ... from`, or the error being handled), each once (a cycle ends it)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _no_room(error: BaseException) -> OSError | None:
    """The OSError (in `error` or what caused it) of a write that ran out of room; a Rust library's error that names
    "os error 28" (safetensors, tokenizers write from Rust and raise their own types) stands as an OSError of it."""
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.errno in _NO_ROOM:
            return cause
        match = _NO_ROOM_TEXT.search(str(cause))
        if match:
            return OSError(int(match.group(1)), os.strerror(int(match.group(1))))
    return None


def no_room_reason(error: BaseException) -> str | None:
    """The OS's words when `error` (or what caused it) is a write that ran out of room; None for anything else."""
    cause = _no_room(error)
    return None if cause is None else (cause.strerror or os.strerror(cause.errno))


def not_writable(error: BaseException) -> OSError | None:
    """The OSError (in `error` or what caused it) of a write the system refused (read-only, no permission)."""
    return next((c for c in _causes(error) if isinstance(c, OSError) and c.errno in _NOT_WRITABLE), None)


def failed_write(error: BaseException) -> OSError | None:
    """The OSError (in `error` or what caused it) of a write that ran out of room or that the system refused."""
    return not_writable(error) or _no_room(error)


def written_path(error: OSError) -> str | None:
    """The file a failed write was writing: a copy's or a rename's destination (`filename2`: shutil names the source
    in `filename`, which would blame the package's own code file for a full disk), else `filename`."""
    path = getattr(error, "filename2", None) or error.filename
    return str(path) if path else None


def _failed_path(error: BaseException) -> str | None:
    """The file an OSError (in `error` or what caused it) names, if any."""
    cause = next((c for c in _causes(error) if isinstance(c, OSError) and c.filename), None)
    return None if cause is None else written_path(cause)


def exit_code_for(prog: str, error: Exception, output_dir: str, rerun: str = "run again") -> int:
    """What a command's `main` answers for `error`: 2 and one line for a usage error, 1 and what was kept for a write
    that ran out of room; anything else is a bug and propagates (re-raise it when this raises nothing)."""
    if isinstance(error, UsageError):
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    code = getattr(type(error), "exit_code", None)  # other modules' user-facing errors (hub.HubPushError: 1)
    if code is not None:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return code
    # Every command's writes end here (the root of "full disk" and "read-only folder"), whichever file it was.
    reason = no_room_reason(error)
    if reason is not None:
        path = _failed_path(error)
        where = f"{path!r} could not be written" if path else f"a file could not be written in {output_dir!r}"
        print(
            f"{prog}: error: {where} ({reason}). The previous contents of the folder were kept; free some space "
            f"(or raise the file-size limit) and {rerun}.",
            file=sys.stderr,
        )
        return 1
    refused = not_writable(error)
    if refused is not None:
        path = written_path(refused) or str(output_dir)
        folder = os.path.dirname(path.rstrip(os.sep)) or "."
        verb = "written" if refused.errno == errno.EROFS else "written (or read)"
        print(
            f"{prog}: error: {folder!r} cannot be {verb}: {path!r} ({refused.strerror or os.strerror(refused.errno)}"
            f"). Make the folder writable, or choose one you can write, and {rerun}.",
            file=sys.stderr,
        )
        return 2
    raise error

"""hf_bilstm.errors: what a failed write's exception chain says (out of room, refused, which file)."""

import errno
import os

from hf_bilstm import errors


def chained(outer: Exception, inner: BaseException) -> Exception:
    """`outer` raised while handling `inner`, as `raise outer from inner` leaves it."""
    outer.__cause__ = inner
    return outer


def test_no_room_is_found_anywhere_in_the_chain():
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/model.safetensors")
    assert errors.no_room_reason(chained(RuntimeError("save failed"), full)) == os.strerror(errno.ENOSPC)
    # safetensors' and tokenizers' Rust errors only name the OS error in their text
    rust = RuntimeError(f"I/O error: No space left on device (os error {errno.ENOSPC})")
    assert errors.no_room_reason(rust) == os.strerror(errno.ENOSPC)
    assert errors.no_room_reason(chained(ValueError("bad value"), KeyError("x"))) is None


def test_a_refused_write_and_its_file_are_found_in_the_chain():
    refused = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/ro/config.json")
    error = chained(RuntimeError("could not save"), refused)
    assert errors.not_writable(error) is refused
    assert errors._failed_path(error) == "/ro/config.json"
    assert errors.not_writable(RuntimeError("nothing below")) is None
    assert errors._failed_path(RuntimeError("nothing below")) is None


def test_a_chain_that_loops_is_read_once():
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first  # what re-raising inside a handler can leave
    assert errors.no_room_reason(first) is None and errors.not_writable(first) is None
    assert [str(cause) for cause in errors._causes(first)] == ["a", "b"]

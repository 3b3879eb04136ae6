"""transformers' own common test mixins, vendored from the source distribution of transformers 5.25.0.

Verbatim copies (Apache-2.0, see LICENSE here; provenance and checksums in README.md) of ``tests/test_*_common.py``
and the two tokenizer backend mixins they import. The sdist lacks three helper modules that these import; the
``exporters``, ``generation`` and ``utils`` subpackages here are this project's own small stand-ins for them.

Kept free of side effects: ``test_configuration_common`` executes this file once more under the name
``transformers`` (``direct_transformers_import``).
"""

TRANSFORMERS_VERSION = "5.25.0"


def require_vendored_version() -> None:
    """Skips the calling test module (fails it under CI=true) unless the installed transformers is the vendored one."""
    import os

    import pytest
    import transformers

    if transformers.__version__ == TRANSFORMERS_VERSION:
        return
    message = (
        f"transformers' common tests here are vendored from transformers {TRANSFORMERS_VERSION}, but "
        f"{transformers.__version__} is installed: pip install -e '.[dev]' (which pins it), or vendor the new "
        "release's tests (tests/transformers_common/README.md)."
    )
    if os.environ.get("CI") == "true":
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

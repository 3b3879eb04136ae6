"""transformers' own common test mixins, vendored from the source distribution of transformers 5.25.0.

Verbatim copies (Apache-2.0, see LICENSE here; provenance and checksums in README.md) of ``tests/test_*_common.py``
and the two tokenizer backend mixins they import. The sdist lacks three helper modules that these import; the
``exporters``, ``generation`` and ``utils`` subpackages here are this project's own small stand-ins for them.

Kept free of side effects: ``test_configuration_common`` executes this file once more under the name
``transformers`` (``direct_transformers_import``).
"""

TRANSFORMERS_VERSION = "5.25.0"

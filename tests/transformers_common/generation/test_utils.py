"""Stand-in for transformers' ``tests/generation/test_utils.py`` (not in the 5.25.0 sdist).

``ModelTesterMixin.test_generation_tester_mixin_inheritance`` only asks whether a tester inherits this class: it
must not for a model that cannot ``generate`` (none of hf_bilstm's can), so an empty class answers it exactly.
"""


class GenerationTesterMixin:
    """Marker base of testers for models that can `generate` (hf_bilstm's testers never inherit it)."""

"""
transformers' own common tokenizer tests (`TokenizerTesterMixin`, vendored from transformers 5.25.0 under
`transformers_common/`) on a tokenizer trained by `hf_bilstm.train_tokenizer`, saved and loaded as any transformers
tokenizer is. No flag turns a common test off; the mixin itself skips its chat-template test (no chat template),
its Hub-reference integration tests (no published reference tokenizer) and one test marked slow upstream.
"""

import unittest

from transformers import PreTrainedTokenizerFast
from transformers_common import require_vendored_version

from hf_bilstm import train_tokenizer

require_vendored_version()  # the mixin imports this transformers release's internals

from transformers_common.test_tokenization_common import TokenizerTesterMixin  # noqa: E402

# Words and punctuation of the mixin's own test strings, so that its round trips meet known words.
CORPUS = [
    "This is a test for the tokenizer . I was born in 92000 , and this is falsé .",
    "Hi Hello hello there ; The following string should be properly encoded : Hello .",
    "Hey how are you doing ? But ird and ปี ird ด , 生活的真谛是",
    "the first sentence . the second one . this sentence contains # over symbols and numbers 12 3 .",
    "a film with good actors and a good story , a movie with bad actors and a bad story .",
]


class BiLSTMTokenizerTest(TokenizerTesterMixin, unittest.TestCase):
    tokenizer_class = PreTrainedTokenizerFast
    from_pretrained_id = None  # the tokenizer is trained here, never downloaded

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        train_tokenizer(CORPUS, vocab_size=200, min_frequency=1).save_pretrained(cls.tmpdirname)

"""The commands' help speaks of the user's texts: no movies, films or reviews (IMDB's words), and the cpu-best recipe
as it is (one linear teacher)."""

import re

import pytest

from hf_bilstm import arguments
from hf_bilstm.commands import evaluate, export, predict


@pytest.mark.parametrize("module", [arguments, evaluate, predict, export])  # arguments: train's flags
def test_help_has_no_imdb_words(module):
    text = module.make_parser().format_help().lower()
    found = re.findall(r"\b(movies?|films?|reviews|two teachers)\b", text)
    assert not found, found

"""Groups of rows that share rare words (`--group_by_shared_words`): a stand-in for the group column a dataset lacks.

Reviews of one movie (or product, or thread) name the same rare things: a title, characters, actors. When a random
carve puts some of them in train and some in validation, validation rates a model that learned those names above what
it reads on unseen movies (IMDB's test split has other movies than its train split). Grouping the rows that share
rare words and carving validation by whole groups (hf_bilstm.grouped_split) keeps most of them on one side, from the
texts alone. On IMDB it brought the linear teachers' validation closer to test than the random carve did (+0.30
points above test against +0.74), without ranking them better (scripts/ablate_validation_carve.py,
benchmarks/results/2026-12-06-validation-carve-ablation.json).
"""

import collections
import itertools
import re

# A word is rare when 2 to RARE_ROWS rows hold it (IMDB holds at most 30 reviews of a movie); two rows are linked when
# they share MIN_SHARED of them; a group stops growing at LARGEST_GROUP rows: joining every link chains most of IMDB
# into one group (11,176 of 25,000 rows with a link of 2 shared capitalised words), which no carve can hold out.
RARE_ROWS, MIN_SHARED, LARGEST_GROUP = 30, 2, 30
WORD = re.compile(r"\w{3,}")  # \w: letters of any script, so other languages group too


def shared_word_groups(
    texts: list[str], rare_rows: int = RARE_ROWS, min_shared: int = MIN_SHARED, largest: int = LARGEST_GROUP
) -> list[str]:
    """A group name for every text: texts that share `min_shared` or more rare words (3+ characters, in 2 to
    `rare_rows` texts) are joined, the most-shared links first, while a group stays within `largest` texts; a text that
    shares nothing is a group of its own. Deterministic: the same texts always give the same groups."""
    words = [set(WORD.findall(text)) for text in texts]
    counts = collections.Counter(word for row in words for word in row)
    rows_of = collections.defaultdict(list)
    for row, row_words in enumerate(words):
        for word in row_words:
            if 2 <= counts[word] <= rare_rows:
                rows_of[word].append(row)
    links = collections.Counter()
    for rows in rows_of.values():
        links.update(itertools.combinations(rows, 2))
    parent, size = list(range(len(texts))), [1] * len(texts)

    def root(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    # Most-shared first, then by row numbers: a fixed order whatever the dictionaries' insertion order was.
    for (a, b), shared in sorted(links.items(), key=lambda item: (-item[1], item[0])):
        if shared < min_shared:
            break
        a, b = root(a), root(b)
        if a != b and size[a] + size[b] <= largest:
            parent[a], size[b] = b, size[a] + size[b]
    return [str(root(row)) for row in range(len(texts))]

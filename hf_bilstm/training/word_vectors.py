"""Word vectors for the embedding: word2vec (gensim) trained on in-domain text before the classifier trains.

The classifier's tokenizer is trained first; its token ids are the word2vec vocabulary, so every vector lands on the
embedding row of its own word, and words the labelled reviews hold too rarely to learn from still arrive with a
meaning learnt from the unlabelled ones. Only the training rows (never validation or test) and unlabelled splits are
read. `gensim` is an optional extra: `pip install -e ".[word2vec]"`.
"""

import os
import tempfile
import time
from collections.abc import Iterable

import numpy as np
import torch
from tokenizers import Tokenizer

from ..encoding import iter_texts
from ..errors import UsageError

INSTALL_HINT = 'pip install -e ".[word2vec]"  (or: pip install gensim)'


def require_gensim():
    try:
        from gensim.models import Word2Vec
    except ImportError as error:
        raise UsageError(
            f"word vectors (--word_vectors_epochs) need gensim, which is not installed: {INSTALL_HINT}"
        ) from error
    return Word2Vec


def write_corpus(texts: Iterable[str], backend: Tokenizer, handle, batch_size: int = 2000) -> int:
    """Writes each text as one line of its token ids, as `backend` (a `tokenizers.Tokenizer`) splits it; returns
    the number of tokens."""
    tokens = 0
    batch: list[str] = []

    def flush():
        nonlocal tokens
        for encoding in backend.encode_batch(batch, add_special_tokens=False):
            if encoding.ids:
                handle.write(" ".join(map(str, encoding.ids)) + "\n")
                tokens += len(encoding.ids)
        batch.clear()

    for text in texts:
        batch.append(text)
        if len(batch) >= batch_size:
            flush()
    flush()
    return tokens


def train_word_vectors(
    texts: Iterable[str],
    tokenizer,
    dim: int,
    epochs: int,
    seed: int = 42,
    window: int = 5,
    min_count: int = 2,
    workers: int | None = None,
    max_seconds: float | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """
    Skip-gram word2vec over `texts` as `tokenizer` splits them.

    Returns (vectors [vocab, dim] float32, found [vocab] bool: rows that got a vector, summary dict). Rows for
    special tokens and words word2vec never saw `min_count` times are not found. With `max_seconds`, training
    stops after the epoch whose successor would end past it (one epoch at least); the summary says how many ran.
    """
    Word2Vec = require_gensim()
    started = time.time()
    workers = workers or max(1, len(os.sched_getaffinity(0)))
    # A copy without truncation or padding: the whole text (context beyond the classifier's cut still teaches the
    # vectors), and the caller's tokenizer is left as it was.
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    with tempfile.TemporaryDirectory(prefix="hf-bilstm-w2v-") as folder:
        corpus = os.path.join(folder, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as handle:
            tokens = write_corpus(texts, backend, handle)
        if tokens == 0:
            raise UsageError("word vectors: the texts hold no tokens; check --text_column and the splits.")
        model = Word2Vec(
            vector_size=dim, window=window, min_count=min_count, sg=1, negative=5, workers=workers, seed=seed
        )
        model.build_vocab(corpus_file=corpus)  # the file mode scales with workers; an iterator would hold the GIL
        epochs_done = _train_epochs(model, corpus, epochs, started, max_seconds)
    vectors, found = _vectors_by_token_id(model, tokenizer, dim)
    vocab = len(tokenizer)
    summary = {
        "tokens": tokens,
        "epochs": epochs_done,
        "epochs_planned": epochs,
        "dim": dim,
        "window": window,
        "words_with_vectors": int(found.sum()),
        "vocab_size": vocab,
        "seconds": round(time.time() - started, 1),
    }
    return vectors, found, summary


def _train_epochs(model, corpus: str, epochs: int, started: float, max_seconds: float | None) -> int:
    """Trains `model` on the corpus file epoch by epoch; returns how many epochs ran within `max_seconds`."""
    # One epoch per call, the learning rate decaying linearly over the planned epochs as a single call would
    # decay it, so that a time budget can end training between epochs.
    epochs_done, epoch_started = 0, time.time()
    for epoch in range(epochs):
        if epoch and max_seconds is not None:
            last_epoch = time.time() - epoch_started
            if time.time() - started + last_epoch > max_seconds:
                break
        epoch_started = time.time()
        model.train(
            corpus_file=corpus,
            total_words=model.corpus_total_words,
            epochs=1,
            start_alpha=_alpha(model, epoch / epochs),
            end_alpha=_alpha(model, (epoch + 1) / epochs),
        )
        epochs_done += 1
    return epochs_done


def _vectors_by_token_id(model, tokenizer, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """word2vec's vectors (its words are token ids) as rows of an embedding; special tokens get none."""
    vocab = len(tokenizer)
    vectors = np.zeros((vocab, dim), dtype=np.float32)
    found = np.zeros(vocab, dtype=bool)
    special = set(tokenizer.all_special_ids)
    for word, index in model.wv.key_to_index.items():
        token_id = int(word)
        if 0 <= token_id < vocab and token_id not in special:
            vectors[token_id] = model.wv.vectors[index]
            found[token_id] = True
    return vectors, found


def _alpha(model, progress: float) -> float:
    return model.alpha - (model.alpha - model.min_alpha) * progress


def initialise_embedding(embedding: torch.nn.Embedding, vectors: np.ndarray, found: np.ndarray) -> None:
    """
    Copies the found rows into `embedding`, rescaled so their spread matches the rows left at random: the preset's
    learning rate and dropout were tuned for that scale. Padding stays zero.
    """
    weight = embedding.weight
    if tuple(vectors.shape) != tuple(weight.shape):
        raise ValueError(f"word vectors are {vectors.shape}, the embedding is {tuple(weight.shape)}")
    if not found.any():
        return
    if not np.isfinite(vectors[found]).all():  # refused before the embedding is touched
        raise ValueError("word vectors: some vectors are not finite")
    rows = torch.from_numpy(vectors[found])
    with torch.no_grad():
        target = float(weight.std())
        scale = target / max(float(rows.std()), 1e-12)
        index = torch.from_numpy(np.flatnonzero(found))
        weight[index] = (rows * scale).to(weight.dtype)
        if embedding.padding_idx is not None:
            weight[embedding.padding_idx].zero_()


def initialise_from_texts(
    model, tokenizer, datasets: list, text_column: str, epochs: int, seed: int, max_seconds: float | None = None
) -> dict:
    """Trains word vectors on the `text_column` of `datasets` and starts `model`'s input embedding from them."""

    def texts():
        for dataset in datasets:
            yield from iter_texts(dataset, text_column)

    embedding = model.get_input_embeddings()
    vectors, found, summary = train_word_vectors(
        texts(), tokenizer, embedding.embedding_dim, epochs, seed=seed, max_seconds=max_seconds
    )
    initialise_embedding(embedding, vectors, found)
    summary["texts"] = sum(len(dataset) for dataset in datasets)
    return summary

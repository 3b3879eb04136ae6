"""Word vectors for the embedding: word2vec on the tokenizer's ids, the embedding started from them, train flags."""

import json
import os

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict
from helpers import tiny_classifier, write_toy_dataset

from hf_bilstm import train_tokenizer
from hf_bilstm.arguments import parse_args
from hf_bilstm.commands.train import main as train_main
from hf_bilstm.data import UsageError
from hf_bilstm.training.trainer import start_from_word_vectors

pytest.importorskip("gensim", reason="word vectors need the word2vec extra: pip install -e '.[word2vec]'")

from hf_bilstm.training.word_vectors import initialise_embedding, train_word_vectors  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Two families of words that occur in the same contexts within a family and never across: word2vec must put each
# family's words closer to one another than to the other family's.
GOOD, BAD = ["great", "superb", "wonderful"], ["awful", "dreadful", "terrible"]


def corpus(n: int = 400) -> list[str]:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        word = rng.choice(GOOD if i % 2 else BAD)
        context = "a joy to watch , loved it" if i % 2 else "a waste of time , hated it"
        lines.append(f"the film was {word} , {context} .")
    return lines


def tokenizer_for(texts, max_length: int = 8):
    return train_tokenizer(texts, vocab_size=200, min_frequency=1, model_max_length=max_length)


def test_vectors_land_on_their_words_rows_and_carry_meaning():
    texts = corpus()
    tokenizer = tokenizer_for(texts)
    vectors, found, summary = train_word_vectors(texts, tokenizer, dim=16, epochs=30, seed=0, workers=1)
    vocab = tokenizer.get_vocab()
    assert vectors.shape == (len(tokenizer), 16) and vectors.dtype == np.float32
    assert not found[tokenizer.pad_token_id] and not found[tokenizer.unk_token_id]
    assert all(found[vocab[word]] for word in GOOD + BAD)
    assert summary["tokens"] == sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)

    def cosine(a, b):
        x, y = vectors[vocab[a]], vectors[vocab[b]]
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))

    within = np.mean([cosine(a, b) for family in (GOOD, BAD) for a in family for b in family if a != b])
    across = np.mean([cosine(a, b) for a in GOOD for b in BAD])
    assert within > across + 0.1, (within, across)


def test_whole_texts_are_read_though_the_tokenizer_truncates_and_is_left_unchanged():
    texts = corpus(50)
    tokenizer = tokenizer_for(texts, max_length=3)  # far shorter than every text
    _, _, summary = train_word_vectors(texts, tokenizer, dim=8, epochs=1, seed=0, workers=1)
    assert summary["tokens"] > 3 * len(texts)
    assert len(tokenizer(texts[0], truncation=True)["input_ids"]) == 3


def test_embedding_gets_the_found_rows_at_the_random_rows_scale_and_padding_stays_zero():
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(50, 8, padding_idx=0)
    before = embedding.weight.detach().clone()
    vectors = np.random.default_rng(0).normal(scale=7.0, size=(50, 8)).astype(np.float32)
    found = np.zeros(50, dtype=bool)
    found[[0, 3, 4, 5, 10]] = True
    initialise_embedding(embedding, vectors, found)
    weight = embedding.weight.detach()
    assert torch.equal(weight[~torch.from_numpy(found)], before[~torch.from_numpy(found)])
    assert torch.all(weight[0] == 0)
    rows = weight[[3, 4, 5, 10]]
    # rescaled, not copied: the direction of each vector is kept, the spread is the embedding's own
    assert float(rows.std()) < 3.0
    cos = torch.nn.functional.cosine_similarity(rows, torch.from_numpy(vectors[[3, 4, 5, 10]]), dim=1)
    assert torch.allclose(cos, torch.ones(4), atol=1e-5)
    with pytest.raises(ValueError, match="embedding is"):
        initialise_embedding(embedding, vectors[:, :4], found)
    broken = vectors.copy()
    broken[4, 2] = np.nan
    kept = embedding.weight.detach().clone()
    with pytest.raises(ValueError, match="not finite"):
        initialise_embedding(embedding, broken, found)
    assert torch.equal(embedding.weight.detach(), kept)  # nothing half-written


def test_start_from_word_vectors_reads_train_and_unlabelled_never_validation_or_test(tmp_path):
    texts = corpus(60)
    secret = "zzzvalidation zzztest " * 5
    raw = DatasetDict(
        train=Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(60)]}),
        unsupervised=Dataset.from_dict({"text": texts[:20], "label": [-1] * 20}),
        test=Dataset.from_dict({"text": [secret] * 10, "label": [0] * 10}),
    )
    tokenizer = train_tokenizer([*texts, secret], vocab_size=200, min_frequency=1, model_max_length=16)
    model = tiny_classifier(tokenizer)
    argv = [
        "--output_dir",
        str(tmp_path / "out"),
        "--word_vectors_epochs",
        "2",
        "--word_vectors_splits",
        "unsupervised",
    ]
    model_args, data_args, _ = parse_args(argv)
    before = model.get_input_embeddings().weight.detach().clone()
    summary = start_from_word_vectors(model, tokenizer, raw["train"], raw, model_args, data_args, seed=0)
    assert summary["texts"] == 80 and summary["splits"] == ["train (training rows)", "unsupervised"]
    after = model.get_input_embeddings().weight.detach()
    vocab = tokenizer.get_vocab()
    assert not torch.equal(after[vocab["great"]], before[vocab["great"]])
    for word in ("zzzvalidation", "zzztest"):  # only in the test split: never read, so left at random
        assert torch.equal(after[vocab[word]], before[vocab[word]])
    model_args.word_vectors_splits = "unsupervised,extra"
    with pytest.raises(UsageError, match=r"\['extra'\] not in the dataset"):
        start_from_word_vectors(model, tokenizer, raw["train"], raw, model_args, data_args, seed=0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--word_vectors_splits", "test"], "training rows and unlabelled text only"),
        (["--word_vectors_splits", "unsupervised,validation"], "validation picks the model"),
        (["--word_vectors_epochs", "-1"], "--word_vectors_epochs"),
        (["--model_name_or_path", "some/model"], "replace the embedding"),
    ],
)
def test_bad_word_vector_flags_are_refused_before_anything_runs(tmp_path, capsys, extra, message):
    argv = ["--output_dir", str(tmp_path / "out"), "--dataset", str(tmp_path / "none"), "--word_vectors_epochs", "1"]
    if "--word_vectors_epochs" in extra:
        argv = argv[:-2]
    assert train_main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")


def test_a_time_budget_stops_word_vectors_between_epochs_after_one_at_least():
    texts = corpus(100)
    tokenizer = tokenizer_for(texts)
    _, found, cut = train_word_vectors(texts, tokenizer, dim=8, epochs=20, seed=0, workers=1, max_seconds=0.0)
    assert cut["epochs"] == 1 and cut["epochs_planned"] == 20 and found.any()
    _, _, whole = train_word_vectors(texts, tokenizer, dim=8, epochs=3, seed=0, workers=1, max_seconds=600)
    assert whole["epochs"] == 3


def test_train_with_word_vectors_and_a_budget_reports_their_seconds_and_finishes(tmp_path, capsys):
    dataset = write_toy_dataset(tmp_path / "toy", n_train=120, n_test=30)
    out = tmp_path / "out"
    tiny = ["--embedding_dim", "16", "--hidden_size", "8", "--num_layers", "1", "--vocab_size", "100"]
    argv = ["--dataset", dataset, "--output_dir", str(out), "--num_train_epochs", "1", *tiny]
    wv = ["--word_vectors_epochs", "2", "--word_vectors_splits", "", "--max_train_seconds", "600"]
    assert train_main([*argv, *wv]) == 0
    results = json.loads((out / "all_results.json").read_text())
    assert 0 <= results["word_vectors_runtime"] < 600 and "test_accuracy" in results
    assert "word vectors for" in capsys.readouterr().err

"""One pipeline shared by 4 threads gives the answers that sequential calls give.

The settings are given once, when the pipeline is built: transformers' fast tokenizer stores truncation/padding on its
shared Rust object at every call, so threads that call with *different* settings race (transformers#47085). The
documented way (docs/robustness.md) is one setting per pipeline, which this test exercises.
"""

import threading

import pytest
from helpers import TEXTS, save_tiny_model
from transformers import pipeline

THREADS = 4
# Lengths from empty to well past model_max_length=16, so that truncation matters for some and not others.
INPUTS = ["", "   ", "zxq qqv"] + [" ".join(TEXTS[i : i + n]) for i in range(6) for n in (1, 3)] + TEXTS[:3]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    _, tokenizer = save_tiny_model(folder)
    tokenizer.model_max_length = 16
    tokenizer.save_pretrained(folder)
    return pipeline("text-classification", model=str(folder), truncation=True, top_k=None)


def answer(results):
    return {r["label"]: round(r["score"], 6) for r in results}


@pytest.mark.parametrize("batch_size", [1, 4])
def test_four_threads_give_the_sequential_answers(classifier, batch_size):
    expected = [answer(r) for r in classifier(INPUTS, batch_size=batch_size)]
    assert len({tuple(sorted(a.items())) for a in expected}) > 3  # the texts get different answers
    start = threading.Barrier(THREADS)
    got, errors = {}, []

    def work(k):
        # each thread walks the texts from a different place, twice, all threads at once
        order = [(k * 5 + i) % len(INPUTS) for i in range(len(INPUTS))] * 2
        try:
            start.wait()
            results = classifier([INPUTS[i] for i in order], batch_size=batch_size)
            got[k] = list(zip(order, (answer(r) for r in results)))
        except Exception as error:  # surfaced below: an exception in a thread would otherwise be lost
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(got) == list(range(THREADS))
    for k, pairs in got.items():
        for i, result in pairs:
            assert result == expected[i], (k, INPUTS[i][:40])

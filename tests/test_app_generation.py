"""Tests for ``companion.ngram``, the n-gram baselines of the generation study (Part IX)."""
from __future__ import annotations

import numpy as np
import pytest

from companion.ngram import NGramModel, perplexity

V = 5
TEXT = np.array([0, 1, 2, 0, 1, 3, 0, 1, 2, 4, 2, 0, 1, 2, 3], dtype=np.int64)


def brute_force(model: NGramModel, train, history, token) -> float:
    """The smoothing formulas written out with Python loops and plain counting."""
    train = list(map(int, train))

    def count(gram):
        m = len(gram)
        return sum(tuple(train[i:i + m]) == tuple(gram) for i in range(len(train) - m + 1))

    def context_count(h):        # times h is followed by some token
        m = len(h) + 1
        return sum(tuple(train[i:i + m - 1]) == tuple(h) for i in range(len(train) - m + 1))

    history = list(history)[len(history) - min(len(history), model.order - 1):]
    if model.smoothing == "add_k":
        return (count(history + [token]) + model.k) / (context_count(history) + model.k * V)
    p = 1.0 / V
    for m in range(0, len(history) + 1):           # contexts of 0, 1, ... tokens
        h = history[len(history) - m:]
        p = (count(h + [token]) + model.k * p) / (context_count(h) + model.k)
    return p


@pytest.mark.parametrize("smoothing", ["add_k", "interpolated"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_distributions_sum_to_one_for_seen_and_unseen_contexts(order, smoothing):
    model = NGramModel(order, V, smoothing=smoothing, k=0.5).fit(TEXT)
    for context in ([], [0], [0, 1], [4, 4, 4], [3, 0, 1, 2]):
        p = model.next_distribution(np.array(context, dtype=np.int64))
        assert p.shape == (V,) and (p > 0).all()
        assert abs(p.sum() - 1.0) < 1e-12


@pytest.mark.parametrize("smoothing", ["add_k", "interpolated"])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_log_probs_match_the_formulas_by_brute_force(order, smoothing):
    model = NGramModel(order, V, smoothing=smoothing, k=0.7).fit(TEXT)
    held_out = np.array([0, 1, 4, 4, 2, 0, 3], dtype=np.int64)
    got = model.log_probs(held_out)
    want = [np.log(brute_force(model, TEXT, held_out[:t], int(held_out[t])))
            for t in range(len(held_out))]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # a batch of sequences is scored row by row
    batch = np.stack([held_out, held_out[::-1]])
    np.testing.assert_allclose(model.log_probs(batch)[1], model.log_probs(held_out[::-1]))


def test_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
    # add-k with an enormous k ignores the counts: every token has probability 1/V
    model = NGramModel(2, V, smoothing="add_k", k=1e12).fit(TEXT)
    assert abs(model.perplexity(TEXT) - V) < 1e-6
    assert abs(perplexity(np.log(V)) - V) < 1e-12
    # so does an interpolated model fitted on text where every bigram is equally frequent
    cyclic = np.tile(np.arange(V), 50)
    unigram = NGramModel(1, V).fit(cyclic)
    assert abs(unigram.perplexity(cyclic) - V) < 1e-9


def test_counting_helps_and_higher_orders_learn_a_deterministic_text():
    cyclic = np.tile(np.arange(V), 200)
    ppl = {n: NGramModel(n, V, k=0.1).fit(cyclic).perplexity(cyclic[:100]) for n in (1, 2, 3)}
    assert ppl[1] > 4.9 and ppl[2] < 1.1 and ppl[3] < 1.1   # the next token is fixed by the last


def test_unseen_ngram_has_finite_probability_and_add_k_reduces_to_counts():
    model = NGramModel(2, V, smoothing="add_k", k=1e-9).fit(TEXT)
    # after 0 the training text always has 1: p(1 | 0) ~ 1 with a tiny k
    assert model.next_distribution(np.array([0]))[1] > 1 - 1e-6
    assert np.isfinite(model.log_probs(np.array([4, 4, 4]))).all()


def test_generate_is_seeded_and_follows_a_deterministic_text():
    cyclic = np.tile(np.arange(V), 100)
    model = NGramModel(3, V, k=0.01).fit(cyclic)
    a = model.generate(np.array([0, 1]), 12, temperature=0.5, seed=3)
    b = model.generate(np.array([0, 1]), 12, temperature=0.5, seed=3)
    assert np.array_equal(a, b) and len(a) == 14
    assert np.array_equal(a, np.tile(np.arange(V), 3)[:14])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="order must be a positive integer"):
        NGramModel(0, V)
    with pytest.raises(ValueError, match="unknown smoothing"):
        NGramModel(2, V, smoothing="kneser-ney")
    with pytest.raises(ValueError, match="k must be a positive number"):
        NGramModel(2, V, k=0.0)
    model = NGramModel(2, V)
    with pytest.raises(ValueError, match="not fitted"):
        model.log_probs(TEXT)
    with pytest.raises(ValueError, match=r"must lie in \[0, 5\)"):
        model.fit(np.array([0, 1, 5]))
    with pytest.raises(ValueError, match="integer token ids"):
        model.fit(TEXT.astype(float))
    model.fit(TEXT)
    with pytest.raises(ValueError, match=r"\(length,\) or \(batch, length\)"):
        model.log_probs(np.zeros((2, 2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([0]), 3, temperature=0.0)
    with pytest.raises(ValueError, match="nats must be a finite number"):
        perplexity(float("nan"))


def test_on_the_book_corpus_interpolation_beats_add_k_and_orders_improve():
    from companion import data

    corpus = data.char_corpus(max_chars=60_000)
    ids = corpus.encode(corpus.text)
    train, held = ids[:50_000], ids[50_000:]
    nats = {}
    for n in (1, 2, 3):
        for smoothing in ("add_k", "interpolated"):
            model = NGramModel(n, corpus.vocab_size, smoothing=smoothing, k=1.0).fit(train)
            nats[n, smoothing] = model.nats(held)
    assert nats[1, "interpolated"] > nats[2, "interpolated"] > nats[3, "interpolated"]
    assert nats[3, "interpolated"] < nats[3, "add_k"]      # add-1 wastes mass on unseen trigrams
    assert nats[1, "add_k"] < np.log(corpus.vocab_size)     # better than uniform


def test_views_share_counts_and_equal_a_fresh_fit():
    big = NGramModel(4, V, k=0.5).fit(TEXT)
    for order in (1, 2, 3):
        for smoothing, k in (("add_k", 2.0), ("interpolated", 0.3)):
            view = big.with_settings(order=order, k=k, smoothing=smoothing)
            fresh = NGramModel(order, V, smoothing=smoothing, k=k).fit(TEXT)
            np.testing.assert_allclose(view.log_probs(TEXT), fresh.log_probs(TEXT), rtol=1e-12)
    with pytest.raises(ValueError, match=r"order must be an integer in \[1, 4\]"):
        big.with_settings(order=5)

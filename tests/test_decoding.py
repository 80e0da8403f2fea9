"""Part VI overview: greedy, beam search and samplers against brute force and Hugging Face."""
import itertools

import numpy as np
import pytest

from companion.numpy import decoding as dec

V, EOS = 4, 3


def _markov(seed=0):
    """A random model whose next-token distribution depends on the last token (4 tokens, 3 = end)."""
    table = np.log(np.random.default_rng(seed).dirichlet(np.ones(V) * 0.7, size=V + 1))
    return lambda prefix: table[prefix[-1] if prefix else V]


def _brute_force(log_probs, steps, alpha):
    """Every sequence of at most ``steps`` tokens that ends with EOS or has exactly ``steps`` tokens."""
    results = []
    for n in range(1, steps + 1):
        for seq in itertools.product(range(V), repeat=n):
            if EOS in seq[:-1] or (n < steps and seq[-1] != EOS):
                continue
            lp = dec.sequence_log_prob(log_probs, (), seq)
            results.append((list(seq), dec.length_normalised(lp, n, alpha)))
    return sorted(results, key=lambda r: -r[1])


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exhaustive_beam_equals_brute_force(seed, alpha):
    model = _markov(seed)
    beams = dec.beam_search(model, (), steps=4, width=V ** 4, eos=EOS, alpha=alpha)
    brute = _brute_force(model, 4, alpha)
    assert [b[0] for b in beams[:5]] == [r[0] for r in brute[:5]]
    np.testing.assert_allclose([b[1] for b in beams[:5]], [r[1] for r in brute[:5]])


def test_beam_beats_greedy_on_a_garden_path():
    # token 0 looks best first (0.6) but is followed by a flat distribution; token 1 (0.4) by a sure one
    def model(prefix):
        if not prefix:
            return np.log([0.6, 0.4, 1e-9, 1e-9])
        return np.log([0.25] * 4) if prefix[0] == 0 else np.log([1 - 3e-9, 1e-9, 1e-9, 1e-9])
    greedy = dec.greedy(model, (), steps=2)
    best = dec.beam_search(model, (), steps=2, width=2)[0]
    assert greedy[0] == 0 and best[0] == [1, 0]
    assert best[2] > dec.sequence_log_prob(model, (), greedy)


def test_width_one_is_greedy_and_length_normalisation_prefers_longer_outputs():
    for seed in range(5):
        model = _markov(seed)
        assert dec.beam_search(model, (), steps=6, width=1)[0][0] == dec.greedy(model, (), steps=6)
    lengths = {a: np.mean([len(dec.beam_search(_markov(s), (), 6, 8, eos=EOS, alpha=a)[0][0])
                           for s in range(20)]) for a in (0.0, 1.0)}
    assert lengths[1.0] > lengths[0.0]


def test_filters_match_hugging_face_warpers():
    torch = pytest.importorskip("torch")
    from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                        TopPLogitsWarper)

    rng = np.random.default_rng(0)
    for _ in range(20):
        logits = rng.normal(size=12) * 2
        t, k, p = rng.uniform(0.3, 2), int(rng.integers(1, 12)), rng.uniform(0.05, 1)
        scores = torch.from_numpy(logits)[None]
        for warper in (TemperatureLogitsWarper(t), TopKLogitsWarper(k), TopPLogitsWarper(p)):
            scores = warper(None, scores)
        expected = torch.softmax(scores, -1)[0].numpy()
        np.testing.assert_allclose(dec.filter_distribution(logits, t, k, p), expected, atol=1e-12)


def test_top_p_keeps_the_smallest_nucleus():
    p = dec.filter_distribution(np.log([0.5, 0.3, 0.15, 0.05]), top_p=0.79)
    np.testing.assert_allclose(p, [0.625, 0.375, 0, 0])
    p = dec.filter_distribution(np.log([0.5, 0.3, 0.15, 0.05]), top_p=0.81)
    assert (p > 0).sum() == 3
    assert (dec.filter_distribution(np.log([0.9, 0.1]), top_p=0.01) == [1, 0]).all()


def test_samples_follow_the_filtered_distribution():
    logits = np.log([0.4, 0.25, 0.2, 0.1, 0.05])
    model = lambda prefix: logits
    for kwargs in ({}, {"temperature": 0.5}, {"top_k": 2}, {"top_p": 0.7}, {"temperature": 2.0, "top_k": 3}):
        draws = dec.sample(model, (), steps=6000, rng=0, **kwargs)
        freq = np.bincount(draws, minlength=5) / len(draws)
        np.testing.assert_allclose(freq, dec.filter_distribution(logits, **kwargs), atol=0.025)   # about 3.5 standard errors


def test_decoding_errors_name_what_was_expected():
    model = _markov()
    with pytest.raises(ValueError, match="temperature must be > 0"):
        dec.filter_distribution(np.zeros(3), temperature=0)
    with pytest.raises(ValueError, match=r"top_p must lie in \(0, 1\]"):
        dec.filter_distribution(np.zeros(3), top_p=1.5)
    with pytest.raises(ValueError, match="width must be an integer"):
        dec.beam_search(model, (), steps=3, width=0)
    with pytest.raises(ValueError, match=r"1-D array \(vocab_size,\)"):
        dec.greedy(lambda prefix: np.zeros((2, 3)), (), steps=1)
    with pytest.raises(ValueError, match="token ids >= 0"):
        dec.greedy(model, (-1,), steps=1)

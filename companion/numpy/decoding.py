"""Decoding a sequence model, written once for every framework (part VI overview).

Each function takes a callable ``log_probs(prefix) -> (V,)`` that returns the
model's log-probabilities of the next token given the tokens so far (a tuple
of ints). Wrapping a PyTorch or Keras model in such a callable is one line, so
the same greedy search, beam search and samplers serve every model of the book.

* ``greedy``: the most probable token at each step;
* ``beam_search``: keep the ``width`` best partial sequences, rank the finished
  ones by their log-probability divided by ``length ** alpha`` (length normalisation);
* ``sample``: draw from the distribution reshaped by ``temperature``, ``top_k`` and ``top_p``.
"""
from __future__ import annotations

import numpy as np


def _check_int(value, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _next(log_probs, prefix) -> np.ndarray:
    out = np.asarray(log_probs(tuple(prefix)), dtype=np.float64)
    if out.ndim != 1 or out.size < 2:
        raise ValueError(f"log_probs(prefix) must return a 1-D array (vocab_size,), got shape {out.shape}")
    return out


def _check_prefix(prefix) -> tuple:
    prefix = tuple(int(t) for t in prefix)
    if any(t < 0 for t in prefix):
        raise ValueError(f"prefix must hold token ids >= 0, got {prefix}")
    return prefix


def greedy(log_probs, prefix, steps: int, eos: int | None = None) -> list:
    """Append the arg-max token ``steps`` times (or until ``eos``); returns the generated tokens."""
    steps, out = _check_int(steps, "steps"), []
    prefix = _check_prefix(prefix)
    for _ in range(steps):
        token = int(np.argmax(_next(log_probs, prefix + tuple(out))))
        out.append(token)
        if token == eos:
            break
    return out


def length_normalised(score: float, length: int, alpha: float) -> float:
    """``score / length ** alpha``: alpha 0 ranks by total log-probability, 1 by its per-token mean."""
    return score / max(length, 1) ** alpha


def beam_search(log_probs, prefix, steps: int, width: int, eos: int | None = None,
                alpha: float = 0.0) -> list:
    """Beam search; returns ``[(tokens, normalised score, log-probability), ...]``, best first.

    At each step every live hypothesis is extended by every token and the
    ``width`` best extensions by total log-probability survive; an extension
    that ends in ``eos`` is finished and set aside. After ``steps`` steps the
    live hypotheses finish too. Finished hypotheses are ranked by
    ``length_normalised(log-probability, length, alpha)``; without
    normalisation (``alpha = 0``) beam search prefers short outputs, because
    every token multiplies the probability by a number below one.
    With ``width`` at least ``V ** steps`` the search is exhaustive.
    """
    steps, width = _check_int(steps, "steps"), _check_int(width, "width")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    prefix = _check_prefix(prefix)
    live, finished = [((), 0.0)], []
    for _ in range(steps):
        candidates = []
        for tokens, score in live:
            lp = _next(log_probs, prefix + tokens)
            for token in np.argsort(-lp, kind="stable")[:width]:   # more cannot survive
                candidates.append((tokens + (int(token),), score + float(lp[token])))
        candidates.sort(key=lambda c: -c[1])
        live = []
        for tokens, score in candidates[:width]:
            (finished if tokens[-1] == eos else live).append((tokens, score))
        if not live:
            break
    finished += live
    ranked = [(list(t), length_normalised(s, len(t), alpha), s) for t, s in finished]
    return sorted(ranked, key=lambda r: -r[1])


def filter_distribution(logits, temperature: float = 1.0, top_k: int | None = None,
                        top_p: float | None = None) -> np.ndarray:
    """The next-token distribution after temperature, top-k and top-p (nucleus) filtering.

    ``logits`` (or log-probabilities) ``(V,)`` are divided by ``temperature``;
    ``top_k`` keeps the k most probable tokens; ``top_p`` keeps the smallest set
    of most probable tokens whose probability reaches ``p`` (always at least
    one), computed after top-k as Hugging Face's samplers do. The survivors are
    renormalised. Ties are broken towards the lower id.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1:
        raise ValueError(f"logits must be 1-D (vocab_size,), got shape {logits.shape}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use greedy for the limit 0), got {temperature}")
    z = logits / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    keep = np.zeros(len(p), dtype=bool)
    keep[order] = True
    if top_k is not None:
        top_k = _check_int(top_k, "top_k")
        keep[order[top_k:]] = False
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
        kept = np.where(keep, p, 0.0) / p[keep].sum()    # nucleus of what top-k left
        cumulative = np.cumsum(kept[order])
        # keep a token if the mass before it is below p: the smallest set reaching p
        keep[order[np.concatenate([[0.0], cumulative[:-1]]) >= top_p]] = False
    q = np.where(keep, p, 0.0)
    return q / q.sum()


def sample(log_probs, prefix, steps: int, rng, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, eos: int | None = None) -> list:
    """Draw ``steps`` tokens (or until ``eos``) from the filtered distributions; ``rng`` is a seed
    or a ``numpy.random.Generator``."""
    steps = _check_int(steps, "steps")
    rng = np.random.default_rng(rng)
    prefix, out = _check_prefix(prefix), []
    for _ in range(steps):
        p = filter_distribution(_next(log_probs, prefix + tuple(out)), temperature, top_k, top_p)
        token = int(rng.choice(len(p), p=p))
        out.append(token)
        if token == eos:
            break
    return out


def sequence_log_prob(log_probs, prefix, tokens) -> float:
    """The model's total log-probability of ``tokens`` after ``prefix``."""
    prefix, total = _check_prefix(prefix), 0.0
    for i, token in enumerate(tokens):
        total += float(_next(log_probs, prefix + tuple(tokens[:i]))[token])
    return total

"""Smoothed n-gram language models over integer token ids, in NumPy (Part IX: generation).

The classical baseline of a neural language model: predict the next token from
the ``order - 1`` tokens before it, with probabilities estimated by counting.
Counts alone give probability zero to every n-gram the training text lacks (and
an infinite perplexity on the first one that appears in held-out text), so the
estimates are *smoothed*:

* ``"add_k"``: add ``k`` to every count,
  ``p(w | h) = (c(h, w) + k) / (c(h) + k V)``; with ``k = 1`` this is Laplace's rule;
* ``"interpolated"``: mix each order with the one below it, in proportion to how
  often the context was seen,
  ``p_m(w | h) = (c(h, w) + k p_{m-1}(w | h')) / (c(h) + k)``, where ``h'`` drops
  the oldest token of ``h`` and the recursion ends at the uniform distribution
  ``p_0(w) = 1 / V``. A context seen often trusts its own counts; a rare one
  leans on the shorter context. (This is the hierarchical Dirichlet estimate of
  MacKay and Peto, 1995, an interpolated form of additive smoothing; Chen and
  Goodman, 1999, compare it with Kneser-Ney and others.)

``k`` is a pseudo-count chosen on a validation text. Both smoothings give a proper
distribution over the ``V`` tokens for every context, seen or not.

Counts are stored sparsely (sorted n-gram keys and their counts), so the order is
limited only by ``vocab_size ** order`` fitting in a 64-bit integer.
"""
from __future__ import annotations

import numpy as np

__all__ = ["NGramModel", "SMOOTHINGS", "perplexity"]

SMOOTHINGS = ("add_k", "interpolated")


def _check_ids(ids, vocab_size: int, what: str = "ids", min_ndim: int = 1,
               max_ndim: int = 2) -> np.ndarray:
    """Integer ids in ``[0, vocab_size)`` as int64, of 1 or 2 dimensions."""
    ids = np.asarray(ids)
    if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{what}: expected integer token ids of shape (length,) or "
                         f"(batch, length), got dtype {ids.dtype}")
    if not min_ndim <= ids.ndim <= max_ndim:
        raise ValueError(f"{what}: expected token ids of shape (length,) or (batch, length), "
                         f"got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{what}: token ids must lie in [0, {vocab_size}), got values in "
                         f"[{ids.min()}, {ids.max()}]")
    return ids.astype(np.int64)


def perplexity(nats: float) -> float:
    """Perplexity ``exp(nats)`` of a mean negative log-likelihood in nats per token."""
    nats = float(nats)
    if not np.isfinite(nats) or nats < 0:
        raise ValueError(f"nats must be a finite number >= 0, got {nats}")
    return float(np.exp(nats))


class NGramModel:
    """A character (or any token) n-gram model with add-k or interpolated smoothing.

    ``order`` is n: 1 is a unigram model (no context), 2 a bigram model and so on.
    ``k`` > 0 is the smoothing pseudo-count. Fit on a 1-D array of ids with ``fit``;
    then ``log_probs`` scores texts, ``nats`` averages their negative log-probability,
    ``next_distribution`` returns ``p(. | context)`` and ``generate`` samples.

    A text is scored from its own beginning: the first token of a sequence has no
    context and gets the unigram estimate, the second a bigram estimate, and so
    on up to ``order - 1`` tokens of context, exactly what a neural model that
    reads the same sequence from its start can use.
    """

    def __init__(self, order: int, vocab_size: int, *, smoothing: str = "interpolated",
                 k: float = 1.0):
        for value, what in ((order, "order"), (vocab_size, "vocab_size")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{what} must be a positive integer, got {value!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}; expected one of {SMOOTHINGS}")
        if isinstance(k, bool) or not isinstance(k, (int, float, np.floating)) or not k > 0 \
                or not np.isfinite(k):
            raise ValueError(f"k must be a positive number, got {k!r}")
        if float(vocab_size) ** order >= 2.0 ** 62:
            raise ValueError(f"vocab_size ** order must fit in 62 bits; got {vocab_size} ** {order}")
        self.order, self.vocab_size = int(order), int(vocab_size)
        self.smoothing, self.k = smoothing, float(k)
        self._keys: list[np.ndarray] = []      # per order m = 1..n: sorted keys of m-grams
        self._counts: list[np.ndarray] = []    # their counts
        self._ctx_keys: list[np.ndarray] = []  # per order: sorted keys of (m-1)-token contexts
        self._ctx_counts: list[np.ndarray] = []
        self.tokens_seen = 0

    def __repr__(self) -> str:
        return (f"NGramModel(order={self.order}, vocab_size={self.vocab_size}, "
                f"smoothing={self.smoothing!r}, k={self.k:g})")

    # ------------------------------------------------------------------ counting
    def _window_keys(self, ids: np.ndarray, m: int) -> np.ndarray:
        """Keys of every window of ``m`` tokens along the last axis: sum ids * V^i."""
        length = ids.shape[-1]
        key = np.zeros(ids.shape[:-1] + (length - m + 1,), dtype=np.int64)
        for i in range(m):
            key = key * self.vocab_size + ids[..., i:length - m + 1 + i]
        return key

    def fit(self, ids) -> "NGramModel":
        """Count every m-gram (m = 1..order) of the 1-D training ids; returns ``self``."""
        ids = _check_ids(ids, self.vocab_size, "training ids", max_ndim=1)
        if len(ids) < self.order:
            raise ValueError(f"need at least order = {self.order} training tokens, got {len(ids)}")
        self._keys, self._counts, self._ctx_keys, self._ctx_counts = [], [], [], []
        for m in range(1, self.order + 1):
            keys, counts = np.unique(self._window_keys(ids, m), return_counts=True)
            # c(h) = the number of times h is followed by some token = sum_w c(h, w)
            ctx, first = np.unique(keys // self.vocab_size, return_index=True)
            ctx_counts = np.add.reduceat(counts, first) if len(keys) else counts
            self._keys.append(keys)
            self._counts.append(counts.astype(np.float64))
            self._ctx_keys.append(ctx)
            self._ctx_counts.append(ctx_counts.astype(np.float64))
        self.tokens_seen = len(ids)
        return self

    @staticmethod
    def _lookup(sorted_keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Counts of ``query`` keys (0 where absent)."""
        if len(sorted_keys) == 0:
            return np.zeros(query.shape)
        pos = np.clip(np.searchsorted(sorted_keys, query), 0, len(sorted_keys) - 1)
        return np.where(sorted_keys[pos] == query, counts[pos], 0.0)

    def _check_fitted(self):
        if not self._keys:
            raise ValueError("the model is not fitted: call fit(training_ids) first")

    # ------------------------------------------------------------------ probabilities
    def _probs_of_windows(self, windows: np.ndarray) -> np.ndarray:
        """``p(windows[..., -1] | windows[..., :-1])`` for windows of ``order`` tokens.

        Only the last ``order - 1`` tokens of context are used; the leading axes
        are kept.
        """
        V, k = self.vocab_size, self.k
        n = windows.shape[-1]
        if self.smoothing == "add_k":
            m = n                      # the full context only
            key = np.zeros(windows.shape[:-1], dtype=np.int64)
            for i in range(n - m, n):
                key = key * V + windows[..., i]
            c_hw = self._lookup(self._keys[m - 1], self._counts[m - 1], key)
            c_h = self._lookup(self._ctx_keys[m - 1], self._ctx_counts[m - 1], key // V)
            return (c_hw + k) / (c_h + k * V)
        p = np.full(windows.shape[:-1], 1.0 / V)           # p_0: uniform
        for m in range(1, n + 1):                            # contexts of m - 1 tokens
            key = np.zeros(windows.shape[:-1], dtype=np.int64)
            for i in range(n - m, n):
                key = key * V + windows[..., i]
            c_hw = self._lookup(self._keys[m - 1], self._counts[m - 1], key)
            c_h = self._lookup(self._ctx_keys[m - 1], self._ctx_counts[m - 1], key // V)
            p = (c_hw + k * p) / (c_h + k)
        return p

    def log_probs(self, ids) -> np.ndarray:
        """Natural-log probabilities of every token of ``ids`` given the tokens before it.

        ``ids`` of shape ``(length,)`` or ``(batch, length)``; the result has the same
        shape. Position ``t`` uses the context ``ids[..., max(0, t - order + 1):t]``.
        """
        self._check_fitted()
        ids = _check_ids(ids, self.vocab_size)
        if ids.shape[-1] == 0:
            raise ValueError("ids: expected at least one token per sequence")
        out = np.empty(ids.shape, dtype=np.float64)
        length = ids.shape[-1]
        n = self.order
        # positions with a full context: one vectorised pass
        if length >= n:
            windows = np.lib.stride_tricks.sliding_window_view(ids, n, axis=-1)
            out[..., n - 1:] = np.log(self._probs_of_windows(windows))
        # the first order - 1 positions: shorter contexts, handled by a model of lower order
        for t in range(min(n - 1, length)):
            out[..., t] = np.log(self._lower(t + 1)._probs_of_windows(ids[..., :t + 1]))
        return out

    def with_settings(self, order: int | None = None, k: float | None = None,
                      smoothing: str | None = None) -> "NGramModel":
        """A model that shares this one's counts, with a lower ``order``, another ``k`` or
        another ``smoothing`` (``None`` keeps the current value).

        Fitting once at the highest order and scoring such views keeps a validation
        grid over orders and pseudo-counts cheap: nothing is counted twice.
        """
        self._check_fitted()
        order = self.order if order is None else order
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) \
                or not 1 <= order <= self.order:
            raise ValueError(f"order must be an integer in [1, {self.order}] (the fitted order), "
                             f"got {order!r}")
        view = NGramModel(int(order), self.vocab_size,
                          smoothing=self.smoothing if smoothing is None else smoothing,
                          k=self.k if k is None else k)
        view._keys, view._counts = self._keys[:order], self._counts[:order]
        view._ctx_keys, view._ctx_counts = self._ctx_keys[:order], self._ctx_counts[:order]
        view.tokens_seen = self.tokens_seen
        return view

    def _lower(self, order: int) -> "NGramModel":
        return self if order == self.order else self.with_settings(order=order)

    def nats(self, ids) -> float:
        """Mean negative log-probability (nats per token) of ``ids``; see ``log_probs``."""
        return float(-self.log_probs(ids).mean())

    def perplexity(self, ids) -> float:
        """``exp(nats(ids))``: the number of equally likely tokens the model hesitates between."""
        return perplexity(self.nats(ids))

    def next_distribution(self, context) -> np.ndarray:
        """``p(. | context)``: a ``(vocab_size,)`` array that sums to one.

        Only the last ``order - 1`` ids of ``context`` (1-D, possibly empty) matter.
        """
        self._check_fitted()
        context = np.asarray(context)
        if context.size == 0:
            context = np.zeros(0, dtype=np.int64)
        context = _check_ids(context, self.vocab_size, "context", max_ndim=1)
        context = context[len(context) - min(len(context), self.order - 1):]
        windows = np.concatenate([np.repeat(context[None], self.vocab_size, 0),
                                  np.arange(self.vocab_size)[:, None]], axis=1)
        return self._lower(len(context) + 1)._probs_of_windows(windows)

    def generate(self, prompt, steps: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """Continue the 1-D ``prompt`` by ``steps`` tokens, sampling ``p ** (1 / temperature)``.

        Returns the prompt followed by the new ids (int64).
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        prompt = np.asarray(prompt)
        out = list(_check_ids(prompt if prompt.size else np.zeros(0, np.int64), self.vocab_size,
                              "prompt", max_ndim=1))
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            logp = np.log(self.next_distribution(np.array(out, dtype=np.int64))) / temperature
            p = np.exp(logp - logp.max())
            out.append(int(rng.choice(self.vocab_size, p=p / p.sum())))
        return np.array(out, dtype=np.int64)

"""Attention from scratch in NumPy (part VI, the transformers overview).

Test oracles for the PyTorch and Keras attention layers and the maths of the
overview page ``book/transformers/index.md``:

* scores: additive (Bahdanau) and multiplicative (Luong) for recurrent
  encoder-decoders; scaled dot-product attention and multi-head attention;
* masks, always in one convention here: a boolean array that is ``True`` where
  a query **may attend** to a key. ``to_api_mask`` converts it to the
  convention of each framework's API, which is where bugs come from;
* the weight layout of multi-head attention in PyTorch (one packed
  ``in_proj_weight`` of shape ``(3 d, d)``) and in Keras (one kernel
  ``(d, heads, head_dim)`` per projection), and the rule that maps one to the other;
* positions: the sinusoidal table, relative positions (Shaw et al., 2018)
  and rotary embeddings (RoPE, Su et al., 2021).

Shapes follow the book: a batch of sequences is ``(batch, steps, features)``;
heads add an axis, ``(batch, heads, steps, head_dim)``.
"""
from __future__ import annotations

import numpy as np

# How each API reads a boolean mask. True in the book's convention means "may attend".
API_MASK_POLARITY = {
    "torch.nn.MultiheadAttention": "True = do not attend",            # attn_mask, key_padding_mask
    "torch.nn.functional.scaled_dot_product_attention": "True = attend",
    "keras.layers.MultiHeadAttention": "True (1) = attend",            # attention_mask
}


def _array(x, what: str, ndim_min: int = 1) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number) or a.ndim < ndim_min:
        raise ValueError(f"{what} must be a numeric array with at least {ndim_min} dimensions "
                         f"(..., steps, features), got {a.dtype} of shape {a.shape}")
    return a


def softmax(x, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum for stability; ``-inf`` entries get weight 0."""
    x = np.asarray(x, dtype=np.float64)
    shift = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(shift), shift, 0.0))
    return e / e.sum(axis=axis, keepdims=True)


# ------------------------------------------------------------------ masks

def causal_mask(steps: int) -> np.ndarray:
    """``(steps, steps)`` boolean, True where query ``i`` may attend to key ``j``, that is ``j <= i``."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return np.tril(np.ones((steps, steps), dtype=bool))


def padding_mask(lengths, steps: int) -> np.ndarray:
    """``(batch, steps)`` boolean, True at the real tokens of each sequence (the first ``lengths[b]``)."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be a 1-D integer array (batch,), got {lengths.dtype} "
                         f"of shape {lengths.shape}")
    if (lengths < 1).any() or (lengths > steps).any():
        raise ValueError(f"every length must lie in [1, {steps}], got {lengths.tolist()}")
    return np.arange(steps)[None, :] < lengths[:, None]


def combine_masks(padding=None, causal=None) -> np.ndarray:
    """A ``(batch, steps, steps)`` attend-mask from a key padding mask ``(batch, steps)``
    and/or a causal mask ``(steps, steps)`` (both True = attend)."""
    if padding is None and causal is None:
        raise ValueError("give a padding mask (batch, steps), a causal mask (steps, steps) or both")
    mask = np.ones((1, 1, 1), dtype=bool)
    if padding is not None:
        padding = np.asarray(padding, dtype=bool)
        if padding.ndim != 2:
            raise ValueError(f"padding must be (batch, steps), got shape {padding.shape}")
        mask = mask & padding[:, None, :]
    if causal is not None:
        causal = np.asarray(causal, dtype=bool)
        if causal.ndim != 2 or causal.shape[0] != causal.shape[1]:
            raise ValueError(f"causal must be (steps, steps), got shape {causal.shape}")
        mask = mask & causal[None]
    steps = padding.shape[1] if padding is not None else causal.shape[0]
    return np.broadcast_to(mask, (mask.shape[0], steps, steps)).copy()


def to_api_mask(attend, api: str) -> np.ndarray:
    """Convert a boolean attend-mask (True = may attend) to the convention of ``api``.

    ``api`` is one of the keys of ``API_MASK_POLARITY``. PyTorch's
    ``nn.MultiheadAttention`` wants True where attention is *forbidden*; the
    functional ``scaled_dot_product_attention`` and Keras's
    ``MultiHeadAttention`` want True where it is *allowed*.
    """
    if api not in API_MASK_POLARITY:
        raise ValueError(f"unknown api {api!r}; expected one of {sorted(API_MASK_POLARITY)}")
    attend = np.asarray(attend)
    if attend.dtype != bool:
        raise ValueError(f"attend must be a boolean array (True = may attend), got {attend.dtype}")
    return ~attend if api == "torch.nn.MultiheadAttention" else attend.copy()


# ------------------------------------------------------------------ scores

def multiplicative_scores(queries, keys, weight=None) -> np.ndarray:
    """Luong et al. (2015) scores ``q^T W k`` (``"general"``), or ``q^T k`` (``"dot"``) without ``weight``.

    ``queries`` ``(..., Tq, d_q)``, ``keys`` ``(..., Tk, d_k)``, ``weight`` ``(d_q, d_k)``;
    returns ``(..., Tq, Tk)``.
    """
    q, k = _array(queries, "queries", 2), _array(keys, "keys", 2)
    if weight is not None:
        weight = _array(weight, "weight", 2)
        if weight.shape != (q.shape[-1], k.shape[-1]):
            raise ValueError(f"weight must be (d_q, d_k) = ({q.shape[-1]}, {k.shape[-1]}), "
                             f"got {weight.shape}")
        q = q @ weight
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same feature size for dot scores, "
                         f"got {q.shape[-1]} and {k.shape[-1]}")
    return q @ np.swapaxes(k, -1, -2)


def additive_scores(queries, keys, w_query, w_key, v) -> np.ndarray:
    """Bahdanau et al. (2015) scores ``v^T tanh(W_q q + W_k k)``.

    ``queries`` ``(..., Tq, d_q)``, ``keys`` ``(..., Tk, d_k)``; ``w_query``
    ``(d_q, d_a)`` and ``w_key`` ``(d_k, d_a)`` in the ``x @ W`` orientation,
    ``v`` ``(d_a,)``. Returns ``(..., Tq, Tk)``.
    """
    q, k = _array(queries, "queries", 2), _array(keys, "keys", 2)
    w_query, w_key, v = (_array(w_query, "w_query", 2), _array(w_key, "w_key", 2),
                         _array(v, "v", 1))
    if w_query.shape[0] != q.shape[-1] or w_key.shape[0] != k.shape[-1] \
            or not (w_query.shape[1] == w_key.shape[1] == v.shape[0]):
        raise ValueError(f"expected w_query (d_q, d_a), w_key (d_k, d_a), v (d_a,) with "
                         f"d_q={q.shape[-1]}, d_k={k.shape[-1]}; got {w_query.shape}, "
                         f"{w_key.shape}, {v.shape}")
    hidden = np.tanh((q @ w_query)[..., :, None, :] + (k @ w_key)[..., None, :, :])
    return hidden @ v


# ------------------------------------------------------------------ attention

def attend(scores, values, mask=None):
    """Softmax of ``scores`` over the keys (masked where ``mask`` is False), then the weighted values.

    Returns ``(output, weights)``. A query whose every key is masked is an
    error here (PyTorch returns NaN for it, Keras a uniform average).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise ValueError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        try:
            mask = np.broadcast_to(mask, scores.shape)
        except ValueError:
            raise ValueError(f"mask of shape {mask.shape} does not broadcast to the scores "
                             f"(..., Tq, Tk) = {scores.shape}") from None
        if not mask.any(axis=-1).all():
            raise ValueError("a query row has every key masked: nothing to attend to")
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ np.asarray(values, dtype=np.float64), weights


def scaled_dot_product_attention(q, k, v, mask=None, scale: float | None = None):
    """``softmax(q k^T / sqrt(d_k)) v`` with an optional attend-mask (True = may attend).

    ``q`` ``(..., Tq, d_k)``, ``k`` ``(..., Tk, d_k)``, ``v`` ``(..., Tk, d_v)``.
    ``scale`` defaults to ``1 / sqrt(d_k)``. Returns ``(output, weights)`` in float64.
    """
    q, k, v = _array(q, "q", 2), _array(k, "k", 2), _array(v, "v", 2)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"expected q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v); "
                         f"got {q.shape}, {k.shape}, {v.shape}")
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2)) * scale
    return attend(scores, v, mask)


def split_heads(x, heads: int) -> np.ndarray:
    """``(batch, steps, d)`` to ``(batch, heads, steps, d / heads)``."""
    x = _array(x, "x", 3)
    b, t, d = x.shape
    if d % heads:
        raise ValueError(f"the model width {d} must be divisible by heads={heads}")
    return x.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)


def merge_heads(x) -> np.ndarray:
    """``(batch, heads, steps, head_dim)`` back to ``(batch, steps, heads * head_dim)``."""
    b, h, t, e = np.asarray(x).shape
    return np.asarray(x).transpose(0, 2, 1, 3).reshape(b, t, h * e)


def multi_head_attention(query, key, value, params: dict, heads: int, mask=None):
    """Multi-head attention with weights in the ``x @ W`` orientation.

    ``params`` holds ``w_q, w_k, w_v`` ``(d, d)``, ``b_q, b_k, b_v`` ``(d,)``,
    ``w_o`` ``(d, d)`` and ``b_o`` ``(d,)``. ``mask`` is an attend-mask that
    broadcasts to ``(batch, heads, Tq, Tk)``; a ``(batch, Tq, Tk)`` mask is
    shared by the heads. Returns ``(output (batch, Tq, d), weights (batch, heads, Tq, Tk))``.
    """
    missing = {"w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o"} - set(params)
    if missing:
        raise ValueError(f"params is missing {sorted(missing)}")
    q = split_heads(np.asarray(query) @ params["w_q"] + params["b_q"], heads)
    k = split_heads(np.asarray(key) @ params["w_k"] + params["b_k"], heads)
    v = split_heads(np.asarray(value) @ params["w_v"] + params["b_v"], heads)
    if mask is not None and np.asarray(mask).ndim == 3:
        mask = np.asarray(mask)[:, None]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"] + params["b_o"], weights


def params_from_torch(in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias) -> dict:
    """``multi_head_attention`` params from ``torch.nn.MultiheadAttention``'s packed weights (NumPy arrays).

    PyTorch stores ``W_Q, W_K, W_V`` stacked as rows of ``in_proj_weight``
    ``(3 d, d)`` in the ``y = x W^T`` orientation, so each block is transposed.
    """
    w = _array(in_proj_weight, "in_proj_weight", 2)
    d = w.shape[1]
    if w.shape != (3 * d, d):
        raise ValueError(f"in_proj_weight must be (3 d, d), got {w.shape}")
    b = np.asarray(in_proj_bias)
    return {"w_q": w[:d].T, "w_k": w[d:2 * d].T, "w_v": w[2 * d:].T,
            "b_q": b[:d], "b_k": b[d:2 * d], "b_v": b[2 * d:],
            "w_o": np.asarray(out_proj_weight).T, "b_o": np.asarray(out_proj_bias)}


def keras_mha_weights(params: dict, heads: int) -> list:
    """The eight arrays of ``keras.layers.MultiHeadAttention.set_weights``, from ``x @ W`` params.

    Keras keeps one kernel per projection with the heads as an axis:
    query/key/value kernels ``(d, heads, head_dim)`` and biases ``(heads, head_dim)``,
    the output kernel ``(heads, head_dim, d)`` and bias ``(d,)`` (with ``key_dim = d / heads``).
    """
    d = np.asarray(params["w_q"]).shape[0]
    if d % heads:
        raise ValueError(f"the model width {d} must be divisible by heads={heads}")
    e = d // heads
    out = []
    for name in "qkv":
        out += [np.asarray(params[f"w_{name}"]).reshape(d, heads, e),
                np.asarray(params[f"b_{name}"]).reshape(heads, e)]
    return out + [np.asarray(params["w_o"]).reshape(heads, e, d), np.asarray(params["b_o"])]


# ------------------------------------------------------------------ positions

def sinusoidal_table(steps: int, d: int, base: float = 10000.0) -> np.ndarray:
    """The transformer's position table ``(steps, d)``: ``sin`` in even, ``cos`` in odd columns.

    ``PE[p, 2i] = sin(p / base^(2i/d))`` and ``PE[p, 2i+1] = cos(p / base^(2i/d))``.
    """
    for value, what in ((steps, "steps"), (d, "d")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{what} must be a positive integer, got {value!r}")
    if d % 2:
        raise ValueError(f"d must be even (sine and cosine pairs), got {d}")
    angles = np.arange(steps)[:, None] / base ** (np.arange(0, d, 2)[None, :] / d)
    table = np.empty((steps, d))
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return table


def relative_index(q_steps: int, k_steps: int, max_distance: int) -> np.ndarray:
    """``(Tq, Tk)`` indices ``clip(j - i, -K, K) + K`` into a table of ``2 K + 1`` relative embeddings."""
    if max_distance < 1:
        raise ValueError(f"max_distance must be at least 1, got {max_distance}")
    offsets = np.arange(k_steps)[None, :] - np.arange(q_steps)[:, None]
    return np.clip(offsets, -max_distance, max_distance) + max_distance


def relative_attention(q, k, v, rel_keys, rel_values=None, mask=None):
    """Self-attention with relative position representations (Shaw, Uszkoreit and Vaswani, 2018).

    ``e_ij = q_i . (k_j + a^K_ij) / sqrt(d)`` and ``z_i = sum_j w_ij (v_j + a^V_ij)``, where
    ``a_ij`` is row ``clip(j - i, -K, K) + K`` of ``rel_keys`` (and ``rel_values``),
    each ``(2 K + 1, d)``. ``q, k, v`` are ``(..., T, d)``. Returns ``(output, weights)``.
    """
    q, k, v = _array(q, "q", 2), _array(k, "k", 2), _array(v, "v", 2)
    rel_keys = _array(rel_keys, "rel_keys", 2)
    if rel_keys.shape[0] % 2 == 0 or rel_keys.shape[1] != q.shape[-1]:
        raise ValueError(f"rel_keys must be (2 K + 1, d) with d={q.shape[-1]}, got {rel_keys.shape}")
    distance = rel_keys.shape[0] // 2
    a_k = rel_keys[relative_index(q.shape[-2], k.shape[-2], distance)]       # (Tq, Tk, d)
    scores = (q @ np.swapaxes(k, -1, -2) + np.einsum("...id,ijd->...ij", q, a_k)) / np.sqrt(q.shape[-1])
    out, weights = attend(scores, v, mask)
    if rel_values is not None:
        a_v = _array(rel_values, "rel_values", 2)[relative_index(q.shape[-2], k.shape[-2], distance)]
        out = out + np.einsum("...ij,ijd->...id", weights, a_v)
    return out, weights


def rope(x, positions=None, base: float = 10000.0) -> np.ndarray:
    """Rotary position embedding: rotate each feature pair ``(2i, 2i+1)`` by ``p * theta_i``.

    ``x`` is ``(..., steps, d)`` with even ``d``; ``theta_i = base^(-2i/d)``;
    ``positions`` defaults to ``0, 1, ..., steps - 1``. The pairs are
    interleaved as in Su et al. (2021); Hugging Face's Llama pairs feature
    ``i`` with ``i + d/2`` instead (the same idea, a permuted layout).
    Since rotations compose, ``rope(q, m) . rope(k, n)`` depends on ``m - n`` only.
    """
    x = _array(x, "x", 2).astype(np.float64)
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"the feature size must be even for rotary embeddings, got {d}")
    positions = np.arange(x.shape[-2]) if positions is None else np.asarray(positions, dtype=np.float64)
    if positions.shape != (x.shape[-2],):
        raise ValueError(f"positions must be (steps,) = ({x.shape[-2]},), got {positions.shape}")
    angles = positions[:, None] * base ** (-np.arange(0, d, 2) / d)[None, :]   # (steps, d/2)
    cos, sin = np.cos(angles), np.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def attention_flops_and_bytes(steps: int, d: int, heads: int = 1, itemsize: int = 4) -> tuple:
    """Multiply-adds of ``QK^T`` and ``AV`` and bytes of the ``(heads, T, T)`` weight matrix."""
    return 2 * heads * steps * steps * (d // heads), heads * steps * steps * itemsize

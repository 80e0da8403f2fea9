"""Transformer building blocks and the encoder-decoder Transformer in Keras 3 (part VI).

The twin of ``companion/torch/transformers.py``: same names, constructor
arguments, defaults and order of weight-carrying sublayers (``keras.layers.Dense``
for every projection, ``LayerNormalization`` with PyTorch's epsilon 1e-5 by
default), so ``companion.parity.copy_torch_to_keras`` copies the PyTorch
weights in. Only ``keras.ops`` is used, so it runs on the TensorFlow, JAX and
torch backends.

Masks: boolean, **True means "may attend"** (Keras's own ``attention_mask``
has the same polarity; ``torch.nn.MultiheadAttention``'s boolean masks the
opposite one).

Two details of Keras's ``Layer.__call__`` matter here. It copies nested
arguments while converting arrays to tensors, which would lose the in-place
updates of a ``cache`` dict, so these layers switch that conversion off
(``_convert_input_args = False``) and convert inside ``call``. And it warns
when a ``mask`` argument reaches a layer that does not "support masking", so
the layers that take ``mask`` declare support and propagate no mask.
"""
from __future__ import annotations

# API READY

import keras
import numpy as np
from keras import layers, ops

from companion.checks import _static_dim, check_choice, check_positive_int
from companion.keras.saving import serializable

ACTIVATIONS = ("relu", "gelu", "gelu_tanh")
MASK_SHAPES = "(Tq, Tk), (batch, Tk), (batch, Tq, Tk) or (batch, heads, Tq, Tk)"


# ================================================================ helpers

def causal_mask(steps: int):
    """Boolean ``(steps, steps)`` mask, True on and below the diagonal (position i sees 0..i)."""
    check_positive_int(int(steps), "steps")
    return ops.convert_to_tensor(np.tril(np.ones((steps, steps), dtype=bool)))


def padding_mask(ids, pad_id: int = 0):
    """Boolean ``(batch, steps)`` key-padding mask, True where ``ids != pad_id`` (real tokens)."""
    ids = ops.convert_to_tensor(ids)
    if len(ids.shape) != 2:
        raise ValueError(f"padding_mask expected ids of shape (batch, steps), got {tuple(ids.shape)}")
    return ops.not_equal(ids, pad_id)


def sinusoidal_table(max_len: int, d_model: int) -> np.ndarray:
    """The sinusoidal position table as a float32 NumPy array (same numbers as the PyTorch twin)."""
    check_positive_int(int(max_len), "max_len")
    check_positive_int(int(d_model), "d_model")
    position = np.arange(max_len, dtype=np.float64)[:, None]
    rate = 1.0 / np.power(10000.0, np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(position * rate)
    table[:, 1::2] = np.cos(position * rate[: d_model // 2])
    return table.astype(np.float32)


def sinusoidal_positions(max_len: int, d_model: int):
    """Float32 ``(max_len, d_model)`` table: sin on even columns, cos on odd, 10000^(2i/d)."""
    return ops.convert_to_tensor(sinusoidal_table(max_len, d_model), dtype="float32")


def _check_heads(d_model: int, heads: int) -> None:
    check_positive_int(int(d_model), "d_model")
    check_positive_int(int(heads), "heads")
    if d_model % heads != 0:
        raise ValueError(f"d_model={d_model} must be divisible by heads={heads} "
                         f"(each head gets d_model / heads features)")


def mask_to_4d(mask, batch, heads, tq, tk):
    """Shape ``mask`` to ``(batch or 1, heads or 1, Tq or 1, Tk)``; raise ``ValueError`` otherwise.

    The rules of the PyTorch twin; unknown (symbolic) sizes are accepted. A 2-D
    mask with ``batch == Tq > 1`` is refused as ambiguous.
    """
    mask = ops.convert_to_tensor(mask)
    batch, tq, tk = (_static_dim(d) for d in (batch, tq, tk))
    expected = (f"a boolean mask (True = may attend) of shape {MASK_SHAPES} with batch={batch}, "
                f"heads={heads}, Tq={tq}, Tk={tk}")
    if keras.backend.standardize_dtype(mask.dtype) != "bool":
        raise ValueError(f"expected {expected}; got dtype {keras.backend.standardize_dtype(mask.dtype)}")
    shape = tuple(_static_dim(d) for d in mask.shape)

    def same(size, full):
        return size is None or full is None or size == full

    def fits(size, full):
        return size == 1 or same(size, full)

    if len(shape) == 2:
        if not same(shape[1], tk):
            raise ValueError(f"expected {expected}; got shape {shape}")
        as_positions, as_padding = same(shape[0], tq), same(shape[0], batch)
        if as_positions and as_padding and shape[0] is not None and shape[0] > 1:
            raise ValueError(f"ambiguous 2-D mask of shape {shape}: batch == Tq == {tq}; pass "
                             "mask[:, None, :] for key padding or mask[None] for a (Tq, Tk) mask")
        if as_positions:
            return mask[None, None]
        if as_padding:
            return mask[:, None, None, :]
        raise ValueError(f"expected {expected}; got shape {shape}")
    if len(shape) == 3 and fits(shape[0], batch) and fits(shape[1], tq) and same(shape[2], tk):
        return mask[:, None]
    if len(shape) == 4 and fits(shape[0], batch) and fits(shape[1], heads) \
            and fits(shape[2], tq) and same(shape[3], tk):
        return mask
    raise ValueError(f"expected {expected}; got shape {shape}")


def _lowest(dtype) -> float:
    return float(np.finfo(keras.backend.standardize_dtype(dtype)).min)


class _Block(layers.Layer):
    """Base of the blocks: keeps ``cache`` dicts intact, takes explicit masks without warnings."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True   # NumPy inputs, converted in call
        self.supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        return None


def _given(mask):
    """``None`` for a mask Keras filled in itself from the arguments' (absent) Keras masks."""
    if isinstance(mask, (dict, list, tuple)) and all(m is None for m in keras.tree.flatten(mask)):
        return None
    return mask


def _softmax(scores):
    # written out: keras.ops.softmax warns on a last axis of size 1 (the first cached step)
    e = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True))
    return e / ops.sum(e, axis=-1, keepdims=True)


# ================================================================ attention

class MultiHeadAttention(_Block):
    """Scaled dot-product attention with ``heads`` heads of ``d_model / heads`` features.

    ``call(x, context=None, mask=None, cache=None, return_weights=False, training=None)``;
    see the PyTorch twin for the mask and cache rules (identical here).
    """

    # The output projection is called ``output`` in both frameworks. In Keras that
    # name is a read-only property of every layer (its symbolic output in a
    # functional graph, unused for a sublayer), so the Dense layer is stored as
    # ``output_dense`` and ``output`` is redefined to return it.
    @property
    def output(self):
        return self.output_dense

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        _check_heads(d_model, heads)
        self.d_model, self.heads, self.d_head = d_model, heads, d_model // heads
        self.query = layers.Dense(d_model, use_bias=bias)
        self.key = layers.Dense(d_model, use_bias=bias)
        self.value = layers.Dense(d_model, use_bias=bias)
        self.output_dense = layers.Dense(d_model, use_bias=bias)
        self.dropout = layers.Dropout(dropout)

    def _split(self, t):
        shape = ops.shape(t)
        t = ops.reshape(t, (shape[0], shape[1], self.heads, self.d_head))
        return ops.transpose(t, (0, 2, 1, 3))                  # (B, H, T, d_head)

    def call(self, x, context=None, mask=None, cache=None, return_weights=False, training=None):
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        if len(x.shape) != 3 or _static_dim(x.shape[-1]) not in (None, self.d_model):
            raise ValueError(f"MultiHeadAttention expected x of shape (batch, steps, {self.d_model}), "
                             f"got {tuple(x.shape)}")
        cross = context is not None
        if cross:
            context = ops.convert_to_tensor(context, dtype=self.compute_dtype)
            if len(context.shape) != 3 or _static_dim(context.shape[-1]) not in (None, self.d_model):
                raise ValueError(f"MultiHeadAttention expected context of shape (batch, steps, "
                                 f"{self.d_model}), got {tuple(context.shape)}")
        source = context if cross else x
        q = self._split(self.query(x))
        if cross and cache is not None and cache.get("k") is not None:
            k, v = cache["k"], cache["v"]
        else:
            k, v = self._split(self.key(source)), self._split(self.value(source))
            if cache is not None:
                if not cross and cache.get("k") is not None:
                    k = ops.concatenate([cache["k"], k], axis=2)
                    v = ops.concatenate([cache["v"], v], axis=2)
                cache["k"], cache["v"] = k, v
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / float(np.sqrt(self.d_head))
        mask = _given(mask)
        if mask is not None:
            mask = mask_to_4d(mask, ops.shape(x)[0], self.heads, ops.shape(q)[2], ops.shape(k)[2])
            scores = ops.where(mask, scores, _lowest(scores.dtype))
        weights = _softmax(scores)
        out = ops.matmul(self.dropout(weights, training=training), v)
        out = ops.transpose(out, (0, 2, 1, 3))
        shape = ops.shape(x)
        out = self.output(ops.reshape(out, (shape[0], shape[1], self.d_model)))
        return (out, weights) if return_weights else out


class FeedForward(layers.Layer):
    """Position-wise ``outer(dropout(activation(inner(x))))``, from d_model to d_ff and back."""

    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        check_choice(activation, ACTIVATIONS, "activation")
        self.activation = activation
        self.inner = layers.Dense(d_ff)
        self.outer = layers.Dense(d_model)
        self.dropout = layers.Dropout(dropout)

    def call(self, x, training=None):
        h = self.inner(x)
        if self.activation == "relu":
            h = ops.relu(h)
        else:   # keras.ops.gelu's default is the tanh approximation: say which one
            h = ops.gelu(h, approximate=self.activation == "gelu_tanh")
        return self.outer(self.dropout(h, training=training))


class EncoderLayer(_Block):
    """Self-attention and a feed-forward network, each in a residual branch with LayerNorm.

    post-LN (``norm_first=False``) or pre-LN (``norm_first=True``), as in the PyTorch twin.
    ``call(x, mask=None, cache=None, return_weights=False, training=None)``.
    """

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", eps: float = 1e-5, norm_first: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.norm_first = bool(norm_first)
        self.attention = MultiHeadAttention(d_model, heads, dropout)
        self.norm1 = layers.LayerNormalization(epsilon=eps)
        self.ffn = FeedForward(d_model, d_ff, activation, dropout)
        self.norm2 = layers.LayerNormalization(epsilon=eps)
        self.dropout = layers.Dropout(dropout)

    def call(self, x, mask=None, cache=None, return_weights=False, training=None):
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        h = self.norm1(x) if self.norm_first else x
        a, w = self.attention(h, mask=_given(mask), cache=cache, return_weights=True, training=training)
        x = x + self.dropout(a, training=training)
        if not self.norm_first:
            x = self.norm1(x)
        h = self.norm2(x) if self.norm_first else x
        x = x + self.dropout(self.ffn(h, training=training), training=training)
        if not self.norm_first:
            x = self.norm2(x)
        return (x, w) if return_weights else x


class DecoderLayer(_Block):
    """Masked self-attention, cross-attention over the encoder output, and a feed-forward network.

    ``call(x, memory, self_mask=None, memory_mask=None, cache=None,
    return_weights=False, training=None)``; ``cache`` as in the PyTorch twin
    (``"self"`` and ``"cross"`` entries created on first use).
    """

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", eps: float = 1e-5, norm_first: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.norm_first = bool(norm_first)
        self.self_attention = MultiHeadAttention(d_model, heads, dropout)
        self.norm1 = layers.LayerNormalization(epsilon=eps)
        self.cross_attention = MultiHeadAttention(d_model, heads, dropout)
        self.norm2 = layers.LayerNormalization(epsilon=eps)
        self.ffn = FeedForward(d_model, d_ff, activation, dropout)
        self.norm3 = layers.LayerNormalization(epsilon=eps)
        self.dropout = layers.Dropout(dropout)

    def _branch(self, x, norm, fn, training):
        if self.norm_first:
            out, w = fn(norm(x))
            return x + self.dropout(out, training=training), w
        out, w = fn(x)
        return norm(x + self.dropout(out, training=training)), w

    def call(self, x, memory, self_mask=None, memory_mask=None, cache=None,
             return_weights=False, training=None):
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        memory = ops.convert_to_tensor(memory, dtype=self.compute_dtype)
        self_cache = cross_cache = None
        if cache is not None:
            self_cache = cache.setdefault("self", {})
            cross_cache = cache.setdefault("cross", {})
        x, w_self = self._branch(x, self.norm1, lambda h: self.self_attention(
            h, mask=self_mask, cache=self_cache, return_weights=True, training=training), training)
        x, w_cross = self._branch(x, self.norm2, lambda h: self.cross_attention(
            h, context=memory, mask=memory_mask, cache=cross_cache, return_weights=True,
            training=training), training)
        x, _ = self._branch(x, self.norm3, lambda h: (self.ffn(h, training=training), None),
                            training)
        return (x, w_self, w_cross) if return_weights else x


# ================================================================ the encoder-decoder Transformer

def _concrete(x):
    """``x`` as a NumPy array when its values exist (eager), else ``None`` (while tracing)."""
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:   # a symbolic tensor or a tracer: no values to check
        return None


def _check_ids(ids, vocab: int, max_len: int, model: str, what: str) -> None:
    dtype = keras.backend.standardize_dtype(ids.dtype)
    shape = tuple(_static_dim(d) for d in ids.shape)
    if len(shape) != 2 or "int" not in dtype:
        raise ValueError(f"{model} expected input of shape (batch, steps) holding integer "
                         f"{what} token ids, got shape {shape} and dtype {dtype}")
    if shape[1] is not None and not 1 <= shape[1] <= max_len:
        raise ValueError(f"{model} expected input of shape (batch, steps) with 1 <= steps <= "
                         f"max_len={max_len} ({what}), got {shape[1]} steps")
    values = _concrete(ids)
    if values is not None and values.size and (values.min() < 0 or values.max() >= vocab):
        raise ValueError(f"{model}: {what} token ids must lie in [0, {vocab}), got values from "
                         f"{values.min()} to {values.max()}")


def beam_search_batched(step, batch: int, width: int, steps: int, bos: int, eos: int,
                        alpha: float):
    """Batched beam search with NumPy bookkeeping; the same code as the PyTorch twin's."""
    scores = np.full((batch, width), -np.inf)
    scores[:, 0] = 0.0
    tokens = np.zeros((batch, width, 0), dtype=np.int64)
    finished = [[] for _ in range(batch)]
    last, order = np.full(batch * width, bos, dtype=np.int64), None
    for _ in range(steps):
        logp = np.asarray(step(last, order), dtype=np.float64).reshape(batch, width, -1)
        vocab = logp.shape[-1]
        candidates = (scores[:, :, None] + logp).reshape(batch, -1)
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :width]
        values = np.take_along_axis(candidates, best, axis=1)
        slot, token = best // vocab, best % vocab
        tokens = np.concatenate([np.take_along_axis(tokens, slot[:, :, None], axis=1),
                                 token[:, :, None]], axis=2)
        ends = (token == eos) & np.isfinite(values)
        for b, j in zip(*np.nonzero(ends)):
            finished[b].append((tokens[b, j].tolist(), float(values[b, j])))
        scores = np.where(ends, -np.inf, values)
        if not np.isfinite(scores).any():
            break
        last = token.reshape(-1)
        order = (np.arange(batch)[:, None] * width + slot).reshape(-1)
    results = []
    for b in range(batch):
        done = finished[b] + [(tokens[b, j].tolist(), float(scores[b, j]))
                              for j in range(width) if np.isfinite(scores[b, j])]
        ranked = [(t, s / max(len(t), 1) ** alpha, s) for t, s in done]
        results.append(sorted(ranked, key=lambda r: -r[1]))
    return results


def strip_special(tokens, eos: int) -> list:
    """The tokens before the first ``eos`` (the answer without its end marker)."""
    tokens = [int(t) for t in tokens]
    return tokens[:tokens.index(eos)] if eos in tokens else tokens


@serializable
class Transformer(keras.Model):
    """The encoder-decoder Transformer of Vaswani et al. (2017); see the PyTorch twin.

    ``call(src_ids, tgt_ids=None, training=None)`` returns teacher-forced logits
    ``(batch, T_tgt, tgt_vocab)``; ``tgt_ids=None`` decodes the source shifted
    right. For ``fit``, the input may also be the pair ``(src_ids, tgt_ids)``.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 512, heads: int = 8,
                 layers: int = 6, d_ff: int = 2048, dropout: float = 0.1, max_len: int = 256,
                 norm_first: bool = False, share_embeddings: bool = False,
                 tie_output: bool = True, activation: str = "relu", eps: float = 1e-5,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2, **kwargs):
        super().__init__(**kwargs)
        L = keras.layers   # the argument `layers` (a count) hides the module here
        for value, what in ((src_vocab, "src_vocab"), (tgt_vocab, "tgt_vocab"),
                            (layers, "layers"), (d_ff, "d_ff"), (max_len, "max_len")):
            check_positive_int(value, what)
        _check_heads(d_model, heads)
        if share_embeddings and src_vocab != tgt_vocab:
            raise ValueError(f"share_embeddings needs src_vocab == tgt_vocab, got {src_vocab} "
                             f"and {tgt_vocab}")
        for value, what in ((pad_id, "pad_id"), (bos_id, "bos_id"), (eos_id, "eos_id")):
            if not 0 <= value < min(src_vocab, tgt_vocab):
                raise ValueError(f"{what}={value} must be a token id of both vocabularies")
        self.src_vocab, self.tgt_vocab, self.d_model = src_vocab, tgt_vocab, d_model
        self.max_len, self.norm_first = max_len, bool(norm_first)
        self.share_embeddings, self.tie_output = bool(share_embeddings), bool(tie_output)
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        init = keras.initializers.RandomNormal(stddev=d_model ** -0.5)
        self.src_embedding = L.Embedding(src_vocab, d_model, embeddings_initializer=init)
        self.tgt_embedding = self.src_embedding if share_embeddings else \
            L.Embedding(tgt_vocab, d_model, embeddings_initializer=init)
        self.encoder = [EncoderLayer(d_model, heads, d_ff, dropout, activation, eps, norm_first)
                        for _ in range(layers)]
        self.encoder_norm = L.LayerNormalization(epsilon=eps) if norm_first else None
        self.decoder = [DecoderLayer(d_model, heads, d_ff, dropout, activation, eps, norm_first)
                        for _ in range(layers)]
        self.decoder_norm = L.LayerNormalization(epsilon=eps) if norm_first else None
        self.generator = None if tie_output else L.Dense(tgt_vocab)
        self.dropout = L.Dropout(dropout)
        self._positions = sinusoidal_table(max_len, d_model)
        # build every weight now (saving, weight copies and summaries need them): one
        # eager call on a single token, since a symbolic build would feed float inputs
        self(np.full((1, 1), bos_id, dtype="int32"), np.full((1, 1), bos_id, dtype="int32"),
             training=False)

    # ---------------------------------------------------------------- pieces
    def _embed(self, table, ids, offset: int = 0, training=None):
        steps = ops.shape(ids)[1]
        positions = ops.slice(ops.convert_to_tensor(self._positions), (offset, 0),
                              (steps, self.d_model))
        x = table(ids) * float(np.sqrt(self.d_model)) + positions
        return self.dropout(x, training=training)

    def source_mask(self, src_ids):
        """``(batch, 1, 1, S)``: True at real source tokens."""
        return ops.not_equal(ops.convert_to_tensor(src_ids), self.pad_id)[:, None, None, :]

    def shift_right(self, ids):
        """``bos_id`` followed by ``ids`` without its last token."""
        ids = ops.convert_to_tensor(ids)
        bos = ops.full_like(ids[:, :1], self.bos_id)
        return ops.concatenate([bos, ids[:, :-1]], axis=1)

    def encode(self, src_ids, return_weights: bool = False, training=None):
        """The encoder output ``(batch, S, d_model)`` (and each layer's attention weights)."""
        src_ids = ops.convert_to_tensor(src_ids)
        _check_ids(src_ids, self.src_vocab, self.max_len, "Transformer", "source")
        mask = self.source_mask(src_ids)
        x, weights = self._embed(self.src_embedding, src_ids, training=training), []
        for layer in self.encoder:
            x, w = layer(x, mask=mask, return_weights=True, training=training)
            weights.append(w)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)
        return (x, weights) if return_weights else x

    def decode(self, tgt_ids, memory, memory_mask=None, cache=None, return_weights=False,
               training=None):
        """Logits ``(batch, T, tgt_vocab)`` for the target prefix; ``cache`` as in the PyTorch twin."""
        tgt_ids = ops.convert_to_tensor(tgt_ids)
        offset = 0
        if cache is not None and cache and cache[0].get("self", {}).get("k") is not None:
            offset = int(cache[0]["self"]["k"].shape[2])
        steps = _static_dim(tgt_ids.shape[1]) if len(tgt_ids.shape) == 2 else None
        if len(tgt_ids.shape) != 2 or (steps is not None and offset + steps > self.max_len):
            raise ValueError(f"Transformer expected target ids of shape (batch, steps) with at most "
                             f"max_len={self.max_len} positions, got {tuple(tgt_ids.shape)} "
                             f"after {offset} cached")
        if cache is not None:
            while len(cache) < len(self.decoder):
                cache.append({})
        n = ops.shape(tgt_ids)[1]
        rows = ops.arange(n)[:, None] + offset
        self_mask = (ops.arange(n + offset)[None, :] <= rows)[None, None]
        x = self._embed(self.tgt_embedding, tgt_ids, offset, training=training)
        self_w, cross_w = [], []
        for i, layer in enumerate(self.decoder):
            x, ws, wc = layer(x, memory, self_mask=self_mask, memory_mask=memory_mask,
                              cache=None if cache is None else cache[i], return_weights=True,
                              training=training)
            self_w.append(ws)
            cross_w.append(wc)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        if self.generator is None:
            logits = ops.matmul(x, ops.transpose(self.tgt_embedding.embeddings))
        else:
            logits = self.generator(x)
        return (logits, self_w, cross_w) if return_weights else logits

    def call(self, src_ids, tgt_ids=None, training=None):
        if isinstance(src_ids, (tuple, list)) and len(src_ids) == 2 and tgt_ids is None:
            src_ids, tgt_ids = src_ids          # fit((src, tgt_in), tgt_out)
        src_ids = ops.convert_to_tensor(src_ids)
        memory = self.encode(src_ids, training=training)
        if tgt_ids is None:
            values = _concrete(src_ids)
            if self.src_vocab > self.tgt_vocab and values is not None \
                    and values.max() >= self.tgt_vocab:
                raise ValueError("Transformer: with tgt_ids=None the decoder reads the source, "
                                 f"whose ids must then lie in [0, tgt_vocab={self.tgt_vocab})")
            tgt_ids = self.shift_right(src_ids)
        else:
            tgt_ids = ops.convert_to_tensor(tgt_ids)
            _check_ids(tgt_ids, self.tgt_vocab, self.max_len, "Transformer", "target")
        return self.decode(tgt_ids, memory, self.source_mask(src_ids), training=training)

    # ---------------------------------------------------------------- generation
    def _new_tokens(self, max_new_tokens):
        steps = self.max_len if max_new_tokens is None else int(max_new_tokens)
        if not 1 <= steps <= self.max_len:
            raise ValueError(f"max_new_tokens must lie in [1, max_len={self.max_len}], got {steps}")
        return steps

    def greedy_decode(self, src_ids, max_new_tokens: int | None = None) -> list:
        """The most probable next token at every step (KV-cached), until ``eos_id``."""
        steps = self._new_tokens(max_new_tokens)
        src_ids = ops.convert_to_tensor(src_ids)
        memory, mask = self.encode(src_ids, training=False), self.source_mask(src_ids)
        batch, cache = int(src_ids.shape[0]), []
        last = np.full((batch, 1), self.bos_id, dtype="int32")
        out, done = [], np.zeros(batch, dtype=bool)
        for _ in range(steps):
            logits = self.decode(last, memory, mask, cache=cache, training=False)[:, -1]
            last = np.asarray(ops.convert_to_numpy(ops.argmax(logits, axis=-1)))[:, None]
            last = last.astype("int32")
            out.append(last)
            done |= last[:, 0] == self.eos_id
            if done.all():
                break
        rows = np.concatenate(out, axis=1).tolist()
        return [strip_special(r, self.eos_id) for r in rows]

    def beam_search(self, src_ids, width: int = 4, alpha: float = 0.6,
                    max_new_tokens: int | None = None, return_scores: bool = False) -> list:
        """Beam search with length normalisation ``log p / length ** alpha`` (KV-cached)."""
        check_positive_int(width, "width")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        steps = self._new_tokens(max_new_tokens)
        src_ids = ops.convert_to_tensor(src_ids)
        memory = ops.repeat(self.encode(src_ids, training=False), width, axis=0)
        mask = ops.repeat(self.source_mask(src_ids), width, axis=0)
        cache = []

        def step(last, order):
            if order is not None:
                index = ops.convert_to_tensor(np.asarray(order, dtype="int32"))
                for layer_cache in cache:
                    for part in layer_cache.values():
                        part["k"] = ops.take(part["k"], index, axis=0)
                        part["v"] = ops.take(part["v"], index, axis=0)
            logits = self.decode(np.asarray(last, dtype="int32")[:, None], memory, mask,
                                 cache=cache, training=False)[:, -1]
            return np.asarray(ops.convert_to_numpy(ops.log_softmax(
                ops.cast(logits, "float32"), axis=-1)))

        results = beam_search_batched(step, int(src_ids.shape[0]), width, steps, self.bos_id,
                                      self.eos_id, alpha)
        if return_scores:
            return results
        return [strip_special(r[0][0], self.eos_id) for r in results]


# ================================================================ training helpers

def inverse_sqrt_lr(step, d_model: int, warmup: int, scale: float = 1.0):
    """The paper's schedule ``scale * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`` (NumPy)."""
    check_positive_int(int(warmup), "warmup")
    step = np.maximum(np.asarray(step, dtype=np.float64), 1.0)
    lr = scale * d_model ** -0.5 * np.minimum(step ** -0.5, step * warmup ** -1.5)
    return float(lr) if lr.ndim == 0 else lr


@keras.saving.register_keras_serializable(package="companion.keras.transformers")
class InverseSqrtSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``inverse_sqrt_lr`` as a Keras schedule. Keras counts optimizer steps from 0,
    so step ``i`` here is the paper's step ``i + 1``."""

    def __init__(self, d_model: int, warmup: int, scale: float = 1.0):
        check_positive_int(int(warmup), "warmup")
        self.d_model, self.warmup, self.scale = d_model, warmup, scale

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        return self.scale * self.d_model ** -0.5 * ops.minimum(
            ops.rsqrt(step), step * self.warmup ** -1.5)

    def get_config(self):
        return {"d_model": self.d_model, "warmup": self.warmup, "scale": self.scale}


def label_smoothed_cross_entropy(logits, targets, smoothing: float = 0.1, pad_id: int = 0):
    """Mean over non-pad targets of ``(1 - e) * NLL + e * mean_v(-log p_v)`` (as in PyTorch)."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must lie in [0, 1), got {smoothing}")
    targets = ops.cast(targets, "int32")
    logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    nll = -ops.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    uniform = -ops.mean(logp, axis=-1)
    loss = (1.0 - smoothing) * nll + smoothing * uniform
    keep = ops.cast(ops.not_equal(targets, pad_id), "float32")
    return ops.sum(loss * keep) / ops.maximum(ops.sum(keep), 1.0)

"""Transformer building blocks and the encoder-decoder Transformer in PyTorch (part VI).

Read side by side with ``companion/keras/transformers.py``: same names, same
constructor arguments and defaults, same order of weight-carrying sublayers,
so ``companion.parity.copy_torch_to_keras`` copies one into the other.

Shared blocks (used by the Transformer, BERT, GPT and BERT-variant chapters):

* ``MultiHeadAttention(d_model, heads, dropout=0.0, bias=True)`` with a boolean
  mask (True = may attend) and an optional key/value cache;
* ``FeedForward(d_model, d_ff, activation="relu", dropout=0.0)``;
* ``EncoderLayer`` and ``DecoderLayer``, post-LN (the 2017 paper) or pre-LN
  (``norm_first=True``);
* ``causal_mask``, ``padding_mask`` and ``sinusoidal_positions``.

Masks follow one polarity everywhere in the book: **True means "may attend"**.
(``torch.nn.MultiheadAttention`` uses the opposite one for boolean masks:
True means "ignore". ``tests/test_transformer.py`` checks the translation.)
"""
from __future__ import annotations

# API READY

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from companion.checks import check_choice, check_positive_int

ACTIVATIONS = ("relu", "gelu", "gelu_tanh")


# ================================================================ helpers

def causal_mask(steps: int, device=None) -> torch.Tensor:
    """Boolean ``(steps, steps)`` mask, True on and below the diagonal (position i sees 0..i)."""
    check_positive_int(int(steps), "steps")
    return torch.ones(steps, steps, dtype=torch.bool, device=device).tril()


def padding_mask(ids: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Boolean ``(batch, steps)`` key-padding mask, True where ``ids != pad_id`` (real tokens)."""
    ids = torch.as_tensor(ids)
    if ids.dim() != 2:
        raise ValueError(f"padding_mask expected ids of shape (batch, steps), got {tuple(ids.shape)}")
    return ids != pad_id


def sinusoidal_table(max_len: int, d_model: int) -> np.ndarray:
    """The sinusoidal position table as a float32 NumPy array (shared by both frameworks)."""
    check_positive_int(int(max_len), "max_len")
    check_positive_int(int(d_model), "d_model")
    position = np.arange(max_len, dtype=np.float64)[:, None]
    # column 2i and 2i + 1 share the frequency 1 / 10000^(2i / d)
    rate = 1.0 / np.power(10000.0, np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(position * rate)
    table[:, 1::2] = np.cos(position * rate[: d_model // 2])
    return table.astype(np.float32)


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    """Float32 ``(max_len, d_model)`` table: sin on even columns, cos on odd, 10000^(2i/d)."""
    return torch.from_numpy(sinusoidal_table(max_len, d_model))


def _check_heads(d_model: int, heads: int) -> None:
    check_positive_int(int(d_model), "d_model")
    check_positive_int(int(heads), "heads")
    if d_model % heads != 0:
        raise ValueError(f"d_model={d_model} must be divisible by heads={heads} "
                         f"(each head gets d_model / heads features)")


MASK_SHAPES = "(Tq, Tk), (batch, Tk), (batch, Tq, Tk) or (batch, heads, Tq, Tk)"


def mask_to_4d(mask, batch, heads, tq, tk):
    """Shape ``mask`` to ``(batch or 1, heads or 1, Tq or 1, Tk)``; raise ``ValueError`` otherwise.

    A 2-D mask is ``(Tq, Tk)`` when its first size is ``Tq`` and ``(batch, Tk)``
    (key padding) when it is ``batch``; when ``batch == Tq > 1`` the two readings
    differ and the mask is refused as ambiguous: pass ``mask[:, None, :]``
    (key padding, 3-D) or ``mask[None]`` (per position) instead.
    """
    expected = (f"a boolean mask (True = may attend) of shape {MASK_SHAPES} with batch={batch}, "
                f"heads={heads}, Tq={tq}, Tk={tk}")
    if mask.dtype != torch.bool:
        raise ValueError(f"expected {expected}; got dtype {mask.dtype}")
    shape = tuple(mask.shape)

    def fits(size, full):
        return size == full or size == 1

    if len(shape) == 2:
        if shape[1] != tk:
            raise ValueError(f"expected {expected}; got shape {shape}")
        as_positions, as_padding = shape[0] == tq, shape[0] == batch
        if as_positions and as_padding and shape[0] > 1:
            raise ValueError(f"ambiguous 2-D mask of shape {shape}: batch == Tq == {tq}; pass "
                             "mask[:, None, :] for key padding or mask[None] for a (Tq, Tk) mask")
        if as_positions:
            return mask[None, None]
        if as_padding:
            return mask[:, None, None, :]
        raise ValueError(f"expected {expected}; got shape {shape}")
    if len(shape) == 3 and fits(shape[0], batch) and fits(shape[1], tq) and shape[2] == tk:
        return mask[:, None]
    if len(shape) == 4 and fits(shape[0], batch) and fits(shape[1], heads) \
            and fits(shape[2], tq) and shape[3] == tk:
        return mask
    raise ValueError(f"expected {expected}; got shape {shape}")


# ================================================================ attention

class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with ``heads`` heads of ``d_model / heads`` features.

    ``forward(x, context=None, mask=None, cache=None, return_weights=False)``:
    queries come from ``x`` ``(B, Tq, d)``, keys and values from ``context``
    ``(B, Tk, d)`` (default ``x``: self-attention). ``mask`` is boolean, True
    where a query may attend to a key; masked logits are replaced by the
    dtype's most negative number, so a fully masked row gives uniform weights
    instead of NaN.

    ``cache`` (a dict, updated in place) holds ``"k"`` and ``"v"`` of shape
    ``(B, heads, T_past, d_head)``. In self-attention the new keys and values
    are appended and the queries attend over past + new (KV-cached
    generation; a mask then has ``Tk = T_past + Tq`` columns). In
    cross-attention (``context`` given) the keys and values of ``context`` are
    stored on the first call and reused afterwards, since the encoder output
    does not change while decoding.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        _check_heads(d_model, heads)
        self.d_model, self.heads, self.d_head = d_model, heads, d_model // heads
        self.query = nn.Linear(d_model, d_model, bias=bias)
        self.key = nn.Linear(d_model, d_model, bias=bias)
        self.value = nn.Linear(d_model, d_model, bias=bias)
        self.output = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, steps, _ = t.shape
        return t.view(b, steps, self.heads, self.d_head).transpose(1, 2)   # (B, H, T, d_head)

    def forward(self, x, context=None, mask=None, cache=None, return_weights=False):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention expected x of shape (batch, steps, {self.d_model}), "
                             f"got {tuple(x.shape)}")
        cross = context is not None
        if cross and (context.dim() != 3 or context.shape[-1] != self.d_model
                      or context.shape[0] != x.shape[0]):
            raise ValueError(f"MultiHeadAttention expected context of shape (batch, steps, "
                             f"{self.d_model}) with batch {x.shape[0]}, got {tuple(context.shape)}")
        source = context if cross else x
        q = self._split(self.query(x))
        if cross and cache is not None and cache.get("k") is not None:
            k, v = cache["k"], cache["v"]           # the encoder output's keys, computed once
        else:
            k, v = self._split(self.key(source)), self._split(self.value(source))
            if cache is not None:
                if not cross and cache.get("k") is not None:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)   # (B, H, Tq, Tk)
        if mask is not None:
            mask = mask_to_4d(torch.as_tensor(mask, device=scores.device), x.shape[0],
                              self.heads, q.shape[2], k.shape[2])
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=-1)
        out = self.dropout(weights) @ v                                 # (B, H, Tq, d_head)
        out = out.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.d_model)
        out = self.output(out)
        return (out, weights) if return_weights else out


class FeedForward(nn.Module):
    """Position-wise ``outer(dropout(activation(inner(x))))``, from d_model to d_ff and back."""

    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        check_choice(activation, ACTIVATIONS, "activation")
        self.activation = activation
        self.inner = nn.Linear(d_model, d_ff)
        self.outer = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        h = self.inner(x)
        if self.activation == "relu":
            h = F.relu(h)
        elif self.activation == "gelu":
            h = F.gelu(h)                         # exact: x * Phi(x)
        else:
            h = F.gelu(h, approximate="tanh")     # GPT-2 / ALBERT's approximation
        return self.outer(self.dropout(h))


class EncoderLayer(nn.Module):
    """Self-attention and a feed-forward network, each in a residual branch with LayerNorm.

    post-LN (``norm_first=False``, the 2017 paper):
    ``x = norm1(x + drop(attn(x))); x = norm2(x + drop(ffn(x)))``;
    pre-LN (``norm_first=True``, GPT-2):
    ``x = x + drop(attn(norm1(x))); x = x + drop(ffn(norm2(x)))``.
    ``forward(x, mask=None, cache=None, return_weights=False)``; with
    ``return_weights=True`` it returns ``(x, attention weights)``.
    """

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", eps: float = 1e-5, norm_first: bool = False):
        super().__init__()
        self.norm_first = bool(norm_first)
        self.attention = MultiHeadAttention(d_model, heads, dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation, dropout)
        self.norm2 = nn.LayerNorm(d_model, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None, cache=None, return_weights=False):
        h = self.norm1(x) if self.norm_first else x
        a, w = self.attention(h, mask=mask, cache=cache, return_weights=True)
        x = x + self.dropout(a)
        if not self.norm_first:
            x = self.norm1(x)
        h = self.norm2(x) if self.norm_first else x
        x = x + self.dropout(self.ffn(h))
        if not self.norm_first:
            x = self.norm2(x)
        return (x, w) if return_weights else x


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder output, and a feed-forward network.

    ``forward(x, memory, self_mask=None, memory_mask=None, cache=None,
    return_weights=False)``. ``cache`` is a dict: its ``"self"`` and
    ``"cross"`` entries (created on first use) are the two attentions' caches.
    With ``return_weights=True`` it returns ``(x, self weights, cross weights)``.
    """

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", eps: float = 1e-5, norm_first: bool = False):
        super().__init__()
        self.norm_first = bool(norm_first)
        self.self_attention = MultiHeadAttention(d_model, heads, dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=eps)
        self.cross_attention = MultiHeadAttention(d_model, heads, dropout)
        self.norm2 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation, dropout)
        self.norm3 = nn.LayerNorm(d_model, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def _branch(self, x, norm, fn):
        if self.norm_first:
            out = fn(norm(x))
            return x + self.dropout(out[0]), out[1]
        out = fn(x)
        return norm(x + self.dropout(out[0])), out[1]

    def forward(self, x, memory, self_mask=None, memory_mask=None, cache=None,
                return_weights=False):
        self_cache = cross_cache = None
        if cache is not None:
            self_cache = cache.setdefault("self", {})
            cross_cache = cache.setdefault("cross", {})
        x, w_self = self._branch(x, self.norm1, lambda h: self.self_attention(
            h, mask=self_mask, cache=self_cache, return_weights=True))
        x, w_cross = self._branch(x, self.norm2, lambda h: self.cross_attention(
            h, context=memory, mask=memory_mask, cache=cross_cache, return_weights=True))
        x, _ = self._branch(x, self.norm3, lambda h: (self.ffn(h), None))
        return (x, w_self, w_cross) if return_weights else x


# ================================================================ the encoder-decoder Transformer

def _check_ids(ids, vocab: int, max_len: int, model: str, what: str) -> None:
    if not torch.is_tensor(ids) or ids.dim() != 2 or ids.dtype.is_floating_point \
            or ids.dtype == torch.bool or ids.is_complex():
        shape = tuple(ids.shape) if hasattr(ids, "shape") else type(ids).__name__
        dtype = getattr(ids, "dtype", None)
        raise ValueError(f"{model} expected input of shape (batch, steps) holding integer "
                         f"{what} token ids, got shape {shape} and dtype {dtype}")
    if ids.shape[1] < 1 or ids.shape[1] > max_len:
        raise ValueError(f"{model} expected input of shape (batch, steps) with 1 <= steps <= "
                         f"max_len={max_len} ({what}), got {ids.shape[1]} steps")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
        raise ValueError(f"{model}: {what} token ids must lie in [0, {vocab}), got values from "
                         f"{int(ids.min())} to {int(ids.max())}")


def beam_search_batched(step, batch: int, width: int, steps: int, bos: int, eos: int,
                        alpha: float):
    """Batched beam search with NumPy bookkeeping, shared in spirit with the Keras twin.

    ``step(last_tokens (batch * width,), order (batch * width,) or None)`` returns
    the next-token log-probabilities ``(batch * width, V)`` as NumPy, after
    reordering the decoder's caches by ``order`` (the slot each row came from).
    Per example this is ``companion.numpy.decoding.beam_search``: every step
    keeps the ``width`` best extensions by total log-probability; one that ends
    in ``eos`` is finished and leaves the beam; after ``steps`` steps the live
    ones finish too; hypotheses are ranked by ``log-probability / length ** alpha``
    (length counts the ``eos``). Returns, per example, ``[(tokens, normalised
    score, log-probability), ...]`` best first.
    """
    scores = np.full((batch, width), -np.inf)
    scores[:, 0] = 0.0                                  # one live hypothesis: the empty one
    tokens = np.zeros((batch, width, 0), dtype=np.int64)
    finished = [[] for _ in range(batch)]
    last, order = np.full(batch * width, bos, dtype=np.int64), None
    for _ in range(steps):
        logp = np.asarray(step(last, order), dtype=np.float64).reshape(batch, width, -1)
        vocab = logp.shape[-1]
        candidates = (scores[:, :, None] + logp).reshape(batch, -1)
        # the `width` best extensions, best first (a stable sort: ties keep slot order)
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
    tokens = list(tokens)
    return tokens[:tokens.index(eos)] if eos in tokens else tokens


class Transformer(nn.Module):
    """The encoder-decoder Transformer of Vaswani et al. (2017).

    Token embeddings are multiplied by ``sqrt(d_model)`` and added to the
    sinusoidal position table (then dropout); ``layers`` encoder layers read
    the source, ``layers`` decoder layers read the target under a causal mask
    and attend to the encoder output (source padding masked by ``pad_id``).
    ``norm_first=True`` gives pre-LN layers plus a final LayerNorm after each
    stack. ``share_embeddings=True`` uses one table for source and target (it
    needs ``src_vocab == tgt_vocab``, as with the paper's shared BPE
    vocabulary); ``tie_output=True`` (the default, as in the paper) computes
    the logits with the target embedding's transpose instead of a separate
    ``nn.Linear``.

    ``forward(src_ids, tgt_ids=None)`` returns teacher-forced logits
    ``(batch, T_tgt, tgt_vocab)``: position t predicts target token t + 1 from
    ``tgt_ids[:, :t + 1]`` (``tgt_ids`` starts with ``bos_id``). With
    ``tgt_ids=None`` the decoder reads the source itself shifted right by one
    (``bos_id`` first, the last token dropped), as Hugging Face's BART does when
    no decoder input is given: the logits of reconstructing the source, a
    one-input call for tests and a denoising objective (``src_vocab`` must then
    not exceed ``tgt_vocab``).

    Decoding: ``greedy_decode(src_ids, max_new_tokens)`` and
    ``beam_search(src_ids, width, alpha, max_new_tokens)``, both with a
    key/value cache, return lists of target ids without ``bos_id``/``eos_id``.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 512, heads: int = 8,
                 layers: int = 6, d_ff: int = 2048, dropout: float = 0.1, max_len: int = 256,
                 norm_first: bool = False, share_embeddings: bool = False,
                 tie_output: bool = True, activation: str = "relu", eps: float = 1e-5,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
        super().__init__()
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
        self.src_embedding = nn.Embedding(src_vocab, d_model)
        self.tgt_embedding = self.src_embedding if share_embeddings else nn.Embedding(tgt_vocab, d_model)
        self.encoder = nn.ModuleList([EncoderLayer(d_model, heads, d_ff, dropout, activation, eps,
                                                   norm_first) for _ in range(layers)])
        self.encoder_norm = nn.LayerNorm(d_model, eps=eps) if norm_first else None
        self.decoder = nn.ModuleList([DecoderLayer(d_model, heads, d_ff, dropout, activation, eps,
                                                   norm_first) for _ in range(layers)])
        self.decoder_norm = nn.LayerNorm(d_model, eps=eps) if norm_first else None
        self.generator = None if tie_output else nn.Linear(d_model, tgt_vocab)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        # embeddings ~ N(0, 1/d): after the sqrt(d) scale they are of unit size, like the positions
        for table in {id(self.src_embedding): self.src_embedding,
                      id(self.tgt_embedding): self.tgt_embedding}.values():
            nn.init.normal_(table.weight, 0.0, d_model ** -0.5)

    # ---------------------------------------------------------------- pieces
    def _embed(self, table: nn.Embedding, ids, offset: int = 0):
        steps = ids.shape[1]
        x = table(ids) * math.sqrt(self.d_model) + self.positions[offset:offset + steps]
        return self.dropout(x)

    def source_mask(self, src_ids):
        """``(batch, 1, 1, S)``: True at real source tokens (keys the queries may attend to)."""
        return (src_ids != self.pad_id)[:, None, None, :]

    def shift_right(self, ids):
        """``bos_id`` followed by ``ids`` without its last token (the decoder's input)."""
        bos = torch.full_like(ids[:, :1], self.bos_id)
        return torch.cat([bos, ids[:, :-1]], dim=1)

    def encode(self, src_ids, return_weights: bool = False):
        """The encoder output ``(batch, S, d_model)`` (and each layer's attention weights)."""
        _check_ids(src_ids, self.src_vocab, self.max_len, "Transformer", "source")
        mask = self.source_mask(src_ids)
        x, weights = self._embed(self.src_embedding, src_ids), []
        for layer in self.encoder:
            x, w = layer(x, mask=mask, return_weights=True)
            weights.append(w)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)
        return (x, weights) if return_weights else x

    def decode(self, tgt_ids, memory, memory_mask=None, cache=None, return_weights=False):
        """Logits ``(batch, T, tgt_vocab)`` for the target prefix ``tgt_ids``.

        ``memory_mask`` is ``source_mask(src_ids)``. With ``cache`` (a list with
        one dict per decoder layer, empty at first) only the new tokens are
        passed and their positions continue after the cached ones.
        """
        offset = 0
        if cache is not None and cache and cache[0].get("self", {}).get("k") is not None:
            offset = cache[0]["self"]["k"].shape[2]
        if tgt_ids.dim() != 2 or offset + tgt_ids.shape[1] > self.max_len:
            raise ValueError(f"Transformer expected target ids of shape (batch, steps) with at most "
                             f"max_len={self.max_len} positions, got {tuple(tgt_ids.shape)} "
                             f"after {offset} cached")
        if cache is not None:
            while len(cache) < len(self.decoder):
                cache.append({})
        steps = tgt_ids.shape[1]
        # the new queries see every cached position and the new ones up to themselves
        self_mask = torch.ones(steps, offset + steps, dtype=torch.bool,
                               device=tgt_ids.device).tril(offset)[None, None]
        x, self_w, cross_w = self._embed(self.tgt_embedding, tgt_ids, offset), [], []
        for i, layer in enumerate(self.decoder):
            x, ws, wc = layer(x, memory, self_mask=self_mask, memory_mask=memory_mask,
                              cache=None if cache is None else cache[i], return_weights=True)
            self_w.append(ws)
            cross_w.append(wc)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        logits = x @ self.tgt_embedding.weight.T if self.generator is None else self.generator(x)
        return (logits, self_w, cross_w) if return_weights else logits

    def forward(self, src_ids, tgt_ids=None):
        memory = self.encode(src_ids)
        if tgt_ids is None:
            if self.src_vocab > self.tgt_vocab and int(src_ids.max()) >= self.tgt_vocab:
                raise ValueError("Transformer: with tgt_ids=None the decoder reads the source, "
                                 f"whose ids must then lie in [0, tgt_vocab={self.tgt_vocab})")
            tgt_ids = self.shift_right(src_ids)
        else:
            _check_ids(tgt_ids, self.tgt_vocab, self.max_len, "Transformer", "target")
            if tgt_ids.shape[0] != src_ids.shape[0]:
                raise ValueError(f"Transformer: source and target batches differ "
                                 f"({src_ids.shape[0]} and {tgt_ids.shape[0]})")
        return self.decode(tgt_ids, memory, self.source_mask(src_ids))

    # ---------------------------------------------------------------- generation
    def _new_tokens(self, max_new_tokens):
        steps = self.max_len if max_new_tokens is None else int(max_new_tokens)
        if not 1 <= steps <= self.max_len:
            raise ValueError(f"max_new_tokens must lie in [1, max_len={self.max_len}], got {steps}")
        return steps

    @torch.no_grad()
    def greedy_decode(self, src_ids, max_new_tokens: int | None = None) -> list:
        """The most probable next token at every step (KV-cached), until ``eos_id``."""
        steps, was_training = self._new_tokens(max_new_tokens), self.training
        self.eval()
        try:
            memory, mask = self.encode(src_ids), self.source_mask(src_ids)
            batch, cache = src_ids.shape[0], []
            last = torch.full((batch, 1), self.bos_id, dtype=torch.long, device=src_ids.device)
            out, done = [], torch.zeros(batch, dtype=torch.bool, device=src_ids.device)
            for _ in range(steps):
                last = self.decode(last, memory, mask, cache=cache)[:, -1].argmax(-1, keepdim=True)
                out.append(last)
                done |= last[:, 0] == self.eos_id
                if done.all():
                    break
        finally:
            self.train(was_training)
        rows = torch.cat(out, dim=1).tolist()
        return [strip_special(r, self.eos_id) for r in rows]

    @torch.no_grad()
    def beam_search(self, src_ids, width: int = 4, alpha: float = 0.6,
                    max_new_tokens: int | None = None, return_scores: bool = False) -> list:
        """Beam search with length normalisation ``log p / length ** alpha`` (KV-cached).

        Returns the best hypothesis per example (without ``eos_id``), or with
        ``return_scores=True`` every finished ``(tokens, normalised score,
        log-probability)``, best first.
        """
        check_positive_int(width, "width")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        steps, was_training = self._new_tokens(max_new_tokens), self.training
        self.eval()
        try:
            memory = self.encode(src_ids).repeat_interleave(width, dim=0)
            mask = self.source_mask(src_ids).repeat_interleave(width, dim=0)
            cache, device = [], src_ids.device

            def step(last, order):
                if order is not None:
                    index = torch.as_tensor(order, device=device)
                    for layer_cache in cache:
                        for part in layer_cache.values():
                            part["k"], part["v"] = part["k"][index], part["v"][index]
                last = torch.as_tensor(last, device=device)[:, None]
                logits = self.decode(last, memory, mask, cache=cache)[:, -1]
                return logits.float().log_softmax(-1).cpu().numpy()

            results = beam_search_batched(step, src_ids.shape[0], width, steps, self.bos_id,
                                          self.eos_id, alpha)
        finally:
            self.train(was_training)
        if return_scores:
            return results
        return [strip_special(r[0][0], self.eos_id) for r in results]


# ================================================================ training helpers

def inverse_sqrt_lr(step, d_model: int, warmup: int, scale: float = 1.0):
    """The paper's schedule ``scale * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)``.

    Linear warm-up for ``warmup`` steps, then decay as ``1 / sqrt(step)``; steps
    count from 1 (step 0 is treated as step 1). Works on ints and NumPy arrays.
    """
    check_positive_int(int(warmup), "warmup")
    step = np.maximum(np.asarray(step, dtype=np.float64), 1.0)
    lr = scale * d_model ** -0.5 * np.minimum(step ** -0.5, step * warmup ** -1.5)
    return float(lr) if lr.ndim == 0 else lr


def label_smoothed_cross_entropy(logits, targets, smoothing: float = 0.1, pad_id: int = 0):
    """Mean over non-pad targets of ``(1 - e) * NLL + e * mean_v(-log p_v)``.

    The smoothed target puts ``1 - e + e / V`` on the right token and ``e / V``
    on each other one (``F.cross_entropy(..., label_smoothing=e)``'s definition).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must lie in [0, 1), got {smoothing}")
    logp = logits.log_softmax(-1)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    uniform = -logp.mean(-1)
    loss = (1.0 - smoothing) * nll + smoothing * uniform
    keep = (targets != pad_id).to(loss.dtype)
    return (loss * keep).sum() / keep.sum().clamp(min=1.0)

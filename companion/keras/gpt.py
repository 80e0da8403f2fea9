"""GPT, a decoder-only transformer language model, in Keras 3 (part VI, ``book/transformers/gpt.md``).

The twin of ``companion/torch/gpt.py``: same class name, constructor arguments
and defaults, same order of weight-carrying sublayers (token embedding,
position embedding, the pre-LN ``EncoderLayer`` blocks of
``companion.keras.transformers``, the final ``LayerNormalization``, and a
bias-free ``Dense`` head only when the weights are not tied), so
``companion.parity.copy_torch_to_keras`` copies a PyTorch GPT into it. Only
``keras.layers`` and ``keras.ops`` are used (TensorFlow, JAX and torch
backends).

Every layer is built in the constructor from the sizes (no forward pass), so
a saved model reloads directly and ``abstract_parameter_count`` can count
GPT-2 small inside ``keras.StatelessScope`` without allocating its weights.
Weights are initialised as in the PyTorch twin (GPT-2's recipe).

Token ids are checked for shape and dtype always, and for their range
whenever their values are known (not inside a traced ``fit`` step).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from companion.checks import _static_dim, check_positive_int, check_token_ids
from companion.keras.saving import serializable
from companion.keras.transformers import EncoderLayer

layers_module = layers   # ``layers`` is also GPT's argument name (the number of blocks)


def _check_config(vocab_size, max_len, d_model, heads, layers, d_ff, dropout, eps) -> int:
    """Validate the constructor's arguments (the PyTorch twin's wording); return d_ff."""
    for value, what in ((vocab_size, "vocab_size"), (max_len, "max_len"),
                        (d_model, "d_model"), (heads, "heads"), (layers, "layers")):
        check_positive_int(value, what)
    d_ff = 4 * d_model if d_ff is None else d_ff
    check_positive_int(d_ff, "d_ff")
    if d_model % heads:
        raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if not float(eps) > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    return d_ff


def sample_next(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None,
                greedy: bool = False) -> np.ndarray:
    """One next token per row of ``logits`` ``(batch, vocab)``, in NumPy (as in the PyTorch twin).

    ``greedy``: the most likely token. Otherwise divide by ``temperature``,
    keep the ``top_k`` most likely tokens and/or the smallest set whose
    probabilities reach ``top_p``, and draw one token per row with ``rng``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if greedy:
        return logits.argmax(axis=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        before = np.cumsum(sorted_probs, axis=-1) - sorted_probs   # mass of the better tokens
        keep_sorted = before < top_p                                # the first one always stays
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=-1, keepdims=True)
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), probs.shape[-1] - 1)


def check_generate_args(steps, temperature, top_k, top_p) -> None:
    check_positive_int(steps, "steps")
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be positive (use greedy=True for argmax), "
                         f"got {temperature}")
    if top_k is not None:
        check_positive_int(top_k, "top_k")
    if top_p is not None and not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _concrete(x):
    """``x`` as a NumPy array, or ``None`` while a graph is being traced (no values yet)."""
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:   # a symbolic TensorFlow tensor, a JAX tracer, a KerasTensor
        return None


def _normal(std: float = 0.02):
    return keras.initializers.RandomNormal(mean=0.0, stddev=std)


@serializable
class GPT(keras.Model):
    """A GPT-2-style decoder-only language model (``book/transformers/gpt.md``).

    ``GPT(vocab_size, max_len=1024, d_model=768, heads=12, layers=12,
    d_ff=None, dropout=0.1, eps=1e-5, tie_weights=True)``, as in the PyTorch
    twin. ``call(ids, cache=None, training=None)``: integer ids
    ``(batch, steps)`` give logits ``(batch, steps, vocab_size)``; ``cache``
    (from ``new_cache()``) holds every block's keys and values so far;
    ``return_weights=True`` also returns each block's attention weights.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, max_len: int = 1024, d_model: int = 768,
                 heads: int = 12, layers: int = 12, d_ff: int | None = None,
                 dropout: float = 0.1, eps: float = 1e-5, tie_weights: bool = True, **kwargs):
        super().__init__(**kwargs)
        d_ff = _check_config(vocab_size, max_len, d_model, heads, layers, d_ff, dropout, eps)
        self._convert_input_args = False     # keep a cache list of dicts as it is (updated in place)
        self._allow_non_tensor_positional_args = True
        self.vocab_size, self.max_len, self.d_model = vocab_size, max_len, d_model
        self.tie_weights = bool(tie_weights)
        self.token_embedding = layers_module.Embedding(vocab_size, d_model,
                                                       embeddings_initializer=_normal())
        self.position_embedding = layers_module.Embedding(max_len, d_model,
                                                          embeddings_initializer=_normal())
        self.dropout = layers_module.Dropout(dropout)
        self.blocks = [EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu_tanh",
                                    eps=eps, norm_first=True) for _ in range(layers)]
        self.norm = layers_module.LayerNormalization(epsilon=eps)
        self.head = (None if self.tie_weights else
                     layers_module.Dense(vocab_size, use_bias=False, kernel_initializer=_normal()))
        # Build everything from the sizes, with GPT-2's initialisation.
        width, wide = (None, None, d_model), (None, None, d_ff)
        self.token_embedding.build(None)
        self.position_embedding.build(None)
        residual_std = 0.02 / math.sqrt(2 * layers)
        for block in self.blocks:
            attention, ffn = block.attention, block.ffn
            for dense, shape, std in ((attention.query, width, 0.02), (attention.key, width, 0.02),
                                      (attention.value, width, 0.02),
                                      (attention.output, width, residual_std),
                                      (ffn.inner, width, 0.02), (ffn.outer, wide, residual_std)):
                dense.kernel_initializer = _normal(std)
                dense.build(shape)
            block.norm1.build(width)
            block.norm2.build(width)
            attention.built = ffn.built = block.built = True
        self.norm.build(width)
        if self.head is not None:
            self.head.build(width)
        self.built = True

    # ------------------------------------------------------------ forward

    def new_cache(self) -> list[dict]:
        """An empty key/value cache: one dict per block (filled in place by ``call``)."""
        return [{} for _ in self.blocks]

    @staticmethod
    def cached_steps(cache) -> int:
        if not cache or cache[0].get("k") is None:
            return 0
        return int(cache[0]["k"].shape[2])

    def call(self, ids, cache=None, return_weights=False, training=None):
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"GPT: the cache must hold one dict per block ({len(self.blocks)}), "
                             f"got {len(cache)}; use model.new_cache()")
        past = self.cached_steps(cache)
        ids = ops.convert_to_tensor(ids)
        dtype = keras.backend.standardize_dtype(ids.dtype)
        values = _concrete(ids) if "int" in dtype else None
        check_token_ids(tuple(_static_dim(d) for d in ids.shape), dtype, values,
                        self.vocab_size, self.max_len, past)
        steps = ops.shape(ids)[1]
        positions = ops.arange(past, past + steps)
        x = self.token_embedding(ids) + self.position_embedding(positions)[None]
        x = self.dropout(x, training=training)
        # causal mask (1, steps, past + steps): query past + i sees keys 0 .. past + i
        query_at = ops.arange(steps)[:, None] + past
        key_at = ops.arange(past + steps)[None, :]
        mask = ops.expand_dims(ops.less_equal(key_at, query_at), 0)
        weights = []
        for block, block_cache in zip(self.blocks, cache or [None] * len(self.blocks)):
            x, w = block(x, mask=mask, cache=block_cache, return_weights=True, training=training)
            weights.append(w)
        x = self.norm(x)
        if self.head is not None:
            logits = self.head(x)
        else:
            logits = ops.matmul(x, ops.transpose(self.token_embedding.embeddings))   # tied
        return (logits, weights) if return_weights else logits

    def compute_mask(self, inputs, previous_mask=None):
        return None

    # ------------------------------------------------------------ generation

    def generate(self, ids, steps: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, greedy: bool = False, use_cache: bool = True,
                 seed: int | None = None) -> np.ndarray:
        """Append ``steps`` sampled tokens to the prompts ``ids``; as in the PyTorch twin.

        Returns a NumPy int64 array ``(batch, prompt_steps + steps)``. The same
        weights, prompts and ``seed`` give the same tokens as the PyTorch twin.
        """
        check_generate_args(steps, temperature, top_k, top_p)
        ids = np.asarray(ops.convert_to_numpy(ids))
        if ids.ndim == 1:
            ids = ids[None]
        check_token_ids(ids.shape, str(ids.dtype), ids if "int" in str(ids.dtype) else None,
                        self.vocab_size, self.max_len)
        ids = ids.astype(np.int64)
        rng = np.random.default_rng(seed)
        cache = self.new_cache() if use_cache else None

        def last_logits(x, c):
            return np.asarray(ops.convert_to_numpy(self.call(x, cache=c, training=False)[:, -1]))

        logits = last_logits(ids, cache)
        for step in range(steps):
            token = sample_next(logits, rng, temperature, top_k, top_p, greedy)
            ids = np.concatenate([ids, token[:, None].astype(np.int64)], axis=1)
            if step == steps - 1:
                break
            if cache is not None and ids.shape[1] <= self.max_len:
                logits = last_logits(ids[:, -1:], cache)           # one new position
            else:
                cache = None                                       # recompute the window
                logits = last_logits(ids[:, -self.max_len:], None)
        return ids

    # ------------------------------------------------------------ Hugging Face GPT-2

    @classmethod
    def from_hf_gpt2(cls, source, config=None, dropout: float | None = None) -> "GPT":
        """A Keras ``GPT`` with the weights of a Hugging Face GPT-2 checkpoint.

        ``source`` and ``config`` as in the PyTorch twin (a model, a state dict
        with its configuration, or a ``save_pretrained`` directory). The
        checkpoint is read by ``companion.torch.gpt.hf_gpt2_weights`` (Hugging
        Face's GPT-2 is a PyTorch model), whose ``(in, out)`` kernels are
        already in ``Dense``'s orientation.
        """
        from companion.torch.gpt import hf_gpt2_weights

        kwargs, weights = hf_gpt2_weights(source, config)
        if dropout is not None:
            kwargs["dropout"] = dropout
        model = cls(**kwargs)
        from companion.parity import keras_layers

        targets = keras_layers(model)
        if len(targets) != len(weights):
            raise ValueError(f"GPT-2 checkpoint gives {len(weights)} layers of weights, the model "
                             f"has {len(targets)}")
        for layer, arrays in zip(targets, weights):
            layer.set_weights([np.ascontiguousarray(a) for a in arrays])
        return model


def abstract_parameter_count(*args, **kwargs) -> int:
    """The number of parameters of ``GPT(*args, **kwargs)`` without allocating its weights.

    Keras has no "meta" device; inside ``keras.StatelessScope`` a variable
    records its shape and defers its initialisation, which is never run here
    (the deferred variables are then removed from Keras's list of variables
    waiting to be initialised).
    """
    with keras.StatelessScope(initialize_variables=False):
        model = GPT(*args, **kwargs)
        count = int(sum(int(np.prod(v.shape)) for v in model.weights))
    try:
        from keras.src.backend.common import global_state

        ours = {id(v) for v in model.weights}
        pending = global_state.get_global_attribute("uninitialized_variables", [])
        global_state.set_global_attribute("uninitialized_variables",
                                          [v for v in pending if id(v) not in ours])
    except Exception:   # pragma: no cover - a Keras without this private list
        pass
    return count

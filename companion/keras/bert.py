"""BERT in Keras 3 (part VI, ``book/transformers/bert.md``).

The twin of ``companion/torch/bert.py``: same class names, constructor
arguments and defaults, same order of weight-carrying sublayers, so
``companion.parity.copy_torch_to_keras`` copies a PyTorch BERT into it. Only
``keras.layers`` and ``keras.ops`` are used (TensorFlow, JAX and torch
backends). Every layer is built in the constructor from the configuration,
which lets ``count_parameters_abstractly`` count BERT-large without
allocating its weights, and lets a saved model reload without a forward pass.

``model.fit`` passes the whole input as one argument: the models accept
``ids`` or a tuple ``(ids, token_type_ids)`` or ``(ids, token_type_ids, mask)``.

RoBERTa is this network trained with another recipe (no next-sentence
prediction, dynamic masking, bigger batches, more data, byte-level BPE).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

layers_module = layers   # ``layers`` is also BERT's argument name (the number of encoder layers)

from companion.checks import _static_dim, check_positive_int
from companion.keras.saving import serializable
from companion.keras.transformers import EncoderLayer

MASK_EXPECTED = "a boolean mask (True = real token) of shape (batch, steps) or (batch, steps, steps)"


def _normal():
    """BERT's initialiser, N(0, 0.02) (a new instance per layer)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def _concrete(x):
    """``x`` as a NumPy array, or ``None`` while a graph is being traced (no values yet)."""
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:   # a symbolic TensorFlow tensor, a JAX tracer, a KerasTensor
        return None


def _dtype(x) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def _unpack(ids, token_type_ids, mask):
    """``model.fit`` gives a single input: ``(ids, token_type_ids[, mask])`` tuples are unpacked."""
    if isinstance(mask, (tuple, list)) and all(m is None for m in mask):
        mask = None   # Keras passes the inputs' own (absent) Keras masks, one per tuple element
    if isinstance(ids, (tuple, list)):
        if len(ids) not in (1, 2, 3):
            raise ValueError("expected ids, or a tuple (ids, token_type_ids) or "
                             f"(ids, token_type_ids, mask); got a tuple of {len(ids)}")
        parts = list(ids) + [None] * (3 - len(ids))
        ids = parts[0]
        token_type_ids = parts[1] if token_type_ids is None else token_type_ids
        mask = parts[2] if mask is None else mask
    return ids, token_type_ids, mask


class BertEmbeddings(layers.Layer):
    """``LayerNorm(word[ids] + position[0..T-1] + token_type[types])``, then dropout.

    ``call(ids, token_type_ids=None, training=None)``; the checks of the
    PyTorch twin (integer ids in ``[0, vocab_size)``, ``steps <= max_len``,
    token types in range; values are checked whenever they are known, that is
    outside a traced graph). ``type_vocab_size=0`` leaves the token-type
    table out (DistilBERT).
    """

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768,
                 type_vocab_size: int = 2, dropout: float = 0.1, eps: float = 1e-12,
                 owner: str = "BERT", **kwargs):
        super().__init__(**kwargs)
        for value, what in ((vocab_size, "vocab_size"), (max_len, "max_len"), (d_model, "d_model")):
            check_positive_int(value, what)
        if isinstance(type_vocab_size, bool) or not isinstance(type_vocab_size, int) \
                or type_vocab_size < 0:
            raise ValueError(f"type_vocab_size must be an integer >= 0, got {type_vocab_size!r}")
        _check_dropout(dropout)
        self.vocab_size, self.max_len, self.d_model = vocab_size, max_len, d_model
        self.type_vocab_size, self.owner = type_vocab_size, owner
        self.word = layers.Embedding(vocab_size, d_model, embeddings_initializer=_normal())
        self.position = layers.Embedding(max_len, d_model, embeddings_initializer=_normal())
        self.token_type = (layers.Embedding(type_vocab_size, d_model,
                                            embeddings_initializer=_normal())
                           if type_vocab_size else None)
        self.norm = layers.LayerNormalization(epsilon=eps)
        self.dropout = layers.Dropout(dropout)
        for table in (self.word, self.position, self.token_type):
            if table is not None:
                table.build(None)
        self.norm.build((None, None, d_model))
        self.built = True

    def check_ids(self, ids):
        ids = ops.convert_to_tensor(ids)
        shape = tuple(_static_dim(d) for d in ids.shape)
        name, top = self.owner, self.max_len
        if len(shape) != 2 or (shape[1] is not None and not 1 <= shape[1] <= top):
            raise ValueError(f"{name} expected input of shape (batch, steps) with 1 <= steps <= "
                             f"max_len={top}, got {shape}")
        if "int" not in _dtype(ids):
            raise ValueError(f"{name} expected input of shape (batch, steps) holding integer "
                             f"token ids, got dtype {_dtype(ids)}")
        values = _concrete(ids)
        if values is not None and values.size and (values.min() < 0 or values.max() >= self.vocab_size):
            raise ValueError(f"{name}: token ids must be in [0, {self.vocab_size}) "
                             f"(vocab_size={self.vocab_size}), got ids from {values.min()} "
                             f"to {values.max()}")
        return ids

    def call(self, ids, token_type_ids=None, training=None):
        ids = self.check_ids(ids)
        steps = ops.shape(ids)[1]
        x = self.word(ids) + self.position(ops.arange(steps))[None]
        if self.token_type is not None:
            if token_type_ids is None:
                token_type_ids = ops.zeros_like(ids)
            types = ops.convert_to_tensor(token_type_ids)
            pairs = zip((_static_dim(d) for d in types.shape), (_static_dim(d) for d in ids.shape))
            if len(types.shape) != 2 or "int" not in _dtype(types) \
                    or any(a is not None and b is not None and a != b for a, b in pairs):
                raise ValueError(f"{self.owner}: token_type_ids must be integers of the ids' "
                                 f"shape {tuple(ids.shape)}, got {_dtype(types)} "
                                 f"{tuple(types.shape)}")
            values = _concrete(types)
            if values is not None and values.size and (values.min() < 0
                                                       or values.max() >= self.type_vocab_size):
                raise ValueError(f"{self.owner}: token types must be in "
                                 f"[0, {self.type_vocab_size}), got {values.min()} to {values.max()}")
            x = x + self.token_type(types)
        elif token_type_ids is not None:
            raise ValueError(f"{self.owner} has no token types (type_vocab_size=0)")
        return self.dropout(self.norm(x), training=training)


def _build_encoder_layer(layer, d_model: int, d_ff: int) -> None:
    """Create an ``EncoderLayer``'s weights from the sizes, with BERT's N(0, 0.02) kernels.

    Building from shapes (no forward pass) is what lets a model be built
    inside ``keras.StatelessScope`` without allocating its weights.
    """
    width, wide = (None, None, d_model), (None, None, d_ff)
    for dense, shape in ((layer.attention.query, width), (layer.attention.key, width),
                         (layer.attention.value, width), (layer.attention.output, width),
                         (layer.ffn.inner, width), (layer.ffn.outer, wide)):
        dense.kernel_initializer = _normal()
        dense.build(shape)
    layer.norm1.build(width)
    layer.norm2.build(width)
    layer.attention.built = layer.ffn.built = layer.built = True


class _Model(keras.Model):
    """Common base: explicit masks are taken without Keras's masking machinery."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        return None


@serializable
class BERT(_Model):
    """BERT's encoder: ``BertEmbeddings`` and ``layers`` post-LN encoder layers (GELU, eps 1e-12).

    ``call(ids, token_type_ids=None, mask=None, return_weights=False, training=None)``
    returns the hidden states ``(batch, steps, d_model)``; ``pool(hidden)``
    the pooled ``[CLS]`` vector. Masks and defaults as in the PyTorch twin.
    """

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768, heads: int = 12,
                 layers: int = 12, d_ff: int = 3072, type_vocab_size: int = 2,
                 dropout: float = 0.1, eps: float = 1e-12, pooler: bool = True, pad_id=0,
                 **kwargs):
        super().__init__(**kwargs)
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        if pad_id is not None and not 0 <= int(pad_id) < vocab_size:
            raise ValueError(f"pad_id must be None or in [0, {vocab_size}), got {pad_id}")
        self.pad_id = pad_id
        self.heads, self.d_model = heads, d_model
        self.embeddings = BertEmbeddings(vocab_size, max_len, d_model, type_vocab_size, dropout, eps)
        self.encoder = [EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu", eps=eps)
                        for _ in range(layers)]
        for layer in self.encoder:
            _build_encoder_layer(layer, d_model, d_ff)
        self.pooler = (layers_module.Dense(d_model, kernel_initializer=_normal())
                       if pooler else None)
        if self.pooler is not None:
            self.pooler.build((None, d_model))
        self.built = True

    def attention_mask(self, ids, mask=None):
        """The mask the encoder layers get: ``mask`` checked, or the padding mask from ``pad_id``."""
        if mask is None:
            return None if self.pad_id is None else ops.not_equal(ids, self.pad_id)[:, None, :]
        mask = ops.convert_to_tensor(mask)
        b, t = (_static_dim(d) for d in ids.shape)
        if _dtype(mask) != "bool":
            raise ValueError(f"BERT expected {MASK_EXPECTED}; got dtype {_dtype(mask)}")
        shape = tuple(_static_dim(d) for d in mask.shape)

        def same(size, full):
            return size is None or full is None or size == full

        if len(shape) == 2 and same(shape[0], b) and same(shape[1], t):
            return mask[:, None, :]
        if len(shape) == 3 and same(shape[0], b) and same(shape[1], t) and same(shape[2], t):
            return mask
        raise ValueError(f"BERT expected {MASK_EXPECTED} with batch={b}, steps={t}; "
                         f"got shape {shape}")

    def call(self, ids, token_type_ids=None, mask=None, return_weights=False, training=None):
        ids, token_type_ids, mask = _unpack(ids, token_type_ids, mask)
        x = self.embeddings(ids, token_type_ids, training=training)
        attend = self.attention_mask(ops.convert_to_tensor(ids), mask)
        weights = []
        for layer in self.encoder:
            x, w = layer(x, mask=attend, return_weights=True, training=training)
            weights.append(w)
        return (x, weights) if return_weights else x

    def pool(self, hidden):
        """The pooled output: ``tanh`` of a dense layer on the first (``[CLS]``) position."""
        if self.pooler is None:
            raise ValueError("this BERT was built with pooler=False: it has no pooled output")
        return ops.tanh(self.pooler(hidden[:, 0]))


class TiedDecoder(layers.Layer):
    """Output layer whose weight is another layer's table: ``h @ table.T + bias``; owns the bias."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.bias = self.add_weight(shape=(vocab_size,), initializer="zeros", name="bias")
        self.built = True

    def call(self, h, table):
        return ops.matmul(h, ops.transpose(table)) + self.bias


@serializable
class BERTForMaskedLM(_Model):
    """BERT with the masked-language-model head: logits ``(batch, steps, vocab_size)``.

    Head: ``LayerNorm(gelu(dense(h)))`` and the tied decoder (word embeddings
    transposed, plus a bias); the pooler is off by default.
    """

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768, heads: int = 12,
                 layers: int = 12, d_ff: int = 3072, type_vocab_size: int = 2,
                 dropout: float = 0.1, eps: float = 1e-12, pooler: bool = False, pad_id=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.bert = BERT(vocab_size, max_len, d_model, heads, layers, d_ff, type_vocab_size,
                         dropout, eps, pooler, pad_id)
        self.transform = layers_module.Dense(d_model, kernel_initializer=_normal())
        self.norm = layers_module.LayerNormalization(epsilon=eps)
        self.decoder = TiedDecoder(vocab_size)
        self.transform.build((None, None, d_model))
        self.norm.build((None, None, d_model))
        self.built = True

    def call(self, ids, token_type_ids=None, mask=None, training=None):
        h = self.bert(ids, token_type_ids=token_type_ids, mask=mask, training=training)
        h = self.norm(ops.gelu(self.transform(h), approximate=False))
        return self.decoder(h, self.bert.embeddings.word.embeddings)


@serializable
class BERTClassifier(_Model):
    """BERT, the pooled ``[CLS]`` vector, dropout and a dense layer: logits ``(batch, num_classes)``."""

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, num_classes: int = 2, max_len: int = 512,
                 d_model: int = 768, heads: int = 12, layers: int = 12, d_ff: int = 3072,
                 type_vocab_size: int = 2, dropout: float = 0.1, eps: float = 1e-12, pad_id=0,
                 **kwargs):
        super().__init__(**kwargs)
        check_positive_int(num_classes, "num_classes")
        self.bert = BERT(vocab_size, max_len, d_model, heads, layers, d_ff, type_vocab_size,
                         dropout, eps, True, pad_id)
        self.dropout = layers_module.Dropout(dropout)
        self.classifier = layers_module.Dense(num_classes, kernel_initializer=_normal())
        self.classifier.build((None, d_model))
        self.built = True

    def call(self, ids, token_type_ids=None, mask=None, training=None):
        pooled = self.bert.pool(self.bert(ids, token_type_ids=token_type_ids, mask=mask, training=training))
        return self.classifier(self.dropout(pooled, training=training))


def count_parameters_abstractly(cls, *args, **kwargs) -> int:
    """Build ``cls(*args, **kwargs)`` without allocating its weights and count their entries.

    Keras has no "meta" device; inside ``keras.StatelessScope`` a variable
    records its shape and defers its initialisation, which is never run here.
    (The deferred variables are then dropped from Keras's list of variables
    to initialise, so no later scope allocates them.)
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:   # pragma: no cover - a Keras without this private module
        global_state = None
    waiting = "uninitialized_variables"
    before = list(global_state.get_global_attribute(waiting, []) or []) if global_state else []
    with keras.StatelessScope(initialize_variables=False):
        model = cls(*args, **kwargs)
        count = int(sum(int(np.prod(v.shape)) for v in model.weights))
    if global_state is not None:   # forget the deferred variables (weights, dropout seeds)
        global_state.set_global_attribute(waiting, before)
    return count

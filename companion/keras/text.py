"""A recurrent text classifier in Keras 3 (part IX, ``book/applications/sentiment.md``).

The twin of ``companion/torch/text.py``: same class name, constructor
arguments and defaults, same order of weight-carrying sublayers (embedding,
recurrent layer, dense head), so ``companion.parity.copy_torch_to_keras``
copies a PyTorch ``TextClassifier`` into it. Only ``keras.layers`` and
``keras.ops`` are used (TensorFlow, JAX and torch backends).

The padding is handled by the pooling, not by Keras's masking machinery:
the recurrent layer reads every step, and the pooling then averages the
states of the real tokens (``pooling="mean"``) or takes the state at the
last real token (``pooling="last"``), exactly as the PyTorch twin does.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from companion.checks import _static_dim, check_token_ids
from companion.keras.saving import serializable
from companion.text import check_text_arguments


def _concrete(x):
    """``x`` as a NumPy array, or ``None`` while a graph is being traced (no values yet)."""
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:   # a symbolic TensorFlow tensor, a JAX tracer, a KerasTensor
        return None


@serializable
class TextClassifier(keras.Model):
    """Embedding, LSTM or GRU, pooling over the real tokens, dropout, dense head.

    ``call(ids, training=None)`` takes integer ids ``(batch, steps)`` and
    returns logits ``(batch, num_classes)``; ``states(ids)`` and
    ``pool(states, ids)`` expose the parts, as in the PyTorch twin. The LSTM
    is ``layers.LSTM`` (forget-gate bias 1), the GRU ``layers.GRU`` with
    ``reset_after=True`` (PyTorch's formula).
    """

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, num_classes: int = 2, embedding_size: int = 64,
                 hidden_size: int = 64, cell: str = "lstm", pooling: str = "mean",
                 dropout: float = 0.0, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        check_text_arguments(vocab_size, num_classes, embedding_size, hidden_size, cell,
                             pooling, dropout, pad_id)
        self.vocab_size, self.cell, self.pooling, self.pad_id = vocab_size, cell, pooling, pad_id
        self.embedding = layers.Embedding(vocab_size, embedding_size)
        if cell == "lstm":
            self.rnn = layers.LSTM(hidden_size, return_sequences=True, unit_forget_bias=True)
        else:
            self.rnn = layers.GRU(hidden_size, return_sequences=True, reset_after=True)
        self.dropout = layers.Dropout(dropout)
        self.head = layers.Dense(num_classes)
        self.embedding.build((None, None))        # create the weights now, as PyTorch does
        self.rnn.build((None, None, embedding_size))
        self.head.build((None, hidden_size))
        self.built = True

    def check(self, ids):
        ids = ops.convert_to_tensor(ids)
        dtype = keras.backend.standardize_dtype(ids.dtype)
        shape = tuple(_static_dim(d) for d in ids.shape)
        values = _concrete(ids) if len(shape) == 2 and "int" in dtype else None
        check_token_ids(shape, dtype, values, self.vocab_size, model="TextClassifier")
        return ids

    def real_tokens(self, ids):
        """Float ``(batch, steps)``: 1 where the id is not padding, 0 where it is."""
        if self.pad_id is None:
            return ops.ones(ops.shape(ids), dtype=self.compute_dtype)
        return ops.cast(ops.not_equal(ids, self.pad_id), self.compute_dtype)

    def states(self, ids, training=None):
        ids = self.check(ids)
        return self.rnn(self.embedding(ids), training=training)

    def pool(self, states, ids):
        mask = self.real_tokens(ids)
        if self.pooling == "mean":
            total = ops.sum(states * mask[..., None], axis=1)
            return total / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
        steps = ops.cast(ops.arange(1, ops.shape(mask)[1] + 1), mask.dtype)
        last = ops.maximum(ops.max(mask * steps, axis=1) - 1.0, 0.0)     # last real token
        pick = ops.one_hot(ops.cast(last, "int32"), ops.shape(mask)[1], dtype=states.dtype)
        return ops.sum(states * pick[..., None], axis=1)

    def call(self, ids, training=None):
        ids = self.check(ids)
        h = self.rnn(self.embedding(ids), training=training)
        return self.head(self.dropout(self.pool(h, ids), training=training))


def masked_lm_logits(model, ids, positions, training=None):
    """A ``BERTForMaskedLM``'s logits at ``positions`` only: ``(batch, k, vocab_size)``.

    The twin of ``companion.torch.text.masked_lm_logits``: the hidden states
    of the chosen positions are picked with a one-hot product, then the
    masked-language-model head runs on them alone.
    """
    h = model.bert(ids, training=training)                         # (batch, steps, d_model)
    positions = ops.convert_to_tensor(positions, dtype="int32")
    if len(positions.shape) != 2:
        raise ValueError(f"positions must be (batch, k), got {tuple(positions.shape)}")
    pick = ops.one_hot(positions, ops.shape(h)[1], dtype=h.dtype)   # (batch, k, steps)
    h = ops.einsum("bkt,btd->bkd", pick, h)
    h = model.norm(ops.gelu(model.transform(h), approximate=False))
    return model.decoder(h, model.bert.embeddings.word.embeddings)


class MaskedPositionsLM(keras.Model):
    """Wraps a ``BERTForMaskedLM`` so that ``fit`` trains it on chosen positions only.

    ``call((ids, positions))`` returns ``masked_lm_logits(mlm, ids, positions)``;
    fit it with the ``targets`` and ``weights`` of
    ``companion.text.chosen_positions`` as labels and sample weights. The
    wrapped model's weights are the ones trained (nothing is copied).
    """

    def __init__(self, mlm, **kwargs):
        super().__init__(**kwargs)
        self.mlm = mlm

    def call(self, inputs, training=None):
        ids, positions = inputs
        return masked_lm_logits(self.mlm, ids, positions, training=training)

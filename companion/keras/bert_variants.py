"""ALBERT and DistilBERT in Keras 3 (part VI, ``book/transformers/bert_variants.md``).

The twin of ``companion/torch/bert_variants.py``: same class names,
arguments, defaults and order of weight-carrying layers, built from
``companion.keras.bert``'s parts, with ``keras.ops`` only (TensorFlow, JAX and
torch backends). Like ``companion.keras.bert.BERT``, the models accept ``ids``
or a tuple from ``model.fit``, and build every weight in the constructor, so
``count_parameters_abstractly`` counts them without allocating.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from companion.checks import check_positive_int
from companion.numpy.distillation import check_distillation
from companion.keras.bert import (BERT, BertEmbeddings, _build_encoder_layer, _Model, _normal,
                                  _unpack)
from companion.keras.saving import serializable
from companion.keras.transformers import EncoderLayer

layers_module = layers


def _check_pad(pad_id, vocab_size) -> None:
    if pad_id is not None and not 0 <= int(pad_id) < vocab_size:
        raise ValueError(f"pad_id must be None or in [0, {vocab_size}), got {pad_id}")


@serializable
class ALBERT(_Model):
    """ALBERT's encoder: factorised embeddings and one encoder layer shared by all ``layers``.

    ``call(ids, token_type_ids=None, mask=None, return_weights=False, training=None)``
    returns the hidden states ``(batch, steps, d_model)``; ``pool(hidden)`` the
    pooled ``[CLS]`` vector. As the PyTorch twin: ALBERT-base, ``ALBERT(30000)``,
    has 11,683,584 parameters.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, max_len: int = 512, embedding_size: int = 128,
                 d_model: int = 768, heads: int = 12, layers: int = 12, d_ff: int = 3072,
                 type_vocab_size: int = 2, dropout: float = 0.0, eps: float = 1e-12,
                 pooler: bool = True, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        check_positive_int(embedding_size, "embedding_size")
        _check_pad(pad_id, vocab_size)
        self.pad_id, self.depth, self.d_model, self.heads = pad_id, layers, d_model, heads
        self.embeddings = BertEmbeddings(vocab_size, max_len, embedding_size, type_vocab_size,
                                         dropout, eps, owner="ALBERT")
        self.projection = layers_module.Dense(d_model, kernel_initializer=_normal())
        self.projection.build((None, None, embedding_size))
        self.shared = EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu_tanh", eps=eps)
        _build_encoder_layer(self.shared, d_model, d_ff)
        self.pooler = (layers_module.Dense(d_model, kernel_initializer=_normal())
                       if pooler else None)
        if self.pooler is not None:
            self.pooler.build((None, d_model))
        self.built = True

    attention_mask = BERT.attention_mask
    pool = BERT.pool

    def call(self, ids, token_type_ids=None, mask=None, return_weights=False, training=None):
        ids, token_type_ids, mask = _unpack(ids, token_type_ids, mask)
        x = self.projection(self.embeddings(ids, token_type_ids, training=training))
        attend = self.attention_mask(ops.convert_to_tensor(ids), mask)
        weights = []
        for _ in range(self.depth):         # the same weights at every depth
            x, w = self.shared(x, mask=attend, return_weights=True, training=training)
            weights.append(w)
        return (x, weights) if return_weights else x


@serializable
class DistilBERT(_Model):
    """DistilBERT's encoder: word and position embeddings, ``layers`` post-LN layers, no pooler.

    ``call(ids, mask=None, return_weights=False, training=None)`` returns the
    hidden states ``(batch, steps, d_model)``. ``DistilBERT(30522)`` has
    66,362,880 parameters.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768, heads: int = 12,
                 layers: int = 6, d_ff: int = 3072, dropout: float = 0.1, eps: float = 1e-12,
                 pad_id=0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        _check_pad(pad_id, vocab_size)
        self.pad_id, self.d_model, self.heads = pad_id, d_model, heads
        self.embeddings = BertEmbeddings(vocab_size, max_len, d_model, 0, dropout, eps,
                                         owner="DistilBERT")
        self.encoder = [EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu", eps=eps)
                        for _ in range(layers)]
        for layer in self.encoder:
            _build_encoder_layer(layer, d_model, d_ff)
        self.built = True

    attention_mask = BERT.attention_mask

    def call(self, ids, mask=None, return_weights=False, training=None):
        if isinstance(ids, (tuple, list)):  # model.fit: (ids,) or (ids, mask)
            ids, mask = (list(ids) + [None])[:2] if mask is None else (ids[0], mask)
        x = self.embeddings(ids, training=training)
        attend = self.attention_mask(ops.convert_to_tensor(ids), mask)
        weights = []
        for layer in self.encoder:
            x, w = layer(x, mask=attend, return_weights=True, training=training)
            weights.append(w)
        return (x, weights) if return_weights else x


@serializable
class DistilBERTClassifier(_Model):
    """DistilBERT with Hugging Face's classification head: logits ``(batch, num_classes)``."""

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, num_classes: int = 2, max_len: int = 512,
                 d_model: int = 768, heads: int = 12, layers: int = 6, d_ff: int = 3072,
                 dropout: float = 0.1, eps: float = 1e-12, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(num_classes, "num_classes")
        self.distilbert = DistilBERT(vocab_size, max_len, d_model, heads, layers, d_ff, dropout,
                                     eps, pad_id)
        self.dense = layers_module.Dense(d_model, kernel_initializer=_normal())
        self.dropout = layers_module.Dropout(dropout)
        self.classifier = layers_module.Dense(num_classes, kernel_initializer=_normal())
        self.dense.build((None, d_model))
        self.classifier.build((None, d_model))
        self.built = True

    def call(self, ids, mask=None, training=None):
        h = self.distilbert(ids, mask=mask, training=training)[:, 0]
        h = self.dropout(ops.relu(self.dense(h)), training=training)
        return self.classifier(h)


def distillation_loss(student_logits, teacher_logits, labels=None, temperature: float = 2.0,
                      alpha: float = 0.5):
    """The PyTorch twin's loss (Hinton et al., 2015), with ``keras.ops``; the teacher's
    logits are treated as constants."""
    check_distillation(temperature, alpha, labels)
    teacher = ops.stop_gradient(ops.convert_to_tensor(teacher_logits))
    log_p_student = ops.log_softmax(student_logits / temperature, axis=-1)
    log_p_teacher = ops.log_softmax(teacher / temperature, axis=-1)
    kl = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    soft = ops.mean(kl) * temperature ** 2
    if labels is None or alpha == 1.0:
        return soft
    hard = ops.mean(keras.losses.sparse_categorical_crossentropy(
        ops.convert_to_tensor(labels), student_logits, from_logits=True))
    return alpha * soft + (1.0 - alpha) * hard

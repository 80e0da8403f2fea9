"""A small transformer for time-series forecasting in Keras 3 (Part IX, forecasting study).

The twin of ``companion/torch/forecasting.py``: same class name, constructor
arguments, defaults and order of weight-carrying sublayers (``Dense`` for the
embedding and the head, ``LayerNormalization`` with PyTorch's epsilon 1e-5),
so ``companion.parity.copy_torch_to_keras`` copies the PyTorch weights in.
Only ``keras.ops`` is used, so it runs on the TensorFlow, JAX and torch backends.
"""
from __future__ import annotations

import keras
from keras import layers as layers_module
from keras import ops

from companion.checks import _static_dim, check_float, check_positive_int, check_sequence
from companion.keras.saving import serializable
from companion.keras.transformers import EncoderLayer, _check_heads, sinusoidal_table


def _build_encoder_layer(layer: EncoderLayer, d_model: int, d_ff: int) -> None:
    """Create an ``EncoderLayer``'s weights from the sizes (Keras's default initializers)."""
    width, wide = (None, None, d_model), (None, None, d_ff)
    for dense, shape in ((layer.attention.query, width), (layer.attention.key, width),
                         (layer.attention.value, width), (layer.attention.output, width),
                         (layer.ffn.inner, width), (layer.ffn.outer, wide)):
        dense.build(shape)
    layer.norm1.build(width)
    layer.norm2.build(width)
    layer.attention.built = layer.ffn.built = layer.built = True


@serializable
class TimeSeriesTransformer(keras.Model):
    """Encoder-only transformer over a sequence of feature vectors, read out at the last step.

    ``call(x, return_weights=False, training=None)`` takes ``(batch, steps,
    input_size)`` with ``1 <= steps <= max_len`` and returns ``(batch,
    output_size)``, or ``(batch, steps, output_size)`` with
    ``return_sequences=True`` (and, with ``return_weights=True``, every layer's attention
    weights), as the PyTorch twin does.
    """

    def __init__(self, input_size: int, output_size: int = 1, d_model: int = 32, heads: int = 4,
                 layers: int = 2, d_ff: int = 64, max_len: int = 64, dropout: float = 0.0,
                 return_sequences: bool = False, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(input_size, "input_size")
        check_positive_int(output_size, "output_size")
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        check_positive_int(max_len, "max_len")
        _check_heads(d_model, heads)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size, self.max_len = input_size, max_len
        self.return_sequences = bool(return_sequences)
        self._positions = sinusoidal_table(max_len, d_model)   # a constant, not a weight
        self.embed = layers_module.Dense(d_model)
        self.dropout = layers_module.Dropout(dropout)
        self.encoder = [EncoderLayer(d_model, heads, d_ff, dropout, norm_first=True)
                        for _ in range(layers)]
        self.norm = layers_module.LayerNormalization(epsilon=1e-5)
        self.head = layers_module.Dense(output_size)
        # create the weights now, as PyTorch does
        self.embed.build((None, None, input_size))
        for layer in self.encoder:
            _build_encoder_layer(layer, d_model, d_ff)
        self.norm.build((None, None, d_model))
        self.head.build((None, None, d_model))
        self.built = True

    def _check(self, x) -> None:
        name = type(self).__name__
        check_sequence(x.shape, self.input_size, name)
        steps = _static_dim(x.shape[1])
        if steps is not None and steps > self.max_len:
            raise ValueError(f"{name} expected input of shape (batch, steps, {self.input_size}) "
                             f"with steps <= max_len={self.max_len}, got {steps} steps")
        check_float(x.dtype, name)

    def call(self, x, return_weights=False, training=None):
        self._check(x)
        steps = ops.shape(x)[1]
        positions = ops.convert_to_tensor(self._positions, dtype=self.compute_dtype)[:steps]
        h = self.dropout(self.embed(x) + positions[None], training=training)
        weights = []
        for layer in self.encoder:
            h, w = layer(h, return_weights=True, training=training)
            weights.append(w)
        out = self.head(self.norm(h if self.return_sequences else h[:, -1]))
        return (out, weights) if return_weights else out

"""Feedforward networks in Keras 3 (part II of the book).

Read side by side with ``companion/torch/feedforward.py``: same class names,
same constructor arguments, same layer order.
"""
from __future__ import annotations

import keras
from keras import layers

from companion.checks import check_choice, check_features, check_float, check_positive_int

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu")  # keras.activations names


class MLP(keras.Model):
    """Multilayer perceptron (chapter: Multilayer Perceptron).

    ``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``. Every
    hidden layer is Dense, Activation, then (optionally) Dropout; the output
    layer is linear and returns logits, so compile it with a loss created
    with ``from_logits=True``.
    """

    def __init__(self, in_features: int, hidden=(64,), out_features: int = 10,
                 activation: str = "relu", dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        for width in hidden:
            check_positive_int(width, "every hidden width")
        check_choice(activation, ACTIVATIONS, "activation")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_features = in_features

        stack = [keras.Input((in_features,))]
        for width in hidden:
            stack += [layers.Dense(width), layers.Activation(activation)]
            if dropout > 0:
                stack.append(layers.Dropout(dropout))
        stack.append(layers.Dense(out_features))
        self.net = keras.Sequential(stack)
        self.build((None, in_features))  # create the weights now, as PyTorch does

    def call(self, x, training=False):
        check_features(x.shape, self.in_features, "MLP")
        check_float(x.dtype, "MLP")
        return self.net(x, training=training)

    def features(self, x, training=False):
        """The last hidden layer's activations: what the output layer sees."""
        check_features(x.shape, self.in_features, "MLP")
        for layer in self.net.layers[:-1]:
            x = layer(x, training=training)
        return x

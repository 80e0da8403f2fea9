"""Feedforward networks in PyTorch (part II of the book).

Read side by side with ``companion/keras/feedforward.py``: same class names,
same constructor arguments, same layer order.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.checks import check_choice, check_features, check_float, check_positive_int

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,  # exact (erf) form, like keras.activations.gelu
}


class MLP(nn.Module):
    """Multilayer perceptron (chapter: Multilayer Perceptron).

    ``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``. Every
    hidden layer is Linear, activation, then (optionally) Dropout; the output
    layer is linear and returns logits, so pair it with a loss that takes
    logits (``nn.CrossEntropyLoss``) rather than adding a softmax here.
    """

    def __init__(self, in_features: int, hidden=(64,), out_features: int = 10,
                 activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        for width in hidden:
            check_positive_int(width, "every hidden width")
        check_choice(activation, ACTIVATIONS, "activation")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_features = in_features

        layers, width_in = [], in_features
        for width in hidden:
            layers += [nn.Linear(width_in, width), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = width
        layers.append(nn.Linear(width_in, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "MLP")
        check_float(x.dtype, "MLP")
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations: what the output layer sees."""
        check_features(x.shape, self.in_features, "MLP")
        return self.net[:-1](x)

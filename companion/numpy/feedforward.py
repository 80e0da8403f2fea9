"""The multilayer perceptron's forward pass, by hand (chapter: Multilayer Perceptron)."""
from __future__ import annotations

import numpy as np

from companion.checks import check_choice
from companion.numpy.activations import ACTIVATIONS


def dense(x, weight, bias):
    """One affine layer in the book's notation: ``x @ W.T + b``.

    ``weight`` has shape ``(out_features, in_features)`` as in the equations
    (and in ``torch.nn.Linear``); Keras stores the transpose.
    """
    x, weight, bias = np.asarray(x), np.asarray(weight), np.asarray(bias)
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"dense expected input of shape (batch, {weight.shape[1]}), got {x.shape}"
        )
    return x @ weight.T + bias


def mlp_forward(x, weights, biases, activation: str = "relu", return_hidden=False):
    """Forward pass of an MLP: hidden layers apply ``activation``, the last is linear.

    Returns the logits (and, with ``return_hidden``, the list of hidden activations).
    """
    check_choice(activation, ACTIVATIONS, "activation")
    if len(weights) != len(biases) or not weights:
        raise ValueError("weights and biases must be non-empty lists of equal length")
    f = ACTIVATIONS[activation]
    a, hidden = np.asarray(x, dtype=float), []
    for W, b in zip(weights[:-1], biases[:-1]):
        a = f(dense(a, W, b))
        hidden.append(a)
    logits = dense(a, weights[-1], biases[-1])
    return (logits, hidden) if return_hidden else logits


def parameter_count(layer_sizes) -> int:
    """Weights plus biases of a fully connected network: sum of (n_in + 1) * n_out."""
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"need at least an input and an output size, got {sizes}")
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))

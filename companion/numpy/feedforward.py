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


def train_perceptron(x, y, *, epochs: int, lr: float = 1.0, seed: int = 0, shuffle: bool = True,
                     w=None, b: float = 0.0) -> dict:
    """Rosenblatt's rule in NumPy: the oracle for both frameworks' ``train_perceptron``.

    Labels are in {0, 1}; ``error = y - step(w . x + b)`` is -1, 0 or +1 and only
    mistakes move the weights. Same visiting order as the framework versions.
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if not np.isin(np.unique(y), (0, 1)).all():
        raise ValueError(f"Perceptron expects labels in {{0, 1}}, got values {np.unique(y).tolist()}")
    w = np.zeros(x.shape[1], dtype=np.float32) if w is None else np.array(w, dtype=np.float32)
    b = np.float32(b)
    rng = np.random.default_rng(seed)
    history = {"mistakes": [], "weights": []}
    for _ in range(epochs):
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        mistakes = 0
        for i in order:
            error = np.float32(y[i]) - np.float32(np.dot(w, x[i]) + b >= 0)
            if error != 0:
                w = w + np.float32(lr) * error * x[i]
                b = b + np.float32(lr) * error
                mistakes += 1
        history["mistakes"].append(mistakes)
        history["weights"].append(np.append(w, b))
        if mistakes == 0:
            break
    return history


def rbf_features(x, centers, sigmas):
    """Gaussian RBF activations ``exp(-||x - c_j||^2 / (2 sigma_j^2))``, shape (batch, centers)."""
    x, centers = np.asarray(x, dtype=float), np.asarray(centers, dtype=float)
    sq_dist = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=-1)
    return np.exp(-sq_dist / (2 * np.asarray(sigmas, dtype=float) ** 2))


def least_squares(features, targets, ridge: float = 0.0):
    """Ridge regression with a bias: returns ``(W, b)`` with ``W`` of shape (outputs, features)."""
    h = np.hstack([features, np.ones((len(features), 1))])
    y = np.asarray(targets, dtype=float).reshape(len(features), -1)
    solution = np.linalg.solve(h.T @ h + ridge * np.eye(h.shape[1]), h.T @ y)
    return solution[:-1].T, solution[-1]


def trig_expansion(x, order: int = 2):
    """Functional-link expansion ``[x, sin(k pi x), cos(k pi x), k = 1..order]``."""
    x = np.asarray(x, dtype=float)
    parts = [x]
    for k in range(1, order + 1):
        parts += [np.sin(k * np.pi * x), np.cos(k * np.pi * x)]
    return np.concatenate(parts, axis=-1)


def highway_layer(x, w_h, b_h, w_t, b_t):
    """``T * relu(W_H x + b_H) + (1 - T) * x`` with ``T = sigmoid(W_T x + b_T)``."""
    h = np.maximum(dense(x, w_h, b_h), 0.0)
    t = 1.0 / (1.0 + np.exp(-dense(x, w_t, b_t)))
    return t * h + (1.0 - t) * x

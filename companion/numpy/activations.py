"""Activation functions in NumPy."""
from __future__ import annotations

import math

import numpy as np


def relu(z):
    return np.maximum(z, 0.0)


def sigmoid(z):
    # Split by sign so that exp never overflows.
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def tanh(z):
    return np.tanh(z)


def elu(z, alpha: float = 1.0):
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def gelu(z):
    """Exact GELU, x * Phi(x), as PyTorch's default and ``keras.activations.gelu``."""
    z = np.asarray(z, dtype=float)
    erf = np.vectorize(math.erf)
    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))


def identity(z):
    return np.asarray(z)


def softmax(z, axis: int = -1):
    """Softmax with the maximum subtracted first (same value, no overflow)."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


ACTIVATIONS = {
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "elu": elu,
    "gelu": gelu,
    "linear": identity,
}

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


# ---------------------------------------------------------------------------
# Additions for the chapter "Activation functions" (book/foundations/activations.md).
# The functions above keep their names and behaviour; everything below is new:
# the remaining activations of the chapter, their analytic derivatives and
# argument checks that raise a clear ValueError.
# ---------------------------------------------------------------------------

def _as_float_array(z, what: str = "z") -> np.ndarray:
    z = np.asarray(z)
    if not (np.issubdtype(z.dtype, np.floating) or np.issubdtype(z.dtype, np.integer)):
        raise ValueError(f"{what} must be an array of real numbers, got dtype {z.dtype}")
    return z.astype(float)


def _check_positive(value, what: str) -> float:
    if isinstance(value, bool) or not np.isscalar(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def _check_slope(value) -> float:
    if isinstance(value, bool) or not np.isscalar(value) or not 0 <= value < 1:
        raise ValueError(f"negative_slope must be a number in [0, 1), got {value!r}")
    return float(value)


def step(z):
    """The binary threshold unit: 1 where ``z > 0``, else 0 (its derivative is 0 almost everywhere)."""
    return (_as_float_array(z) > 0).astype(float)


def sigmoid_with_temperature(z, temperature: float = 1.0):
    """``1 / (1 + exp(-z / T))``: a step as ``T -> 0``, the plain sigmoid at ``T = 1``, flatter for ``T > 1``."""
    t = _check_positive(temperature, "temperature")
    return sigmoid(_as_float_array(z) / t)


def leaky_relu(z, negative_slope: float = 0.01):
    """``z`` for ``z > 0`` and ``negative_slope * z`` otherwise (PyTorch's default slope, 0.01)."""
    a = _check_slope(negative_slope)
    z = _as_float_array(z)
    return np.where(z > 0, z, a * z)


def gelu_tanh(z):
    """The tanh approximation of GELU (Hendrycks and Gimpel, 2016).

    ``0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))``: what
    ``torch.nn.functional.gelu(x, approximate="tanh")`` and ``keras.ops.gelu``
    (whose default is ``approximate=True``) compute. Exact ``gelu`` is above.
    """
    z = _as_float_array(z)
    return 0.5 * z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z**3)))


def _normal_cdf(z):
    erf = np.vectorize(math.erf, otypes=[float])
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))


def _normal_pdf(z):
    return np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)


# Analytic derivatives. At a kink (ReLU at 0, step at 0) we use the value both
# frameworks' autograd returns: 0 for ReLU and leaky ReLU's left branch.

def step_derivative(z):
    return np.zeros_like(_as_float_array(z))


def sigmoid_derivative(z, temperature: float = 1.0):
    """``s (1 - s) / T`` with ``s = sigmoid(z / T)``; at most ``1 / (4 T)``, reached at 0."""
    t = _check_positive(temperature, "temperature")
    s = sigmoid_with_temperature(z, t)
    return s * (1.0 - s) / t


def tanh_derivative(z):
    """``1 - tanh(z)^2``; at most 1, reached at 0."""
    return 1.0 - np.tanh(_as_float_array(z)) ** 2


def identity_derivative(z):
    return np.ones_like(_as_float_array(z))


def relu_derivative(z):
    """1 for ``z > 0``, 0 otherwise (0 at ``z = 0``, as in PyTorch and Keras)."""
    return (_as_float_array(z) > 0).astype(float)


def leaky_relu_derivative(z, negative_slope: float = 0.01):
    a = _check_slope(negative_slope)
    return np.where(_as_float_array(z) > 0, 1.0, a)


def elu_derivative(z, alpha: float = 1.0):
    """1 for ``z > 0``, ``alpha * exp(z)`` (= ELU(z) + alpha) otherwise."""
    alpha = _check_positive(alpha, "alpha")
    z = _as_float_array(z)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def gelu_derivative(z):
    """``Phi(z) + z phi(z)`` for the exact GELU ``z Phi(z)``."""
    z = _as_float_array(z)
    return _normal_cdf(z) + z * _normal_pdf(z)


def gelu_tanh_derivative(z):
    z = _as_float_array(z)
    c = math.sqrt(2.0 / math.pi)
    u = c * (z + 0.044715 * z**3)
    th = np.tanh(u)
    return 0.5 * (1.0 + th) + 0.5 * z * (1.0 - th**2) * c * (1.0 + 3 * 0.044715 * z**2)


def softmax_jacobian(z):
    """The Jacobian ``d softmax(z)_i / d z_j = p_i (delta_ij - p_j)`` of one vector ``z``.

    Softmax is not element-wise, so its derivative is a matrix, not a curve.
    """
    z = _as_float_array(z)
    if z.ndim != 1:
        raise ValueError(f"softmax_jacobian expects one vector of logits (1-D), got shape {z.shape}")
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


ELEMENTWISE = {
    "step": (step, step_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "linear": (identity, identity_derivative),
    "relu": (relu, relu_derivative),
    "leaky_relu": (leaky_relu, leaky_relu_derivative),
    "elu": (elu, elu_derivative),
    "gelu": (gelu, gelu_derivative),
    "gelu_tanh": (gelu_tanh, gelu_tanh_derivative),
}
"""Every element-wise activation of the chapter: name -> (function, derivative)."""

DERIVATIVES = {name: pair[1] for name, pair in ELEMENTWISE.items()}


def activation(name: str):
    """The NumPy function called ``name`` (one of ``ELEMENTWISE``)."""
    if name not in ELEMENTWISE:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ELEMENTWISE)}")
    return ELEMENTWISE[name][0]


def derivative(name: str, z, **kwargs):
    """The analytic derivative of activation ``name`` at ``z`` (element by element)."""
    if name not in ELEMENTWISE:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ELEMENTWISE)}")
    return ELEMENTWISE[name][1](z, **kwargs)

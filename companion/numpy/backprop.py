"""Backpropagation by hand for a two-layer network (chapter: Backpropagation and
automatic differentiation, ``book/foundations/backprop.md``).

The network is ``dense -> activation -> dense -> loss`` on a batch stored one
example per row, in the book's notation (``W`` has shape ``(out, in)``, as
PyTorch's ``nn.Linear`` stores it)::

    Z1 = X @ W1.T + b1        (N, H)
    A1 = phi(Z1)              (N, H)
    Z2 = A1 @ W2.T + b2       (N, K)   the outputs (logits for classification)
    L  = loss(Z2, y)          scalar, averaged over the batch

``forward`` returns the loss and a cache of the intermediate arrays;
``backward`` walks the same steps in reverse and returns the gradient of the
loss for every parameter. ``numerical_gradient`` estimates any gradient by
central finite differences, so the two can be checked against each other.
Everything runs in float64: finite differences need the extra digits.
"""
from __future__ import annotations

import numpy as np

from companion.checks import check_choice, check_positive_int
from companion.numpy.activations import sigmoid

ACTIVATIONS = ("tanh", "sigmoid", "relu")
LOSSES = ("softmax_cross_entropy", "mse")
PARAM_NAMES = ("W1", "b1", "W2", "b2")


# ----------------------------------------------------------------------------
# Activations and their derivatives, written in terms of what the cache keeps

def activate(z, activation: str):
    """``phi(z)`` for ``activation`` in ``ACTIVATIONS``."""
    check_choice(activation, ACTIVATIONS, "activation")
    if activation == "tanh":
        return np.tanh(z)
    if activation == "sigmoid":
        return sigmoid(z)
    return np.maximum(z, 0.0)


def activation_derivative(z, a, activation: str):
    """``phi'(z)``, reusing the activation ``a = phi(z)`` where that is cheaper."""
    check_choice(activation, ACTIVATIONS, "activation")
    if activation == "tanh":
        return 1.0 - a ** 2            # tanh' = 1 - tanh^2
    if activation == "sigmoid":
        return a * (1.0 - a)           # sigma' = sigma (1 - sigma)
    return (z > 0).astype(z.dtype)     # ReLU' = 1 for z > 0, 0 otherwise (0 at the kink)


# ----------------------------------------------------------------------------
# Parameters and input checks

def init_params(n_in: int, n_hidden: int, n_out: int, *, seed: int = 0) -> dict:
    """Float64 parameters ``{"W1", "b1", "W2", "b2"}`` with Glorot-uniform weights.

    ``W1`` has shape ``(n_hidden, n_in)`` and ``W2`` shape ``(n_out, n_hidden)``;
    the biases start at zero (the defaults of Keras's ``Dense``).
    """
    for value, what in [(n_in, "n_in"), (n_hidden, "n_hidden"), (n_out, "n_out")]:
        check_positive_int(value, what)
    rng = np.random.default_rng(seed)

    def glorot(fan_out, fan_in):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_out, fan_in))

    return {"W1": glorot(n_hidden, n_in), "b1": np.zeros(n_hidden),
            "W2": glorot(n_out, n_hidden), "b2": np.zeros(n_out)}


def check_params(params) -> tuple[int, int, int]:
    """Require ``{"W1", "b1", "W2", "b2"}`` with consistent shapes; return ``(n_in, H, K)``."""
    if not isinstance(params, dict) or set(params) != set(PARAM_NAMES):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with keys {list(PARAM_NAMES)}, got {got}")
    W1, b1, W2, b2 = (np.asarray(params[k]) for k in PARAM_NAMES)
    if W1.ndim != 2 or W2.ndim != 2:
        raise ValueError(f"W1 and W2 must be 2-D (out, in) matrices, got shapes "
                         f"{W1.shape} and {W2.shape}")
    hidden, n_in = W1.shape
    n_out = W2.shape[0]
    expected = {"b1": (hidden,), "W2": (n_out, hidden), "b2": (n_out,)}
    for name, shape in expected.items():
        if np.shape(params[name]) != shape:
            raise ValueError(f"{name} must have shape {shape} to match W1 {W1.shape}, "
                             f"got {np.shape(params[name])}")
    return n_in, hidden, n_out


def _check_inputs(params, x, y, loss):
    n_in, _, n_out = check_params(params)
    check_choice(loss, LOSSES, "loss")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}), got {x.shape}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("x must hold at least one example")
    y = np.asarray(y)
    if loss == "softmax_cross_entropy":
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"softmax_cross_entropy needs integer class labels of shape "
                             f"({n},), got shape {y.shape} and dtype {y.dtype}")
        if y.min() < 0 or y.max() >= n_out:
            raise ValueError(f"class labels must lie in [0, {n_out - 1}], got values from "
                             f"{y.min()} to {y.max()}")
    elif y.shape != (n, n_out):
        raise ValueError(f"mse needs targets of shape ({n}, {n_out}), got {y.shape}")
    else:
        y = y.astype(np.float64)
    return x, y


# ----------------------------------------------------------------------------
# Losses: value and derivative with respect to the network's outputs Z2

def loss_and_delta(z2, y, loss: str):
    """The batch-averaged loss and ``dL/dZ2`` (the output deltas), shape of ``z2``.

    * ``softmax_cross_entropy``: ``L = mean_i(-log softmax(z2_i)[y_i])``,
      ``dL/dZ2 = (softmax(Z2) - onehot(y)) / N``.
    * ``mse``: ``L = mean over all N*K entries of (Z2 - Y)^2`` (what
      ``nn.MSELoss`` and ``keras.losses.MeanSquaredError`` compute),
      ``dL/dZ2 = 2 (Z2 - Y) / (N K)``.
    """
    check_choice(loss, LOSSES, "loss")
    n = z2.shape[0]
    if loss == "softmax_cross_entropy":
        shifted = z2 - z2.max(axis=1, keepdims=True)          # log-sum-exp trick
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        value = -log_probs[np.arange(n), y].mean()
        delta = np.exp(log_probs)
        delta[np.arange(n), y] -= 1.0
        return value, delta / n
    diff = z2 - y
    return np.mean(diff ** 2), 2.0 * diff / diff.size


# ----------------------------------------------------------------------------
# Forward and backward passes

def predict(params, x, *, activation: str = "tanh") -> np.ndarray:
    """The network's outputs ``Z2`` (logits or regression values), shape ``(N, K)``."""
    n_in, _, _ = check_params(params)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}), got {x.shape}")
    a1 = activate(x @ params["W1"].T + params["b1"], activation)
    return a1 @ params["W2"].T + params["b2"]


def forward(params, x, y, *, activation: str = "tanh", loss: str = "softmax_cross_entropy"):
    """Run the network and its loss on a batch; return ``(loss value, cache)``.

    The cache keeps what the backward pass needs: the input, the hidden
    pre-activations and activations, the output deltas and the options.
    """
    check_choice(activation, ACTIVATIONS, "activation")
    x, y = _check_inputs(params, x, y, loss)
    z1 = x @ params["W1"].T + params["b1"]        # (N, H)
    a1 = activate(z1, activation)                  # (N, H)
    z2 = a1 @ params["W2"].T + params["b2"]       # (N, K)
    value, delta2 = loss_and_delta(z2, y, loss)
    cache = {"x": x, "z1": z1, "a1": a1, "z2": z2, "delta2": delta2,
             "activation": activation, "W2": params["W2"]}
    return float(value), cache


def backward(cache) -> dict:
    """Gradients ``{"W1", "b1", "W2", "b2"}`` of the loss, from a ``forward`` cache.

    With ``Delta2 = dL/dZ2`` of shape ``(N, K)``:

    * ``dL/dW2 = Delta2.T @ A1``  (K, H),  ``dL/db2 = sum over rows of Delta2``  (K,)
    * ``Delta1 = (Delta2 @ W2) * phi'(Z1)``  (N, H)
    * ``dL/dW1 = Delta1.T @ X``  (H, n_in), ``dL/db1 = sum over rows of Delta1``  (H,)
    """
    required = {"x", "z1", "a1", "delta2", "activation", "W2"}
    if not isinstance(cache, dict) or not required <= set(cache):
        raise ValueError(f"cache must be the dict returned by forward, with keys {sorted(required)}")
    delta2 = cache["delta2"]
    grads = {"W2": delta2.T @ cache["a1"], "b2": delta2.sum(axis=0)}
    delta1 = (delta2 @ cache["W2"]) * activation_derivative(cache["z1"], cache["a1"],
                                                             cache["activation"])
    grads["W1"] = delta1.T @ cache["x"]
    grads["b1"] = delta1.sum(axis=0)
    return {name: grads[name] for name in PARAM_NAMES}


def loss_value(params, x, y, *, activation: str = "tanh",
               loss: str = "softmax_cross_entropy") -> float:
    """Only the loss (what a finite-difference check differentiates)."""
    return forward(params, x, y, activation=activation, loss=loss)[0]


def sgd_step(params, grads, lr: float) -> dict:
    """One step of plain gradient descent, ``theta - lr * grad``, as a new dict."""
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    check_params(params)
    if set(grads) != set(params):
        raise ValueError(f"grads must have the keys of params {sorted(params)}, got {sorted(grads)}")
    return {name: params[name] - lr * grads[name] for name in params}


def train(params, x, y, *, steps: int, lr: float, activation: str = "tanh",
          loss: str = "softmax_cross_entropy"):
    """Full-batch gradient descent; return ``(final params, list of losses)``.

    ``losses[t]`` is the loss at the parameters *before* step ``t``, which is
    what PyTorch's loop and Keras's ``fit`` report too.
    """
    check_positive_int(steps, "steps")
    losses = []
    for _ in range(steps):
        value, cache = forward(params, x, y, activation=activation, loss=loss)
        losses.append(value)
        params = sgd_step(params, backward(cache), lr)
    return params, losses


# ----------------------------------------------------------------------------
# Checking gradients

def numerical_gradient(f, params, eps: float = 1e-6):
    """Central finite differences of the scalar function ``f`` at ``params``.

    ``params`` is a float array or a dict of float arrays; ``f(params)``
    returns a number. Every entry is nudged by ``+eps`` and ``-eps`` in turn,
    and ``(f(+) - f(-)) / (2 eps)`` estimates its partial derivative with an
    error of order ``eps**2``. Costs two evaluations of ``f`` per entry, so
    it is for checking gradients, never for training. Returns arrays of the
    same shapes (a dict if ``params`` is one). ``params`` is left unchanged.
    """
    if not callable(f):
        raise ValueError(f"f must be a callable returning a scalar, got {type(f).__name__}")
    if not (isinstance(eps, (int, float)) and np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    single = not isinstance(params, dict)
    named = {"x": params} if single else params
    for name, value in named.items():
        if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)):
            raise ValueError(f"parameter {name!r} must be a float NumPy array (float64 "
                             f"recommended), got {type(value).__name__} "
                             f"{getattr(value, 'dtype', '')}")

    def call():
        value = f(named["x"] if single else named)
        if np.ndim(value) != 0:
            raise ValueError(f"f must return a scalar, got shape {np.shape(value)}")
        return float(value)

    grads = {}
    for name, array in named.items():
        grad = np.zeros_like(array, dtype=np.float64)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + eps
            plus = call()
            array[index] = original - eps
            minus = call()
            array[index] = original          # restore before moving on
            grad[index] = (plus - minus) / (2.0 * eps)
        grads[name] = grad
    return grads["x"] if single else grads


def relative_error(a, b) -> float:
    """``||a - b|| / max(||a||, ||b||)`` (0 when both are zero); dicts: the worst entry."""
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or set(a) != set(b):
            raise ValueError("relative_error needs two arrays or two dicts with the same keys")
        return max(relative_error(a[k], b[k]) for k in a)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error needs equal shapes, got {a.shape} and {b.shape}")
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)

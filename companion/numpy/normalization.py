"""Batch normalization, layer normalization and gradient clipping from scratch.

Chapter "Training deep networks" (``book/foundations/deep_training.md``). The
functions are written to be read next to the equations of the chapter and
serve as test oracles for ``torch.nn.BatchNorm1d`` / ``nn.LayerNorm`` /
``torch.nn.utils.clip_grad_*`` and ``keras.layers.BatchNormalization`` /
``LayerNormalization`` / the Keras optimizers' clipping arguments.

Conventions that differ between the frameworks (checked in the chapter and in
``tests/test_normalization.py`` against the installed versions):

======================================  ===============================  ==============================
                                        PyTorch ``BatchNorm1d``          Keras ``BatchNormalization``
======================================  ===============================  ==============================
running-statistics update               ``(1 - m) * run + m * batch``    ``m * run + (1 - m) * batch``
default momentum ``m``                  0.1 (weight of the new batch)    0.99 (weight of the old value)
batch variance in the running variance  unbiased (divides by ``n - 1``)  biased (divides by ``n``)
epsilon                                 1e-5                             1e-3
======================================  ===============================  ==============================

Both normalize a training batch with its *biased* variance. Layer
normalization: PyTorch ``eps=1e-5``, Keras ``epsilon=1e-3``.
"""
from __future__ import annotations

import numpy as np

CONVENTIONS = {
    # momentum: the framework's own meaning of the argument; eps: its default.
    "pytorch": {"momentum": 0.1, "eps": 1e-5, "unbiased_running_var": True},
    "keras": {"momentum": 0.99, "eps": 1e-3, "unbiased_running_var": False},
}


def _as_batch(x, num_features: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != num_features:
        raise ValueError(
            f"{what} expected input of shape (batch, {num_features}), got {tuple(x.shape)}")
    return x


def _check_eps(eps) -> float:
    if not (isinstance(eps, (int, float, np.floating)) and eps >= 0):
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    return float(eps)


# ---------------------------------------------------------------------------
# Batch normalization, functional form
# ---------------------------------------------------------------------------

def batch_norm_train(x, gamma, beta, eps: float = 1e-5):
    """Training-mode batch norm of a ``(batch, features)`` array.

    Returns ``(y, cache)`` where ``y = gamma * (x - mean) / sqrt(var + eps) + beta``
    with the *biased* batch variance ``var = mean((x - mean)**2)``, and
    ``cache = (x_hat, inv_std, gamma)`` is what :func:`batch_norm_backward` needs.
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    x = _as_batch(x, gamma.shape[0], "batch_norm_train")
    if x.shape[0] < 2:
        raise ValueError("batch_norm_train needs at least 2 examples per batch "
                         f"to compute a variance, got {x.shape[0]}")
    eps = _check_eps(eps)
    mean = x.mean(axis=0)
    var = x.var(axis=0)                       # biased: divides by n
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + np.asarray(beta, dtype=np.float64), (x_hat, inv_std, gamma)


def batch_norm_eval(x, gamma, beta, running_mean, running_var, eps: float = 1e-5):
    """Inference-mode batch norm: the stored running statistics replace the batch's."""
    gamma = np.asarray(gamma, dtype=np.float64)
    x = _as_batch(x, gamma.shape[0], "batch_norm_eval")
    eps = _check_eps(eps)
    x_hat = (x - np.asarray(running_mean)) / np.sqrt(np.asarray(running_var) + eps)
    return gamma * x_hat + np.asarray(beta, dtype=np.float64)


def batch_norm_backward(dy, cache):
    """Gradients of training-mode batch norm: ``(dx, dgamma, dbeta)``.

    With ``x_hat = (x - mean) * inv_std`` and ``n`` examples, the chain rule
    through the batch mean and variance gives

    ``dx = inv_std / n * (n * g - sum(g) - x_hat * sum(g * x_hat))``, ``g = dy * gamma``,

    (sums over the batch), ``dgamma = sum(dy * x_hat)`` and ``dbeta = sum(dy)``.
    """
    x_hat, inv_std, gamma = cache
    dy = np.asarray(dy, dtype=np.float64)
    if dy.shape != x_hat.shape:
        raise ValueError(f"dy must have the shape of the forward output {x_hat.shape}, "
                         f"got {dy.shape}")
    n = dy.shape[0]
    g = dy * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


class BatchNorm:
    """Batch normalization over the features of ``(batch, features)`` inputs.

    ``convention="pytorch"`` or ``"keras"`` chooses how ``momentum`` is read
    and which batch variance enters the running variance (see the module
    docstring); ``momentum`` and ``eps`` default to that framework's values.
    ``bn(x, training=True)`` normalizes with the batch's statistics and
    updates the running ones; ``training=False`` uses the running ones.
    """

    def __init__(self, num_features: int, *, convention: str = "pytorch",
                 momentum: float | None = None, eps: float | None = None):
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; "
                             f"expected one of {sorted(CONVENTIONS)}")
        if isinstance(num_features, bool) or not isinstance(num_features, int) \
                or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        defaults = CONVENTIONS[convention]
        self.convention = convention
        self.num_features = num_features
        self.momentum = defaults["momentum"] if momentum is None else float(momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {self.momentum}")
        self.eps = _check_eps(defaults["eps"] if eps is None else eps)
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    @property
    def new_batch_weight(self) -> float:
        """The weight of the new batch in the running average.

        PyTorch's ``momentum`` itself, Keras's ``1 - momentum``.
        """
        return self.momentum if self.convention == "pytorch" else 1.0 - self.momentum

    def update_running(self, batch_mean, batch_var_biased, n: int) -> None:
        """One exponential-moving-average step of the running statistics."""
        w = self.new_batch_weight
        var = np.asarray(batch_var_biased, dtype=np.float64)
        if CONVENTIONS[self.convention]["unbiased_running_var"]:
            var = var * n / (n - 1)          # PyTorch stores the unbiased estimate
        self.running_mean = (1.0 - w) * self.running_mean + w * np.asarray(batch_mean)
        self.running_var = (1.0 - w) * self.running_var + w * var

    def __call__(self, x, training: bool = False) -> np.ndarray:
        x = _as_batch(x, self.num_features, "BatchNorm")
        if not training:
            return batch_norm_eval(x, self.gamma, self.beta, self.running_mean,
                                   self.running_var, self.eps)
        y, _ = batch_norm_train(x, self.gamma, self.beta, self.eps)
        self.update_running(x.mean(axis=0), x.var(axis=0), x.shape[0])
        return y


# ---------------------------------------------------------------------------
# Layer normalization
# ---------------------------------------------------------------------------

def layer_norm(x, gamma, beta, eps: float = 1e-5) -> np.ndarray:
    """Layer norm: every example normalized over its own last axis (features).

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta`` with the mean and the
    biased variance taken over the features of each example, so the result
    does not depend on the other examples of the batch and training and
    inference compute the same thing (there are no running statistics).
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] != gamma.shape[0]:
        raise ValueError(f"layer_norm expected input of shape (..., {gamma.shape[0]}), "
                         f"got {tuple(x.shape)}")
    eps = _check_eps(eps)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + np.asarray(beta, dtype=np.float64)


# ---------------------------------------------------------------------------
# Gradient clipping (a list of arrays, one per parameter tensor)
# ---------------------------------------------------------------------------

def _as_grads(grads) -> list[np.ndarray]:
    if isinstance(grads, np.ndarray) or not hasattr(grads, "__iter__"):
        raise ValueError("grads must be a list of arrays, one per parameter tensor")
    return [np.asarray(g, dtype=np.float64) for g in grads]


def _check_threshold(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not value > 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def global_norm(grads) -> float:
    """The L2 norm of all gradients together, as if concatenated into one vector."""
    return float(np.sqrt(sum(float((g ** 2).sum()) for g in _as_grads(grads))))


def clip_by_global_norm(grads, max_norm: float):
    """Scale *all* gradients by one factor ``min(1, max_norm / global_norm)``.

    The direction of the full gradient vector is kept. This is
    ``torch.nn.utils.clip_grad_norm_`` (which adds 1e-6 to the norm) and
    Keras's ``global_clipnorm``. Returns ``(clipped, norm_before)``.
    """
    grads = _as_grads(grads)
    max_norm = _check_threshold(max_norm, "max_norm")
    norm = global_norm(grads)
    scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return [g * scale for g in grads], norm


def clip_by_norm_per_tensor(grads, max_norm: float) -> list[np.ndarray]:
    """Scale each gradient tensor separately so its own norm is at most ``max_norm``.

    This is Keras's ``clipnorm``. Tensors are shrunk by different factors, so
    the direction of the full gradient changes.
    """
    max_norm = _check_threshold(max_norm, "max_norm")
    out = []
    for g in _as_grads(grads):
        norm = float(np.sqrt((g ** 2).sum()))
        out.append(g * min(1.0, max_norm / norm) if norm > 0 else g)
    return out


def clip_by_value(grads, clip_value: float) -> list[np.ndarray]:
    """Clip every entry to ``[-clip_value, clip_value]``.

    ``torch.nn.utils.clip_grad_value_`` and Keras's ``clipvalue``. Changes the
    direction whenever some entries are clipped and others are not.
    """
    clip_value = _check_threshold(clip_value, "clip_value")
    return [np.clip(g, -clip_value, clip_value) for g in _as_grads(grads)]


def cosine(grads_a, grads_b) -> float:
    """Cosine of the angle between two gradient lists seen as single vectors."""
    a = np.concatenate([g.ravel() for g in _as_grads(grads_a)])
    b = np.concatenate([g.ravel() for g in _as_grads(grads_b)])
    if a.shape != b.shape:
        raise ValueError(f"the two gradient lists have {a.size} and {b.size} entries")
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

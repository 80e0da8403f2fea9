"""Regularization in NumPy (chapter: Regularization and generalization).

Reference versions of the penalties, the optimizer steps that treat weight
decay in different ways, inverted dropout and the bias-variance
decomposition. They are written for reading and serve as test oracles for
PyTorch and Keras.

Conventions (the frameworks differ, so we state them once):

* ``l2_penalty(w, lam)`` is ``lam * sum(w**2)``; its gradient is ``2 * lam * w``.
  This is what ``keras.regularizers.L2(lam)`` adds to the loss.
* PyTorch's ``SGD(weight_decay=wd)`` adds ``wd * w`` to the gradient, which is
  the gradient of ``(wd / 2) * sum(w**2)``; so ``wd = 2 * lam``.
* ``Adam(weight_decay=wd)`` in PyTorch adds ``wd * w`` to the gradient *before*
  the adaptive scaling (L2 inside Adam); ``AdamW`` (both frameworks) shrinks the
  weights by ``lr * wd * w`` *outside* it (decoupled weight decay).
"""
from __future__ import annotations

import numpy as np

from companion.numpy import optimizers


def _check_strength(value, what: str) -> float:
    if isinstance(value, bool) or not np.isscalar(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a non-negative finite number, got {value!r}")
    return float(value)


def _check_rate(p) -> float:
    if isinstance(p, bool) or not np.isscalar(p) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout rate p must be in [0, 1), got {p!r}")
    return float(p)


def l2_penalty(w, lam: float):
    """``(lam * sum(w**2), 2 * lam * w)``: the L2 penalty and its gradient."""
    lam = _check_strength(lam, "lam")
    w = np.asarray(w, dtype=float)
    return lam * np.sum(w ** 2), 2.0 * lam * w


def l1_penalty(w, lam: float):
    """``(lam * sum(|w|), lam * sign(w))``: the L1 penalty and its (sub)gradient.

    At ``w = 0`` the subgradient chosen is 0, as in PyTorch's and TensorFlow's ``sign``.
    """
    lam = _check_strength(lam, "lam")
    w = np.asarray(w, dtype=float)
    return lam * np.sum(np.abs(w)), lam * np.sign(w)


def sgd_step(w, grad, *, lr: float, weight_decay: float = 0.0):
    """One step of PyTorch's ``SGD(lr, weight_decay)``: ``w - lr * (grad + weight_decay * w)``."""
    lr = _check_strength(lr, "lr")
    weight_decay = _check_strength(weight_decay, "weight_decay")
    w, grad = np.asarray(w, dtype=float), np.asarray(grad, dtype=float)
    if w.shape != grad.shape:
        raise ValueError(f"w and grad must have the same shape, got {w.shape} and {grad.shape}")
    return w - lr * (grad + weight_decay * w)


def adam_steps(w, grad_fn, *, steps: int, lr: float = 1e-3, beta1: float = 0.9,
               beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
               decoupled: bool = False):
    """Run ``steps`` Adam updates on ``w`` and return the final weights.

    ``grad_fn(w)`` returns the gradient of the data loss. With
    ``decoupled=False`` the decay is an L2 term inside Adam (PyTorch's
    ``Adam(weight_decay=wd)``): the gradient becomes ``grad + wd * w`` and is
    then normalized like any other gradient. With ``decoupled=True`` (AdamW)
    the weights are first shrunk, ``w -= lr * wd * w``, and Adam sees only the
    data gradient. ``eps`` is added to the square root of the second moment,
    as both frameworks do (their defaults differ: PyTorch 1e-8, Keras 1e-7).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    lr = _check_strength(lr, "lr")
    weight_decay = _check_strength(weight_decay, "weight_decay")
    if decoupled:       # AdamW shrinks the weights, then takes an Adam step on the data gradient
        optimizer = optimizers.AdamW(lr, beta1, beta2, eps, weight_decay=weight_decay)
        gradient = grad_fn
    else:               # L2 inside Adam: the decay joins the gradient before the scaling
        optimizer = optimizers.Adam(lr, beta1, beta2, eps)
        gradient = lambda w: np.asarray(grad_fn(w), dtype=float) + weight_decay * w  # noqa: E731
    return optimizers.minimize(gradient, np.array(w, dtype=float), optimizer, steps)[-1]


def dropout_mask(shape, p: float, rng: np.random.Generator):
    """A keep-mask: each entry is 1 with probability ``1 - p`` and 0 with probability ``p``."""
    p = _check_rate(p)
    return (rng.random(shape) >= p).astype(float)


def inverted_dropout(x, p: float, *, training: bool = True, mask=None, rng=None):
    """Inverted dropout, as in ``torch.nn.Dropout`` and ``keras.layers.Dropout``.

    Training: ``x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``, so the
    expected output equals ``x``. Inference (``training=False``): the identity;
    no rescaling is needed at test time because it was done during training.
    ``mask`` may be given (for tests); otherwise it is drawn from ``rng``.
    """
    p = _check_rate(p)
    x = np.asarray(x, dtype=float)
    if not training or p == 0.0:
        return x.copy()
    if mask is None:
        mask = dropout_mask(x.shape, p, rng if rng is not None else np.random.default_rng())
    mask = np.asarray(mask, dtype=float)
    if mask.shape != x.shape or not np.all((mask == 0) | (mask == 1)):
        raise ValueError(f"mask must be 0/1 with the shape of x {x.shape}, got shape {mask.shape}")
    return x * mask / (1.0 - p)


def bias_variance(predictions, truth):
    """Bias-variance decomposition of predictions from models fitted to resampled training sets.

    ``predictions`` has shape ``(n_models, n_points)``: model ``i``'s prediction
    at each test point; ``truth`` has shape ``(n_points,)``: the noise-free
    target there. Returns ``(bias_squared, variance)``, each averaged over the
    points: ``bias^2 = mean((mean_i f_i(x) - f(x))^2)`` and
    ``variance = mean(var_i f_i(x))``. The expected squared error on noisy
    targets is ``bias^2 + variance + noise variance``.
    """
    predictions = np.asarray(predictions, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if predictions.ndim != 2 or truth.shape != predictions.shape[1:]:
        raise ValueError("predictions must have shape (n_models, n_points) and truth (n_points,); "
                         f"got {predictions.shape} and {truth.shape}")
    if predictions.shape[0] < 2:
        raise ValueError(f"need at least 2 models to estimate a variance, got {predictions.shape[0]}")
    mean_prediction = predictions.mean(axis=0)
    bias_squared = np.mean((mean_prediction - truth) ** 2)
    variance = np.mean(predictions.var(axis=0))
    return float(bias_squared), float(variance)

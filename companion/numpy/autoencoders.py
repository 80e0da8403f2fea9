"""NumPy references for the autoencoder chapters (part V).

Per-example quantities, float64 throughout, written to be read next to the
chapters' equations; the tests check the PyTorch and Keras code against them.
The corruptions of the denoising autoencoder live in ``companion.data``
(they are NumPy already) and are re-exported here.
"""
from __future__ import annotations

import numpy as np

from companion.data.corruptions import gaussian_noise, masking, salt_and_pepper  # noqa: F401

LOG_2PI = np.log(2.0 * np.pi)


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def gaussian_kl(mean, log_var) -> np.ndarray:
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` per example.

    ``0.5 * sum(exp(log_var) + mean**2 - 1 - log_var)``: non-negative, and zero
    exactly when ``mean = 0`` and ``log_var = 0``.
    """
    mean, log_var = _f64(mean, log_var)
    return 0.5 * np.sum(np.exp(log_var) + mean ** 2 - 1.0 - log_var, axis=-1)


def gaussian_kl_monte_carlo(mean, log_var, n: int = 100_000, rng=0) -> np.ndarray:
    """The same KL estimated as the mean of ``log q(z) - log p(z)`` over ``n`` samples of q."""
    mean, log_var = _f64(mean, log_var)
    rng = np.random.default_rng(rng)
    eps = rng.standard_normal((n, *mean.shape))
    z = mean + np.exp(0.5 * log_var) * eps
    log_q = -0.5 * np.sum(eps ** 2 + log_var + LOG_2PI, axis=-1)
    log_p = -0.5 * np.sum(z ** 2 + LOG_2PI, axis=-1)
    return np.mean(log_q - log_p, axis=0)


def bernoulli_log_likelihood(x, logits) -> np.ndarray:
    """``sum_i x_i log p_i + (1 - x_i) log(1 - p_i)`` with ``p = sigmoid(logits)``, stably."""
    x, logits = _f64(x, logits)
    return np.sum(x * logits - np.logaddexp(0.0, logits), axis=-1)


def gaussian_log_likelihood(x, mean, std: float = 1.0) -> np.ndarray:
    """``log N(x; mean, std**2 I)`` per example."""
    x, mean = _f64(x, mean)
    d = x.shape[-1]
    return -0.5 * np.sum((x - mean) ** 2, axis=-1) / std ** 2 - d * (np.log(std) + 0.5 * LOG_2PI)


def elbo(x, decoder_out, mean, log_var, beta: float = 1.0, likelihood: str = "bernoulli"):
    """``log p(x | z) - beta * KL(q(z | x) || p(z))`` per example, for one sample ``z``.

    ``decoder_out`` is the decoder's output at that ``z``: Bernoulli logits or
    the Gaussian mean. The loss that the models minimise is minus this.
    """
    if likelihood not in ("bernoulli", "gaussian"):
        raise ValueError(f"unknown likelihood {likelihood!r}; expected 'bernoulli' or 'gaussian'")
    ll = (bernoulli_log_likelihood if likelihood == "bernoulli" else gaussian_log_likelihood)(
        x, decoder_out)
    return ll - beta * gaussian_kl(mean, log_var)


def importance_weighted_bound(log_weights) -> np.ndarray:
    """``log (1/k) sum_i w_i`` per example, from ``log_weights`` of shape ``(k, batch)``.

    With ``k = 1`` it is the ELBO; it never decreases with ``k`` in expectation
    and, for the same samples, is never below their mean (Jensen's inequality).
    """
    (lw,) = _f64(log_weights)
    top = lw.max(axis=0)
    return top + np.log(np.mean(np.exp(lw - top), axis=0))


def active_units(means, threshold: float = 0.01) -> int:
    """Latent units whose posterior mean varies across the data: ``Cov_x(E_q[z_j]) > threshold``.

    ``means`` is ``(examples, code_size)``; a unit the encoder ignores
    (posterior collapse) has a mean that stays at the prior's 0 for every x.
    """
    (means,) = _f64(means)
    return int(np.sum(means.var(axis=0) > threshold))


def contractive_penalty(x, W, b) -> np.ndarray:
    """``||J||_F^2`` of the encoder ``h = sigmoid(x W^T + b)`` per example.

    ``W`` is ``(code, in)`` (PyTorch's layout). ``dh_j / dx_i = h_j (1 - h_j) W_ji``,
    so ``||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2`` (Rifai et al., 2011).
    """
    x, W, b = _f64(x, W, b)
    h = 1.0 / (1.0 + np.exp(-(x @ W.T + b)))
    return np.sum((h * (1.0 - h)) ** 2 * np.sum(W ** 2, axis=1), axis=-1)


def psnr(clean, estimate, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio ``10 log10(range^2 / MSE)`` in decibels, over the whole array."""
    clean, estimate = _f64(clean, estimate)
    return float(10.0 * np.log10(data_range ** 2 / np.mean((clean - estimate) ** 2)))


def principal_angles(A, B) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of ``A`` and ``B``."""
    A, B = _f64(A, B)
    qa, _ = np.linalg.qr(A)
    qb, _ = np.linalg.qr(B)
    s = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1.0, 1.0)
    return np.sort(np.arccos(s))

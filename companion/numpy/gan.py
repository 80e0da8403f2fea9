"""GANs in NumPy: the losses, their gradients, a finite-difference gradient penalty,
the ring of Gaussians and its mode counts (part VII, chapter: GAN).

Test oracles for ``companion/torch/gan.py`` and ``companion/keras/gan.py``,
and the measurements of the chapter. The input checks that both twins share
live here too, because they need no framework.
"""
from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- checks shared by the twins


def _dim(d):
    if d is None:
        return None
    try:
        return int(d)
    except Exception:   # a symbolic dimension (JAX tracing)
        return None


def check_slope(negative_slope) -> float:
    """A leaky ReLU slope in [0, 1)."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) \
            or not 0.0 <= negative_slope < 1.0:
        raise ValueError(f"negative_slope must be a number in [0, 1), got {negative_slope!r}")
    return float(negative_slope)


def check_dc_sizes(size: int, channels: tuple, model: str) -> int:
    """The size of the smallest feature map of a DCGAN pair: ``size / 2 ** len(channels)``."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if not channels:
        raise ValueError(f"{model}: channels must name at least one layer width")
    if size % (2 ** len(channels)):
        raise ValueError(f"{model}: size={size} must be divisible by 2 ** len(channels) = "
                         f"{2 ** len(channels)}")
    return size // 2 ** len(channels)


def check_noise(shape, latent_dim: int, model: str, image: bool = False,
                layout: str = "NCHW") -> None:
    """Require noise ``(batch, latent_dim)``; an image generator also takes ``z`` as a 1x1 image
    (``(batch, latent_dim, 1, 1)`` in NCHW, ``(batch, 1, 1, latent_dim)`` in NHWC)."""
    shape = tuple(_dim(d) for d in shape)
    if len(shape) == 2 and shape[1] in (None, latent_dim):
        return
    if image and len(shape) == 4:
        c_axis, spatial = (1, (2, 3)) if layout == "NCHW" else (3, (1, 2))
        if shape[c_axis] in (None, latent_dim) and all(shape[a] in (None, 1) for a in spatial):
            return
    if image:
        dims = f"{latent_dim}, 1, 1" if layout == "NCHW" else f"1, 1, {latent_dim}"
        where = ("PyTorch's channels-first NCHW layout" if layout == "NCHW"
                 else "Keras's channels-last NHWC layout")
        raise ValueError(f"{model} expected input of shape (batch, {dims}) in {where}, "
                         f"or flat noise (batch, {latent_dim}), got {shape}")
    raise ValueError(f"{model} expected input of shape (batch, {latent_dim}) (the noise z), "
                     f"got {shape}")


# ---------------------------------------------------------------- losses and their gradients

def softplus(x):
    x = np.asarray(x, dtype=np.float64)
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def discriminator_loss(real_logits, fake_logits) -> float:
    """``-mean log D(x) - mean log(1 - D(G(z)))`` with ``D = sigmoid(logit)``."""
    return float(np.mean(softplus(-np.asarray(real_logits))) + np.mean(softplus(fake_logits)))


def generator_loss(fake_logits, kind: str = "non_saturating") -> float:
    """``"minimax"``: mean log(1 - D); ``"non_saturating"``: -mean log D; ``"wasserstein"``: -mean f."""
    fake_logits = np.asarray(fake_logits, dtype=np.float64)
    if kind == "minimax":
        return float(np.mean(np.log1p(-sigmoid(fake_logits))))
    if kind == "non_saturating":
        return float(-np.mean(np.log(sigmoid(fake_logits))))
    if kind == "wasserstein":
        return float(-np.mean(fake_logits))
    raise ValueError(f"unknown generator loss {kind!r}; expected one of "
                     "['minimax', 'non_saturating', 'wasserstein']")


def generator_loss_slope(d_fake, kind: str = "non_saturating"):
    """The derivative of one sample's generator loss with respect to the discriminator's
    logit, as a function of ``D(G(z))``: ``-D`` (minimax), ``-(1 - D)`` (non-saturating).

    Everything the generator learns flows through this factor (the chain rule
    multiplies it by ``d logit / d theta_G``), so where it is near zero the
    generator learns nothing.
    """
    d = np.asarray(d_fake, dtype=np.float64)
    if kind == "minimax":
        return -d
    if kind == "non_saturating":
        return -(1.0 - d)
    raise ValueError(f"unknown generator loss {kind!r}; expected 'minimax' or 'non_saturating'")


# ---------------------------------------------------------------- the gradient penalty

def mlp_critic(weights):
    """A NumPy critic ``x -> (batch, 1)`` from ``[(W, b), ...]`` in PyTorch's ``(out, in)``
    layout, with leaky ReLUs (slope 0.2) between the layers (float64 throughout)."""
    weights = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in weights]

    def critic(x):
        h = np.asarray(x, dtype=np.float64)
        for i, (w, b) in enumerate(weights):
            h = h @ w.T + b
            if i < len(weights) - 1:
                h = np.where(h > 0, h, 0.2 * h)
        return h
    return critic


def gradient_penalty_fd(critic, real, fake, alpha, eps: float = 1e-6) -> float:
    """WGAN-GP's penalty with the input gradient by central finite differences.

    ``critic`` maps a NumPy batch to scores ``(batch, 1)``; examples do not
    interact, so perturbing coordinate ``j`` of every example at once gives
    every example's ``d f / d x_j``.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    a = np.asarray(alpha, np.float64).reshape(-1, *([1] * (real.ndim - 1)))
    x_hat = a * real + (1 - a) * fake
    flat = x_hat.reshape(len(x_hat), -1)
    grad = np.zeros_like(flat)
    for j in range(flat.shape[1]):
        step = np.zeros_like(flat)
        step[:, j] = eps
        up = critic((flat + step).reshape(x_hat.shape)).reshape(-1)
        down = critic((flat - step).reshape(x_hat.shape)).reshape(-1)
        grad[:, j] = (up - down) / (2 * eps)
    return float(np.mean((np.linalg.norm(grad, axis=1) - 1.0) ** 2))


# ---------------------------------------------------------------- the ring of Gaussians

def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The ``modes`` centres, evenly spaced on a circle of ``radius``, ``(modes, 2)``."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      seed: int = 0) -> np.ndarray:
    """``n`` points of an equal mixture of ``modes`` Gaussians (std ``std``) on a ring, float32."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    centres = ring_centres(modes, radius)
    which = rng.integers(0, modes, n)
    return (centres[which] + std * rng.standard_normal((n, 2))).astype(np.float32)


def mode_report(samples, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                min_share: float = 0.02) -> dict:
    """How well ``samples`` (``(n, 2)``) cover the ring.

    A sample is *high quality* when it lies within ``3 std`` of its nearest
    centre; a mode is *covered* when at least ``min_share`` of all samples
    are high-quality samples of that mode (a uniform generator gives each
    mode 1 / modes). Returns ``{"covered", "high_quality", "per_mode"}``:
    the number of covered modes, the share of high-quality samples, and each
    mode's share of the samples.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2), got {samples.shape}")
    centres = ring_centres(modes, radius)
    dist = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
    nearest, d = dist.argmin(1), dist.min(1)
    good = d < 3 * std
    per_mode = np.bincount(nearest[good], minlength=modes) / len(samples)
    return {"covered": int((per_mode >= min_share).sum()), "high_quality": float(good.mean()),
            "per_mode": per_mode}

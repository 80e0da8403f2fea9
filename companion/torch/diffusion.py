"""Noise predictors for denoising diffusion in PyTorch (chapter: diffusion models).

Read side by side with ``companion/keras/diffusion.py``: same class names,
same constructor arguments, same layer order. The schedule, the reverse steps
and the samplers are framework-free (``companion.numpy.diffusion``); this
module holds what learns:

* ``NoiseMLP``: ``eps_theta(x_t, t)`` for 2-D points, an MLP on sinusoidal
  features of the timestep *and* of the point (without the second, a small MLP
  cannot draw a thin spiral);
* ``NoisePredictor``: ``eps_theta(x_t, t, y)`` for flattened 8x8 digits, with a
  learned embedding of the class ``y`` and one extra "null" class
  (``y = num_classes``) that stands for "no label", so that one network is both
  the conditional and the unconditional model of classifier-free guidance.

Both are called ``model(x, t=None, labels=None)``. ``t`` is an integer timestep
per example (or one for the batch); ``None`` means ``t = 0``, the nearly clean
end, so that ``model(x)`` with one input, as the registry's generic tests call
it, is well defined. ``labels=None`` means the null class.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from companion.checks import check_features, check_float, check_positive_int


def timestep_features(t: torch.Tensor, size: int, max_period: float = 10_000.0,
                      dtype=torch.float32) -> torch.Tensor:
    """Sinusoidal features of the timestep, ``(batch, size)``: ``[sin(t w_k), cos(t w_k)]``
    with ``w_k = max_period ** (-k / (size / 2))``, the Transformer's positional encoding."""
    half = size // 2
    w = torch.exp(-math.log(max_period) * torch.arange(half, dtype=dtype) / half)
    angle = t.to(dtype)[:, None] * w[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def point_features(x: torch.Tensor, frequencies: int) -> torch.Tensor:
    """``x`` followed by ``sin(2^k x)`` and ``cos(2^k x)`` for ``k < frequencies`` (Fourier features)."""
    if frequencies == 0:
        return x
    scales = 2.0 ** torch.arange(frequencies, dtype=x.dtype)
    angle = (x[:, :, None] * scales).flatten(1)
    return torch.cat([x, torch.sin(angle), torch.cos(angle)], dim=1)


def _timesteps(t, batch: int, model: str) -> torch.Tensor:
    if t is None:
        return torch.zeros(batch)
    t = torch.as_tensor(t)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{model}: t must be a scalar or of shape (batch,) = ({batch},), "
                         f"got {tuple(t.shape)}")
    if (t < 0).any():
        raise ValueError(f"{model}: timesteps must be >= 0")
    return t


def _check_size(value, what: str, even: bool = False) -> None:
    check_positive_int(value, what)
    if even and value % 2:
        raise ValueError(f"{what} must be even (sine and cosine pairs), got {value}")


class NoiseMLP(nn.Module):
    """``eps_theta(x_t, t)`` for points in ``dim`` dimensions (chapter: diffusion models).

    Input features: the point, its Fourier features (``x_frequencies`` per
    coordinate, 0 for none) and ``time_features`` sinusoidal features of ``t``;
    then ``depth`` hidden layers of width ``hidden`` with SiLU, and a linear
    output of size ``dim``.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, time_features: int = 32,
                 x_frequencies: int = 4):
        super().__init__()
        for value, what in ((dim, "dim"), (hidden, "hidden"), (depth, "depth")):
            _check_size(value, what)
        _check_size(time_features, "time_features", even=True)
        if isinstance(x_frequencies, bool) or not isinstance(x_frequencies, int) or x_frequencies < 0:
            raise ValueError(f"x_frequencies must be an integer >= 0, got {x_frequencies!r}")
        self.dim, self.time_features, self.x_frequencies = dim, time_features, x_frequencies
        width = dim * (1 + 2 * x_frequencies) + time_features
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        check_features(x.shape, self.dim, "NoiseMLP")
        check_float(x.dtype, "NoiseMLP", self)
        t = _timesteps(t, len(x), "NoiseMLP")
        h = torch.cat([point_features(x, self.x_frequencies),
                       timestep_features(t, self.time_features, dtype=x.dtype)], dim=1)
        return self.net(h)


class NoisePredictor(nn.Module):
    """``eps_theta(x_t, t, y)`` for flattened images with class labels (chapter: diffusion models).

    A label embedding (``num_classes + 1`` rows; the last is the null class
    used for unconditional predictions and dropped-out labels), sinusoidal
    timestep features, and an MLP of ``depth`` SiLU layers of width ``hidden``
    on ``[x, time features, label embedding]``. For 8x8 digits an MLP is
    enough and several times faster on a CPU than a small U-Net.
    """

    def __init__(self, in_features: int = 64, num_classes: int = 10, hidden: int = 256,
                 depth: int = 3, time_features: int = 32, label_features: int = 32):
        super().__init__()
        for value, what in ((in_features, "in_features"), (num_classes, "num_classes"),
                            (hidden, "hidden"), (depth, "depth"),
                            (label_features, "label_features")):
            _check_size(value, what)
        _check_size(time_features, "time_features", even=True)
        self.in_features, self.num_classes, self.time_features = in_features, num_classes, time_features
        self.label_embedding = nn.Embedding(num_classes + 1, label_features)
        width = in_features + time_features + label_features
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, in_features))

    @property
    def null_class(self) -> int:
        """The label that means "no label": ``num_classes``."""
        return self.num_classes

    def forward(self, x: torch.Tensor, t=None, labels=None) -> torch.Tensor:
        check_features(x.shape, self.in_features, "NoisePredictor")
        check_float(x.dtype, "NoisePredictor", self)
        t = _timesteps(t, len(x), "NoisePredictor")
        if labels is None:
            labels = torch.full((len(x),), self.null_class, dtype=torch.long)
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.shape != (len(x),):
            raise ValueError(f"NoisePredictor: labels must have shape (batch,) = ({len(x)},), "
                             f"got {tuple(labels.shape)}")
        if (labels < 0).any() or (labels > self.num_classes).any():
            raise ValueError(f"NoisePredictor: labels must lie in [0, {self.num_classes}] "
                             f"({self.num_classes} is the null class)")
        h = torch.cat([x, timestep_features(t, self.time_features, dtype=x.dtype),
                       self.label_embedding(labels)], dim=1)
        return self.net(h)


# ---------------------------------------------------------------- training

def eps_loss(model: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
             alpha_bar: torch.Tensor, labels=None) -> torch.Tensor:
    """The simplified DDPM loss: the mean squared error between ``noise`` and
    ``model(sqrt(ab_t) x0 + sqrt(1 - ab_t) noise, t)``."""
    ab = alpha_bar[t].reshape((-1,) + (1,) * (x0.ndim - 1)).to(x0.dtype)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    pred = model(x_t, t) if labels is None else model(x_t, t, labels)
    return ((pred - noise) ** 2).mean()


def train_diffusion(model: nn.Module, x0, schedule, *, epochs: int, lr: float = 1e-3,
                    batch_size: int = 128, labels=None, p_uncond: float = 0.1,
                    seed: int = 0) -> dict:
    """Train a noise predictor with Adam on the eps-prediction loss.

    Every batch draws a timestep per example uniformly from ``[0, T)`` and fresh
    Gaussian noise. With ``labels`` (a conditional model), each label is
    replaced by the null class with probability ``p_uncond``, which trains the
    unconditional model of classifier-free guidance at the same time.
    ``schedule``: a ``companion.numpy.diffusion.Schedule``. Returns
    ``{"loss": [one mean per epoch]}``.
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if not 0.0 <= p_uncond < 1.0:
        raise ValueError(f"p_uncond must lie in [0, 1), got {p_uncond!r}")
    x0 = torch.as_tensor(np.asarray(x0, dtype=np.float32))
    y = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if y is not None and y.shape != (len(x0),):
        raise ValueError(f"labels must have shape (batch,) = ({len(x0)},), got {tuple(y.shape)}")
    alpha_bar = torch.as_tensor(schedule.alpha_bar, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": []}
    model.train()
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(x0), generator=generator).split(batch_size):
            xb = x0[idx]
            t = torch.randint(0, schedule.num_steps, (len(idx),), generator=generator)
            noise = torch.randn(xb.shape, generator=generator)
            yb = None
            if y is not None:
                drop = torch.rand(len(idx), generator=generator) < p_uncond
                yb = torch.where(drop, torch.full_like(y[idx], model.null_class), y[idx])
            loss = eps_loss(model, xb, t, noise, alpha_bar, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history["loss"].append(total / len(x0))
    model.eval()
    return history


# ---------------------------------------------------------------- sampling

def eps_fn(model: nn.Module, labels=None, guidance: float = 1.0):
    """The model as a NumPy callable ``eps(x, t)`` for the samplers of ``companion.numpy.diffusion``.

    With ``labels`` (one per sample) and ``guidance`` other than 1, the
    conditional and unconditional predictions come from one batched call and
    are combined by classifier-free guidance, ``eps_u + guidance (eps_c - eps_u)``.
    """
    def predict(x, t):
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        t = torch.as_tensor(t)
        with torch.no_grad():
            if labels is None:
                return model(x, t).numpy()
            y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
            if guidance == 1.0:
                return model(x, t, y).numpy()
            null = torch.full_like(y, model.null_class)
            both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null])).numpy()
            conditional, unconditional = both[:len(x)], both[len(x):]
            return unconditional + guidance * (conditional - unconditional)
    return predict

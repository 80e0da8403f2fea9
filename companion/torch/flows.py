"""A normalizing flow and an energy-based model in PyTorch (Part VII: Generative models).

Read side by side with ``companion/keras/flows.py``: same class names, same constructor
arguments, same layer order. Both models live in the overview chapter
``book/generative/index.md`` and work on low-dimensional data (two moons).

* ``RealNVP`` (Dinh et al., 2017): a stack of affine coupling layers. It maps data ``x``
  to a standard normal ``z``; its Jacobian is triangular, so ``log |det J|`` is a sum,
  and the change of variables gives the exact log-likelihood
  ``log p(x) = log N(z; 0, I) + log |det dz/dx|``.
* ``EnergyMLP``: an unnormalized density ``p(x) proportional to exp(-E(x))``. It is trained
  here by noise-contrastive estimation (a logistic classifier between data and a known
  noise density, Gutmann and Hyvarinen 2010) and sampled with Langevin dynamics, which
  needs only the gradient of ``E``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from companion.checks import check_float, check_positive_int

LOG_2PI = math.log(2.0 * math.pi)


def _check_points(x: torch.Tensor, dim: int, model: str, owner: nn.Module) -> None:
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{model} expected input of shape (batch, {dim}), got {tuple(x.shape)}")
    check_float(str(x.dtype), model, owner)


class AffineCoupling(nn.Module):
    """One affine coupling layer: the coordinates where ``mask`` is 1 pass unchanged and
    set a scale and a shift for the others.

    ``y = m * x + (1 - m) * (x * exp(s) + t)`` with ``(s, t) = net(m * x)`` and
    ``s = tanh(raw)`` (a bounded log-scale keeps early training stable). The Jacobian
    is triangular with diagonal ``exp(s)`` on the changed coordinates, so
    ``log |det J| = sum((1 - m) * s)``. The last layer starts at zero: the flow starts
    as the identity.
    """

    def __init__(self, dim: int, hidden: int, parity: int):
        super().__init__()
        mask = (torch.arange(dim) + parity) % 2 == 0
        self.register_buffer("mask", mask.float(), persistent=False)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, x_kept):
        raw_s, t = self.net(x_kept).chunk(2, dim=-1)
        free = 1.0 - self.mask
        return torch.tanh(raw_s) * free, t * free

    def forward(self, x):
        """``(y, log |det dy/dx|)``, the log-determinant per example ``(batch,)``."""
        s, t = self._scale_shift(x * self.mask)
        return x * torch.exp(s) + t, s.sum(-1)

    def inverse(self, y):
        s, t = self._scale_shift(y * self.mask)   # the kept coordinates are unchanged
        return (y - t) * torch.exp(-s)


class RealNVP(nn.Module):
    """RealNVP: ``layers`` affine couplings that alternate which coordinates they change.

    ``model(x)`` returns ``z`` ``(batch, dim)``; ``model(x, return_log_det=True)`` returns
    ``(z, log_det)`` with ``log_det = log |det dz/dx|`` per example. ``log_prob(x)`` is the
    exact log-density under a standard normal base, ``inverse(z)`` maps back, ``sample(n)``
    draws ``z ~ N(0, I)`` and inverts.
    """

    def __init__(self, dim: int = 2, hidden: int = 64, layers: int = 6):
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(hidden, "hidden")
        check_positive_int(layers, "layers")
        if dim < 2:
            raise ValueError(f"RealNVP needs dim >= 2 (a coupling splits the coordinates), got {dim}")
        self.dim, self.hidden = dim, hidden
        self.couplings = nn.ModuleList(AffineCoupling(dim, hidden, i % 2) for i in range(layers))

    def forward(self, x: torch.Tensor, return_log_det: bool = False):
        _check_points(x, self.dim, "RealNVP", self)
        log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for coupling in self.couplings:
            x, ld = coupling(x)
            log_det = log_det + ld
        return (x, log_det) if return_log_det else x

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """``x`` with ``model(x) == z``: the couplings undone in reverse order."""
        _check_points(z, self.dim, "RealNVP", self)
        for coupling in reversed(self.couplings):
            z = coupling.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = log N(z; 0, I) + log |det dz/dx|`` per example ``(batch,)``."""
        z, log_det = self(x, return_log_det=True)
        return -0.5 * (z ** 2).sum(-1) - 0.5 * self.dim * LOG_2PI + log_det

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``(n, dim)``: ``z ~ N(0, I)`` pushed through ``inverse``."""
        check_positive_int(n, "n")
        weight = next(self.parameters())
        z = torch.randn(n, self.dim, generator=generator, dtype=weight.dtype)
        return self.inverse(z.to(weight.device))


class EnergyMLP(nn.Module):
    """An energy ``E(x)``: an MLP ``dim -> hidden -> hidden -> 1`` with SiLU (smooth, so
    Langevin dynamics has a smooth gradient). ``model(x)`` returns ``E(x)`` ``(batch,)``;
    the model's density is ``exp(-E(x)) / Z``.
    """

    def __init__(self, dim: int = 2, hidden: int = 64):
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(hidden, "hidden")
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_points(x, self.dim, "EnergyMLP", self)
        return self.net(x).squeeze(-1)


# ---------------------------------------------------------------- training and sampling

def gaussian_log_density(x: torch.Tensor, mean, cov) -> torch.Tensor:
    """``log N(x; mean, cov)`` per row of ``x`` (the noise density of NCE, the baseline)."""
    mean = torch.as_tensor(np.asarray(mean), dtype=x.dtype)
    cov = torch.as_tensor(np.asarray(cov), dtype=x.dtype)
    return torch.distributions.MultivariateNormal(mean, cov).log_prob(x)


def train_flow(model: RealNVP, x, *, epochs: int = 100, batch_size: int = 256,
               lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Maximum likelihood: minimise ``-mean log p(x)`` with Adam. Returns the loss per epoch."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    model.train()
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = -model.log_prob(x[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history.append(total / len(x))
    return history


def train_energy_nce(model: EnergyMLP, x, *, epochs: int = 100, batch_size: int = 256,
                     lr: float = 3e-3, seed: int = 0) -> tuple[list[float], tuple]:
    """Noise-contrastive estimation of ``E``.

    Noise: a Gaussian ``q`` with the data's mean and covariance (1.5 times widened),
    one noise point per data point. A logistic classifier with logit
    ``-E(x) - log q(x)`` separates data (label 1) from noise (label 0); at its optimum
    ``-E(x) = log p_data(x)``, normalisation included. Returns the loss per epoch
    and the noise's ``(mean, cov)``.
    """
    x_np = np.asarray(x, dtype=np.float32)
    mean, cov = x_np.mean(0), 1.5 * np.cov(x_np, rowvar=False)
    rng = np.random.default_rng(seed)
    noise = rng.multivariate_normal(mean, cov, size=len(x_np)).astype(np.float32)
    inputs = torch.as_tensor(np.concatenate([x_np, noise]))
    labels = torch.cat([torch.ones(len(x_np)), torch.zeros(len(noise))])
    log_q = gaussian_log_density(inputs, mean, cov)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    bce = nn.BCEWithLogitsLoss()
    history = []
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(inputs), generator=gen).split(batch_size):
            loss = bce(-model(inputs[idx]) - log_q[idx], labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history.append(total / len(inputs))
    return history, (mean, cov)


def langevin_sample(energy: nn.Module, x0, *, steps: int = 200, step_size: float = 0.01,
                    seed: int = 0) -> np.ndarray:
    """Unadjusted Langevin dynamics ``x <- x - (eta / 2) grad E(x) + sqrt(eta) * noise``.

    For small ``eta`` and many steps the points are distributed as ``exp(-E(x)) / Z``.
    Returns the final points as NumPy ``(n, dim)``.
    """
    check_positive_int(steps, "steps")
    if not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size!r}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(np.asarray(x0, dtype=np.float32)).clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(x).sum(), x)
        noise = torch.randn(x.shape, generator=gen)
        x = (x - 0.5 * step_size * grad + math.sqrt(step_size) * noise).detach()
    return x.numpy()

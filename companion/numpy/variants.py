"""Short variants of part VIII's overview, by hand: a self-organizing map, a leaky
integrate-and-fire neuron, routing by agreement between capsules."""
from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------- self-organizing map

def som_train(x, rows: int, cols: int, iterations: int, lr0: float = 0.5, sigma0: float | None = None,
              seed: int = 0, sigma_end: float = 1.0):
    """Kohonen's online rule. Returns the codebook ``(rows, cols, features)``.

    Each step draws one example, finds its best-matching unit (BMU) and moves
    every unit towards the example by ``lr(t) * exp(-d^2 / (2 sigma(t)^2))``, where
    ``d`` is the unit's distance to the BMU *on the grid*; ``lr`` and ``sigma``
    decay exponentially (sigma from ``sigma0``, by default half the map, to ``sigma_end``).
    """
    x = np.asarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    sigma0 = sigma0 if sigma0 is not None else max(rows, cols) / 2
    w = rng.uniform(x.min(0), x.max(0), size=(rows, cols, x.shape[1]))
    grid = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), axis=-1)
    for t in range(iterations):
        frac = t / iterations
        lr, sigma = lr0 * (0.01 / lr0) ** frac, sigma0 * (sigma_end / sigma0) ** frac
        sample = x[rng.integers(len(x))]
        bmu = np.unravel_index(np.argmin(((w - sample) ** 2).sum(-1)), (rows, cols))
        d2 = ((grid - np.array(bmu)) ** 2).sum(-1)
        w += (lr * np.exp(-d2 / (2 * sigma ** 2)))[..., None] * (sample - w)
    return w


def som_bmus(w, x):
    """Grid coordinates of each example's best-matching unit, ``(n, 2)``."""
    flat = w.reshape(-1, w.shape[-1])
    idx = np.argmin(((np.asarray(x)[:, None, :] - flat[None]) ** 2).sum(-1), axis=1)
    return np.stack(np.unravel_index(idx, w.shape[:2]), axis=1)


def quantization_error(w, x) -> float:
    """Mean distance from each example to its best-matching unit."""
    flat = w.reshape(-1, w.shape[-1])
    d = np.sqrt(((np.asarray(x)[:, None, :] - flat[None]) ** 2).sum(-1))
    return float(d.min(axis=1).mean())


def topographic_error(w, x) -> float:
    """Fraction of examples whose best and second-best units are not grid neighbours."""
    flat = w.reshape(-1, w.shape[-1])
    d = ((np.asarray(x)[:, None, :] - flat[None]) ** 2).sum(-1)
    first, second = np.argsort(d, axis=1)[:, :2].T
    a = np.stack(np.unravel_index(first, w.shape[:2]), 1)
    b = np.stack(np.unravel_index(second, w.shape[:2]), 1)
    return float((np.abs(a - b).max(axis=1) > 1).mean())


def u_matrix(w):
    """Mean distance from each unit's weight vector to its 4 grid neighbours': high = a border."""
    rows, cols, _ = w.shape
    u = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            nbrs = [(i + di, j + dj) for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0))
                    if 0 <= i + di < rows and 0 <= j + dj < cols]
            u[i, j] = np.mean([np.linalg.norm(w[i, j] - w[a, b]) for a, b in nbrs])
    return u


# ---------------------------------------------------------------- spiking neuron

def lif_simulate(current, duration: float = 1.0, dt: float = 5e-4, tau: float = 0.02,
                 threshold: float = 1.0, t_ref: float = 0.002):
    """A leaky integrate-and-fire neuron (resting and reset potential 0, membrane
    resistance 1): ``tau dV/dt = -V + I``; a spike when ``V >= threshold``, then
    ``V = 0`` for ``t_ref`` seconds. ``current`` may be an array (one neuron each).
    Returns ``(spike counts, voltage trace of shape (steps, neurons))``."""
    current = np.atleast_1d(np.asarray(current, dtype=float))
    v = np.zeros_like(current)
    refractory = np.zeros_like(current)
    counts = np.zeros_like(current)
    trace = []
    for _ in range(int(round(duration / dt))):
        active = refractory <= 0
        v = np.where(active, v + dt / tau * (-v + current), 0.0)
        refractory -= dt
        spike = v >= threshold
        counts += spike
        v = np.where(spike, 0.0, v)
        refractory = np.where(spike, t_ref, refractory)
        trace.append(v.copy())
    return counts, np.array(trace)


def lif_rate(current, tau: float = 0.02, threshold: float = 1.0, t_ref: float = 0.002):
    """The exact firing rate (spikes per second) of :func:`lif_simulate`'s neuron in continuous
    time: ``1 / (t_ref + tau ln(I / (I - threshold)))`` above threshold, 0 below."""
    current = np.asarray(current, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        period = t_ref + tau * np.log(current / (current - threshold))
    return np.where(current > threshold, 1.0 / period, 0.0)


# ---------------------------------------------------------------- capsules

def squash(s, axis: int = -1):
    """Sabour et al.'s non-linearity: keeps the direction, maps the length to ``|s|^2 / (1 + |s|^2)``."""
    s = np.asarray(s, dtype=float)
    n2 = (s ** 2).sum(axis=axis, keepdims=True)
    return n2 / (1 + n2) * s / np.sqrt(n2 + 1e-12)


def routing_by_agreement(u_hat, iterations: int = 3):
    """Dynamic routing. ``u_hat[i, j]`` is lower capsule i's prediction for upper capsule j.

    Returns ``(v, c)``: the upper capsules' outputs ``(upper, dim)`` and the coupling
    coefficients ``(lower, upper)``. Couplings start uniform and grow for the lower
    capsules whose predictions agree (large dot product) with the upper capsule's output.
    """
    u_hat = np.asarray(u_hat, dtype=float)
    b = np.zeros(u_hat.shape[:2])
    for _ in range(iterations):
        c = np.exp(b) / np.exp(b).sum(axis=1, keepdims=True)
        v = squash((c[..., None] * u_hat).sum(axis=0))
        b = b + (u_hat * v[None]).sum(-1)
    return v, c

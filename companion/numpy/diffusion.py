"""Denoising diffusion in NumPy: the oracle for both frameworks (chapter: diffusion models).

Everything the chapter derives, in float64 and in the conventions of Hugging
Face ``diffusers`` (``DDPMScheduler`` with ``clip_sample=False`` and
``DDIMScheduler`` with ``eta=0``), so that ``tests/test_diffusion.py`` can
compare the two number for number:

* timesteps are ``0, 1, ..., T - 1``; step ``t`` multiplies the signal by
  ``sqrt(1 - betas[t])``, so ``alpha_bar[t] = prod(1 - betas[:t + 1])`` and
  ``alpha_bar[0] = 1 - betas[0]`` (the paper's ``t = 1``);
* the linear schedule runs from ``beta_start = 1e-4`` to ``beta_end = 0.02``;
  the cosine schedule is Nichol and Dhariwal's, ``s = 0.008``, with each beta
  capped at 0.999 (``diffusers``' ``"squaredcos_cap_v2"``);
* the reverse variance is the "fixed small" one, the posterior variance
  ``beta_tilde``;
* DDIM uses ``"leading"`` spacing: ``n`` steps of ``T // n`` starting at 0.

A noise predictor is any callable ``eps_fn(x, t)`` that takes a batch ``x``
and an integer array ``t`` of shape ``(batch,)`` and returns the predicted
noise, shaped like ``x``; the samplers below call it once per step, so the
same loop serves a PyTorch model, a Keras model or an exact oracle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCHEDULES = ("linear", "cosine")


# ---------------------------------------------------------------- schedules

def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """``num_steps`` betas evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020)."""
    _check_steps(num_steps, "num_steps")
    return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)


def cosine_alpha_bar(u, s: float = 0.008) -> np.ndarray:
    """Nichol and Dhariwal's ``f(u) = cos((u + s) / (1 + s) * pi / 2) ** 2`` at fractions ``u`` of T."""
    return np.cos((np.asarray(u, dtype=np.float64) + s) / (1 + s) * math.pi / 2) ** 2


def cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Betas whose running product follows ``cosine_alpha_bar``: ``1 - f((t+1)/T) / f(t/T)``,
    capped at ``max_beta`` (the last steps would otherwise reach 1)."""
    _check_steps(num_steps, "num_steps")
    u = np.arange(num_steps + 1) / num_steps
    f = cosine_alpha_bar(u, s)
    return np.minimum(1.0 - f[1:] / f[:-1], max_beta)


def _check_steps(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


@dataclass(frozen=True, eq=False)
class Schedule:
    """The quantities of a noise schedule, computed once from ``betas`` (shape ``(T,)``).

    ``alphas = 1 - betas``; ``alpha_bar[t]`` is the product of ``alphas[:t + 1]``,
    the share of the signal's variance left after step ``t``;
    ``alpha_bar_prev[t] = alpha_bar[t - 1]`` with ``alpha_bar_prev[0] = 1``;
    ``posterior_variance[t]`` is ``beta_tilde_t = (1 - alpha_bar_prev) / (1 - alpha_bar) * beta``.
    Build one with ``Schedule.make(T, "linear")`` or ``Schedule(betas)``.
    """

    betas: np.ndarray

    def __post_init__(self):
        betas = np.asarray(self.betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0:
            raise ValueError(f"betas must be a non-empty 1-D array of shape (T,), got shape {betas.shape}")
        if not np.all((betas > 0) & (betas < 1)):
            bad = betas[~((betas > 0) & (betas < 1))][:3]
            raise ValueError(f"every beta must lie in the open interval (0, 1), got {bad.tolist()}")
        alphas = 1.0 - betas
        alpha_bar = np.cumprod(alphas)
        alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "alphas", alphas)
        object.__setattr__(self, "alpha_bar", alpha_bar)
        object.__setattr__(self, "alpha_bar_prev", alpha_bar_prev)
        object.__setattr__(self, "posterior_variance",
                           (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * betas)

    @classmethod
    def make(cls, num_steps: int = 1000, kind: str = "linear", **kwargs) -> "Schedule":
        """``kind="linear"`` (``beta_start``, ``beta_end``) or ``"cosine"`` (``s``, ``max_beta``)."""
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; expected one of {list(SCHEDULES)}")
        return cls(linear_betas(num_steps, **kwargs) if kind == "linear"
                   else cosine_betas(num_steps, **kwargs))

    @property
    def num_steps(self) -> int:
        """T, the number of noising steps."""
        return len(self.betas)

    # -------------------------------------------------------- checks
    def _t(self, t, batch: int) -> np.ndarray:
        t = np.asarray(t)
        if t.ndim == 0:
            t = np.full(batch, t)
        if t.shape != (batch,):
            raise ValueError(f"t must be a scalar or of shape (batch,) = ({batch},), got shape {t.shape}")
        if not np.issubdtype(t.dtype, np.integer):
            if not np.all(t == np.round(t)):
                raise ValueError("t must hold whole timesteps")
            t = t.astype(np.int64)
        if t.min() < 0 or t.max() >= self.num_steps:
            raise ValueError(f"timesteps must lie in [0, {self.num_steps}), got {t.min()}..{t.max()}")
        return t

    @staticmethod
    def _same_shape(x, other, what: str):
        x, other = np.asarray(x, dtype=np.float64), np.asarray(other, dtype=np.float64)
        if x.ndim < 1 or x.shape != other.shape:
            raise ValueError(f"{what} must have the shape of x, (batch, ...) = {x.shape}, "
                             f"got {other.shape}")
        return x, other

    def _col(self, values: np.ndarray, t: np.ndarray, ndim: int) -> np.ndarray:
        """``values[t]`` shaped ``(batch, 1, ..., 1)`` to broadcast over a batch of ``ndim`` axes."""
        return values[t].reshape((-1,) + (1,) * (ndim - 1))

    # -------------------------------------------------------- the forward process
    def q_sample(self, x0, t, noise) -> np.ndarray:
        """A draw from ``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)`` for the given noise."""
        x0, noise = self._same_shape(x0, noise, "noise")
        t = self._t(t, len(x0))
        ab = self._col(self.alpha_bar, t, x0.ndim)
        return np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * noise

    def predict_x0(self, x_t, t, eps) -> np.ndarray:
        """The clean input implied by a noise estimate: ``(x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``."""
        x_t, eps = self._same_shape(x_t, eps, "eps")
        t = self._t(t, len(x_t))
        ab = self._col(self.alpha_bar, t, x_t.ndim)
        return (x_t - np.sqrt(1.0 - ab) * eps) / np.sqrt(ab)

    def posterior(self, x0, x_t, t):
        """Mean and variance of ``q(x_{t-1} | x_t, x_0)``, a Gaussian.

        mean = ``sqrt(alpha_bar_prev) beta_t / (1 - alpha_bar_t) x_0 +
        sqrt(alpha_t) (1 - alpha_bar_prev) / (1 - alpha_bar_t) x_t``;
        variance = ``beta_tilde_t`` (zero at ``t = 0``). Returns ``(mean, variance)``,
        the variance of shape ``(batch,)``.
        """
        x_t, x0 = self._same_shape(x_t, x0, "x0")
        t = self._t(t, len(x_t))
        col = lambda v: self._col(v, t, x_t.ndim)   # noqa: E731
        one_minus = 1.0 - col(self.alpha_bar)
        mean = (np.sqrt(col(self.alpha_bar_prev)) * col(self.betas) / one_minus * x0
                + np.sqrt(col(self.alphas)) * (1.0 - col(self.alpha_bar_prev)) / one_minus * x_t)
        return mean, self.posterior_variance[t]

    # -------------------------------------------------------- reverse steps
    def ddpm_mean(self, x_t, t, eps) -> np.ndarray:
        """The reverse mean from a noise estimate: ``(x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t)``.

        Equal to ``posterior(predict_x0(x_t, t, eps), x_t, t)[0]``.
        """
        x_t, eps = self._same_shape(x_t, eps, "eps")
        t = self._t(t, len(x_t))
        col = lambda v: self._col(v, t, x_t.ndim)   # noqa: E731
        return (x_t - col(self.betas) / np.sqrt(1.0 - col(self.alpha_bar)) * eps) / np.sqrt(col(self.alphas))

    def ddpm_step(self, x_t, t, eps, noise=None, clip=None) -> np.ndarray:
        """One ancestral step ``x_t -> x_{t-1}``: the mean plus ``sqrt(beta_tilde_t)`` times ``noise``.

        ``noise`` (shaped like ``x_t``) is ignored where ``t = 0``; ``None`` means zero noise.
        ``clip``: a number ``c`` clips the implied clean input ``x0_hat`` to ``[-c, c]``
        before the posterior mean is formed (``diffusers``' ``clip_sample=True`` with
        ``clip_sample_range=c``); ``None`` does not clip.
        """
        if clip is None:
            mean = self.ddpm_mean(x_t, t, eps)
        else:
            x0_hat = np.clip(self.predict_x0(x_t, t, eps), -clip, clip)
            mean = self.posterior(x0_hat, x_t, t)[0]
        if noise is None:
            return mean
        mean, noise = self._same_shape(mean, noise, "noise")
        t = self._t(t, len(mean))
        return mean + self._col(np.sqrt(self.posterior_variance), t, mean.ndim) * noise

    def ddim_timesteps(self, num_inference_steps: int) -> np.ndarray:
        """The DDIM timesteps, largest first, with ``"leading"`` spacing: ``(n - 1) k, ..., k, 0``
        for ``k = T // n`` (T = 1000, n = 50: 980, 960, ..., 0)."""
        _check_steps(num_inference_steps, "num_inference_steps")
        if num_inference_steps > self.num_steps:
            raise ValueError(f"num_inference_steps={num_inference_steps} is larger than the "
                             f"schedule's T={self.num_steps}")
        k = self.num_steps // num_inference_steps
        return (np.arange(num_inference_steps) * k)[::-1].astype(np.int64)

    def ddim_step(self, x_t, t, t_prev, eps, clip=None) -> np.ndarray:
        """A deterministic DDIM step (``eta = 0``) from ``t`` to ``t_prev < t``
        (``t_prev = -1`` means the end, ``alpha_bar = 1``):
        ``sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps``.
        ``clip`` clips ``x0_hat`` as in ``ddpm_step`` and then re-derives ``eps`` from the
        clipped ``x0_hat``, so that the two stay consistent (``diffusers``'
        ``use_clipped_model_output=True``; without it, repeated clipping drifts)."""
        x0_hat = self.predict_x0(x_t, t, eps)
        if clip is not None:
            x0_hat = np.clip(x0_hat, -clip, clip)
            ab = self._col(self.alpha_bar, self._t(t, len(x0_hat)), x0_hat.ndim)
            eps = (np.asarray(x_t, dtype=np.float64) - np.sqrt(ab) * x0_hat) / np.sqrt(1.0 - ab)
        t = self._t(t, len(x0_hat))
        t_prev = np.asarray(t_prev)
        t_prev = np.full(len(x0_hat), t_prev) if t_prev.ndim == 0 else t_prev
        if t_prev.shape != t.shape or np.any(t_prev >= t) or np.any(t_prev < -1):
            raise ValueError(f"t_prev must satisfy -1 <= t_prev < t, shape (batch,); got {t_prev}")
        ab_prev = np.where(t_prev >= 0, self.alpha_bar[np.maximum(t_prev, 0)], 1.0)
        ab_prev = ab_prev.reshape((-1,) + (1,) * (x0_hat.ndim - 1))
        return np.sqrt(ab_prev) * x0_hat + np.sqrt(1.0 - ab_prev) * np.asarray(eps, dtype=np.float64)

    # -------------------------------------------------------- samplers
    def _predict(self, eps_fn, x, t):
        eps = np.asarray(eps_fn(x, np.full(len(x), t, dtype=np.int64)), dtype=np.float64)
        if eps.shape != x.shape:
            raise ValueError(f"eps_fn must return the shape of x, {x.shape}, got {eps.shape}")
        return eps

    def sample_ddpm(self, eps_fn, shape, rng=0, trajectory: bool = False, clip=None):
        """Ancestral sampling: ``x_T ~ N(0, I)``, then ``T`` calls of ``eps_fn`` and ``ddpm_step``.

        ``rng``: a seed or ``np.random.Generator``; ``clip`` as in ``ddpm_step``. Returns the samples, and the
        list of all ``T + 1`` states (``x_T`` first) when ``trajectory`` is true.
        """
        rng = np.random.default_rng(rng)
        x = rng.standard_normal(tuple(shape))
        states = [x]
        for t in range(self.num_steps - 1, -1, -1):
            eps = self._predict(eps_fn, x, t)
            x = self.ddpm_step(x, t, eps, rng.standard_normal(x.shape) if t > 0 else None, clip)
            if trajectory:
                states.append(x)
        return (x, states) if trajectory else x

    def sample_ddim(self, eps_fn, shape, num_inference_steps: int, rng=0, trajectory: bool = False,
                    clip=None):
        """Deterministic DDIM sampling with ``num_inference_steps`` calls of ``eps_fn``.

        Only ``x_T`` is random, so the same ``rng`` gives the same samples.
        """
        steps = self.ddim_timesteps(num_inference_steps)
        x = np.random.default_rng(rng).standard_normal(tuple(shape))
        states = [x]
        for i, t in enumerate(steps):
            t_prev = steps[i + 1] if i + 1 < len(steps) else -1
            x = self.ddim_step(x, t, t_prev, self._predict(eps_fn, x, t), clip)
            if trajectory:
                states.append(x)
        return (x, states) if trajectory else x


def guided_eps(eps_conditional, eps_unconditional, scale: float):
    """Classifier-free guidance: ``eps_u + scale (eps_c - eps_u)``.

    ``scale = 0`` is the unconditional model, ``1`` the conditional one, and
    larger values push further along the difference (the convention of
    ``diffusers``; Ho and Salimans write ``(1 + w) eps_c - w eps_u``, so ``w = scale - 1``).
    """
    return eps_unconditional + scale * (eps_conditional - eps_unconditional)


# ---------------------------------------------------------------- a 2-D test bed

def swiss_roll(n: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """``n`` points of a 2-D swiss roll, scaled to about unit spread, float32 ``(n, 2)``.

    The angle ``u`` is uniform in ``[1.5 pi, 4.5 pi]`` and the point is
    ``u (cos u, sin u) / 5``, plus Gaussian noise of standard deviation ``noise``.
    """
    rng = np.random.default_rng(seed)
    u = 1.5 * math.pi * (1 + 2 * rng.random(n))
    x = np.stack([u * np.cos(u), u * np.sin(u)], axis=1) / 5.0
    return (x + noise * rng.standard_normal(x.shape)).astype(np.float32)


def spiral_distance(points) -> np.ndarray:
    """Each point's Euclidean distance to the noiseless swiss-roll curve (5,000 points of it,
    0.005 apart: the distance is exact to about 0.003)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (batch, 2), got {points.shape}")
    u = np.linspace(1.5 * math.pi, 4.5 * math.pi, 5_000)
    curve = np.stack([u * np.cos(u), u * np.sin(u)], axis=1) / 5.0
    best = np.full(len(points), np.inf)
    for start in range(0, len(points), 256):   # in chunks, to keep the distance table small
        chunk = points[start:start + 256]
        d2 = ((chunk[:, None, :] - curve[None, :, :]) ** 2).sum(-1)
        best[start:start + 256] = np.sqrt(d2.min(axis=1))
    return best

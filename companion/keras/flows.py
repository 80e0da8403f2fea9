"""A normalizing flow and an energy-based model in Keras 3 (Part VII: Generative models).

Read side by side with ``companion/torch/flows.py``: same class names, same constructor
arguments, same layer order; only ``keras.layers``, ``keras.ops`` and ``keras.random``,
so the models run on the TensorFlow, JAX and PyTorch backends. Training uses ``fit``
on a small wrapper model whose output is the per-example loss; Langevin sampling reads
``grad E`` through ``companion.keras.autodiff.grad``, the one backend-aware helper.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from companion.checks import check_float, check_positive_int
from companion.keras.saving import serializable
from companion.keras.seeding import seeded

LOG_2PI = math.log(2.0 * math.pi)


def _check_points(x, dim: int, model: str):
    if len(x.shape) != 2 or x.shape[1] != dim:
        raise ValueError(f"{model} expected input of shape (batch, {dim}), got {tuple(x.shape)}")
    x = ops.convert_to_tensor(x)
    check_float(str(x.dtype), model)
    return x


class AffineCoupling(keras.layers.Layer):
    """One affine coupling layer (see the PyTorch twin): ``y = m x + (1 - m)(x exp(s) + t)``,
    ``(s, t) = net(m x)``, ``s = tanh(raw)``, ``log |det J| = sum((1 - m) s)``."""

    def __init__(self, dim: int, hidden: int, parity: int, **kwargs):
        super().__init__(**kwargs)
        self.mask = ((np.arange(dim) + parity) % 2 == 0).astype("float32")
        self.net = keras.Sequential([keras.layers.Dense(hidden, activation="tanh"),
                                     keras.layers.Dense(hidden, activation="tanh"),
                                     keras.layers.Dense(2 * dim, kernel_initializer="zeros")])
        self.net.build((None, dim))
        self.built = True

    def _scale_shift(self, x_kept):
        raw_s, t = ops.split(self.net(x_kept), 2, axis=-1)
        free = 1.0 - self.mask
        return ops.multiply(ops.tanh(raw_s), free), ops.multiply(t, free)

    def call(self, x):
        s, t = self._scale_shift(ops.multiply(x, self.mask))
        return x * ops.exp(s) + t, ops.sum(s, axis=-1)

    def inverse(self, y):
        s, t = self._scale_shift(ops.multiply(y, self.mask))
        return (y - t) * ops.exp(-s)


@serializable
class RealNVP(keras.Model):
    """RealNVP: ``layers`` affine couplings (see the PyTorch twin for the details).

    ``model(x)`` returns ``z``; ``model(x, return_log_det=True)`` returns ``(z, log_det)``.
    """

    def __init__(self, dim: int = 2, hidden: int = 64, layers: int = 6, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(dim, "dim")
        check_positive_int(hidden, "hidden")
        check_positive_int(layers, "layers")
        if dim < 2:
            raise ValueError(f"RealNVP needs dim >= 2 (a coupling splits the coordinates), got {dim}")
        self.dim, self.hidden, self.num_couplings = dim, hidden, layers
        self.couplings = [AffineCoupling(dim, hidden, i % 2) for i in range(layers)]
        self.built = True

    def call(self, x, return_log_det=False, training=False):
        x = _check_points(x, self.dim, "RealNVP")
        log_det = ops.zeros((ops.shape(x)[0],), dtype=x.dtype)
        for coupling in self.couplings:
            x, ld = coupling(x)
            log_det = log_det + ld
        return (x, log_det) if return_log_det else x

    def inverse(self, z):
        """``x`` with ``model(x) == z``: the couplings undone in reverse order."""
        z = _check_points(z, self.dim, "RealNVP")
        for coupling in reversed(self.couplings):
            z = coupling.inverse(z)
        return z

    def log_prob(self, x):
        """``log p(x) = log N(z; 0, I) + log |det dz/dx|`` per example ``(batch,)``."""
        z, log_det = self(x, return_log_det=True)
        return -0.5 * ops.sum(z ** 2, axis=-1) - 0.5 * self.dim * LOG_2PI + log_det

    def sample(self, n: int, seed=None):
        """``n`` samples ``(n, dim)``: ``z ~ N(0, I)`` pushed through ``inverse``."""
        check_positive_int(n, "n")
        return self.inverse(keras.random.normal((n, self.dim), seed=seed))


def _torch_default_init(fan_in: int) -> dict:
    bound = 1.0 / math.sqrt(fan_in)
    return dict(kernel_initializer=keras.initializers.RandomUniform(-bound, bound),
                bias_initializer=keras.initializers.RandomUniform(-bound, bound))


@serializable
class EnergyMLP(keras.Model):
    """An energy ``E(x)``: ``dim -> hidden -> hidden -> 1`` with SiLU; ``model(x)`` is ``(batch,)``."""

    def __init__(self, dim: int = 2, hidden: int = 64, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(dim, "dim")
        check_positive_int(hidden, "hidden")
        self.dim = dim
        # PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for kernel and
        # bias: with Keras's Glorot default, noise-contrastive training of this small energy
        # needs about twice the epochs to reach the same loss.
        self.net = keras.Sequential([
            keras.layers.Dense(hidden, activation="silu", **_torch_default_init(dim)),
            keras.layers.Dense(hidden, activation="silu", **_torch_default_init(hidden)),
            keras.layers.Dense(1, **_torch_default_init(hidden))])
        self.net.build((None, dim))
        self.built = True

    def call(self, x, training=False):
        x = _check_points(x, self.dim, "EnergyMLP")
        return ops.squeeze(self.net(x), axis=-1)


# ---------------------------------------------------------------- training and sampling

def gaussian_log_density(x, mean, cov):
    """``log N(x; mean, cov)`` per row of ``x`` (NumPy in, NumPy out)."""
    x, mean, cov = (np.asarray(a, dtype=np.float64) for a in (x, mean, cov))
    diff = x - mean
    sol = np.linalg.solve(cov, diff.T).T
    _, logdet = np.linalg.slogdet(cov)
    return (-0.5 * np.sum(diff * sol, axis=-1) - 0.5 * (x.shape[1] * LOG_2PI + logdet))


class PerExampleOutput(keras.Model):
    """Wraps ``model`` so that ``fit`` trains it on a per-example quantity ``fn(model, x)``."""

    def __init__(self, model, fn, **kwargs):
        super().__init__(**kwargs)
        self.inner = model          # tracked, so fit updates its weights
        self.fn = fn

    def call(self, inputs, training=False):
        return self.fn(self.inner, inputs)


def _mean_of_prediction(y_true, y_pred):
    return ops.mean(y_pred)


@seeded
def train_flow(model: RealNVP, x, *, epochs: int = 100, batch_size: int = 256,
               lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Maximum likelihood with ``fit``: the wrapper outputs ``-log p(x)`` per example and the
    loss is its mean. Returns the loss per epoch."""
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    x = np.asarray(x, dtype="float32")
    nll = PerExampleOutput(model, lambda m, v: -m.log_prob(v))
    nll.compile(optimizer=keras.optimizers.Adam(lr), loss=_mean_of_prediction)
    hist = nll.fit(x, np.zeros(len(x), "float32"), epochs=epochs, batch_size=batch_size,
                   shuffle=True, verbose=0)
    return [float(v) for v in hist.history["loss"]]


@seeded
def train_energy_nce(model: EnergyMLP, x, *, epochs: int = 100, batch_size: int = 256,
                     lr: float = 3e-3, seed: int = 0) -> tuple[list[float], tuple]:
    """Noise-contrastive estimation of ``E`` (see the PyTorch twin): binary cross-entropy
    on the logit ``-E(x) - log q(x)``, data labelled 1, Gaussian noise 0."""
    x_np = np.asarray(x, dtype=np.float32)
    mean, cov = x_np.mean(0), 1.5 * np.cov(x_np, rowvar=False)
    rng = np.random.default_rng(seed)
    noise = rng.multivariate_normal(mean, cov, size=len(x_np)).astype(np.float32)
    inputs = np.concatenate([x_np, noise])
    labels = np.concatenate([np.ones(len(x_np)), np.zeros(len(noise))]).astype("float32")
    log_q = gaussian_log_density(inputs, mean, cov).astype("float32")
    # the input carries log q(x) as a third column, so that fit shuffles them together
    logit = PerExampleOutput(model, lambda m, v: -m(v[:, :-1]) - v[:, -1])
    logit.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    hist = logit.fit(np.c_[inputs, log_q], labels, epochs=epochs, batch_size=batch_size,
                     shuffle=True, verbose=0)
    return [float(v) for v in hist.history["loss"]], (mean, cov)


def langevin_sample(energy: keras.Model, x0, *, steps: int = 200, step_size: float = 0.01,
                    seed: int = 0) -> np.ndarray:
    """Unadjusted Langevin dynamics ``x <- x - (eta / 2) grad E(x) + sqrt(eta) * noise``
    (NumPy noise from ``seed``). Returns the final points ``(n, dim)``."""
    from companion.keras.autodiff import grad

    check_positive_int(steps, "steps")
    if not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size!r}")
    rng = np.random.default_rng(seed)
    x = np.asarray(x0, dtype=np.float32).copy()
    for _ in range(steps):
        g = grad(energy, x)
        x = (x - 0.5 * step_size * g
             + math.sqrt(step_size) * rng.standard_normal(x.shape)).astype(np.float32)
    return x

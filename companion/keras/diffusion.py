"""Noise predictors for denoising diffusion in Keras 3 (chapter: diffusion models).

Read side by side with ``companion/torch/diffusion.py``: same class names,
same constructor arguments, same layer order, same call
``model(x, t=None, labels=None)`` (``t=None`` is ``t = 0``; ``labels=None`` is
the null class). Only ``keras.ops`` and ``keras.random``, so the models and
the training run on the TensorFlow, JAX and PyTorch backends.

Training uses ``fit`` with no custom ``train_step``: ``train_diffusion`` wraps
the predictor in a small ``EpsTraining`` model whose ``call`` draws the
timesteps and the noise with ``keras.random``, forms ``x_t`` and adds the
eps-prediction loss with ``add_loss`` (the technique of the Keras VAE in
``companion/keras/autoencoders.py``).
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from companion.checks import check_features, check_float, check_positive_int
from companion.keras.saving import serializable
from companion.keras.seeding import seeded


def timestep_features(t, size: int, max_period: float = 10_000.0):
    """Sinusoidal features of the timestep, ``(batch, size)``; see the PyTorch twin."""
    half = size // 2
    w = np.exp(-math.log(max_period) * np.arange(half) / half).astype("float32")
    angle = ops.cast(t, "float32")[:, None] * ops.convert_to_tensor(w)[None, :]
    return ops.concatenate([ops.sin(angle), ops.cos(angle)], axis=1)


def point_features(x, frequencies: int):
    """``x`` followed by ``sin(2^k x)`` and ``cos(2^k x)`` for ``k < frequencies``."""
    if frequencies == 0:
        return x
    scales = ops.convert_to_tensor((2.0 ** np.arange(frequencies)).astype("float32"))
    angle = ops.reshape(x[:, :, None] * scales, (-1, x.shape[1] * frequencies))
    return ops.concatenate([x, ops.sin(angle), ops.cos(angle)], axis=1)


def _concrete(value) -> bool:
    """True for NumPy data and eager tensors, whose values can be checked now."""
    try:
        np.asarray(keras.ops.convert_to_numpy(value))
        return True
    except Exception:   # symbolic tensors during tracing
        return False


def _timesteps(t, x, model: str):
    if t is None:
        return ops.zeros_like(x[:, 0])
    if isinstance(t, (int, float, np.integer, np.floating)) or getattr(t, "ndim", 1) == 0:
        return ops.zeros_like(x[:, 0]) + ops.cast(t, "float32")
    if len(t.shape) != 1 or (t.shape[0] is not None and x.shape[0] is not None
                             and int(t.shape[0]) != int(x.shape[0])):
        raise ValueError(f"{model}: t must be a scalar or of shape (batch,) = ({x.shape[0]},), "
                         f"got {tuple(t.shape)}")
    if _concrete(t) and (np.asarray(ops.convert_to_numpy(t)) < 0).any():
        raise ValueError(f"{model}: timesteps must be >= 0")
    return t


def _check_size(value, what: str, even: bool = False) -> None:
    check_positive_int(value, what)
    if even and value % 2:
        raise ValueError(f"{what} must be even (sine and cosine pairs), got {value}")


def _mlp(width: int, hidden: int, depth: int, out: int) -> keras.Sequential:
    return keras.Sequential([keras.Input((width,)),
                             *[layers.Dense(hidden, activation="silu") for _ in range(depth)],
                             layers.Dense(out)])


@serializable
class NoiseMLP(keras.Model):
    """``eps_theta(x_t, t)`` for points in ``dim`` dimensions; see the PyTorch twin."""

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, time_features: int = 32,
                 x_frequencies: int = 4, **kwargs):
        super().__init__(**kwargs)
        for value, what in ((dim, "dim"), (hidden, "hidden"), (depth, "depth")):
            _check_size(value, what)
        _check_size(time_features, "time_features", even=True)
        if isinstance(x_frequencies, bool) or not isinstance(x_frequencies, int) or x_frequencies < 0:
            raise ValueError(f"x_frequencies must be an integer >= 0, got {x_frequencies!r}")
        self.dim, self.time_features, self.x_frequencies = dim, time_features, x_frequencies
        self.net = _mlp(dim * (1 + 2 * x_frequencies) + time_features, hidden, depth, dim)
        self.build((None, dim))

    def build(self, input_shape=None):
        pass   # the sub-network is built in __init__ (keras.Input)

    def call(self, x, t=None, training=False):
        check_features(x.shape, self.dim, "NoiseMLP")
        check_float(x.dtype, "NoiseMLP")
        t = _timesteps(t, x, "NoiseMLP")
        h = ops.concatenate([point_features(x, self.x_frequencies),
                             timestep_features(t, self.time_features)], axis=1)
        return self.net(h, training=training)


@serializable
class NoisePredictor(keras.Model):
    """``eps_theta(x_t, t, y)`` for flattened images with class labels and a null class;
    see the PyTorch twin."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, hidden: int = 256,
                 depth: int = 3, time_features: int = 32, label_features: int = 32, **kwargs):
        super().__init__(**kwargs)
        for value, what in ((in_features, "in_features"), (num_classes, "num_classes"),
                            (hidden, "hidden"), (depth, "depth"),
                            (label_features, "label_features")):
            _check_size(value, what)
        _check_size(time_features, "time_features", even=True)
        self.in_features, self.num_classes, self.time_features = in_features, num_classes, time_features
        self.label_embedding = layers.Embedding(num_classes + 1, label_features)
        self.label_embedding.build((None,))
        self.net = _mlp(in_features + time_features + label_features, hidden, depth, in_features)
        self.build((None, in_features))

    def build(self, input_shape=None):
        pass   # both sub-layers are built in __init__

    @property
    def null_class(self) -> int:
        """The label that means "no label": ``num_classes``."""
        return self.num_classes

    def call(self, x, t=None, labels=None, training=False):
        check_features(x.shape, self.in_features, "NoisePredictor")
        check_float(x.dtype, "NoisePredictor")
        t = _timesteps(t, x, "NoisePredictor")
        if labels is None:
            labels = ops.cast(ops.zeros_like(x[:, 0]), "int32") + self.null_class
        else:
            if len(labels.shape) != 1 or (labels.shape[0] is not None and x.shape[0] is not None
                                          and int(labels.shape[0]) != int(x.shape[0])):
                raise ValueError(f"NoisePredictor: labels must have shape (batch,) = "
                                 f"({x.shape[0]},), got {tuple(labels.shape)}")
            if _concrete(labels):
                values = np.asarray(ops.convert_to_numpy(labels))
                if (values < 0).any() or (values > self.num_classes).any():
                    raise ValueError(f"NoisePredictor: labels must lie in [0, {self.num_classes}] "
                                     f"({self.num_classes} is the null class)")
            labels = ops.cast(labels, "int32")
        h = ops.concatenate([x, timestep_features(t, self.time_features),
                             self.label_embedding(labels)], axis=1)
        return self.net(h, training=training)


# ---------------------------------------------------------------- training

def eps_loss(model, x0, t, noise, alpha_bar, labels=None):
    """The simplified DDPM loss; see the PyTorch twin. ``alpha_bar``: a ``(T,)`` array."""
    x0, noise = ops.convert_to_tensor(x0, "float32"), ops.convert_to_tensor(noise, "float32")
    ab = ops.take(ops.convert_to_tensor(np.asarray(alpha_bar, dtype="float32")), t)
    ab = ops.reshape(ab, (-1,) + (1,) * (len(x0.shape) - 1))
    x_t = ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * noise
    pred = model(x_t, t) if labels is None else model(x_t, t, labels)
    return ops.mean(ops.square(pred - noise))


class EpsTraining(keras.Model):
    """Wraps a noise predictor for ``fit``: ``call(x0)`` or ``call((x0, labels))`` with
    ``training=True`` draws ``t`` and the noise, drops labels to the null class with
    probability ``p_uncond``, and adds the eps-prediction loss."""

    def __init__(self, predictor, alpha_bar, p_uncond: float = 0.1, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.predictor = predictor
        self.alpha_bar = np.asarray(alpha_bar, dtype="float32")
        self.p_uncond = float(p_uncond)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        x0, labels = (inputs, None) if not isinstance(inputs, (tuple, list)) else inputs
        batch = ops.shape(x0)[0]
        t = keras.random.randint((batch,), 0, len(self.alpha_bar), seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(x0), seed=self.seed_generator)
        if labels is not None:
            drop = keras.random.uniform((batch,), seed=self.seed_generator) < self.p_uncond
            labels = ops.where(drop, self.predictor.null_class, ops.cast(labels, "int32"))
        loss = eps_loss(self.predictor, x0, t, noise, self.alpha_bar, labels)
        if training:
            self.add_loss(loss)
        return loss


@seeded
def train_diffusion(model, x0, schedule, *, epochs: int, lr: float = 1e-3, batch_size: int = 128,
                    labels=None, p_uncond: float = 0.1, seed: int = 0) -> dict:
    """Train a noise predictor with Adam via ``fit``; see the PyTorch twin.

    Returns ``{"loss": [one mean per epoch]}``.
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if not 0.0 <= p_uncond < 1.0:
        raise ValueError(f"p_uncond must lie in [0, 1), got {p_uncond!r}")
    x0 = np.asarray(x0, dtype="float32")
    trainer = EpsTraining(model, schedule.alpha_bar, p_uncond, seed)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate=lr))
    if labels is None:
        inputs = x0
    else:
        labels = np.asarray(labels).astype("int32")
        if labels.shape != (len(x0),):
            raise ValueError(f"labels must have shape (batch,) = ({len(x0)},), got {labels.shape}")
        inputs = (x0, labels)
    fit = trainer.fit(inputs, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return {"loss": [float(v) for v in fit.history["loss"]]}


# ---------------------------------------------------------------- sampling

def eps_fn(model, labels=None, guidance: float = 1.0):
    """The model as a NumPy callable ``eps(x, t)`` for ``companion.numpy.diffusion``'s samplers;
    see the PyTorch twin (classifier-free guidance in one batched call)."""
    def predict(x, t):
        x = np.asarray(x, dtype="float32")
        t = np.asarray(t, dtype="int32")
        if labels is None:
            return ops.convert_to_numpy(model(x, t))
        y = np.asarray(labels, dtype="int32")
        if guidance == 1.0:
            return ops.convert_to_numpy(model(x, t, y))
        null = np.full_like(y, model.null_class)
        both = ops.convert_to_numpy(model(np.concatenate([x, x]), np.concatenate([t, t]),
                                          np.concatenate([y, null])))
        conditional, unconditional = both[:len(x)], both[len(x):]
        return unconditional + guidance * (conditional - unconditional)
    return predict

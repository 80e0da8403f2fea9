"""Autoencoders in Keras 3 (part V of the book).

Read side by side with ``companion/torch/autoencoders.py``: same class names,
same constructor arguments, same layer order. Images are NHWC here.

Two details make the twins compute the same function:

* the encoder's strided convolutions are PyTorch's ``padding=1``, written as
  ``ZeroPadding2D(1)`` then a ``"valid"`` convolution (``companion.keras.cnn.conv``);
* the decoder's ``Conv2DTranspose(k=4, strides=2, padding="same")`` crops one
  pixel on each side of the full transposed convolution, exactly what
  PyTorch's ``ConvTranspose2d(k=4, stride=2, padding=1)`` does.

The VAE adds its loss (the negative ELBO) with ``add_loss`` inside ``call``
when ``training=True``, so ``model.compile(optimizer)`` then ``model.fit(x)``
trains it on any backend, with no custom ``train_step``. ``ConditionalVAE``
(part VII) does the same with the label's one-hot row appended to its input.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from companion.checks import (check_choice, check_code_size, check_features, check_float,
                              check_image, check_positive_int, check_widths)
from companion.keras.cnn import conv
from companion.keras.saving import serializable
from companion.keras.seeding import seeded

ACTIVATIONS = ("relu", "tanh", "sigmoid")
OUTPUTS = ("linear", "sigmoid")
LIKELIHOODS = ("bernoulli", "gaussian")


def _mlp(widths, activation: str) -> list:
    return [layers.Dense(w, activation=activation) for w in widths]


# ---------------------------------------------------------------- Autoencoder

@serializable
class Autoencoder(keras.Model):
    """A fully connected autoencoder (chapter: the classic autoencoder); see the PyTorch twin."""

    _build_in_init = True   # a subclass that adds state of its own builds after adding it

    def __init__(self, in_features: int, code_size: int, hidden=(), activation: str = "relu",
                 output: str = "linear", undercomplete: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_code_size(in_features, code_size, undercomplete, "Autoencoder")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(output, OUTPUTS, "output")
        self.in_features, self.code_size = in_features, code_size
        self.encoder = keras.Sequential([keras.Input((in_features,)),
                                         *_mlp(hidden, activation), layers.Dense(code_size)])
        self.decoder = keras.Sequential([
            keras.Input((code_size,)), *_mlp(tuple(reversed(hidden)), activation),
            layers.Dense(in_features, activation=None if output == "linear" else "sigmoid")])
        if self._build_in_init:
            self.build((None, in_features))

    def encode(self, x, training=False):
        check_features(x.shape, self.in_features, type(self).__name__)
        check_float(x.dtype, type(self).__name__)
        return self.encoder(x, training=training)

    def decode(self, z, training=False):
        return self.decoder(z, training=training)

    def call(self, x, training=False):
        return self.decoder(self.encode(x, training=training), training=training)


# ---------------------------------------------------------------- DenoisingAutoencoder

CORRUPTIONS = ("gaussian", "salt_and_pepper", "masking")


def _check_corruption(corruption, noise, model):
    check_choice(corruption, CORRUPTIONS, "corruption")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
        raise ValueError(f"{model}: the corruption level must be a number in [0, 1], got {noise!r}")


@serializable
class DenoisingAutoencoder(Autoencoder):
    """An ``Autoencoder`` that corrupts its own input when ``training=True``; see the PyTorch twin.

    The noise comes from ``keras.random`` with the model's own seed generator,
    so ``fit`` draws a fresh corruption for every batch.
    """

    _build_in_init = False

    def __init__(self, in_features: int, code_size: int, hidden=(), activation: str = "relu",
                 output: str = "linear", undercomplete: bool = False, noise: float = 0.3,
                 corruption: str = "gaussian", seed: int | None = None, **kwargs):
        _check_corruption(corruption, noise, "DenoisingAutoencoder")
        super().__init__(in_features, code_size, hidden, activation, output, undercomplete, **kwargs)
        self.noise, self.corruption = float(noise), corruption
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.build((None, in_features))

    def corrupt(self, x):
        shape = ops.shape(x)
        if self.corruption == "gaussian":
            noisy = x + self.noise * keras.random.normal(shape, seed=self.seed_generator, dtype=x.dtype)
            return ops.clip(noisy, 0.0, 1.0)
        hit = keras.random.uniform(shape, seed=self.seed_generator) < self.noise
        if self.corruption == "masking":
            return ops.where(hit, ops.zeros_like(x), x)
        salt = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) < 0.5, x.dtype)
        return ops.where(hit, salt, x)

    def call(self, x, training=False):
        check_features(x.shape, self.in_features, "DenoisingAutoencoder")
        check_float(x.dtype, "DenoisingAutoencoder")
        if training and self.noise > 0:
            x = self.corrupt(x)
        return self.decoder(self.encoder(x, training=training), training=training)


# ---------------------------------------------------------------- ConvAutoencoder

@serializable
class ConvAutoencoder(keras.Model):
    """A convolutional autoencoder for square NHWC images; see the PyTorch twin."""

    def __init__(self, in_channels: int = 1, size: int = 8, channels=(8, 16),
                 activation: str = "relu", output: str = "sigmoid", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_channels, "in_channels")
        check_positive_int(size, "size")
        channels = check_widths(channels)
        if not channels or size % (2 ** len(channels)):
            raise ValueError(f"ConvAutoencoder: size={size} must be divisible by "
                             f"2 ** len(channels) = {2 ** len(channels)}")
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(output, OUTPUTS, "output")
        self.in_channels, self.size = in_channels, size
        down = []
        for c in channels:
            down += conv(c, 4, stride=2, padding=1) + [layers.Activation(activation)]
        back = tuple(reversed((in_channels, *channels)))[1:]
        up = []
        for i, c in enumerate(back):
            up.append(layers.Conv2DTranspose(c, 4, strides=2, padding="same"))
            if i < len(back) - 1:
                up.append(layers.Activation(activation))
            elif output == "sigmoid":
                up.append(layers.Activation("sigmoid"))
        small = size // 2 ** len(channels)
        self.encoder = keras.Sequential([keras.Input((size, size, in_channels)), *down])
        self.decoder = keras.Sequential([keras.Input((small, small, channels[-1])), *up])
        self.build((None, size, size, in_channels))

    def encode(self, x, training=False):
        check_image(x.shape, self.in_channels, self.size, "NHWC", "ConvAutoencoder")
        check_float(x.dtype, "ConvAutoencoder")
        return self.encoder(x, training=training)

    def decode(self, z, training=False):
        return self.decoder(z, training=training)

    def call(self, x, training=False):
        return self.decoder(self.encode(x, training=training), training=training)


# ---------------------------------------------------------------- VAE

def gaussian_kl(mean, log_var):
    """``KL(N(mean, exp(log_var)) || N(0, I))`` per example (summed over the code)."""
    return 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)


@serializable
class VAE(keras.Model):
    """A variational autoencoder (chapter: VAE); see the PyTorch twin.

    ``call(x, training=True)`` samples ``z`` (or uses ``self.noise`` when it is
    set, a fixed ``(batch, code_size)`` array for tests), adds the negative
    ELBO with ``add_loss`` and returns the decoder's mean. ``beta`` (an
    attribute) weighs the KL term during ``fit``.
    """

    def __init__(self, in_features: int, code_size: int, hidden=(64,), activation: str = "relu",
                 likelihood: str = "bernoulli", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        check_code_size(in_features, code_size, True, "VAE")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(likelihood, LIKELIHOODS, "likelihood")
        self.in_features, self.code_size, self.likelihood = in_features, code_size, likelihood
        self.beta, self.noise = 1.0, None
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.encoder = keras.Sequential([keras.Input((in_features,)), *_mlp(hidden, activation)])
        last = ([in_features, *hidden])[-1]
        self.mean = layers.Dense(code_size)
        self.log_var = layers.Dense(code_size)
        self.decoder = keras.Sequential([keras.Input((code_size,)),
                                         *_mlp(tuple(reversed(hidden)), activation),
                                         layers.Dense(in_features)])
        self.mean.build((None, last))
        self.log_var.build((None, last))
        self.build((None, in_features))

    def encode(self, x, training=False):
        check_features(x.shape, self.in_features, "VAE")
        check_float(x.dtype, "VAE")
        h = self.encoder(x, training=training)
        return self.mean(h), self.log_var(h)

    def decode_logits(self, z, training=False):
        return self.decoder(z, training=training)

    def decode(self, z, training=False):
        out = self.decoder(z, training=training)
        return ops.sigmoid(out) if self.likelihood == "bernoulli" else out

    @staticmethod
    def reparameterize(mean, log_var, eps):
        return mean + ops.exp(0.5 * log_var) * eps

    def log_likelihood(self, x, out):
        if self.likelihood == "bernoulli":
            # -BCE with logits, written stably: x*l - softplus(l)
            return ops.sum(x * out - ops.softplus(out), axis=-1)
        d = x.shape[-1]
        return -0.5 * ops.sum(ops.square(x - out), axis=-1) - 0.5 * d * math.log(2 * math.pi)

    def _eps(self, mean, eps=None):
        if eps is not None:
            return ops.convert_to_tensor(eps, dtype=mean.dtype)
        if self.noise is not None:
            return ops.convert_to_tensor(self.noise, dtype=mean.dtype)
        return keras.random.normal(ops.shape(mean), seed=self.seed_generator)

    def elbo_terms(self, x, eps=None):
        """``(reconstruction, kl)`` per example, as in PyTorch."""
        x = ops.convert_to_tensor(x)
        mean, log_var = self.encode(x, training=True)
        eps = self._eps(mean, eps)
        out = self.decode_logits(self.reparameterize(mean, log_var, eps), training=True)
        return -self.log_likelihood(x, out), gaussian_kl(mean, log_var)

    def loss_value(self, x, eps=None, beta: float = 1.0):
        """The negative ELBO, averaged over the batch, in nats (PyTorch: ``loss``)."""
        reconstruction, kl = self.elbo_terms(x, eps)
        return ops.mean(reconstruction + beta * kl)

    def call(self, x, training=False):
        mean, log_var = self.encode(x, training=training)
        if not training:
            return self.decode(mean)
        eps = self._eps(mean)
        out = self.decode_logits(self.reparameterize(mean, log_var, eps), training=training)
        self.add_loss(ops.mean(-self.log_likelihood(x, out) + self.beta * gaussian_kl(mean, log_var)))
        return ops.sigmoid(out) if self.likelihood == "bernoulli" else out

    def log_weights(self, x, k: int, seed: int = 0) -> np.ndarray:
        """``log p(x, z_i) - log q(z_i | x)`` for ``k`` samples per example, ``(k, batch)``, NumPy."""
        check_positive_int(k, "k")
        x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
        mean, log_var = self.encode(x)
        eps = keras.random.normal((k, *mean.shape), seed=seed)
        z = self.reparameterize(mean, log_var, eps)
        out = self.decoder(ops.reshape(z, (-1, self.code_size)))
        out = ops.reshape(out, (k, -1, self.in_features))
        log_px = self.log_likelihood(ops.broadcast_to(x, ops.shape(out)), out)
        log_pz = -0.5 * ops.sum(ops.square(z) + math.log(2 * math.pi), axis=-1)
        log_qz = -0.5 * ops.sum(ops.square(eps) + log_var + math.log(2 * math.pi), axis=-1)
        return np.asarray(ops.convert_to_numpy(log_px + log_pz - log_qz))


@seeded
def train_vae(model: VAE, x, *, epochs: int, lr: float = 1e-3, batch_size: int = 64,
              beta: float = 1.0, seed: int = 0) -> dict:
    """Minimise the negative ELBO with Adam via ``fit``; returns ``{"loss": [...]}``."""
    model.beta = beta
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr))
    model.optimizer.build(model.trainable_variables)
    fit = model.fit(np.asarray(x, dtype="float32"), epochs=epochs, batch_size=batch_size,
                    shuffle=True, verbose=0)
    return {"loss": [float(v) for v in fit.history["loss"]]}


# ---------------------------------------------------------------- contractive penalty

def contractive_penalty(encode, x) -> np.ndarray:
    """``||d encode(x) / d x||_F^2`` per example, by the backend's autodiff (NumPy out).

    One gradient per code unit: the examples do not interact, so the gradient
    of the batch sum of unit ``j`` holds every example's row ``j`` of its Jacobian.
    """
    from companion.keras.autodiff import grad

    x = np.asarray(x, dtype="float32")
    code = int(encode(ops.convert_to_tensor(x)).shape[-1])
    total = np.zeros(len(x), dtype="float64")
    for j in range(code):
        g = grad(lambda t, j=j: encode(t)[:, j], x)
        total += (g.astype("float64") ** 2).sum(-1)
    return total


# ---------------------------------------------------------------- ConditionalVAE (part VII)

def _one_hot_rows(y, num_classes: int, model: str):
    """``y`` as float rows ``(batch, num_classes)``: integer labels are one-hot encoded (NumPy check)."""
    dtype = str(y.dtype) if hasattr(y, "dtype") else str(np.asarray(y).dtype)
    if "float" not in dtype:
        y = np.asarray(y)
        if y.ndim != 1 or (y.size and (y.min() < 0 or y.max() >= num_classes)):
            raise ValueError(f"{model} expected labels of shape (batch,) with values in "
                             f"[0, {num_classes}), got shape {tuple(y.shape)}")
        return ops.convert_to_tensor(np.eye(num_classes, dtype="float32")[y.astype("int64")])
    shape = tuple(y.shape)
    if len(shape) != 2 or (shape[-1] is not None and int(shape[-1]) != num_classes):
        raise ValueError(f"{model} expected label rows of shape (batch, {num_classes}), got {shape}")
    return ops.convert_to_tensor(y)


@serializable
class ConditionalVAE(keras.Model):
    """A conditional VAE (chapter: VAE as a generator); see the PyTorch twin.

    ``call(xy)`` takes the input with its label's one-hot row appended,
    ``(batch, in_features + num_classes)``; with ``training=True`` it samples
    ``z`` (or uses ``self.noise``), adds the negative conditional ELBO (KL
    weighted by the attribute ``beta``) with ``add_loss``, so that
    ``fit(join(x, y))`` trains it, and returns the decoder's mean.
    """

    def __init__(self, in_features: int, num_classes: int, code_size: int, hidden=(64,),
                 activation: str = "relu", likelihood: str = "bernoulli", seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        check_code_size(in_features, code_size, True, "ConditionalVAE")
        check_positive_int(num_classes, "num_classes")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(likelihood, LIKELIHOODS, "likelihood")
        self.in_features, self.num_classes = in_features, num_classes
        self.code_size, self.likelihood = code_size, likelihood
        self.beta, self.noise = 1.0, None
        self.seed_generator = keras.random.SeedGenerator(seed)
        first = in_features + num_classes
        self.encoder = keras.Sequential([keras.Input((first,)), *_mlp(hidden, activation)])
        last = ([first, *hidden])[-1]
        self.mean = layers.Dense(code_size)
        self.log_var = layers.Dense(code_size)
        self.decoder = keras.Sequential([keras.Input((code_size + num_classes,)),
                                         *_mlp(tuple(reversed(hidden)), activation),
                                         layers.Dense(in_features)])
        self.mean.build((None, last))
        self.log_var.build((None, last))
        self.build((None, first))

    def join(self, x, y):
        """``[x, onehot(y)]``, the input of ``call`` (a backend tensor)."""
        x = ops.convert_to_tensor(x)
        return ops.concatenate([x, ops.cast(_one_hot_rows(y, self.num_classes, "ConditionalVAE"),
                                            x.dtype)], axis=-1)

    def split(self, xy):
        check_features(xy.shape, self.in_features + self.num_classes, "ConditionalVAE")
        check_float(xy.dtype, "ConditionalVAE")
        return xy[:, :self.in_features], xy[:, self.in_features:]

    def _labels(self, y, batch, dtype):
        y = ops.cast(_one_hot_rows(y, self.num_classes, "ConditionalVAE"), dtype)
        if batch is not None and y.shape[0] is not None and int(y.shape[0]) != int(batch):
            raise ValueError(f"ConditionalVAE: {y.shape[0]} labels for a batch of {batch}")
        return y

    def encode(self, x, y, training=False):
        x = ops.convert_to_tensor(x)
        check_features(x.shape, self.in_features, "ConditionalVAE")
        check_float(x.dtype, "ConditionalVAE")
        h = self.encoder(ops.concatenate([x, self._labels(y, x.shape[0], x.dtype)], axis=-1),
                         training=training)
        return self.mean(h), self.log_var(h)

    def decode_logits(self, z, y, training=False):
        z = ops.convert_to_tensor(z)
        check_features(z.shape, self.code_size, "ConditionalVAE decoder")
        return self.decoder(ops.concatenate([z, self._labels(y, z.shape[0], z.dtype)], axis=-1),
                            training=training)

    def decode(self, z, y, training=False):
        out = self.decode_logits(z, y, training=training)
        return ops.sigmoid(out) if self.likelihood == "bernoulli" else out

    reparameterize = staticmethod(VAE.reparameterize)
    log_likelihood = VAE.log_likelihood
    _eps = VAE._eps

    def elbo_terms(self, x, y, eps=None):
        """``(reconstruction, kl)`` per example, as in PyTorch."""
        x = ops.convert_to_tensor(x)
        mean, log_var = self.encode(x, y, training=True)
        eps = self._eps(mean, eps)
        out = self.decode_logits(self.reparameterize(mean, log_var, eps), y, training=True)
        return -self.log_likelihood(x, out), gaussian_kl(mean, log_var)

    def loss_value(self, x, y, eps=None, beta: float = 1.0):
        """The negative conditional ELBO, averaged over the batch (PyTorch: ``loss``)."""
        reconstruction, kl = self.elbo_terms(x, y, eps)
        return ops.mean(reconstruction + beta * kl)

    def call(self, xy, training=False):
        x, y = self.split(xy)
        mean, log_var = self.encode(x, y, training=training)
        if not training:
            return self.decode(mean, y)
        eps = self._eps(mean)
        out = self.decode_logits(self.reparameterize(mean, log_var, eps), y, training=training)
        self.add_loss(ops.mean(-self.log_likelihood(x, out) + self.beta * gaussian_kl(mean, log_var)))
        return ops.sigmoid(out) if self.likelihood == "bernoulli" else out

    def sample(self, labels, seed=None):
        """Decoder means for codes drawn from the prior, one per requested label: ``(n, in_features)``."""
        y = _one_hot_rows(labels, self.num_classes, "ConditionalVAE")
        z = keras.random.normal((int(y.shape[0]), self.code_size),
                                seed=self.seed_generator if seed is None else seed)
        return self.decode(z, y)


@seeded
def train_conditional_vae(model: ConditionalVAE, x, labels, *, epochs: int, lr: float = 1e-3,
                          batch_size: int = 64, beta: float = 1.0, seed: int = 0) -> dict:
    """Minimise the negative conditional ELBO with Adam via ``fit`` on ``join(x, labels)``."""
    x = np.asarray(x, dtype="float32")
    if len(labels) != len(x):
        raise ValueError(f"train_conditional_vae: {len(labels)} labels for {len(x)} examples")
    xy = np.asarray(ops.convert_to_numpy(model.join(x, labels)), dtype="float32")
    return train_vae(model, xy, epochs=epochs, lr=lr, batch_size=batch_size, beta=beta, seed=seed)

"""Generative adversarial networks in Keras 3 (part VII of the book, chapter: GAN).

Read side by side with ``companion/torch/gan.py``: same class names, same
constructor arguments, same layer order. Images are NHWC here.

Two details make the convolutional twins compute the same function:

* PyTorch's ``ConvTranspose2d(k, stride=1, padding=0)`` is Keras's
  ``Conv2DTranspose(k, strides=1, padding="valid")``, and
  ``ConvTranspose2d(4, stride=2, padding=1)`` is
  ``Conv2DTranspose(4, strides=2, padding="same")`` (both crop one pixel on
  each side of the full transposed convolution);
* the strided convolutions with ``padding=1`` are ``ZeroPadding2D(1)`` then a
  ``"valid"`` convolution (``companion.keras.cnn.conv``), and batch
  normalisation uses PyTorch's ``momentum`` and ``epsilon``.

Training: ``GAN`` is a ``keras.Model`` that holds a generator and a
discriminator and overrides ``train_step`` with the alternating updates of
the two players, each with its own optimizer (``compile(d_optimizer=...,
g_optimizer=...)``), so ``fit`` trains it. Gradients come from
``companion.keras.autodiff.value_and_grad``, the one place that picks the
backend's differentiation tool; the gradient penalty needs a gradient of the
critic with respect to its *input* that can itself be differentiated, which
``input_gradient`` provides on the TensorFlow, PyTorch and JAX backends.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from companion.checks import (check_choice, check_features, check_float, check_image,
                              check_positive_int, check_widths)
from companion.keras.autodiff import value_and_grad
from companion.keras.cnn import conv
from companion.keras.saving import serializable
from companion.numpy.gan import check_dc_sizes, check_noise, check_slope
from companion.keras.seeding import seeded

GENERATOR_LOSSES = ("non_saturating", "minimax", "wasserstein")
ACTIVATIONS = ("relu", "tanh")
OUTPUTS = ("sigmoid", "tanh", "linear")


# ---------------------------------------------------------------- MLP pair (2-D data)

@serializable
class Generator(keras.Model):
    """An MLP generator ``z -> x`` (chapter: GAN); see the PyTorch twin."""

    def __init__(self, latent_dim: int = 2, out_features: int = 2, hidden=(64, 64),
                 activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(latent_dim, "latent_dim")
        check_positive_int(out_features, "out_features")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        self.latent_dim, self.out_features = latent_dim, out_features
        self.net = keras.Sequential([keras.Input((latent_dim,)),
                                     *[layers.Dense(h, activation=activation) for h in hidden],
                                     layers.Dense(out_features)])
        self.build((None, latent_dim))

    def call(self, z, training=False):
        check_noise(z.shape, self.latent_dim, "Generator")
        check_float(z.dtype, "Generator")
        return self.net(z, training=training)


@serializable
class Discriminator(keras.Model):
    """An MLP discriminator (or Wasserstein critic) ``x -> logit`` ``(batch, 1)``; see the PyTorch
    twin (``minibatch_std`` appends the batch's mean standard deviation before the output layer)."""

    def __init__(self, in_features: int = 2, hidden=(64, 64), negative_slope: float = 0.2,
                 minibatch_std: bool = False, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        hidden = check_widths(hidden)
        self.in_features, self.negative_slope = in_features, check_slope(negative_slope)
        self.minibatch_std = bool(minibatch_std)
        stack = [keras.Input((in_features,))]
        for h in hidden:
            stack += [layers.Dense(h), layers.LeakyReLU(negative_slope=self.negative_slope)]
        self.body = keras.Sequential(stack)
        self.head = layers.Dense(1)
        self.head.build((None, ([in_features, *hidden])[-1] + self.minibatch_std))
        self.build((None, in_features))

    def call(self, x, training=False):
        check_features(x.shape, self.in_features, "Discriminator")
        check_float(x.dtype, "Discriminator")
        h = self.body(x, training=training)
        if self.minibatch_std:
            spread = ops.mean(ops.std(h, axis=0))
            h = ops.concatenate([h, ops.ones_like(h[:, :1]) * spread], axis=1)
        return self.head(h)


# ---------------------------------------------------------------- DCGAN pair (8x8 digits)

def _batchnorm():
    # PyTorch's BatchNorm2d defaults: running = 0.9 running + 0.1 batch, eps = 1e-5
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)


@keras.saving.register_keras_serializable(package="companion.keras.gan")
class MaxLeakyReLU(layers.Layer):
    """``max(x, negative_slope * x)``: a leaky ReLU (for slopes below 1) written with
    ``ops.maximum``. TensorFlow's graph optimiser fuses a convolution, its bias and a
    ``LeakyReLU`` layer into one kernel and, inside the critic's gradient tape, prints a
    "remapper failed" error while doing so; this form computes the same values without it."""

    def __init__(self, negative_slope: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = check_slope(negative_slope)

    def call(self, x):
        return ops.maximum(x, self.negative_slope * x)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@serializable
class DCGenerator(keras.Model):
    """A DCGAN generator for small square NHWC images (chapter: GAN); see the PyTorch twin.

    Noise ``(batch, latent_dim)`` or ``(batch, 1, 1, latent_dim)``; output
    ``(batch, size, size, out_channels)``.
    """

    def __init__(self, latent_dim: int = 16, channels=(64, 32), size: int = 8,
                 out_channels: int = 1, batchnorm: bool = True, output: str = "sigmoid",
                 **kwargs):
        super().__init__(**kwargs)
        check_positive_int(latent_dim, "latent_dim")
        check_positive_int(out_channels, "out_channels")
        channels = check_widths(channels)
        start = check_dc_sizes(size, channels, "DCGenerator")
        check_choice(output, OUTPUTS, "output")
        self.latent_dim, self.size, self.out_channels = latent_dim, size, out_channels
        self.squash = output
        widths = (latent_dim, *channels, out_channels)
        stack = [keras.Input((1, 1, latent_dim))]
        for i, b in enumerate(widths[1:]):
            last = i == len(widths) - 2
            if i == 0:
                stack.append(layers.Conv2DTranspose(b, start, strides=1, padding="valid",
                                                    use_bias=not batchnorm))
            else:
                stack.append(layers.Conv2DTranspose(b, 4, strides=2, padding="same",
                                                    use_bias=last or not batchnorm))
            if not last:
                if batchnorm:
                    stack.append(_batchnorm())
                stack.append(layers.Activation("relu"))
        self.net = keras.Sequential(stack)
        self.build((None, latent_dim))

    def call(self, z, training=False):
        check_noise(z.shape, self.latent_dim, "DCGenerator", image=True, layout="NHWC")
        check_float(z.dtype, "DCGenerator")
        out = self.net(ops.reshape(z, (-1, 1, 1, self.latent_dim)), training=training)
        if self.squash == "sigmoid":
            return ops.sigmoid(out)
        return ops.tanh(out) if self.squash == "tanh" else out


@serializable
class DCDiscriminator(keras.Model):
    """A DCGAN discriminator (or critic) for small square NHWC images -> logit ``(batch, 1)``;
    see the PyTorch twin."""

    def __init__(self, in_channels: int = 1, size: int = 8, channels=(32, 64),
                 negative_slope: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_channels, "in_channels")
        channels = check_widths(channels)
        final = check_dc_sizes(size, channels, "DCDiscriminator")
        self.in_channels, self.size = in_channels, size
        self.negative_slope = check_slope(negative_slope)
        stack = [keras.Input((size, size, in_channels))]
        for c in channels:
            stack += conv(c, 4, stride=2, padding=1)
            stack.append(MaxLeakyReLU(self.negative_slope))
        stack += [layers.Conv2D(1, final, padding="valid"), layers.Reshape((1,))]
        self.net = keras.Sequential(stack)
        self.build((None, size, size, in_channels))

    def call(self, x, training=False):
        check_image(x.shape, self.in_channels, self.size, "NHWC", "DCDiscriminator")
        check_float(x.dtype, "DCDiscriminator")
        return self.net(x, training=training)


# ---------------------------------------------------------------- losses

def _same_shape(a, b, what: str):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{what}: the real and generated batches must have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def discriminator_loss(real_logits, fake_logits):
    """``softplus(-l_real) + softplus(l_fake)``, averaged; see the PyTorch twin."""
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def generator_loss(fake_logits, kind: str = "non_saturating"):
    """``"minimax"``, ``"non_saturating"`` or ``"wasserstein"``; see the PyTorch twin."""
    check_choice(kind, GENERATOR_LOSSES, "generator loss")
    if kind == "non_saturating":
        return ops.mean(ops.softplus(-fake_logits))
    if kind == "minimax":
        return -ops.mean(ops.softplus(fake_logits))
    return -ops.mean(fake_logits)


def critic_loss(real_scores, fake_scores):
    """The Wasserstein critic's loss ``E[f(G(z))] - E[f(x)]`` (without the penalty)."""
    return ops.mean(fake_scores) - ops.mean(real_scores)


def input_gradient(fn, x):
    """``d sum(fn(x)) / d x``, itself differentiable (for the gradient penalty).

    Keras 3 has no backend-neutral gradient call, so each backend's own tool
    is used: a nested ``GradientTape`` (TensorFlow), ``autograd.grad`` with
    ``create_graph=True`` (PyTorch), ``jax.grad`` (JAX). An outer
    ``value_and_grad`` over the critic's weights then differentiates through it.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            total = ops.sum(fn(x))
        return tape.gradient(total, x)
    if backend == "torch":
        import torch

        x = x.detach().requires_grad_(True) if not x.requires_grad else x
        (g,) = torch.autograd.grad(ops.sum(fn(x)), x, create_graph=True)
        return g
    if backend == "jax":
        import jax

        return jax.grad(lambda t: ops.sum(fn(t)))(x)
    raise ValueError(f"input_gradient supports the tensorflow, torch and jax backends, not {backend!r}")


def gradient_penalty(critic, real, fake, alpha=None, seed=None):
    """WGAN-GP's ``E[(||grad_x f(x_hat)||_2 - 1)^2]``; see the PyTorch twin.

    ``alpha``: one value per example (uniform on [0, 1] from ``keras.random``
    with ``seed`` when not given).
    """
    real = ops.convert_to_tensor(real)
    fake = ops.convert_to_tensor(fake, dtype=real.dtype)
    _same_shape(real, fake, "gradient_penalty")
    batch = ops.shape(real)[0]
    if alpha is None:
        alpha = keras.random.uniform((batch,), seed=seed, dtype=real.dtype)
    alpha = ops.convert_to_tensor(alpha, dtype=real.dtype)
    if len(alpha.shape) != 1 or (alpha.shape[0] is not None and real.shape[0] is not None
                                 and int(alpha.shape[0]) != int(real.shape[0])):
        raise ValueError(f"gradient_penalty: alpha must hold one value per example, shape "
                         f"({real.shape[0]},), got {tuple(alpha.shape)}")
    alpha = ops.reshape(alpha, (-1,) + (1,) * (len(real.shape) - 1))
    x_hat = alpha * real + (1.0 - alpha) * ops.stop_gradient(fake)
    grad = input_gradient(lambda t: critic(t, training=True), x_hat)
    norms = ops.sqrt(ops.sum(ops.square(ops.reshape(grad, (batch, -1))), axis=1) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


# ---------------------------------------------------------------- training

class GAN(keras.Model):
    """The two players and their game, trained by ``fit`` (chapter: GAN).

    ``compile(d_optimizer=..., g_optimizer=...)`` gives each player its own
    optimizer; ``fit(x)`` on real data then runs, for every batch,
    ``n_critic`` discriminator updates and one generator update
    (``train_step``). ``loss`` is the generator's loss; ``"wasserstein"``
    also switches the discriminator to a critic with the gradient penalty.
    ``call(z)`` is the generator.
    """

    def __init__(self, generator, discriminator, loss: str = "non_saturating",
                 n_critic: int = 1, gp_weight: float = 10.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        check_choice(loss, GENERATOR_LOSSES, "loss")
        check_positive_int(n_critic, "n_critic")
        self.generator, self.discriminator = generator, discriminator
        self.loss_kind, self.n_critic, self.gp_weight = loss, n_critic, float(gp_weight)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        # The generator's optimizer is Keras's ``self.optimizer``; on JAX, whose
        # ``fit`` passes the state in and out of a pure function, the step runs
        # eagerly (see ``train_step``).
        if keras.backend.backend() == "jax":
            kwargs["run_eagerly"] = True
        super().compile(optimizer=g_optimizer, **kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _noise(self, batch):
        return keras.random.normal((batch, self.generator.latent_dim), seed=self.seed_generator)

    def d_loss(self, real):
        batch = ops.shape(real)[0]
        fake = ops.stop_gradient(self.generator(self._noise(batch), training=True))
        real_out = self.discriminator(real, training=True)
        fake_out = self.discriminator(fake, training=True)
        if self.loss_kind == "wasserstein":
            return critic_loss(real_out, fake_out) + self.gp_weight * gradient_penalty(
                self.discriminator, real, fake, seed=self.seed_generator)
        return discriminator_loss(real_out, fake_out)

    def g_loss(self, batch):
        fake_out = self.discriminator(self.generator(self._noise(batch), training=True),
                                      training=True)
        return generator_loss(fake_out, self.loss_kind)

    def _step(self, real):
        d_vars, g_vars = self.discriminator.trainable_variables, self.generator.trainable_variables
        for _ in range(self.n_critic):
            d_loss, grads = value_and_grad(lambda: self.d_loss(real), d_vars)
            self.d_optimizer.apply(grads, d_vars)
        g_loss, grads = value_and_grad(lambda: self.g_loss(ops.shape(real)[0]), g_vars)
        self.g_optimizer.apply(grads, g_vars)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, *args):
        if keras.backend.backend() != "jax":
            data = args[0]
            return self._step(data[0] if isinstance(data, (tuple, list)) else data)
        # JAX: fit hands over the state (trainable, non-trainable, optimizer and
        # metric values) and expects it back. Put it into the variables, take
        # the step eagerly, read the variables out again.
        state, data = args
        groups = (self.trainable_variables, self.non_trainable_variables,
                  self.optimizer.variables, self.metrics_variables)
        for variables, values in zip(groups, state):
            for v, value in zip(variables, values):
                v.assign(value)
        logs = self._step(data[0] if isinstance(data, (tuple, list)) else data)
        return logs, tuple([v.value for v in variables] for variables in groups)


@seeded
def train_gan(gan: GAN, x, *, steps: int, batch_size: int = 128, lr: float = 2e-4,
              d_lr: float | None = None, betas=(0.5, 0.999), callback=None, every: int = 100,
              seed: int = 0) -> dict:
    """Train ``gan`` for ``steps`` generator updates with ``fit``, as PyTorch's ``train_gan``.

    Adam for both players (``d_lr``: the discriminator's own learning rate,
    default ``lr``). Minibatches are drawn from ``x`` with replacement (one NumPy array of
    ``steps * batch_size`` rows, split into epochs of ``every`` steps);
    ``callback(step)`` runs after every ``every`` steps. Returns
    ``{"d_loss": [...], "g_loss": [...]}`` with one mean value per ``every`` steps.
    """
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    x = np.asarray(x, dtype="float32")
    rng = np.random.default_rng(seed)
    beta_1, beta_2 = betas
    gan.compile(d_optimizer=keras.optimizers.Adam(lr if d_lr is None else d_lr,
                                                  beta_1=beta_1, beta_2=beta_2),
                g_optimizer=keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=beta_2))
    history = {"d_loss": [], "g_loss": []}
    done = 0
    while done < steps:
        n = min(every, steps - done)
        batch = x[rng.integers(0, len(x), n * batch_size)]
        fit = gan.fit(batch, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        done += n
        for key in history:
            history[key].append(float(fit.history[key][-1]))
        if callback is not None:
            callback(done)
    return history


def generate(generator, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples of ``generator`` (inference mode) as a NumPy array."""
    z = np.random.default_rng(seed).standard_normal((n, generator.latent_dim)).astype("float32")
    return np.asarray(ops.convert_to_numpy(generator(z, training=False)))

"""Generative adversarial networks in PyTorch (part VII of the book, chapter: GAN).

Read side by side with ``companion/keras/gan.py``: same class names, same
constructor arguments, same layer order.

* ``Generator`` / ``Discriminator``: multilayer perceptrons for points in the
  plane (the ring of eight Gaussians of the chapter). The discriminator returns
  a *logit* (or, trained with the Wasserstein loss, a critic score), never a
  probability, so that the losses can be written stably with ``softplus``.
* ``DCGenerator`` / ``DCDiscriminator``: the DCGAN recipe of Radford et al.
  (2016) shrunk to 8x8 digits. The generator reads the noise as a 1x1 image
  with ``latent_dim`` channels, a first transposed convolution (kernel = the
  starting size, stride 1, no padding) makes a small feature map, and every
  further one (kernel 4, stride 2, padding 1) doubles its size. The
  discriminator halves the size with strided convolutions and ends with one
  convolution that covers the whole remaining map, so no flatten is needed
  (flattening NCHW and NHWC maps orders the features differently).
* Losses: ``discriminator_loss`` (binary cross-entropy on logits),
  ``generator_loss`` (``"non_saturating"``, ``"minimax"`` or
  ``"wasserstein"``), ``critic_loss`` and ``gradient_penalty`` (WGAN-GP).
* ``train_step`` / ``train_gan``: the alternating updates, written out.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from companion.checks import (check_choice, check_features, check_float, check_image,
                              check_positive_int, check_widths)
from companion.numpy.gan import check_dc_sizes, check_noise, check_slope

GENERATOR_LOSSES = ("non_saturating", "minimax", "wasserstein")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
OUTPUTS = ("sigmoid", "tanh", "linear")


# ---------------------------------------------------------------- MLP pair (2-D data)

class Generator(nn.Module):
    """An MLP generator ``z -> x`` (chapter: GAN).

    ``latent_dim -> hidden[0] -> ... -> out_features``, ``activation`` between
    the layers and a linear output (the data are points in the plane).
    """

    def __init__(self, latent_dim: int = 2, out_features: int = 2, hidden=(64, 64),
                 activation: str = "relu"):
        super().__init__()
        check_positive_int(latent_dim, "latent_dim")
        check_positive_int(out_features, "out_features")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        self.latent_dim, self.out_features = latent_dim, out_features
        layers, width = [], latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_noise(z.shape, self.latent_dim, "Generator")
        check_float(z.dtype, "Generator", self)
        return self.net(z)


class Discriminator(nn.Module):
    """An MLP discriminator (or Wasserstein critic) ``x -> logit``, shape ``(batch, 1)``.

    Leaky ReLUs with slope ``negative_slope`` between the layers (PyTorch's
    default slope is 0.01 and Keras's 0.3, so the slope is always passed).
    ``minibatch_std=True`` appends one feature before the output layer: the
    standard deviation over the batch of every last hidden unit, averaged over
    the units (Karras et al., 2018). A batch of near-identical fakes then
    looks different from a batch of real data, which counters mode collapse;
    the examples of a batch are no longer scored independently.
    """

    def __init__(self, in_features: int = 2, hidden=(64, 64), negative_slope: float = 0.2,
                 minibatch_std: bool = False):
        super().__init__()
        check_positive_int(in_features, "in_features")
        hidden = check_widths(hidden)
        self.in_features, self.negative_slope = in_features, check_slope(negative_slope)
        self.minibatch_std = bool(minibatch_std)
        layers, width = [], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(self.negative_slope)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width + self.minibatch_std, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "Discriminator")
        check_float(x.dtype, "Discriminator", self)
        h = self.body(x)
        if self.minibatch_std:
            spread = h.std(dim=0, unbiased=False).mean() if h.shape[0] > 1 else h.new_zeros(())
            h = torch.cat([h, spread.expand(h.shape[0], 1)], dim=1)
        return self.head(h)


# ---------------------------------------------------------------- DCGAN pair (8x8 digits)

class DCGenerator(nn.Module):
    """A DCGAN generator for small square images, NCHW (chapter: GAN).

    Noise ``(batch, latent_dim)`` or ``(batch, latent_dim, 1, 1)``; output
    ``(batch, out_channels, size, size)``, squashed by ``output`` (``"sigmoid"``
    for pixels in [0, 1], ``"tanh"`` for [-1, 1]). With ``channels=(64, 32)``
    and ``size=8``: 1x1 -> 2x2 (64) -> 4x4 (32) -> 8x8 (1). Batch normalisation
    and ReLU follow every transposed convolution but the last.
    """

    def __init__(self, latent_dim: int = 16, channels=(64, 32), size: int = 8,
                 out_channels: int = 1, batchnorm: bool = True, output: str = "sigmoid"):
        super().__init__()
        check_positive_int(latent_dim, "latent_dim")
        check_positive_int(out_channels, "out_channels")
        channels = check_widths(channels)
        start = check_dc_sizes(size, channels, "DCGenerator")
        check_choice(output, OUTPUTS, "output")
        self.latent_dim, self.size, self.out_channels = latent_dim, size, out_channels
        self.squash = output
        widths = (latent_dim, *channels, out_channels)
        layers = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i == 0:
                layers.append(nn.ConvTranspose2d(a, b, start, stride=1, padding=0,
                                                 bias=not batchnorm))
            else:
                last = i == len(widths) - 2
                layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1,
                                                 bias=last or not batchnorm))
            if i < len(widths) - 2:
                if batchnorm:
                    layers.append(nn.BatchNorm2d(b))
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_noise(z.shape, self.latent_dim, "DCGenerator", image=True, layout="NCHW")
        check_float(z.dtype, "DCGenerator", self)
        out = self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))
        if self.squash == "sigmoid":
            return torch.sigmoid(out)
        return torch.tanh(out) if self.squash == "tanh" else out


class DCDiscriminator(nn.Module):
    """A DCGAN discriminator (or critic) for small square NCHW images -> logit ``(batch, 1)``.

    Every entry of ``channels`` is a convolution with kernel 4, stride 2 and
    padding 1 that halves the size, followed by a leaky ReLU; a last
    convolution as large as the remaining map gives one score. No batch
    normalisation: the gradient penalty of WGAN-GP is defined per example,
    and batch statistics would couple the examples of a batch.
    """

    def __init__(self, in_channels: int = 1, size: int = 8, channels=(32, 64),
                 negative_slope: float = 0.2):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        channels = check_widths(channels)
        final = check_dc_sizes(size, channels, "DCDiscriminator")
        self.in_channels, self.size = in_channels, size
        self.negative_slope = check_slope(negative_slope)
        layers, width = [], in_channels
        for c in channels:
            layers += [nn.Conv2d(width, c, 4, stride=2, padding=1),
                       nn.LeakyReLU(self.negative_slope)]
            width = c
        layers.append(nn.Conv2d(width, 1, final))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x.shape, self.in_channels, self.size, "NCHW", "DCDiscriminator")
        check_float(x.dtype, "DCDiscriminator", self)
        return self.net(x).reshape(x.shape[0], 1)


# ---------------------------------------------------------------- losses

def _same_shape(a, b, what: str):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{what}: the real and generated batches must have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-E[log D(x)] - E[log(1 - D(G(z)))]`` from logits: ``softplus(-l_real) + softplus(l_fake)``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's loss on the discriminator's logits (or critic scores) of fakes.

    ``"minimax"``: ``E[log(1 - D(G(z)))] = -E[softplus(l)]`` (the game's own term);
    ``"non_saturating"``: ``-E[log D(G(z))] = E[softplus(-l)]``;
    ``"wasserstein"``: ``-E[f(G(z))]``.
    """
    check_choice(kind, GENERATOR_LOSSES, "generator loss")
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    return -fake_logits.mean()


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The Wasserstein critic's loss ``E[f(G(z))] - E[f(x)]`` (without the penalty)."""
    return fake_scores.mean() - real_scores.mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's ``E[(||grad_x f(x_hat)||_2 - 1)^2]`` at ``x_hat = alpha real + (1 - alpha) fake``.

    ``alpha`` has one entry per example (uniform on [0, 1] when not given).
    The gradient keeps its graph (``create_graph=True``) so that the penalty
    can itself be differentiated with respect to the critic's weights.
    """
    _same_shape(real, fake, "gradient_penalty")
    batch = real.shape[0]
    if alpha is None:
        alpha = torch.rand(batch, device=real.device, dtype=real.dtype)
    alpha = torch.as_tensor(alpha, dtype=real.dtype, device=real.device).reshape(-1)
    if alpha.shape[0] != batch:
        raise ValueError(f"gradient_penalty: alpha must hold one value per example, shape "
                         f"({batch},), got {tuple(alpha.shape)}")
    alpha = alpha.reshape(batch, *([1] * (real.dim() - 1)))
    x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.reshape(batch, -1).norm(dim=1)
    return ((norms - 1.0) ** 2).mean()


# ---------------------------------------------------------------- training

def sample_noise(n: int, latent_dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise ``(n, latent_dim)``, the prior ``p(z)``."""
    return torch.randn(n, latent_dim, generator=generator)


def train_step(generator: nn.Module, discriminator: nn.Module, g_opt, d_opt, real: torch.Tensor,
               loss: str = "non_saturating", n_critic: int = 1, gp_weight: float = 10.0) -> dict:
    """One round of the game: ``n_critic`` discriminator updates, then one generator update.

    ``loss="wasserstein"`` trains a critic with the gradient penalty (weight
    ``gp_weight``); the other two train a classifier with the binary
    cross-entropy and differ only in the generator's loss.
    """
    check_choice(loss, GENERATOR_LOSSES, "loss")
    check_positive_int(n_critic, "n_critic")
    batch = real.shape[0]
    for _ in range(n_critic):
        with torch.no_grad():
            fake = generator(sample_noise(batch, generator.latent_dim))
        real_out, fake_out = discriminator(real), discriminator(fake)
        if loss == "wasserstein":
            d_loss = critic_loss(real_out, fake_out) + gp_weight * gradient_penalty(
                discriminator, real, fake)
        else:
            d_loss = discriminator_loss(real_out, fake_out)
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
    fake_out = discriminator(generator(sample_noise(batch, generator.latent_dim)))
    g_loss = generator_loss(fake_out, loss)
    g_opt.zero_grad()      # also clears the gradients this pass left on the discriminator
    g_loss.backward()
    g_opt.step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}


def train_gan(generator: nn.Module, discriminator: nn.Module, x, *, steps: int,
              batch_size: int = 128, lr: float = 2e-4, d_lr: float | None = None,
              betas=(0.5, 0.999),
              loss: str = "non_saturating", n_critic: int = 1, gp_weight: float = 10.0,
              callback=None, every: int = 100, seed: int = 0) -> dict:
    """Train a GAN for ``steps`` generator updates on minibatches drawn from ``x`` (NumPy).

    Adam for both players with the DCGAN settings (``lr=2e-4``, ``beta1=0.5``);
    ``d_lr`` gives the discriminator its own learning rate (default: ``lr``).
    ``callback(step)`` runs every ``every`` steps and after the last one
    (the chapter measures the samples there). Returns ``{"d_loss": [...], "g_loss": [...]}``.
    """
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    rng = np.random.default_rng(seed)
    g_opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=tuple(betas))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=lr if d_lr is None else d_lr,
                             betas=tuple(betas))
    generator.train()
    discriminator.train()
    history = {"d_loss": [], "g_loss": []}
    for step in range(1, steps + 1):
        losses = train_step(generator, discriminator, g_opt, d_opt,
                            x[rng.integers(0, len(x), batch_size)], loss, n_critic, gp_weight)
        for key, value in losses.items():
            history[key].append(value)
        if callback is not None and (step % every == 0 or step == steps):
            generator.eval()
            callback(step)
            generator.train()
    generator.eval()
    return history


@torch.no_grad()
def generate(generator: nn.Module, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples of ``generator`` (evaluation mode) as a NumPy array."""
    generator.eval()
    g = torch.Generator().manual_seed(seed)
    return generator(sample_noise(n, generator.latent_dim, g)).numpy()

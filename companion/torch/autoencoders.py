"""Autoencoders in PyTorch (part V of the book).

Read side by side with ``companion/keras/autoencoders.py``: same class names,
same constructor arguments, same layer order. A denoising autoencoder is an
:class:`Autoencoder` trained on corrupted inputs: either pass a NumPy
corruption of ``companion.data`` to the training loop (``augment=``), or use
:class:`DenoisingAutoencoder`, which corrupts its own input in training mode.

* :class:`Autoencoder`: a fully connected encoder ``in -> hidden... -> code``
  and a mirrored decoder ``code -> ...hidden -> in``. With ``hidden=()`` and
  ``output="linear"`` it is the linear autoencoder that learns the PCA subspace.
* :class:`ConvAutoencoder`: strided convolutions down, transposed
  convolutions up (NCHW images).
* :class:`VAE`: a Gaussian encoder ``q(z | x) = N(mean, diag(exp(log_var)))``
  and a Bernoulli or unit-variance Gaussian decoder. ``forward`` returns the
  decoder's mean at ``z = mean`` in evaluation mode and at a sampled ``z`` in
  training mode; :meth:`VAE.loss` is the negative ELBO.
* ``ConditionalVAE`` (part VII, the VAE as a generator): the label's one-hot
  row joins the encoder's input and the decoder's code; ``forward`` takes the
  input with the one-hot row appended, ``sample(labels)`` generates requested
  classes. The beta-VAE is ``VAE`` trained with ``beta > 1``
  (``VAE.loss(x, eps, beta)``, ``train_vae(..., beta=...)``).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from companion.checks import (check_choice, check_code_size, check_features, check_float,
                              check_image, check_positive_int, check_widths)

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
OUTPUTS = ("linear", "sigmoid")
LIKELIHOODS = ("bernoulli", "gaussian")


def _mlp(sizes, activation: str) -> list:
    """Linear layers between consecutive ``sizes``, each followed by ``activation``."""
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        out += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return out


# ---------------------------------------------------------------- Autoencoder

class Autoencoder(nn.Module):
    """A fully connected autoencoder (chapter: the classic autoencoder).

    ``encoder: in_features -> hidden[0] -> ... -> code_size`` (the code layer
    is linear), ``decoder: code_size -> hidden[-1] -> ... -> in_features``
    followed by ``output`` (``"linear"`` or ``"sigmoid"``, for inputs in
    [0, 1]). ``undercomplete=True`` refuses a code larger than the input.
    """

    def __init__(self, in_features: int, code_size: int, hidden=(), activation: str = "relu",
                 output: str = "linear", undercomplete: bool = True):
        super().__init__()
        check_code_size(in_features, code_size, undercomplete, "Autoencoder")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(output, OUTPUTS, "output")
        self.in_features, self.code_size = in_features, code_size
        self.encoder = nn.Sequential(*_mlp((in_features, *hidden), activation),
                                     nn.Linear(([in_features, *hidden])[-1], code_size))
        back = tuple(reversed(hidden))
        self.decoder = nn.Sequential(*_mlp((code_size, *back), activation),
                                     nn.Linear(([code_size, *back])[-1], in_features),
                                     *([nn.Sigmoid()] if output == "sigmoid" else []))

    def _check(self, x):
        check_features(x.shape, self.in_features, type(self).__name__)
        check_float(x.dtype, type(self).__name__, self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))


# ---------------------------------------------------------------- DenoisingAutoencoder

CORRUPTIONS = ("gaussian", "salt_and_pepper", "masking")


def check_corruption(corruption: str, noise: float, model: str) -> None:
    """A known corruption and a level in [0, 1] (shared message with Keras and companion.data)."""
    check_choice(corruption, CORRUPTIONS, "corruption")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
        raise ValueError(f"{model}: the corruption level must be a number in [0, 1], got {noise!r}")


class DenoisingAutoencoder(Autoencoder):
    """An :class:`Autoencoder` that corrupts its own input in training mode (chapter: DAE).

    ``corruption`` is ``"gaussian"`` (``clip(x + noise * N(0, 1), 0, 1)``),
    ``"salt_and_pepper"`` (a share ``noise`` of the entries set to 0 or 1) or
    ``"masking"`` (a share ``noise`` set to 0), the same corruptions as the
    NumPy functions of ``companion.data``. In evaluation mode it is the plain
    autoencoder, so ``model.eval()`` denoises whatever it is given. The
    default allows an overcomplete code: the corruption prevents copying.
    """

    def __init__(self, in_features: int, code_size: int, hidden=(), activation: str = "relu",
                 output: str = "linear", undercomplete: bool = False, noise: float = 0.3,
                 corruption: str = "gaussian"):
        check_corruption(corruption, noise, "DenoisingAutoencoder")
        super().__init__(in_features, code_size, hidden, activation, output, undercomplete)
        self.noise, self.corruption = float(noise), corruption

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.corruption == "gaussian":
            return (x + self.noise * torch.randn_like(x)).clamp(0.0, 1.0)
        hit = torch.rand_like(x) < self.noise
        if self.corruption == "masking":
            return torch.where(hit, torch.zeros_like(x), x)
        salt = (torch.rand_like(x) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if self.training and self.noise > 0:
            x = self.corrupt(x)
        return self.decoder(self.encoder(x))


# ---------------------------------------------------------------- ConvAutoencoder

class ConvAutoencoder(nn.Module):
    """A convolutional autoencoder for square NCHW images (chapter: autoencoders overview).

    Each encoder stage is ``Conv2d(k=4, stride=2, padding=1)`` + activation
    (halving height and width); each decoder stage is
    ``ConvTranspose2d(k=4, stride=2, padding=1)`` (doubling them), the last
    one followed by ``output``. ``size`` must be divisible by
    ``2 ** len(channels)``. The code is the last encoder map,
    ``(channels[-1], size / 2**L, size / 2**L)``.
    """

    def __init__(self, in_channels: int = 1, size: int = 8, channels=(8, 16),
                 activation: str = "relu", output: str = "sigmoid"):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(size, "size")
        channels = check_widths(channels)
        if not channels or size % (2 ** len(channels)):
            raise ValueError(f"ConvAutoencoder: size={size} must be divisible by "
                             f"2 ** len(channels) = {2 ** len(channels)}")
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(output, OUTPUTS, "output")
        self.in_channels, self.size = in_channels, size
        act = ACTIVATIONS[activation]
        down, widths = [], (in_channels, *channels)
        for a, b in zip(widths[:-1], widths[1:]):
            down += [nn.Conv2d(a, b, 4, stride=2, padding=1), act()]
        up, back = [], tuple(reversed(widths))
        for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
            up.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            last = i == len(back) - 2
            if not last:
                up.append(act())
            elif output == "sigmoid":
                up.append(nn.Sigmoid())
        self.encoder, self.decoder = nn.Sequential(*down), nn.Sequential(*up)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x.shape, self.in_channels, self.size, "NCHW", "ConvAutoencoder")
        check_float(x.dtype, "ConvAutoencoder", self)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))


# ---------------------------------------------------------------- VAE

def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, exp(log_var)) || N(0, I))`` per example (summed over the code)."""
    return 0.5 * (log_var.exp() + mean ** 2 - 1.0 - log_var).sum(-1)


class VAE(nn.Module):
    """A variational autoencoder with fully connected encoder and decoder (chapter: VAE).

    ``encoder: in -> hidden... ``, then two linear heads, ``mean`` and
    ``log_var`` (the log-variance of ``q(z | x)``), each of size
    ``code_size``; ``decoder: code -> ...hidden -> in`` gives the logits of a
    Bernoulli likelihood (``likelihood="bernoulli"``, pixels in [0, 1]) or
    the mean of a unit-variance Gaussian (``"gaussian"``).
    """

    def __init__(self, in_features: int, code_size: int, hidden=(64,), activation: str = "relu",
                 likelihood: str = "bernoulli"):
        super().__init__()
        check_code_size(in_features, code_size, True, "VAE")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(likelihood, LIKELIHOODS, "likelihood")
        self.in_features, self.code_size, self.likelihood = in_features, code_size, likelihood
        last = ([in_features, *hidden])[-1]
        self.encoder = nn.Sequential(*_mlp((in_features, *hidden), activation))
        self.mean = nn.Linear(last, code_size)
        self.log_var = nn.Linear(last, code_size)
        back = tuple(reversed(hidden))
        self.decoder = nn.Sequential(*_mlp((code_size, *back), activation),
                                     nn.Linear(([code_size, *back])[-1], in_features))

    def encode(self, x: torch.Tensor):
        """``(mean, log_var)`` of ``q(z | x)``."""
        check_features(x.shape, self.in_features, "VAE")
        check_float(x.dtype, "VAE", self)
        h = self.encoder(x)
        return self.mean(h), self.log_var(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output: Bernoulli logits, or the Gaussian mean."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of ``p(x | z)``: pixel probabilities, or the Gaussian mean."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    @staticmethod
    def reparameterize(mean, log_var, eps):
        """``z = mean + exp(log_var / 2) * eps``: a sample of ``q(z | x)`` differentiable in both."""
        return mean + torch.exp(0.5 * log_var) * eps

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        mean, log_var = self.encode(x)
        if eps is None and not self.training:
            return self.decode(mean)
        if eps is None:
            eps = torch.randn_like(mean)
        return self.decode(self.reparameterize(mean, log_var, eps))

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` per example from the decoder's raw output ``out``."""
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
        return -0.5 * ((x - out) ** 2).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)

    def elbo_terms(self, x: torch.Tensor, eps: torch.Tensor | None = None):
        """``(reconstruction, kl)`` per example: ``-log p(x | z)`` at one sample, and the KL.

        ``eps`` (shape ``(batch, code_size)``) fixes the noise; without it a
        fresh standard normal sample is drawn.
        """
        mean, log_var = self.encode(x)
        if eps is None:
            eps = torch.randn_like(mean)
        out = self.decode_logits(self.reparameterize(mean, log_var, eps))
        return -self.log_likelihood(x, out), gaussian_kl(mean, log_var)

    def loss(self, x: torch.Tensor, eps: torch.Tensor | None = None, beta: float = 1.0):
        """The negative ELBO (beta-weighted KL), averaged over the batch, in nats."""
        reconstruction, kl = self.elbo_terms(x, eps)
        return (reconstruction + beta * kl).mean()

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, k: int, generator=None) -> torch.Tensor:
        """``log p(x, z_i) - log q(z_i | x)`` for ``k`` samples per example: shape ``(k, batch)``.

        Their mean is a k-sample ELBO estimate; their log-mean-exp is the
        importance-weighted bound of Burda et al. (2016).
        """
        check_positive_int(k, "k")
        mean, log_var = self.encode(x)
        eps = torch.randn((k, *mean.shape), generator=generator, dtype=mean.dtype)
        z = self.reparameterize(mean, log_var, eps)
        log_px = self.log_likelihood(x.expand(k, *x.shape), self.decode_logits(z))
        log_pz = -0.5 * (z ** 2 + math.log(2 * math.pi)).sum(-1)
        log_qz = -0.5 * (eps ** 2 + log_var + math.log(2 * math.pi)).sum(-1)
        return log_px + log_pz - log_qz


def train_vae(model: VAE, x, *, epochs: int, lr: float = 1e-3, batch_size: int = 64,
              beta: float = 1.0, seed: int = 0) -> dict:
    """Minimise the negative ELBO with Adam; returns ``{"loss": [one value per epoch]}``."""
    x = torch.as_tensor(x, dtype=torch.float32)
    return _minimise_elbo(model, len(x), lambda idx, eps: model.loss(x[idx], eps, beta),
                          epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)


def _minimise_elbo(model, n: int, batch_loss, *, epochs: int, lr: float, batch_size: int,
                   seed: int) -> dict:
    """Adam on ``batch_loss(idx, eps)``: the loss of the examples ``idx`` with noise ``eps``.

    The shuffling and the noise come from one generator seeded with ``seed``,
    so a rerun gives the same history (shared by the VAE and the conditional VAE).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = {"loss": []}
    for _ in range(epochs):
        model.train()
        total = 0.0
        for idx in torch.randperm(n, generator=generator).split(batch_size):
            eps = torch.randn((len(idx), model.code_size), generator=generator)
            loss = batch_loss(idx, eps)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history["loss"].append(total / n)
    model.eval()
    return history


# ---------------------------------------------------------------- contractive penalty

def contractive_penalty(encode, x: torch.Tensor) -> torch.Tensor:
    """``||d encode(x) / d x||_F^2`` per example, by autograd (one backward pass per code unit)."""
    x = x.detach().requires_grad_(True)
    h = encode(x)
    total = torch.zeros(len(x), dtype=x.dtype)
    for j in range(h.shape[-1]):
        (g,) = torch.autograd.grad(h[:, j].sum(), x, create_graph=True)
        total = total + (g ** 2).sum(-1)
    return total


# ---------------------------------------------------------------- ConditionalVAE (part VII)

def _one_hot_rows(y: torch.Tensor, num_classes: int, model: str) -> torch.Tensor:
    """``y`` as float rows ``(batch, num_classes)``: integer labels are one-hot encoded."""
    if not torch.is_floating_point(y):
        if y.ndim != 1 or (len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes)):
            raise ValueError(f"{model} expected labels of shape (batch,) with values in "
                             f"[0, {num_classes}), got shape {tuple(y.shape)}")
        return F.one_hot(y.long(), num_classes).float()
    if y.ndim != 2 or y.shape[-1] != num_classes:
        raise ValueError(f"{model} expected label rows of shape (batch, {num_classes}), "
                         f"got {tuple(y.shape)}")
    return y


class ConditionalVAE(nn.Module):
    """A conditional VAE: the label enters the encoder and the decoder (chapter: VAE as a generator).

    ``q(z | x, y)`` and ``p(x | z, y)``: the encoder reads ``[x, onehot(y)]``
    (``in_features + num_classes`` numbers) and the decoder
    ``[z, onehot(y)]`` (``code_size + num_classes``); the prior stays
    ``N(0, I)``. ``forward`` takes ONE tensor, the input with its label's
    one-hot row appended, ``(batch, in_features + num_classes)``, and returns
    the decoder's mean ``(batch, in_features)`` (at ``z = mean`` in evaluation
    mode, at a sampled ``z`` in training mode, as ``VAE``). ``split`` cuts such
    a row in two, ``join`` builds it, ``sample(labels)`` generates requested
    classes from the prior. The methods that take ``x`` and ``y`` separately
    accept integer labels ``(batch,)`` or float label rows
    ``(batch, num_classes)``.
    """

    def __init__(self, in_features: int, num_classes: int, code_size: int, hidden=(64,),
                 activation: str = "relu", likelihood: str = "bernoulli"):
        super().__init__()
        check_code_size(in_features, code_size, True, "ConditionalVAE")
        check_positive_int(num_classes, "num_classes")
        hidden = check_widths(hidden)
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(likelihood, LIKELIHOODS, "likelihood")
        self.in_features, self.num_classes = in_features, num_classes
        self.code_size, self.likelihood = code_size, likelihood
        first = in_features + num_classes
        last = ([first, *hidden])[-1]
        self.encoder = nn.Sequential(*_mlp((first, *hidden), activation))
        self.mean = nn.Linear(last, code_size)
        self.log_var = nn.Linear(last, code_size)
        back = tuple(reversed(hidden))
        self.decoder = nn.Sequential(*_mlp((code_size + num_classes, *back), activation),
                                     nn.Linear(([code_size + num_classes, *back])[-1], in_features))

    # -- the one-tensor input of ``forward``
    def join(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[x, onehot(y)]``, the input of ``forward``."""
        return torch.cat([x, _one_hot_rows(y, self.num_classes, "ConditionalVAE")], dim=-1)

    def split(self, xy: torch.Tensor):
        """``(x, y_rows)`` from ``(batch, in_features + num_classes)``."""
        check_features(xy.shape, self.in_features + self.num_classes, "ConditionalVAE")
        check_float(xy.dtype, "ConditionalVAE", self)
        return xy[:, :self.in_features], xy[:, self.in_features:]

    def _labels(self, y, batch: int) -> torch.Tensor:
        y = _one_hot_rows(torch.as_tensor(y), self.num_classes, "ConditionalVAE")
        if len(y) != batch:
            raise ValueError(f"ConditionalVAE: {len(y)} labels for a batch of {batch}")
        return y

    def encode(self, x: torch.Tensor, y) -> tuple:
        """``(mean, log_var)`` of ``q(z | x, y)``."""
        check_features(x.shape, self.in_features, "ConditionalVAE")
        check_float(x.dtype, "ConditionalVAE", self)
        h = self.encoder(torch.cat([x, self._labels(y, len(x)).to(x.dtype)], dim=-1))
        return self.mean(h), self.log_var(h)

    def decode_logits(self, z: torch.Tensor, y) -> torch.Tensor:
        """The decoder's raw output for codes ``z`` and labels ``y``."""
        check_features(z.shape, self.code_size, "ConditionalVAE decoder")
        return self.decoder(torch.cat([z, self._labels(y, len(z)).to(z.dtype)], dim=-1))

    def decode(self, z: torch.Tensor, y) -> torch.Tensor:
        """The mean of ``p(x | z, y)``: pixel probabilities, or the Gaussian mean."""
        out = self.decode_logits(z, y)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    reparameterize = staticmethod(VAE.reparameterize)
    log_likelihood = VAE.log_likelihood

    def forward(self, xy: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        x, y = self.split(xy)
        mean, log_var = self.encode(x, y)
        if eps is None and not self.training:
            return self.decode(mean, y)
        if eps is None:
            eps = torch.randn_like(mean)
        return self.decode(self.reparameterize(mean, log_var, eps), y)

    def elbo_terms(self, x: torch.Tensor, y, eps: torch.Tensor | None = None):
        """``(reconstruction, kl)`` per example: ``-log p(x | z, y)`` at one sample, and the KL."""
        mean, log_var = self.encode(x, y)
        if eps is None:
            eps = torch.randn_like(mean)
        out = self.decode_logits(self.reparameterize(mean, log_var, eps), y)
        return -self.log_likelihood(x, out), gaussian_kl(mean, log_var)

    def loss(self, x: torch.Tensor, y, eps: torch.Tensor | None = None, beta: float = 1.0):
        """The negative conditional ELBO (beta-weighted KL), averaged over the batch, in nats."""
        reconstruction, kl = self.elbo_terms(x, y, eps)
        return (reconstruction + beta * kl).mean()

    @torch.no_grad()
    def sample(self, labels, generator=None) -> torch.Tensor:
        """Decoder means for codes drawn from the prior, one per requested label: ``(n, in_features)``."""
        y = _one_hot_rows(torch.as_tensor(labels), self.num_classes, "ConditionalVAE")
        z = torch.randn((len(y), self.code_size), generator=generator)
        return self.decode(z, y)


def train_conditional_vae(model: ConditionalVAE, x, labels, *, epochs: int, lr: float = 1e-3,
                          batch_size: int = 64, beta: float = 1.0, seed: int = 0) -> dict:
    """Minimise the negative conditional ELBO with Adam; returns ``{"loss": [one value per epoch]}``."""
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(labels)
    if len(y) != len(x):
        raise ValueError(f"train_conditional_vae: {len(y)} labels for {len(x)} examples")
    return _minimise_elbo(model, len(x), lambda idx, eps: model.loss(x[idx], y[idx], eps, beta),
                          epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)

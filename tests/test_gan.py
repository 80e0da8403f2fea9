"""GANs (part VII): losses and the WGAN-GP gradient penalty against NumPy, the twins
against each other, training that improves the samples, and refused inputs."""
import os
import subprocess
import sys

import numpy as np
import pytest

from companion import parity
from companion.numpy import gan as ref

RNG = np.random.default_rng(0)


def _torch_critic(seed=0, double=True):
    import torch

    from companion.torch.gan import Discriminator

    torch.manual_seed(seed)
    critic = Discriminator(2, (5, 4))
    return critic.double() if double else critic


def _numpy_critic(critic):
    linears = parity.torch_layers(critic)
    return ref.mlp_critic([(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears])


def _batch(n=6):
    real = RNG.normal(size=(n, 2))
    fake = RNG.normal(size=(n, 2)) * 0.5 + 1.0
    alpha = RNG.uniform(size=n)
    return real, fake, alpha


# ---------------------------------------------------------------- gradient penalty

def test_torch_gradient_penalty_matches_finite_differences():
    import torch

    from companion.torch.gan import gradient_penalty

    critic = _torch_critic()
    real, fake, alpha = _batch()
    got = gradient_penalty(critic, torch.from_numpy(real), torch.from_numpy(fake),
                           torch.from_numpy(alpha)).item()
    want = ref.gradient_penalty_fd(_numpy_critic(critic), real, fake, alpha)
    assert want > 1e-2                       # not a vacuous comparison of two zeros
    assert abs(got - want) < 1e-7 * max(1.0, want)


def test_keras_gradient_penalty_matches_finite_differences():
    from companion.keras.gan import Discriminator, gradient_penalty

    t = _torch_critic(double=False)
    k = Discriminator(2, (5, 4))
    parity.copy_torch_to_keras(t, k)
    real, fake, alpha = _batch()
    got = float(np.asarray(gradient_penalty(k, real.astype("float32"), fake.astype("float32"),
                                            alpha.astype("float32"))))
    want = ref.gradient_penalty_fd(_numpy_critic(t), real.astype("float32"),
                                   fake.astype("float32"), alpha.astype("float32"))
    assert want > 1e-2
    assert abs(got - want) < 1e-5 * max(1.0, want)   # float32 against float64


def test_gradient_penalty_of_a_conv_critic_agrees_and_reaches_the_weights():
    """Same DCGAN critic, same batch, same alpha: the same penalty in both frameworks,
    and the penalty has a non-zero gradient with respect to the critic's weights
    (the double backpropagation that WGAN-GP needs)."""
    import keras
    import torch

    from companion.keras import gan as kg
    from companion.keras.autodiff import numpy_value_and_grad
    from companion.torch import gan as tg

    torch.manual_seed(0)
    t = tg.DCDiscriminator(channels=(4, 6))
    k = kg.DCDiscriminator(channels=(4, 6))
    parity.copy_torch_to_keras(t, k)
    real = RNG.uniform(size=(4, 1, 8, 8)).astype("float32")
    fake = RNG.uniform(size=(4, 1, 8, 8)).astype("float32")
    alpha = RNG.uniform(size=4).astype("float32")
    gp_t = tg.gradient_penalty(t, torch.from_numpy(real), torch.from_numpy(fake),
                               torch.from_numpy(alpha))
    gp_t.backward()
    assert t.net[0].weight.grad.abs().max() > 0
    value, grads = numpy_value_and_grad(
        lambda: kg.gradient_penalty(k, parity.to_channels_last(real),
                                    parity.to_channels_last(fake), alpha),
        k.trainable_variables)
    assert abs(value - gp_t.item()) < 1e-5 * max(1.0, gp_t.item())
    assert np.abs(grads[0]).max() > 0
    # the first conv kernel's gradient, in PyTorch's layout
    np.testing.assert_allclose(grads[0].transpose(3, 2, 0, 1), t.net[0].weight.grad.numpy(),
                               atol=1e-4, rtol=1e-3)
    assert keras.backend.backend() in ("tensorflow", "torch", "jax")


# ---------------------------------------------------------------- losses

LOGITS = RNG.normal(size=(16, 1)) * 3


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_losses_match_the_numpy_formulas(framework):
    import importlib

    import keras
    import torch

    fw = importlib.import_module(f"companion.{framework}.gan")
    real = LOGITS.astype("float32")
    fake = (LOGITS[::-1] - 1).astype("float32")
    wrap = torch.from_numpy if framework == "torch" else keras.ops.convert_to_tensor

    def num(v):
        return float(v.item()) if framework == "torch" else float(keras.ops.convert_to_numpy(v))

    assert abs(num(fw.discriminator_loss(wrap(real), wrap(fake)))
               - ref.discriminator_loss(real, fake)) < 1e-5
    for kind in ("non_saturating", "minimax", "wasserstein"):
        assert abs(num(fw.generator_loss(wrap(fake), kind)) - ref.generator_loss(fake, kind)) < 1e-5
    assert abs(num(fw.critic_loss(wrap(real), wrap(fake))) - (fake.mean() - real.mean())) < 1e-5


def test_generator_loss_slopes_saturate_as_the_chapter_says():
    """d loss / d logit is -D (minimax) and -(1 - D) (non-saturating): autograd agrees."""
    import torch

    from companion.torch.gan import generator_loss

    logits = torch.linspace(-8, 8, 9, dtype=torch.float64).reshape(-1, 1).requires_grad_(True)
    d = torch.sigmoid(logits).detach().numpy().ravel()
    for kind in ("minimax", "non_saturating"):
        (g,) = torch.autograd.grad(generator_loss(logits, kind), logits)
        np.testing.assert_allclose(g.numpy().ravel() * len(d),
                                   ref.generator_loss_slope(d, kind), atol=1e-12)
    # a discriminator that is sure the fake is fake (D = 3e-4): almost no signal from minimax
    assert abs(ref.generator_loss_slope(3e-4, "minimax")) < 1e-3
    assert abs(ref.generator_loss_slope(3e-4, "non_saturating")) > 0.99


def test_mode_report_counts_modes_and_quality():
    x = ref.ring_of_gaussians(4000, std=0.05, seed=1)
    full = ref.mode_report(x)
    assert full["covered"] == 8 and full["high_quality"] > 0.98
    one = ref.mode_report(x[np.linalg.norm(x - ref.ring_centres()[0], axis=1) < 0.3])
    assert one["covered"] == 1
    noise = ref.mode_report(RNG.normal(size=(2000, 2)))
    assert noise["high_quality"] < 0.1


# ---------------------------------------------------------------- training improves the samples

def _distance_to_ring(samples):
    d = np.linalg.norm(samples[:, None] - ref.ring_centres()[None], axis=2).min(1)
    return float(np.median(d))


def test_torch_gan_training_brings_samples_to_the_modes():
    import torch

    import companion
    from companion.torch import gan as tg

    torch.set_num_threads(1)
    companion.set_seed(0)
    x = ref.ring_of_gaussians(5000, seed=0)
    G, D = tg.Generator(2, 2, (32, 32)), tg.Discriminator(2, (32, 32))
    before = _distance_to_ring(tg.generate(G, 1000))
    history = tg.train_gan(G, D, x, steps=300, batch_size=256, lr=2e-3)
    after = _distance_to_ring(tg.generate(G, 1000))
    assert len(history["d_loss"]) == 300 and np.isfinite(history["g_loss"]).all()
    assert after < 0.5 * before, (before, after)


def test_keras_gan_fit_brings_samples_to_the_modes():
    import companion
    from companion.keras import gan as kg

    companion.set_seed(0)
    x = ref.ring_of_gaussians(5000, seed=0)
    G, D = kg.Generator(2, 2, (32, 32)), kg.Discriminator(2, (32, 32))
    before = _distance_to_ring(kg.generate(G, 1000))
    history = kg.train_gan(kg.GAN(G, D, seed=0), x, steps=300, batch_size=256, lr=2e-3, every=150)
    after = _distance_to_ring(kg.generate(G, 1000))
    assert len(history["d_loss"]) == 2 and np.isfinite(history["g_loss"]).all()
    assert after < 0.5 * before, (before, after)


def test_wasserstein_steps_run_and_keep_the_critic_finite():
    import torch

    from companion.keras import gan as kg
    from companion.torch import gan as tg

    x = ref.ring_of_gaussians(512, seed=0)
    torch.manual_seed(0)
    G, D = tg.Generator(2, 2, (8,)), tg.Discriminator(2, (8,))
    h = tg.train_gan(G, D, x, steps=3, batch_size=64, loss="wasserstein", n_critic=2)
    assert np.isfinite(h["d_loss"]).all()
    gan = kg.GAN(kg.Generator(2, 2, (8,)), kg.Discriminator(2, (8,)), loss="wasserstein",
                 n_critic=2, seed=0)
    h = kg.train_gan(gan, x, steps=3, batch_size=64, every=3)
    assert np.isfinite(h["d_loss"]).all()


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_bad_inputs_raise_value_errors(framework):
    import importlib

    import torch

    fw = importlib.import_module(f"companion.{framework}.gan")
    as_input = torch.from_numpy if framework == "torch" else (lambda a: a)
    f32 = lambda *s: RNG.normal(size=s).astype("float32")  # noqa: E731
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 3\) \(the noise z\)"):
        fw.Generator(latent_dim=3)(as_input(f32(4, 2)))
    with pytest.raises(ValueError, match=r"flat noise \(batch, 8\)"):
        fw.DCGenerator(latent_dim=8)(as_input(f32(4, 7)))
    image = f32(2, 1, 8, 8) if framework == "torch" else f32(2, 8, 8, 1)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, "):
        fw.DCDiscriminator()(as_input(image[:, :, :6] if framework == "keras" else image[..., :6]))
    with pytest.raises(ValueError, match="divisible"):
        fw.DCGenerator(size=6, channels=(8, 4))
    with pytest.raises(ValueError, match="negative_slope"):
        fw.Discriminator(negative_slope=1.5)
    with pytest.raises(ValueError, match="unknown generator loss 'hinge'"):
        fw.generator_loss(as_input(f32(4, 1)), "hinge")
    critic = fw.Discriminator(2, (4,))
    with pytest.raises(ValueError, match="same shape"):
        fw.gradient_penalty(critic, as_input(f32(4, 2)), as_input(f32(3, 2)))
    with pytest.raises(ValueError, match="one value per example"):
        fw.gradient_penalty(critic, as_input(f32(4, 2)), as_input(f32(4, 2)),
                            as_input(f32(3)))


def test_training_arguments_are_checked():
    from companion.keras import gan as kg
    from companion.torch import gan as tg

    x = ref.ring_of_gaussians(64)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        tg.train_gan(tg.Generator(), tg.Discriminator(), x, steps=1, loss="hinge")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        tg.train_gan(tg.Generator(), tg.Discriminator(), x, steps=0)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        kg.GAN(kg.Generator(), kg.Discriminator(), loss="hinge")
    with pytest.raises(ValueError, match="n_critic must be a positive integer"):
        kg.GAN(kg.Generator(), kg.Discriminator(), n_critic=0)
    with pytest.raises(ValueError, match=r"samples must have shape \(n, 2\)"):
        ref.mode_report(np.zeros((5, 3)))


# ---------------------------------------------------------------- other Keras backends

SCRIPT = """
import numpy as np
import companion
from companion import parity
from companion.keras import gan as kg
from companion.numpy import gan as ref
import keras
rng = np.random.default_rng(0)
k = kg.Discriminator(2, (5, 4))
real, fake = rng.normal(size=(6, 2)).astype("float32"), rng.normal(size=(6, 2)).astype("float32")
alpha = rng.uniform(size=6).astype("float32")
weights = [keras.ops.convert_to_numpy(w) for w in k.weights]
numpy_critic = ref.mlp_critic([(weights[i].T, weights[i + 1]) for i in range(0, len(weights), 2)])
got = float(keras.ops.convert_to_numpy(kg.gradient_penalty(k, real, fake, alpha)))
want = ref.gradient_penalty_fd(numpy_critic, real, fake, alpha)
assert abs(got - want) < 1e-4 * max(1.0, want), (got, want)
x = ref.ring_of_gaussians(512, seed=0)
for loss in ("non_saturating", "wasserstein"):
    gan = kg.GAN(kg.Generator(2, 2, (8,)), kg.Discriminator(2, (8,)), loss=loss, seed=0)
    before = [keras.ops.convert_to_numpy(w).copy() for w in gan.discriminator.weights]
    h = kg.train_gan(gan, x, steps=2, batch_size=64, every=2)
    after = [keras.ops.convert_to_numpy(w) for w in gan.discriminator.weights]
    assert np.isfinite(h["d_loss"]).all() and any(np.abs(a - b).max() > 0 for a, b in zip(after, before))
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_gan_code_runs_on_other_backends(backend):
    import importlib.util

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"ok {backend}" in result.stdout

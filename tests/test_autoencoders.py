"""Part V, autoencoders: NumPy references against both frameworks, the transposed
convolution's weight layout, the VAE's loss and one training step, bad input."""
import numpy as np
import pytest

from companion import data, parity
from companion import numpy as cnp
from companion.numpy import autoencoders as ref

pytestmark = pytest.mark.keras_backend_agnostic


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- NumPy references

def test_gaussian_kl_closed_form_matches_monte_carlo_and_is_zero_at_the_prior():
    rng = _rng()
    mean, log_var = rng.normal(size=(4, 3)), 0.5 * rng.normal(size=(4, 3))
    np.testing.assert_allclose(ref.gaussian_kl(mean, log_var),
                               ref.gaussian_kl_monte_carlo(mean, log_var, n=200_000), rtol=0.02)
    assert np.all(ref.gaussian_kl(mean, log_var) > 0)
    np.testing.assert_allclose(ref.gaussian_kl(np.zeros((2, 3)), np.zeros((2, 3))), 0.0)


def test_importance_weighted_bound_is_above_the_mean_and_equals_it_for_k_1():
    lw = _rng().normal(size=(8, 5)) * 3
    assert np.all(ref.importance_weighted_bound(lw) >= lw.mean(0))
    np.testing.assert_allclose(ref.importance_weighted_bound(lw[:1]), lw[0])


def test_active_units_and_principal_angles():
    means = np.c_[_rng().normal(size=200), np.full(200, 0.001)]
    assert ref.active_units(means) == 1
    a = _rng().normal(size=(6, 2))
    np.testing.assert_allclose(ref.principal_angles(a, a @ np.array([[1.0, 2.0], [0.5, -1.0]])),
                               0.0, atol=1e-7)


def test_corruptions_reject_levels_outside_0_1_and_keep_the_input():
    x = _rng().random((4, 6)).astype(np.float32)
    for fn in (data.gaussian_noise, data.salt_and_pepper, data.masking):
        for bad in (-0.1, 1.5, "a lot"):
            with pytest.raises(ValueError, match=r"corruption level must be a number in \[0, 1\]"):
                fn(x, bad)
        y = fn(x, 0.3, rng=1)
        assert y.shape == x.shape and y.dtype == np.float32 and 0 <= y.min() and y.max() <= 1
        np.testing.assert_array_equal(fn(x, 0.3, rng=1), y)   # reproducible
        np.testing.assert_array_equal(fn(x, 0.0, rng=1), x)   # level 0 is the identity
    assert np.all(data.masking(x, 1.0) == 0)
    assert set(np.unique(data.salt_and_pepper(x, 1.0))) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="unknown corruption"):
        data.corrupt(x, "blur", 0.1)


def test_masking_and_salt_and_pepper_hit_the_stated_share():
    x = np.full((200, 64), 0.5, dtype=np.float32)
    assert abs(np.mean(data.masking(x, 0.25) == 0) - 0.25) < 0.01
    assert abs(np.mean(data.salt_and_pepper(x, 0.25) != 0.5) - 0.25) < 0.01


# ---------------------------------------------------------------- contractive penalty

def test_contractive_penalty_by_autodiff_matches_the_sigmoid_formula():
    import keras
    import torch

    from companion.keras.autoencoders import contractive_penalty as keras_penalty
    from companion.torch.autoencoders import contractive_penalty as torch_penalty

    rng = _rng()
    x = rng.random((5, 7)).astype(np.float32)
    W, b = rng.normal(size=(3, 7)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    expected = ref.contractive_penalty(x, W, b)
    t = torch_penalty(lambda v: torch.sigmoid(v @ torch.from_numpy(W).T + torch.from_numpy(b)),
                      torch.from_numpy(x))
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=1e-5)
    W_k, b_k = keras.ops.convert_to_tensor(W.T), keras.ops.convert_to_tensor(b)   # backend tensors
    k = keras_penalty(lambda v: keras.ops.sigmoid(keras.ops.matmul(v, W_k) + b_k), x)
    np.testing.assert_allclose(k, expected, rtol=1e-5)


# ---------------------------------------------------------------- transposed convolution

def _conv_transpose_pair(kernel=4, stride=2, padding=1, keras_padding="same", seed=0):
    import keras
    import torch

    torch.manual_seed(seed)
    t = torch.nn.ConvTranspose2d(3, 5, kernel, stride=stride, padding=padding)
    k = keras.Sequential([keras.Input((4, 4, 3)),
                          keras.layers.Conv2DTranspose(5, kernel, strides=stride,
                                                       padding=keras_padding)])
    return t, k


@pytest.mark.parametrize("kernel,stride,padding,keras_padding",
                         [(4, 2, 1, "same"), (3, 1, 1, "same"), (3, 2, 0, "valid"), (5, 3, 1, "same")])
def test_conv_transpose_rule_gives_the_same_function(kernel, stride, padding, keras_padding):
    t, k = _conv_transpose_pair(kernel, stride, padding, keras_padding)
    parity.copy_torch_to_keras(t, k)
    x = _rng().normal(size=(2, 3, 4, 4)).astype(np.float32)
    out_t, out_k = parity.outputs(t, k, x, layout="NCHW")
    assert out_t.shape == out_k.shape == (2, 5, (4 - 1) * stride + kernel - 2 * padding,
                                          (4 - 1) * stride + kernel - 2 * padding)
    np.testing.assert_allclose(out_t, out_k, atol=1e-5)


def test_conv_transpose_layout_is_checked_by_the_outputs():
    """A wrong permutation (Conv2d's HWIO rule, or a flipped kernel) computes something else."""
    t, k = _conv_transpose_pair()
    x = _rng().normal(size=(2, 3, 4, 4)).astype(np.float32)
    w = t.weight.detach().numpy()                     # (in=3, out=5, kh, kw)
    assert parity.conv_transpose_kernel(w).shape == (4, 4, 5, 3)
    bias = t.bias.detach().numpy()
    wrong = {"flipped": parity.conv_transpose_kernel(w)[::-1, ::-1],
             "kh and kw swapped": w.transpose(3, 2, 1, 0)}
    for name, kernel in wrong.items():
        k.layers[0].set_weights([np.ascontiguousarray(kernel), bias])
        out_t, out_k = parity.outputs(t, k, x, layout="NCHW")
        assert np.abs(out_t - out_k).max() > 1e-2, name
    with pytest.raises(ValueError):   # Conv2d's (kh, kw, in, out) does not even fit the layer
        k.layers[0].set_weights([w.transpose(2, 3, 0, 1), bias])


def test_conv_transpose_rule_refuses_paddings_that_crop_differently():
    import keras
    import torch

    cases = [(torch.nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1, output_padding=1), "same"),
             (torch.nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1), "valid"),
             (torch.nn.ConvTranspose2d(3, 5, 3, stride=2, padding=0), "same"),
             (torch.nn.ConvTranspose2d(3, 5, 4, stride=1, padding=1), "same")]
    for t, pad in cases:
        k = keras.Sequential([keras.Input((4, 4, 3)),
                              keras.layers.Conv2DTranspose(5, t.kernel_size, strides=2, padding=pad)])
        with pytest.raises(ValueError, match="ConvTranspose2d and Conv2DTranspose do not match"):
            parity.copy_torch_to_keras(t, k)


# ---------------------------------------------------------------- the VAE

def _vae_pair(seed=0, **kwargs):
    import torch

    from companion.keras import VAE as KerasVAE
    from companion.torch import VAE as TorchVAE

    kwargs = {"in_features": 10, "code_size": 3, "hidden": (8,), **kwargs}
    torch.manual_seed(seed)
    t, k = TorchVAE(**kwargs), KerasVAE(**kwargs)
    parity.copy_torch_to_keras(t, k)
    return t, k


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_loss_terms_match_numpy_and_each_other_with_a_fixed_noise_sample(likelihood):
    import keras
    import torch

    t, k = _vae_pair(likelihood=likelihood)
    rng = _rng(1)
    x = rng.random((6, 10)).astype(np.float32)
    eps = rng.normal(size=(6, 3)).astype(np.float32)
    rec_t, kl_t = (v.detach().numpy() for v in t.elbo_terms(torch.from_numpy(x), torch.from_numpy(eps)))
    rec_k, kl_k = (keras.ops.convert_to_numpy(v) for v in k.elbo_terms(x, eps))
    np.testing.assert_allclose(rec_t, rec_k, rtol=1e-5)
    np.testing.assert_allclose(kl_t, kl_k, rtol=1e-5)
    # the NumPy ELBO from the PyTorch model's own intermediate values
    with torch.no_grad():
        mean, log_var = t.encode(torch.from_numpy(x))
        out = t.decode_logits(t.reparameterize(mean, log_var, torch.from_numpy(eps)))
    expected = ref.elbo(x, out.numpy(), mean.numpy(), log_var.numpy(), likelihood=likelihood)
    np.testing.assert_allclose(-(rec_t + kl_t), expected, rtol=1e-5)
    np.testing.assert_allclose(kl_t, ref.gaussian_kl(mean.numpy(), log_var.numpy()), rtol=1e-5)
    assert abs(t.loss(torch.from_numpy(x), torch.from_numpy(eps), beta=4.0).item()
               - float(keras.ops.convert_to_numpy(k.loss_value(x, eps, beta=4.0)))) < 1e-4


def test_vae_one_sgd_step_with_a_fixed_noise_sample_gives_the_same_weights():
    import keras
    import torch

    t, k = _vae_pair()
    rng = _rng(2)
    x = rng.random((16, 10)).astype(np.float32)
    eps = rng.normal(size=(16, 3)).astype(np.float32)
    before = [p.detach().clone() for p in t.parameters()]
    opt = torch.optim.SGD(t.parameters(), lr=0.1)
    loss = t.loss(torch.from_numpy(x), torch.from_numpy(eps))
    opt.zero_grad()
    loss.backward()
    opt.step()

    k.noise = eps                                   # call(training=True) uses this sample
    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    keras_loss = k.train_on_batch(x)
    assert abs(float(keras_loss) - loss.item()) < 1e-4
    for t_layer, k_layer in zip(parity.torch_layers(t), parity.keras_layers(k)):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in k_layer.weights)
        np.testing.assert_allclose(t_layer.weight.detach().numpy().T, kernel, atol=1e-5)
        np.testing.assert_allclose(t_layer.bias.detach().numpy(), bias, atol=1e-5)
    assert max((p.detach() - b).abs().max().item() for p, b in zip(t.parameters(), before)) > 1e-3


def test_vae_importance_weighted_bound_is_above_the_elbo_in_both_frameworks():
    import torch

    t, k = _vae_pair()
    x = _rng(3).random((20, 10)).astype(np.float32)
    t.eval()
    lw_t = t.log_weights(torch.from_numpy(x), 50, generator=torch.Generator().manual_seed(0)).numpy()
    lw_k = k.log_weights(x, 50, seed=0)
    for lw in (lw_t, lw_k):
        assert lw.shape == (50, 20)
        assert np.all(ref.importance_weighted_bound(lw) > lw.mean(0))
    # different noise, same distribution: the two frameworks' ELBO estimates agree roughly
    assert abs(lw_t.mean() - lw_k.mean()) < 0.05 * abs(lw_t.mean())


def test_vae_trains_in_both_frameworks():
    import companion
    from companion.keras.autoencoders import VAE as KerasVAE, train_vae as keras_train
    from companion.torch.autoencoders import VAE as TorchVAE, train_vae as torch_train

    x = data.digits(seed=0).x_train[:300]
    companion.set_seed(0)
    h_t = torch_train(TorchVAE(64, 2, hidden=(32,)), x, epochs=5, lr=3e-3)
    h_k = keras_train(KerasVAE(64, 2, hidden=(32,)), x, epochs=5, lr=3e-3)
    for h in (h_t, h_k):
        assert len(h["loss"]) == 5 and h["loss"][-1] < 0.85 * h["loss"][0]


# ---------------------------------------------------------------- bad input and arguments

@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_code_larger_than_the_input_is_refused_unless_overcomplete(framework):
    import importlib

    fw = importlib.import_module(f"companion.{framework}.autoencoders")
    for cls in (fw.Autoencoder, fw.VAE):
        with pytest.raises(ValueError, match=r"code_size=80 is larger than the input \(64 features\)"):
            cls(64, 80)
    model = fw.Autoencoder(8, 16, hidden=(12,), undercomplete=False)
    assert model.code_size == 16
    with pytest.raises(ValueError, match="must be divisible by"):
        fw.ConvAutoencoder(size=10, channels=(4, 4))
    with pytest.raises(ValueError, match="unknown likelihood"):
        fw.VAE(8, 2, likelihood="poisson")


def test_conv_autoencoder_names_the_expected_image_shape():
    import torch

    from companion.keras import ConvAutoencoder as KerasConvAE
    from companion.torch import ConvAutoencoder as TorchConvAE

    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 1, 8, 8\)"):
        TorchConvAE()(torch.zeros(2, 64))
    with pytest.raises(ValueError, match=r"\(batch, 8, 8, 1\) in Keras's channels-last"):
        KerasConvAE()(np.zeros((2, 1, 8, 8), dtype="float32"))


def test_linear_autoencoder_has_the_parameters_of_two_linear_maps():
    from companion.keras import Autoencoder as KerasAE
    from companion.torch import Autoencoder as TorchAE

    t, k = TorchAE(64, 5), KerasAE(64, 5)
    assert sum(p.numel() for p in t.parameters()) == k.count_params() == 64 * 5 + 5 + 5 * 64 + 64
    assert cnp.parameter_count([64, 5, 64]) == k.count_params()


# ---------------------------------------------------------------- the denoising autoencoder class

@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_denoising_autoencoder_checks_its_corruption(framework):
    import importlib

    fw = importlib.import_module(f"companion.{framework}.autoencoders")
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"corruption level must be a number in \[0, 1\]"):
            fw.DenoisingAutoencoder(8, 4, noise=bad)
    with pytest.raises(ValueError, match="unknown corruption 'blur'"):
        fw.DenoisingAutoencoder(8, 4, corruption="blur")
    assert fw.DenoisingAutoencoder(8, 16).code_size == 16      # overcomplete is allowed by default


def test_denoising_autoencoder_corrupts_only_in_training_mode():
    import keras
    import torch

    from companion.keras import DenoisingAutoencoder as KerasDAE
    from companion.torch import DenoisingAutoencoder as TorchDAE

    x = _rng().random((6, 8)).astype(np.float32)
    torch.manual_seed(0)
    t = TorchDAE(8, 4, hidden=(5,), noise=1.0, corruption="masking")   # masks every entry
    k = KerasDAE(8, 4, hidden=(5,), noise=1.0, corruption="masking")
    parity.copy_torch_to_keras(t, k)
    zeros = np.zeros_like(x)
    t.train()
    with torch.no_grad():
        np.testing.assert_allclose(t(torch.from_numpy(x)).numpy(),
                                   t.decoder(t.encoder(torch.from_numpy(zeros))).numpy(), atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(x, training=True)),
                               keras.ops.convert_to_numpy(k(zeros, training=False)), atol=1e-6)
    out_t, out_k = parity.outputs(t, k, x)                # evaluation mode: no corruption
    np.testing.assert_allclose(out_t, out_k, atol=1e-5)
    assert np.abs(out_t - keras.ops.convert_to_numpy(k(zeros))).max() > 1e-4


@pytest.mark.parametrize("corruption", ["gaussian", "salt_and_pepper", "masking"])
def test_denoising_autoencoder_corruptions_match_the_numpy_statistics(corruption):
    import keras
    import torch

    from companion.keras import DenoisingAutoencoder as KerasDAE
    from companion.torch import DenoisingAutoencoder as TorchDAE

    x = np.full((400, 50), 0.5, dtype=np.float32)
    reference = data.corrupt(x, corruption, 0.3, rng=0)
    torch.manual_seed(0)
    t = TorchDAE(50, 4, noise=0.3, corruption=corruption).corrupt(torch.from_numpy(x)).numpy()
    k = keras.ops.convert_to_numpy(KerasDAE(50, 4, noise=0.3, corruption=corruption, seed=0)
                                   .corrupt(keras.ops.convert_to_tensor(x)))
    for noisy in (t, k):
        assert noisy.min() >= 0 and noisy.max() <= 1
        assert abs(np.mean(noisy != 0.5) - np.mean(reference != 0.5)) < 0.02
        assert abs(noisy.std() - reference.std()) < 0.02

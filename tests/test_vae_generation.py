"""Part VII, the VAE as a generator: the conditional VAE in both frameworks, the beta term
against NumPy, spherical interpolation against SciPy, the mutual-information gap on codes
whose answer is known, images with known factors, bad input."""
import numpy as np
import pytest

from companion import data, parity
from companion.numpy import autoencoders as ref
from companion.numpy import latent


def _rng(seed=0):
    return np.random.default_rng(seed)


def _cvae_pair(seed=0, **kwargs):
    import torch

    from companion.keras.autoencoders import ConditionalVAE as KerasCVAE
    from companion.torch.autoencoders import ConditionalVAE as TorchCVAE

    kwargs = {"in_features": 10, "num_classes": 4, "code_size": 3, "hidden": (8,), **kwargs}
    torch.manual_seed(seed)
    t, k = TorchCVAE(**kwargs), KerasCVAE(**kwargs)
    parity.copy_torch_to_keras(t, k)
    return t, k


# ---------------------------------------------------------------- the conditional VAE

def test_conditional_vae_forward_and_sampling_shapes_in_both_frameworks():
    import keras
    import torch

    t, k = _cvae_pair()
    x = _rng().random((6, 10)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 3, 0])
    xy = t.join(torch.from_numpy(x), torch.from_numpy(labels))
    assert xy.shape == (6, 14)
    np.testing.assert_array_equal(xy[:, 10:].numpy(), np.eye(4)[labels])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(k.join(x, labels)), xy.numpy())
    t.eval()
    with torch.no_grad():
        out_t = t(xy).numpy()
    out_k = keras.ops.convert_to_numpy(k(xy.numpy()))
    assert out_t.shape == out_k.shape == (6, 10)
    np.testing.assert_allclose(out_t, out_k, atol=1e-5)
    # sampling: one decoder mean per requested label, in [0, 1] for the Bernoulli decoder
    s_t = t.sample(np.arange(4).repeat(5), generator=torch.Generator().manual_seed(0)).numpy()
    s_k = keras.ops.convert_to_numpy(k.sample(np.arange(4).repeat(5), seed=0))
    for s in (s_t, s_k):
        assert s.shape == (20, 10) and s.min() >= 0 and s.max() <= 1
    # the label reaches the decoder: one code, two labels, two outputs
    z = np.zeros((2, 3), dtype=np.float32)
    with torch.no_grad():
        two = t.decode(torch.from_numpy(z), torch.tensor([0, 1])).numpy()
    assert np.abs(two[0] - two[1]).max() > 1e-3
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k.decode(z, np.array([0, 1]))), two,
                               atol=1e-5)
    # integer labels and their one-hot rows are the same input
    with torch.no_grad():
        a = t.encode(torch.from_numpy(x), torch.from_numpy(labels))[0]
        b = t.encode(torch.from_numpy(x), torch.from_numpy(np.eye(4, dtype=np.float32)[labels]))[0]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_conditional_vae_loss_is_the_beta_weighted_negative_elbo_of_numpy(likelihood, beta):
    import keras
    import torch

    t, k = _cvae_pair(likelihood=likelihood)
    rng = _rng(1)
    x = rng.random((7, 10)).astype(np.float32)
    labels = rng.integers(0, 4, size=7)
    eps = rng.normal(size=(7, 3)).astype(np.float32)
    xt, yt, et = torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(eps)
    with torch.no_grad():
        mean, log_var = t.encode(xt, yt)
        out = t.decode_logits(t.reparameterize(mean, log_var, et), yt)
        loss_t = t.loss(xt, yt, et, beta=beta).item()
    # -ELBO_beta = -log p(x | z, y) + beta * KL, from the model's own intermediate values
    expected = -ref.elbo(x, out.numpy(), mean.numpy(), log_var.numpy(), beta=beta,
                         likelihood=likelihood).mean()
    by_hand = (ref.bernoulli_log_likelihood(x, out.numpy()) if likelihood == "bernoulli"
               else ref.gaussian_log_likelihood(x, out.numpy()))
    kl = 0.5 * np.sum(np.exp(log_var.numpy()) + mean.numpy() ** 2 - 1 - log_var.numpy(), axis=-1)
    np.testing.assert_allclose(expected, np.mean(-by_hand + beta * kl), rtol=1e-6)
    assert abs(loss_t - expected) < 1e-4 * max(1.0, abs(expected))
    loss_k = float(keras.ops.convert_to_numpy(k.loss_value(x, labels, eps, beta=beta)))
    assert abs(loss_k - expected) < 1e-4 * max(1.0, abs(expected))
    # the beta term alone: raising beta by 3 adds three times the mean KL
    with torch.no_grad():
        more = t.loss(xt, yt, et, beta=beta + 3).item()
    assert abs(more - loss_t - 3 * kl.mean()) < 1e-4 * max(1.0, kl.mean())


def test_keras_fit_loss_uses_the_beta_attribute_for_both_vaes():
    """``call(training=True)`` adds -log p + beta * KL, with ``beta`` set by ``train_*``."""
    import keras

    from companion.keras.autoencoders import VAE as KerasVAE

    rng = _rng(2)
    x = rng.random((5, 10)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    eps = rng.normal(size=(5, 3)).astype(np.float32)
    _, cvae = _cvae_pair()
    vae = KerasVAE(10, 3, hidden=(8,))
    for model, inputs, args in ((cvae, cvae.join(x, labels), (x, labels)), (vae, x, (x,))):
        model.noise = eps
        losses = {}
        for beta in (1.0, 5.0):
            model.beta = beta
            model(inputs, training=True)
            losses[beta] = float(keras.ops.convert_to_numpy(model.losses[-1]))
            expected = float(keras.ops.convert_to_numpy(model.loss_value(*args, eps, beta=beta)))
            assert abs(losses[beta] - expected) < 1e-4 * max(1.0, abs(expected))
        rec, kl = (keras.ops.convert_to_numpy(v) for v in model.elbo_terms(*args, eps))
        assert abs(losses[5.0] - losses[1.0] - 4 * kl.mean()) < 1e-3 * max(1.0, kl.mean())


def test_conditional_vae_one_sgd_step_gives_the_same_weights_in_both_frameworks():
    import keras
    import torch

    t, k = _cvae_pair(seed=3)
    rng = _rng(3)
    x = rng.random((16, 10)).astype(np.float32)
    labels = rng.integers(0, 4, size=16)
    eps = rng.normal(size=(16, 3)).astype(np.float32)
    opt = torch.optim.SGD(t.parameters(), lr=0.1)
    loss = t.loss(torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(eps), beta=2.0)
    opt.zero_grad()
    loss.backward()
    opt.step()
    k.noise, k.beta = eps, 2.0
    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    keras_loss = k.train_on_batch(keras.ops.convert_to_numpy(k.join(x, labels)))
    assert abs(float(keras_loss) - loss.item()) < 1e-4
    for t_layer, k_layer in zip(parity.torch_layers(t), parity.keras_layers(k)):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in k_layer.weights)
        np.testing.assert_allclose(t_layer.weight.detach().numpy().T, kernel, atol=1e-5)
        np.testing.assert_allclose(t_layer.bias.detach().numpy(), bias, atol=1e-5)


def test_conditional_vae_trains_in_both_frameworks():
    import companion
    from companion.keras.autoencoders import ConditionalVAE as KerasCVAE
    from companion.keras.autoencoders import train_conditional_vae as keras_train
    from companion.torch.autoencoders import ConditionalVAE as TorchCVAE
    from companion.torch.autoencoders import train_conditional_vae as torch_train

    digits = data.digits(seed=0)
    x, y = digits.x_train[:300], digits.y_train[:300]
    companion.set_seed(0)
    h_t = torch_train(TorchCVAE(64, 10, 2, hidden=(32,)), x, y, epochs=8, lr=3e-3)
    h_k = keras_train(KerasCVAE(64, 10, 2, hidden=(32,)), x, y, epochs=8, lr=3e-3)
    for h in (h_t, h_k):                        # measured: 44.2 -> 32.1 and 44.2 -> 31.8 nats
        assert len(h["loss"]) == 8 and h["loss"][-1] < 0.85 * h["loss"][0]


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_conditional_vae_rejects_bad_labels_and_arguments(framework):
    import importlib

    import torch

    fw = importlib.import_module(f"companion.{framework}.autoencoders")
    model = fw.ConditionalVAE(10, 4, 3, hidden=(8,))
    x = _rng().random((3, 10)).astype(np.float32)
    as_input = torch.from_numpy if framework == "torch" else (lambda a: a)
    with pytest.raises(ValueError, match=r"labels of shape \(batch,\) with values in \[0, 4\)"):
        model.encode(as_input(x), as_input(np.array([0, 1, 4])))
    with pytest.raises(ValueError, match=r"labels of shape \(batch,\) with values in \[0, 4\)"):
        model.sample(np.array([-1, 2]))
    with pytest.raises(ValueError, match=r"label rows of shape \(batch, 4\)"):
        model.encode(as_input(x), as_input(np.eye(3, dtype=np.float32)))
    with pytest.raises(ValueError, match="2 labels for a batch of 3"):
        model.encode(as_input(x), as_input(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 14\)"):
        model(as_input(x))                                   # the one-hot row is missing
    with pytest.raises(ValueError, match="floating-point"):
        model(as_input(np.zeros((3, 14), dtype=np.int32)))
    with pytest.raises(ValueError, match=r"ConditionalVAE decoder expected input of shape \(batch, 3\)"):
        model.decode(as_input(np.zeros((2, 5), dtype=np.float32)), as_input(np.array([0, 1])))
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        fw.ConditionalVAE(10, 0, 3)
    with pytest.raises(ValueError, match=r"code_size=12 is larger than the input \(10 features\)"):
        fw.ConditionalVAE(10, 4, 12)
    with pytest.raises(ValueError, match="unknown likelihood"):
        fw.ConditionalVAE(10, 4, 3, likelihood="poisson")
    with pytest.raises(ValueError, match="3 labels for 4 examples"):
        fw.train_conditional_vae(model, np.zeros((4, 10), dtype=np.float32), np.array([0, 1, 2]),
                                 epochs=1)


# ---------------------------------------------------------------- interpolation

def test_slerp_matches_scipy_quaternion_slerp_on_the_unit_sphere():
    """Unit 4-vectors are quaternions; SciPy's rotation Slerp walks the same great circle
    (it flips a quaternion when the dot product is negative, so we keep it positive)."""
    from scipy.spatial.transform import Rotation, Slerp

    rng = _rng(4)
    t = np.linspace(0, 1, 9)
    for _ in range(5):
        q0, q1 = rng.normal(size=(2, 4))
        q0, q1 = q0 / np.linalg.norm(q0), q1 / np.linalg.norm(q1)
        if q0 @ q1 < 0:
            q1 = -q1
        ours = latent.slerp(q0, q1, t)
        # SciPy stores quaternions scalar-last (x, y, z, w): it is the same 4-vector
        theirs = Slerp([0, 1], Rotation.from_quat([q0, q1]))(t).as_quat()
        theirs *= np.sign(np.sum(theirs * ours, axis=1, keepdims=True))   # q and -q: one rotation
        np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_slerp_properties_endpoints_norm_and_constant_angular_speed():
    rng = _rng(5)
    z0, z1 = rng.normal(size=(2, 16))
    t = np.linspace(0, 1, 11)
    path = latent.slerp(z0, z1, t)
    np.testing.assert_allclose(path[0], z0, atol=1e-12)
    np.testing.assert_allclose(path[-1], z1, atol=1e-12)
    # equal norms: the path stays on the sphere; a straight line cuts inside it
    z1_same = z1 * np.linalg.norm(z0) / np.linalg.norm(z1)
    on_sphere = latent.slerp(z0, z1_same, t)
    np.testing.assert_allclose(np.linalg.norm(on_sphere, axis=1), np.linalg.norm(z0), rtol=1e-12)
    assert np.linalg.norm(latent.lerp(z0, z1_same, [0.5])) < 0.9 * np.linalg.norm(z0)
    unit = on_sphere / np.linalg.norm(on_sphere, axis=1, keepdims=True)
    steps = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)      # equal angles per equal step
    np.testing.assert_allclose(latent.lerp(z0, z1, t)[5], 0.5 * (z0 + z1))
    # equal norms: the textbook formula sin((1-t)W)/sin W z0 + sin(tW)/sin W z1
    omega = np.arccos(z0 @ z1_same / (z0 @ z0))
    textbook = (np.sin((1 - t) * omega)[:, None] * z0 + np.sin(t * omega)[:, None] * z1_same) \
        / np.sin(omega)
    np.testing.assert_allclose(on_sphere, textbook, atol=1e-12)
    # unequal norms: the norm moves linearly, even for nearly opposite codes
    norms = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(norms, (1 - t) * np.linalg.norm(z0) + t * np.linalg.norm(z1), rtol=1e-12)
    near_opposite = latent.slerp(z0, -3 * z0 + 1e-4 * z1, t)
    assert np.linalg.norm(near_opposite, axis=1).max() <= 3 * np.linalg.norm(z0) * (1 + 1e-6)
    # nearly parallel codes: the straight line (no division by sin 0)
    np.testing.assert_allclose(latent.slerp(z0, 2 * z0, t), latent.lerp(z0, 2 * z0, t))


def test_slerp_and_lerp_reject_bad_input():
    z = np.ones(4)
    with pytest.raises(ValueError, match="opposite directions"):
        latent.slerp(z, -z, [0.5])
    with pytest.raises(ValueError, match="non-zero codes"):
        latent.slerp(z, np.zeros(4), [0.5])
    with pytest.raises(ValueError, match=r"same shape \(code_size,\)"):
        latent.slerp(z, np.ones(5), [0.5])
    with pytest.raises(ValueError, match=r"same shape \(code_size,\)"):
        latent.lerp(np.ones((2, 4)), np.ones((2, 4)), [0.5])
    with pytest.raises(ValueError, match=r"weights t of shape \(steps,\)"):
        latent.lerp(z, z, [[0.5]])


# ---------------------------------------------------------------- information and MIG

def test_entropy_and_mutual_information_match_scipy_and_scikit_learn():
    from scipy.stats import entropy as scipy_entropy
    from sklearn.metrics import mutual_info_score

    rng = _rng(6)
    a = rng.integers(0, 5, size=500)
    b = (a + rng.integers(0, 3, size=500)) % 6
    assert latent.mutual_information(a, b) == pytest.approx(mutual_info_score(a, b), rel=1e-10)
    assert latent.entropy(a) == pytest.approx(scipy_entropy(np.bincount(a)), rel=1e-12)
    assert latent.mutual_information(a, a) == pytest.approx(latent.entropy(a), rel=1e-12)
    assert latent.mutual_information(a, np.zeros(500)) == 0.0


def _grid(sizes=(3, 4, 5)):
    """Every combination of three discrete factors: they are exactly independent."""
    return np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, 3)


def test_mig_is_one_when_each_factor_has_its_own_unit_whatever_the_order_and_scale():
    v = _grid()
    codes = np.c_[2.0 * v[:, 2] - 1.0, np.zeros(len(v)), 0.3 * v[:, 0], -v[:, 1]]
    mig, gaps = latent.mutual_information_gap(codes, v)
    assert mig == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(gaps, 1.0, atol=1e-12)
    info = latent.mutual_information_matrix(codes, v)
    np.testing.assert_allclose(info[0, 2], latent.entropy(v[:, 2]), rtol=1e-12)
    np.testing.assert_allclose(info[1], 0.0, atol=1e-12)       # a constant unit knows nothing


def test_mig_is_zero_for_copied_or_rotated_units():
    v = _grid((4, 4, 2))
    copied = np.c_[v[:, 0], v[:, 0], v[:, 1], v[:, 1], v[:, 2], v[:, 2]]
    mig, gaps = latent.mutual_information_gap(copied, v)
    assert mig == pytest.approx(0.0, abs=1e-12)
    # two units each mixing the same two factors (a 45-degree rotation) know equally much
    rotated = np.c_[v[:, 0] + v[:, 1], v[:, 0] - v[:, 1], v[:, 2]]
    mig, gaps = latent.mutual_information_gap(rotated, v, bins=40)
    assert gaps[0] == pytest.approx(0.0, abs=1e-12) and gaps[1] == pytest.approx(0.0, abs=1e-12)
    assert gaps[2] == pytest.approx(1.0, abs=1e-12)


def test_mig_does_not_see_one_unit_that_encodes_two_factors():
    """MIG's known blind spot: a unit may hold two factors as long as no other unit
    knows them; the gap per factor is still complete."""
    v = _grid((3, 3, 2))
    codes = np.c_[3 * v[:, 0] + v[:, 1], v[:, 2], np.zeros(len(v))]
    mig, _ = latent.mutual_information_gap(codes, v)
    assert mig == pytest.approx(1.0, abs=1e-12)


def test_mig_of_noisy_codes_falls_with_the_noise():
    v = _grid((4, 4, 4)).repeat(20, axis=0)
    rng = _rng(7)
    migs = [latent.mutual_information_gap(v + s * rng.normal(size=v.shape), v)[0]
            for s in (0.05, 0.5, 3.0)]
    assert migs[0] > 0.95 and migs[0] > migs[1] > migs[2]


def test_mig_rejects_bad_input():
    v = _grid()
    with pytest.raises(ValueError, match="at least 2 units"):
        latent.mutual_information_gap(v[:, :1].astype(float), v)
    with pytest.raises(ValueError, match="same number of examples"):
        latent.mutual_information_gap(v[:-1].astype(float), v)
    with pytest.raises(ValueError, match="constant"):
        latent.mutual_information_gap(v.astype(float), np.c_[v[:, 0], np.zeros(len(v))])
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        latent.discretize(v.astype(float), bins=1)
    with pytest.raises(ValueError, match="1-D array"):
        latent.entropy(v)


# ---------------------------------------------------------------- images with known factors

def test_factor_shapes_has_independent_factors_and_distinct_images():
    x, f = latent.factor_shapes(size=16, scales=3, positions=6)
    assert x.shape == (4 * 3 * 36, 256) and f.shape == (432, 4) and x.dtype == np.float32
    assert set(np.unique(x)) == {0.0, 1.0}
    for j in range(4):
        for k in range(j + 1, 4):
            assert latent.mutual_information(f[:, j], f[:, k]) == pytest.approx(0.0, abs=1e-12)
    assert len(np.unique(x, axis=0)) == len(x)             # every combination looks different
    # the factors mean what they say: a larger size lights more pixels, x moves the centre
    area = x.sum(1)
    assert area[f[:, 1] == 2].mean() > area[f[:, 1] == 0].mean()
    cols = (x.reshape(-1, 16, 16).sum(1) * np.arange(16)).sum(1) / area
    assert np.all(np.diff([cols[f[:, 2] == p].mean() for p in range(6)]) > 0)
    sub, fs = latent.factor_shapes(50, seed=1)
    assert sub.shape == (50, 256) and fs.shape == (50, 4)
    with pytest.raises(ValueError, match="size must be at least 8"):
        latent.factor_shapes(size=6)
    with pytest.raises(ValueError, match="positions must be a positive integer"):
        latent.factor_shapes(positions=0)


def test_draw_cvae_feeds_the_label_to_both_halves():
    import matplotlib

    matplotlib.use("Agg")
    from companion import plots

    ax = plots.draw_cvae((64, 128, 8), num_classes=10)
    texts = {t.get_text() for t in ax.texts}
    assert "label y\none-hot, 10" in texts and "[x, y]" in texts and "[z, y]" in texts
    assert "KL(q(z|x, y) || N(0, I))" in texts and "KL(q(z|x) || N(0, I))" not in texts

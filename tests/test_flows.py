"""Part VII, normalizing flow and energy-based model: the RealNVP log-determinant against
autodiff Jacobians in both frameworks, inversion, a density that integrates to one,
learning on two moons, Langevin sampling of a known energy, bad input."""
import numpy as np
import pytest

from companion import data, parity

pytestmark = pytest.mark.keras_backend_agnostic


def _moons(n=600, seed=0):
    x, _ = data.moons(n=n, noise=0.05, seed=seed)
    ref, _ = data.moons(n=600, noise=0.05, seed=0)
    return ((x - ref.mean(0)) / ref.std(0)).astype(np.float32)


def _random_torch_flow(dim=2, hidden=8, layers=4, seed=0):
    """A flow far from the identity (its last layers start at zero)."""
    import torch

    from companion.torch.flows import RealNVP

    torch.manual_seed(seed)
    model = RealNVP(dim=dim, hidden=hidden, layers=layers)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return model.eval()


def _keras_twin(t_model):
    from companion.keras.flows import RealNVP

    k = RealNVP(dim=t_model.dim, hidden=t_model.hidden, layers=len(t_model.couplings))
    parity.copy_torch_to_keras(t_model, k)
    return k


def _x(n=16, dim=2, seed=1):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


# ---------------------------------------------------------------- change of variables

@pytest.mark.parametrize("dim", [2, 3])
def test_torch_log_det_matches_the_autodiff_jacobian(dim):
    import torch
    from torch.func import jacrev, vmap

    model = _random_torch_flow(dim=dim)
    x = torch.from_numpy(_x(dim=dim))
    z, log_det = model(x, return_log_det=True)
    jac = vmap(jacrev(lambda v: model(v[None])[0]))(x)          # (batch, dim, dim)
    assert jac.shape == (16, dim, dim)
    _, logabs = torch.linalg.slogdet(jac)
    torch.testing.assert_close(log_det, logabs, atol=1e-5, rtol=1e-5)
    assert log_det.abs().max() > 0.1                            # not the identity


def test_keras_log_det_matches_the_autodiff_jacobian():
    import keras

    from companion.keras.autodiff import grad

    t_model = _random_torch_flow()
    model = _keras_twin(t_model)
    x = _x()
    # each z row depends on its own x row only, so grad of sum(z[:, i]) gives row i of J
    jac = np.stack([grad(lambda v, i=i: model(v)[:, i], x) for i in range(2)], axis=1)
    _, log_det = model(x, return_log_det=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(log_det),
                               np.linalg.slogdet(jac)[1], atol=1e-5)


def test_the_two_frameworks_agree_on_z_log_det_log_prob_and_inverse():
    import keras
    import torch

    t_model = _random_torch_flow()
    k_model = _keras_twin(t_model)
    x = _x()
    with torch.no_grad():
        z_t, ld_t = t_model(torch.from_numpy(x), return_log_det=True)
        lp_t = t_model.log_prob(torch.from_numpy(x))
        back_t = t_model.inverse(z_t)
    z_k, ld_k = (keras.ops.convert_to_numpy(a) for a in k_model(x, return_log_det=True))
    np.testing.assert_allclose(z_k, z_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(ld_k, ld_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_model.log_prob(x)), lp_t.numpy(),
                               atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_model.inverse(z_k)), back_t.numpy(),
                               atol=1e-5)


def test_inverse_undoes_forward_and_samples_have_the_right_shape():
    import keras
    import torch

    t_model = _random_torch_flow()
    x = torch.from_numpy(_x())
    with torch.no_grad():
        torch.testing.assert_close(t_model.inverse(t_model(x)), x, atol=1e-5, rtol=1e-5)
    s = t_model.sample(7, generator=torch.Generator().manual_seed(0))
    assert s.shape == (7, 2) and torch.isfinite(s).all()
    k_model = _keras_twin(t_model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_model.inverse(k_model(_x()))), _x(),
                               atol=1e-5)
    assert tuple(k_model.sample(7, seed=0).shape) == (7, 2)


def test_the_density_integrates_to_one():
    import torch

    model = _random_torch_flow(seed=3)
    with torch.no_grad():
        spread = model.sample(4000, generator=torch.Generator().manual_seed(0)).abs().max()
    lim = float(spread) * 1.5 + 1.0
    g = np.linspace(-lim, lim, 400, dtype=np.float32)
    xx, yy = np.meshgrid(g, g)
    pts = torch.from_numpy(np.c_[xx.ravel(), yy.ravel()])
    with torch.no_grad():
        p = model.log_prob(pts).exp().numpy()
    mass = p.sum() * (g[1] - g[0]) ** 2
    assert mass == pytest.approx(1.0, abs=0.03)


def test_samples_follow_the_flow_density():
    """The share of samples in a box equals the integral of exp(log_prob) over it."""
    import torch

    model = _random_torch_flow(seed=4)
    with torch.no_grad():
        s = model.sample(20000, generator=torch.Generator().manual_seed(1)).numpy()
    lo, hi = np.quantile(s, 0.3, axis=0), np.quantile(s, 0.8, axis=0)
    share = np.mean(np.all((s > lo) & (s < hi), axis=1))
    gx, gy = np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200)
    xx, yy = np.meshgrid(gx, gy)
    with torch.no_grad():
        p = model.log_prob(torch.from_numpy(np.c_[xx.ravel(), yy.ravel()].astype(np.float32)))
    mass = p.exp().numpy().mean() * (hi[0] - lo[0]) * (hi[1] - lo[1])
    assert share == pytest.approx(mass, abs=0.02)


# ---------------------------------------------------------------- learning

def test_torch_flow_learns_two_moons_better_than_a_gaussian():
    import torch

    from companion.torch.flows import RealNVP, gaussian_log_density, train_flow

    x, x_test = _moons(), _moons(seed=1)
    torch.manual_seed(0)
    model = RealNVP(dim=2, hidden=32, layers=6)
    history = train_flow(model, x, epochs=40, batch_size=200, lr=1e-2)
    assert history[-1] < history[0] - 0.5
    with torch.no_grad():
        flow = model.log_prob(torch.from_numpy(x_test)).mean().item()
        base = gaussian_log_density(torch.from_numpy(x_test), x.mean(0),
                                    np.cov(x, rowvar=False)).mean().item()
    assert flow > base + 0.5, (flow, base)


def test_keras_flow_nll_goes_down():
    import keras

    from companion.keras.flows import RealNVP, train_flow

    keras.utils.set_random_seed(0)
    model = RealNVP(dim=2, hidden=16, layers=4)
    before = -float(keras.ops.mean(model.log_prob(_moons())))
    history = train_flow(model, _moons(), epochs=30, batch_size=200, lr=1e-2)
    after = -float(keras.ops.mean(model.log_prob(_moons())))
    assert history[-1] < history[0] and after < before - 0.5


def test_energy_nce_puts_low_energy_on_the_data_in_both_frameworks():
    import keras
    import torch

    from companion.keras import flows as kf
    from companion.torch import flows as tf_

    x = _moons()
    far = np.random.default_rng(0).uniform(-3, 3, size=(400, 2)).astype(np.float32)
    far = far[np.min(np.linalg.norm(far[:, None] - x[None], axis=-1), axis=1) > 0.5]
    torch.manual_seed(0)
    t_model = tf_.EnergyMLP(dim=2, hidden=32)
    hist, _ = tf_.train_energy_nce(t_model, x, epochs=30, batch_size=200, lr=1e-2)
    assert hist[-1] < hist[0] - 0.1
    with torch.no_grad():
        assert t_model(torch.from_numpy(x)).mean() < t_model(torch.from_numpy(far)).mean() - 1
    keras.utils.set_random_seed(0)
    k_model = kf.EnergyMLP(dim=2, hidden=32)
    hist, _ = kf.train_energy_nce(k_model, x, epochs=15, batch_size=200, lr=1e-2)
    assert hist[-1] < hist[0] - 0.1
    e_data, e_far = (float(keras.ops.mean(k_model(v))) for v in (x, far))
    assert e_data < e_far - 0.5


def test_langevin_samples_a_known_energy_in_both_frameworks():
    """E(x) = |x - m|^2 / (2 s^2) is N(m, s^2 I): Langevin must find its mean and spread."""
    import keras
    import torch

    from companion.keras import flows as kf
    from companion.torch import flows as tf_

    m, s = np.array([1.0, -2.0], np.float32), 0.5
    x0 = np.zeros((2000, 2), np.float32)
    out_t = tf_.langevin_sample(lambda v: ((v - torch.from_numpy(m)) ** 2).sum(-1) / (2 * s * s),
                                x0, steps=300, step_size=0.01)
    out_k = kf.langevin_sample(lambda v: keras.ops.sum(keras.ops.subtract(v, m) ** 2, axis=-1)
                               / (2 * s * s),
                               x0[:500], steps=300, step_size=0.01)
    for out in (out_t, out_k):
        np.testing.assert_allclose(out.mean(0), m, atol=0.06)
        np.testing.assert_allclose(out.std(0), s, rtol=0.1)


# ---------------------------------------------------------------- bad input

def test_bad_input_and_arguments_raise_value_errors():
    import torch

    from companion.keras import flows as kf
    from companion.torch import flows as tf_

    for mod in (tf_, kf):
        with pytest.raises(ValueError, match="dim >= 2"):
            mod.RealNVP(dim=1)
        with pytest.raises(ValueError, match="layers"):
            mod.RealNVP(layers=0)
        with pytest.raises(ValueError, match="hidden"):
            mod.EnergyMLP(hidden=0)
        with pytest.raises(ValueError, match="step_size"):
            mod.langevin_sample(lambda v: v.sum(-1), np.zeros((2, 2), np.float32), step_size=0)
    t_model = tf_.RealNVP()
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        t_model.inverse(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="floating-point"):
        t_model(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="n must be"):
        t_model.sample(0)
    k_model = kf.RealNVP()
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        k_model.log_prob(np.zeros((3, 2, 1), np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        kf.EnergyMLP()(np.zeros((3, 2), np.int32))

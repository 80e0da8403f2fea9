"""Denoising diffusion: the NumPy oracle against Hugging Face ``diffusers``, the samplers
against an exact noise predictor, and the two frameworks' noise predictors against each other."""
import numpy as np
import pytest

from companion.numpy import diffusion as nd

diffusers = pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

DIFFUSERS_NAMES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


def _ddpm(kind, T=1000, **kwargs):
    return diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAMES[kind],
                                   clip_sample=kwargs.pop("clip_sample", False), **kwargs)


def _in_float64(scheduler):
    """The scheduler with its own (float32) betas redone in float64, so that the comparison
    measures the formulas, not float32 rounding (which reaches 5e-4 at t = 999 of the cosine
    schedule, where the step divides by sqrt(1 - beta) = 0.03)."""
    scheduler.betas = scheduler.betas.double()
    scheduler.alphas = 1.0 - scheduler.betas
    scheduler.alphas_cumprod = torch.cumprod(scheduler.alphas, dim=0)
    scheduler.one = torch.tensor(1.0, dtype=torch.float64)
    if hasattr(scheduler, "final_alpha_cumprod"):
        scheduler.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    return scheduler, nd.Schedule(scheduler.betas.numpy())


# ---------------------------------------------------------------- schedules

@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_equal_diffusers_defaults(kind):
    ours, theirs = nd.Schedule.make(1000, kind), _ddpm(kind)
    np.testing.assert_allclose(ours.betas, theirs.betas.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.alphas, theirs.alphas.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.alpha_bar, theirs.alphas_cumprod.numpy(), rtol=0, atol=1e-6)
    theirs.set_timesteps(1000)
    variances = np.array([float(theirs._get_variance(t)) for t in range(1, 1000)])
    np.testing.assert_allclose(ours.posterior_variance[1:], variances, rtol=1e-5, atol=1e-6)


def test_reference_values_of_the_default_schedules():
    linear, cosine = nd.Schedule.make(1000, "linear"), nd.Schedule.make(1000, "cosine")
    np.testing.assert_allclose(linear.alpha_bar[[0, 499, 999]], [0.9999, 0.07859, 4.036e-5], rtol=1e-3)
    assert abs(cosine.alpha_bar[499] - 0.4938) < 1e-4
    assert cosine.betas.max() == pytest.approx(0.999)        # the cap is reached at the end
    assert linear.posterior_variance[0] == 0.0


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_forward_process_equals_diffusers_add_noise(kind):
    theirs, ours = _in_float64(_ddpm(kind))
    rng = np.random.default_rng(0)
    x0, noise = rng.standard_normal((2, 8, 3, 4))
    t = np.array([0, 1, 2, 10, 250, 500, 998, 999])
    expected = theirs.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(t))
    np.testing.assert_allclose(ours.q_sample(x0, t, noise), expected.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_one_reverse_step_equals_diffusers_ddpm_step(kind, clip):
    theirs, ours = _in_float64(_ddpm(kind, clip_sample=clip is not None))
    theirs.set_timesteps(1000)
    rng = np.random.default_rng(1)
    for t in (0, 1, 5, 100, 500, 900, 999):
        x_t, eps = rng.standard_normal((2, 4, 6))
        generator = torch.Generator().manual_seed(t)
        step = theirs.step(torch.from_numpy(eps), t, torch.from_numpy(x_t), generator=generator)
        noise = torch.randn((4, 6), generator=torch.Generator().manual_seed(t), dtype=torch.float64)
        ours_step = ours.ddpm_step(x_t, t, eps, noise.numpy(), clip=clip)
        np.testing.assert_allclose(ours_step, step.prev_sample.numpy(), rtol=0, atol=1e-6)
        x0_hat = ours.predict_x0(x_t, t, eps)
        if clip is None:
            np.testing.assert_allclose(x0_hat, step.pred_original_sample.numpy(), rtol=1e-9, atol=1e-9)
        # the posterior mean: the step without its noise
        mean = ours.ddpm_step(x_t, t, eps, clip=clip)
        sigma = np.sqrt(float(theirs._get_variance(t))) if t > 0 else 0.0
        np.testing.assert_allclose(mean, step.prev_sample.numpy() - sigma * noise.numpy(),
                                   rtol=0, atol=1e-6)


@pytest.mark.parametrize("T,steps", [(1000, 10), (1000, 25), (1000, 50), (100, 10), (100, 30), (200, 200)])
def test_ddim_timesteps_use_diffusers_leading_spacing(T, steps):
    theirs = diffusers.DDIMScheduler(num_train_timesteps=T, clip_sample=False)
    theirs.set_timesteps(steps)
    np.testing.assert_array_equal(nd.Schedule.make(T).ddim_timesteps(steps), theirs.timesteps.numpy())


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_deterministic_ddim_steps_equal_diffusers(kind, clip):
    theirs = diffusers.DDIMScheduler(beta_schedule=DIFFUSERS_NAMES[kind],
                                     clip_sample=clip is not None, set_alpha_to_one=True)
    theirs, ours = _in_float64(theirs)
    theirs.set_timesteps(25)
    steps = ours.ddim_timesteps(25)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5))
    x_ours = x.copy()
    for i, t in enumerate(steps):
        eps = rng.standard_normal((3, 5))
        x = theirs.step(torch.from_numpy(eps), int(t), torch.from_numpy(x), eta=0.0,
                        use_clipped_model_output=clip is not None).prev_sample.numpy()
        t_prev = steps[i + 1] if i + 1 < len(steps) else -1
        x_ours = ours.ddim_step(x_ours, t, t_prev, eps, clip=clip)
        np.testing.assert_allclose(x_ours, x, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- the maths, independently

def test_posterior_is_the_product_of_the_two_gaussians():
    """Completing the square in q(x_{t-1} | x_0) q(x_t | x_{t-1}) gives the same mean and variance."""
    s = nd.Schedule.make(50, "cosine")
    rng = np.random.default_rng(3)
    x0, x_t = rng.standard_normal((2, 7, 3))
    t = rng.integers(1, 50, size=7)
    mean, var = s.posterior(x0, x_t, t)
    ab_prev, a, b = s.alpha_bar[t - 1][:, None], s.alphas[t][:, None], s.betas[t][:, None]
    precision = 1 / (1 - ab_prev) + a / b
    expected = (np.sqrt(ab_prev) * x0 / (1 - ab_prev) + np.sqrt(a) * x_t / b) / precision
    np.testing.assert_allclose(mean, expected, rtol=1e-10)
    np.testing.assert_allclose(var, 1 / precision[:, 0], rtol=1e-10)
    # the eps form of the mean is the posterior mean at the implied x0
    eps = rng.standard_normal((7, 3))
    np.testing.assert_allclose(s.ddpm_mean(x_t, t, eps), s.posterior(s.predict_x0(x_t, t, eps), x_t, t)[0],
                               rtol=1e-10, atol=1e-12)


def test_q_sample_has_the_closed_form_moments():
    s = nd.Schedule.make(100)
    rng = np.random.default_rng(4)
    x0 = np.full((200_000, 1), 2.0)
    x_t = s.q_sample(x0, 30, rng.standard_normal(x0.shape))
    assert x_t.mean() == pytest.approx(2 * np.sqrt(s.alpha_bar[30]), abs=0.01)
    assert x_t.var() == pytest.approx(1 - s.alpha_bar[30], rel=0.02)


def _exact_eps(schedule, mean, std):
    """The optimal noise predictor E[eps | x_t] when the data are N(mean, std^2 I)."""
    def eps(x, t):
        ab = schedule.alpha_bar[t][:, None]
        return np.sqrt(1 - ab) * (x - np.sqrt(ab) * mean) / (ab * std ** 2 + 1 - ab)
    return eps


def test_samplers_recover_gaussian_data_with_the_exact_predictor():
    """Data N(1.5, 0.3^2): with the exact E[eps | x_t], DDPM (T = 1000) and DDIM with many steps
    give the data's mean and spread; coarse DDIM steps shrink the spread (discretisation)."""
    s = nd.Schedule.make(1000)
    eps = _exact_eps(s, mean=1.5, std=0.3)
    x = s.sample_ddpm(eps, (10_000, 2), rng=0)
    assert x.mean() == pytest.approx(1.5, abs=0.01) and x.std() == pytest.approx(0.3, rel=0.03)
    spreads = {}
    for steps in (10, 50, 1000):
        x = s.sample_ddim(eps, (10_000, 2), steps, rng=0)
        assert x.mean() == pytest.approx(1.5, abs=0.01)
        spreads[steps] = x.std()
    assert spreads[10] < spreads[50] < spreads[1000]
    assert spreads[1000] == pytest.approx(0.3, rel=0.03) and spreads[10] < 0.25


def test_ddim_is_deterministic_and_ddpm_trajectories_have_t_plus_one_states():
    s = nd.Schedule.make(20)
    eps = _exact_eps(s, 0.0, 0.5)
    np.testing.assert_array_equal(s.sample_ddim(eps, (4, 2), 5, rng=7), s.sample_ddim(eps, (4, 2), 5, rng=7))
    _, states = s.sample_ddpm(eps, (4, 2), rng=0, trajectory=True)
    assert len(states) == 21


def test_guidance_interpolates_and_extrapolates():
    c, u = np.array([1.0, 2.0]), np.array([0.0, 1.0])
    np.testing.assert_array_equal(nd.guided_eps(c, u, 0.0), u)
    np.testing.assert_array_equal(nd.guided_eps(c, u, 1.0), c)
    np.testing.assert_array_equal(nd.guided_eps(c, u, 3.0), [3.0, 4.0])


def test_swiss_roll_points_lie_on_the_spiral():
    assert nd.spiral_distance(nd.swiss_roll(500, noise=0.0)).max() < 3e-3   # the curve's resolution
    assert np.median(nd.spiral_distance(np.random.default_rng(0).standard_normal((500, 2)))) > 0.3


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("betas", [[0.1, 0.0], [0.5, 1.0], [-0.1], [1.5], [[0.1, 0.2]], []])
def test_betas_outside_the_open_unit_interval_are_refused(betas):
    with pytest.raises(ValueError, match="beta"):
        nd.Schedule(np.asarray(betas, dtype=float))


def test_bad_arguments_are_refused():
    s = nd.Schedule.make(20)
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="larger than the schedule's T=20"):
        s.ddim_timesteps(50)
    with pytest.raises(ValueError, match="larger than the schedule's T=20"):
        s.sample_ddim(lambda x, t: x, (2, 2), 21)
    with pytest.raises(ValueError, match="positive integer"):
        s.ddim_timesteps(0)
    with pytest.raises(ValueError, match="unknown schedule"):
        nd.Schedule.make(10, "quadratic")
    with pytest.raises(ValueError, match="positive integer"):
        nd.Schedule.make(0)
    with pytest.raises(ValueError, match=r"shape of x, \(batch, ...\)"):
        s.q_sample(x, 3, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        s.q_sample(x, np.array([1, 2]), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        s.q_sample(x, 20, np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        s.ddpm_step(x, -1, x)
    with pytest.raises(ValueError, match="t_prev"):
        s.ddim_step(x, 5, 5, x)
    with pytest.raises(ValueError, match="eps_fn must return the shape of x"):
        s.sample_ddpm(lambda x, t: x[:, :1], (4, 3))
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        nd.spiral_distance(np.zeros((3, 3)))


# ---------------------------------------------------------------- the noise predictors

def _pair(name, **kwargs):
    from companion import parity
    from companion.keras import diffusion as kd
    from companion.torch import diffusion as td

    torch.manual_seed(0)
    t_model = getattr(td, name)(**kwargs)
    k_model = getattr(kd, name)(**kwargs)
    parity.copy_torch_to_keras(t_model, k_model)
    return t_model, k_model


def test_keras_and_pytorch_predictors_agree_with_timesteps_and_labels():
    import keras

    rng = np.random.default_rng(0)
    t = np.array([0, 1, 17, 99, 500, 999])
    t_mlp, k_mlp = _pair("NoiseMLP", hidden=16, depth=2, time_features=8, x_frequencies=3)
    x = rng.standard_normal((6, 2)).astype(np.float32)
    with torch.no_grad():
        expected = t_mlp(torch.from_numpy(x), torch.from_numpy(t)).numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_mlp(x, t)), expected, atol=1e-5)

    t_net, k_net = _pair("NoisePredictor", in_features=64, num_classes=10, hidden=32, depth=2)
    x = rng.standard_normal((6, 64)).astype(np.float32)
    y = np.array([0, 3, 9, 10, 10, 4])
    with torch.no_grad():
        expected = t_net(torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(y)).numpy()
        unconditional = t_net(torch.from_numpy(x), torch.from_numpy(t)).numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_net(x, t, y)), expected, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_net(x, t)), unconditional, atol=1e-5)
    np.testing.assert_allclose(expected[3:5], unconditional[3:5], atol=1e-6)  # label 10 is the null class
    assert np.abs(expected[:3] - unconditional[:3]).max() > 1e-3

    # the eps-prediction loss and a guided prediction, same numbers in both frameworks
    from companion.keras import diffusion as kd
    from companion.torch import diffusion as td

    s = nd.Schedule.make(1000)
    noise = rng.standard_normal((6, 64)).astype(np.float32)
    with torch.no_grad():
        t_loss = td.eps_loss(t_net, torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(noise),
                             torch.as_tensor(s.alpha_bar, dtype=torch.float32), torch.from_numpy(y))
    k_loss = kd.eps_loss(k_net, x, t, noise, s.alpha_bar, y)
    assert float(keras.ops.convert_to_numpy(k_loss)) == pytest.approx(float(t_loss), rel=1e-5)
    np.testing.assert_allclose(kd.eps_fn(k_net, y[:3], 2.5)(x[:3], t[:3]),
                               td.eps_fn(t_net, y[:3], 2.5)(x[:3], t[:3]), atol=1e-5)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_predictors_refuse_bad_timesteps_and_labels(framework):
    import importlib

    fw = importlib.import_module(f"companion.{framework}.diffusion")
    model = fw.NoisePredictor(in_features=4, num_classes=3, hidden=8, depth=1)
    x = np.zeros((2, 4), dtype=np.float32)
    as_input = torch.from_numpy if framework == "torch" else (lambda a: a)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        model(as_input(x), as_input(np.array([0, 1])), as_input(np.array([0, 4])))
    with pytest.raises(ValueError, match=r"labels must have shape \(batch,\)"):
        model(as_input(x), as_input(np.array([0, 1])), as_input(np.array([0, 1, 2])))
    with pytest.raises(ValueError, match=r"t must be a scalar or of shape \(batch,\)"):
        model(as_input(x), as_input(np.array([0, 1, 2])))
    with pytest.raises(ValueError, match="timesteps must be >= 0"):
        model(as_input(x), as_input(np.array([0, -1])))
    with pytest.raises(ValueError, match="time_features must be even"):
        fw.NoiseMLP(time_features=5)
    with pytest.raises(ValueError, match="x_frequencies"):
        fw.NoiseMLP(x_frequencies=-1)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_training_lowers_the_eps_prediction_loss(framework):
    import importlib

    import companion

    fw = importlib.import_module(f"companion.{framework}.diffusion")
    s = nd.Schedule.make(50, "cosine")
    companion.set_seed(0)
    x0 = nd.swiss_roll(512, seed=0)
    model = fw.NoiseMLP(hidden=32, depth=2)
    history = fw.train_diffusion(model, x0, s, epochs=15, lr=3e-3, batch_size=64)
    assert len(history["loss"]) == 15
    assert history["loss"][-1] < 0.7 * history["loss"][0]

    labels = np.random.default_rng(0).integers(0, 3, size=256)
    images = (np.eye(3)[labels] @ np.random.default_rng(1).standard_normal((3, 8))).astype(np.float32)
    net = fw.NoisePredictor(in_features=8, num_classes=3, hidden=32, depth=2)
    history = fw.train_diffusion(net, images, s, epochs=15, lr=3e-3, batch_size=64, labels=labels)
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    with pytest.raises(ValueError, match=r"labels must have shape \(batch,\)"):
        fw.train_diffusion(net, images, s, epochs=1, labels=labels[:5])
    with pytest.raises(ValueError, match="p_uncond"):
        fw.train_diffusion(net, images, s, epochs=1, labels=labels, p_uncond=1.0)


def test_the_diffusion_figure_draws_both_chains_and_the_network():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from companion import plots

    ax = plots.draw_diffusion(network="MLP")
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "forward process" in texts and "reverse process" in texts and "MLP" in texts
    assert len(ax.patches) >= 6 + 2 * 5 + 1   # nodes, two arrows per link, the network
    plt.close("all")

"""The NumPy optimizers and schedules of companion.numpy.optimizers against PyTorch and Keras.

Chapter: book/foundations/optimizers.md. Every optimizer runs 50 steps on the
Rosenbrock surface from (-1.2, 1) in float64, with gradients computed
analytically in NumPy and handed to the framework's optimizer, and the whole
path must agree with the NumPy reference.

Learning rates are powers of two and the momentum and beta values are
exactly representable in float32: Keras stores the learning rate in a float32
variable and casts momentum and the betas through float32, so with such
values the only differences left are float64 rounding. A second test runs the
usual values (momentum 0.9, betas 0.9 and 0.999) at the looser tolerance the
float32 constants allow.
"""
from __future__ import annotations

import numpy as np
import pytest

from companion.numpy import optimizers as O

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

W0 = np.array([-1.2, 1.0])
STEPS = 50
MU = 0.875            # float32-exact stand-ins for 0.9 and 0.999
B1, B2 = 0.875, 1 - 2.0**-10


def grad(w):
    return O.rosenbrock(w)[1]


def torch_path(make_opt, steps=STEPS):
    p = torch.nn.Parameter(torch.tensor(W0.copy(), dtype=torch.float64))
    opt = make_opt([p])
    path = [W0.copy()]
    for _ in range(steps):
        p.grad = torch.tensor(grad(p.detach().numpy()))
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.stack(path)


def keras_path(opt, steps=STEPS):
    v = keras.Variable(W0.copy(), dtype="float64")
    path = [W0.copy()]
    for _ in range(steps):
        opt.apply([grad(keras.ops.convert_to_numpy(v))], [v])
        path.append(keras.ops.convert_to_numpy(v).copy())
    return np.stack(path)


def numpy_path(opt, steps=STEPS):
    return O.minimize(grad, W0, opt, steps)


# (NumPy optimizer configured as PyTorch's, the PyTorch optimizer)
TORCH_CASES = {
    "sgd": (lambda: O.SGD(lr=2**-10), lambda p: torch.optim.SGD(p, lr=2**-10)),
    "momentum": (lambda: O.Momentum(lr=2**-11, momentum=MU),
                 lambda p: torch.optim.SGD(p, lr=2**-11, momentum=MU)),
    "nesterov": (lambda: O.Nesterov(lr=2**-11, momentum=MU),
                 lambda p: torch.optim.SGD(p, lr=2**-11, momentum=MU, nesterov=True)),
    "adagrad": (lambda: O.AdaGrad(lr=2**-3), lambda p: torch.optim.Adagrad(p, lr=2**-3)),
    "rmsprop": (lambda: O.RMSProp(lr=2**-7, rho=0.99),
                lambda p: torch.optim.RMSprop(p, lr=2**-7)),
    "adadelta": (lambda: O.Adadelta(lr=1.0, rho=0.9, eps=1e-6),
                 lambda p: torch.optim.Adadelta(p)),
    "adam": (lambda: O.Adam(lr=2**-5, beta1=B1, beta2=B2),
             lambda p: torch.optim.Adam(p, lr=2**-5, betas=(B1, B2))),
    "adamw": (lambda: O.AdamW(lr=2**-5, beta1=B1, beta2=B2, weight_decay=0.25),
              lambda p: torch.optim.AdamW(p, lr=2**-5, betas=(B1, B2), weight_decay=0.25)),
}

# (NumPy optimizer configured as Keras's, the Keras optimizer)
KERAS_CASES = {
    "sgd": (lambda: O.SGD(lr=2**-10), lambda: keras.optimizers.SGD(learning_rate=2**-10)),
    "momentum": (lambda: O.Momentum(lr=2**-11, momentum=MU, form="classical"),
                 lambda: keras.optimizers.SGD(learning_rate=2**-11, momentum=MU)),
    "nesterov": (lambda: O.Nesterov(lr=2**-11, momentum=MU, form="classical"),
                 lambda: keras.optimizers.SGD(learning_rate=2**-11, momentum=MU, nesterov=True)),
    "adagrad": (lambda: O.AdaGrad(lr=2**-3, eps=1e-7, initial_accumulator=0.1, eps_mode="inside"),
                lambda: keras.optimizers.Adagrad(learning_rate=2**-3)),
    "rmsprop": (lambda: O.RMSProp(lr=2**-7, rho=0.9, eps=1e-7, eps_mode="inside"),
                lambda: keras.optimizers.RMSprop(learning_rate=2**-7)),
    "adadelta": (lambda: O.Adadelta(lr=1.0, rho=0.95, eps=1e-7),
                 lambda: keras.optimizers.Adadelta(learning_rate=1.0)),
    "adam": (lambda: O.Adam(lr=2**-5, beta1=B1, beta2=B2, eps=1e-7, eps_mode="hat"),
             lambda: keras.optimizers.Adam(learning_rate=2**-5, beta_1=B1, beta_2=B2)),
    "adamw": (lambda: O.AdamW(lr=2**-5, beta1=B1, beta2=B2, eps=1e-7, eps_mode="hat",
                              weight_decay=0.25),
              lambda: keras.optimizers.AdamW(learning_rate=2**-5, beta_1=B1, beta_2=B2,
                                             weight_decay=0.25)),
}


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_torch_parity_50_steps(name):
    make_np, make_torch = TORCH_CASES[name]
    ours, theirs = numpy_path(make_np()), torch_path(make_torch)
    assert np.abs(ours[-1] - W0).max() > 1e-2          # the optimizer really moved
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_keras_parity_50_steps(name):
    make_np, make_keras = KERAS_CASES[name]
    ours, theirs = numpy_path(make_np()), keras_path(make_keras())
    assert np.abs(ours[-1] - W0).max() > 1e-2
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_keras_usual_hyperparameters_within_float32_constants():
    """momentum=0.9 and betas (0.9, 0.999) go through float32 inside Keras: gap ~1e-6."""
    ours = numpy_path(O.Adam(lr=2**-5, eps=1e-7, eps_mode="hat"))
    theirs = keras_path(keras.optimizers.Adam(learning_rate=2**-5))
    gap = np.abs(ours - theirs).max()
    assert 0 < gap < 1e-5
    ours = numpy_path(O.Momentum(lr=2**-11, momentum=0.9, form="classical"))
    theirs = keras_path(keras.optimizers.SGD(learning_rate=2**-11, momentum=0.9))
    assert np.abs(ours - theirs).max() < 1e-5


def test_torch_adam_eps_placement_differs_from_keras_form():
    """With a large eps the two placements give visibly different paths; each matches its own."""
    theirs = torch_path(lambda p: torch.optim.Adam(p, lr=2**-5, eps=1.0))
    np.testing.assert_allclose(numpy_path(O.Adam(lr=2**-5, eps=1.0)), theirs, atol=1e-12)
    assert np.abs(numpy_path(O.Adam(lr=2**-5, eps=1.0, eps_mode="hat")) - theirs).max() > 1e-3


def test_torch_adam_weight_decay_is_l2_not_adamw():
    """torch.optim.Adam(weight_decay) adds wd*w to the gradient (coupled), unlike AdamW."""
    wd = 0.25
    coupled = torch_path(lambda p: torch.optim.Adam(p, lr=2**-5, weight_decay=wd))
    l2 = O.minimize(lambda w: grad(w) + wd * w, W0, O.Adam(lr=2**-5), STEPS)
    np.testing.assert_allclose(coupled, l2, atol=1e-12)
    assert np.abs(numpy_path(O.AdamW(lr=2**-5, weight_decay=wd)) - coupled).max() > 1e-3


def test_momentum_forms_agree_at_constant_lr_and_differ_when_it_changes():
    def bowl(w):
        return O.quadratic(w)[1]
    a, b = O.Momentum(lr=0.05, form="pytorch"), O.Momentum(lr=0.05, form="classical")
    pa, pb = (O.minimize(bowl, np.array([2.0, 1.0]), opt, 10) for opt in (a, b))
    np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-12)
    wa, wb = pa[-1].copy(), pb[-1].copy()
    a.lr = b.lr = 0.005                  # a step change of the learning rate
    a.step([wa], [bowl(wa)])
    b.step([wb], [bowl(wb)])
    assert np.abs(wa - wb).max() > 1e-4


# ---------------------------------------------------------------------------
# every optimizer decreases a convex quadratic

@pytest.mark.parametrize("name", sorted(O.OPTIMIZERS))
def test_each_optimizer_decreases_a_convex_quadratic(name):
    kwargs = {"momentum": dict(lr=0.02), "nesterov": dict(lr=0.02), "adagrad": dict(lr=0.5),
              "adadelta": dict(lr=1.0, eps=1e-3)}.get(name, dict(lr=0.05))
    opt = O.OPTIMIZERS[name](**kwargs)
    path = O.minimize(lambda w: O.quadratic(w)[1], np.array([2.0, 1.0]), opt, 200)
    values = O.quadratic(path)[0]
    assert values[-1] < 1e-6 * values[0], (name, values[-1])


def test_several_parameter_arrays_are_updated_independently():
    opt = O.Adam(lr=0.1)
    w1, w2 = np.ones((2, 3)), np.zeros(4)
    opt.step([w1, w2], [np.ones((2, 3)), np.zeros(4)])
    np.testing.assert_allclose(w1, 0.9)     # Adam's first step is lr * sign(g)
    np.testing.assert_allclose(w2, 0.0)


# ---------------------------------------------------------------------------
# schedules

T = 40
STEPS_T = np.arange(T)


def torch_lrs(make):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched, out = make(opt), []
    for _ in range(T):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def schedule_cases():
    S, K = torch.optim.lr_scheduler, keras.optimizers.schedules
    return {
        "step": (O.step_decay(STEPS_T, 0.1, 0.5, 10), lambda o: S.StepLR(o, 10, 0.5),
                 K.ExponentialDecay(0.1, 10, 0.5, staircase=True)),
        "exponential": (O.exponential_decay(STEPS_T, 0.1, 0.9), lambda o: S.ExponentialLR(o, 0.9),
                        K.ExponentialDecay(0.1, 1, 0.9)),
        "cosine": (O.cosine_decay(STEPS_T, 0.1, T, lr_min=0.001),
                   lambda o: S.CosineAnnealingLR(o, T, eta_min=0.001),
                   K.CosineDecay(0.1, T, alpha=0.01)),
        "warmup_cosine": (O.warmup_cosine(STEPS_T, 0.1, 8, T, start=0.001),
                          lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.01, 1.0, 8),
                                                       S.CosineAnnealingLR(o, T - 8)], [8]),
                          K.CosineDecay(0.001, T - 8, warmup_target=0.1, warmup_steps=8)),
    }


@pytest.mark.parametrize("name", ["step", "exponential", "cosine", "warmup_cosine"])
def test_schedules_match_torch_and_keras(name):
    ours, make_torch, keras_schedule = schedule_cases()[name]
    assert ours.max() > 1.5 * ours.min()          # the schedule really changes the rate
    np.testing.assert_allclose(torch_lrs(make_torch), ours, rtol=1e-12)
    theirs = np.array([float(keras_schedule(i)) for i in range(T)])
    np.testing.assert_allclose(theirs, ours, rtol=1e-5)   # Keras computes in float32


def test_schedule_values_by_hand():
    np.testing.assert_allclose(O.step_decay(np.array([0, 9, 10, 25]), 1.0, 0.5, 10),
                               [1, 1, 0.5, 0.25])
    np.testing.assert_allclose(O.cosine_decay(np.array([0, 5, 10, 12]), 1.0, 10), [1, 0.5, 0, 0],
                               atol=1e-15)
    np.testing.assert_allclose(O.warmup_cosine(np.array([0, 2, 4, 14]), 1.0, 4, 14),
                               [0, 0.5, 1, 0], atol=1e-15)


# ---------------------------------------------------------------------------
# errors on bad input

@pytest.mark.parametrize("make, match", [
    (lambda: O.SGD(lr=0.0), "learning rate"),
    (lambda: O.SGD(lr=-1), "learning rate"),
    (lambda: O.SGD(lr="0.1"), "real number"),
    (lambda: O.SGD(lr=float("nan")), "learning rate"),
    (lambda: O.Momentum(lr=0.1, momentum=1.0), "momentum"),
    (lambda: O.Momentum(lr=0.1, form="keras"), "momentum form"),
    (lambda: O.AdaGrad(eps=0.0, initial_accumulator=0.0), "eps > 0"),
    (lambda: O.AdaGrad(eps_mode="middle"), "eps_mode"),
    (lambda: O.RMSProp(rho=1.5), "rho"),
    (lambda: O.Adadelta(eps=0.0), "eps"),
    (lambda: O.Adam(beta1=1.0), "beta1"),
    (lambda: O.Adam(eps_mode="inside"), "eps_mode"),
    (lambda: O.AdamW(weight_decay=-0.1), "weight_decay"),
])
def test_bad_hyperparameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_step_arguments_raise():
    opt = O.SGD(lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.zeros(3)], [np.zeros(2)])
    with pytest.raises(ValueError, match="2 gradients"):
        opt.step([np.zeros(3)], [np.zeros(3), np.zeros(3)])
    with pytest.raises(ValueError, match="floating-point"):
        opt.step([np.zeros(3, dtype=int)], [np.zeros(3, dtype=int)])
    with pytest.raises(ValueError, match="non-empty list"):
        opt.step([], [])
    opt.step([np.zeros(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="new optimizer"):
        opt.step([np.zeros(4)], [np.ones(4)])
    with pytest.raises(ValueError, match="steps"):
        O.minimize(grad, W0, O.SGD(lr=0.1), -1)
    with pytest.raises(ValueError, match="optimizer"):
        O.minimize(grad, W0, torch.optim.SGD, 3)


def test_bad_schedule_arguments_raise():
    t = np.arange(5)
    with pytest.raises(ValueError, match="step"):
        O.step_decay(np.array([0.5]), 0.1, 0.5, 2)
    with pytest.raises(ValueError, match="every"):
        O.step_decay(t, 0.1, 0.5, 0)
    with pytest.raises(ValueError, match="drop"):
        O.step_decay(t, 0.1, 1.5, 2)
    with pytest.raises(ValueError, match="gamma"):
        O.exponential_decay(t, 0.1, 0.0)
    with pytest.raises(ValueError, match="lr_min"):
        O.cosine_decay(t, 0.1, 10, lr_min=0.2)
    with pytest.raises(ValueError, match="larger than warmup"):
        O.warmup_cosine(t, 0.1, 10, 10)


def _defaults(cls, keep=None):
    import inspect

    return {k: v.default for k, v in inspect.signature(cls).parameters.items()
            if v.default is not inspect.Parameter.empty and v.default is not None
            and not isinstance(v.default, bool) and (keep is None or k in keep)}


def test_pytorch_optimizer_defaults_are_as_the_chapter_states():
    """The table of section 6 of the optimizers chapter prints these; it relies on them."""
    import torch

    assert _defaults(torch.optim.SGD)["lr"] == 1e-3
    adagrad = _defaults(torch.optim.Adagrad)
    assert (adagrad["lr"], adagrad["initial_accumulator_value"], adagrad["eps"]) == (1e-2, 0, 1e-10)
    rmsprop = _defaults(torch.optim.RMSprop)
    assert (rmsprop["lr"], rmsprop["alpha"], rmsprop["eps"]) == (1e-2, 0.99, 1e-8)
    adadelta = _defaults(torch.optim.Adadelta)
    assert (adadelta["lr"], adadelta["rho"], adadelta["eps"]) == (1.0, 0.9, 1e-6)
    assert _defaults(torch.optim.Adam)["eps"] == 1e-8
    assert _defaults(torch.optim.AdamW)["weight_decay"] == 1e-2


def test_keras_optimizer_defaults_are_as_the_chapter_states():
    import keras

    o = keras.optimizers
    assert _defaults(o.SGD)["learning_rate"] == 1e-2
    adagrad = _defaults(o.Adagrad)
    assert (adagrad["learning_rate"], adagrad["initial_accumulator_value"],
            adagrad["epsilon"]) == (1e-3, 0.1, 1e-7)
    rmsprop = _defaults(o.RMSprop)
    assert (rmsprop["learning_rate"], rmsprop["rho"], rmsprop["epsilon"]) == (1e-3, 0.9, 1e-7)
    adadelta = _defaults(o.Adadelta)
    assert (adadelta["learning_rate"], adadelta["rho"], adadelta["epsilon"]) == (1e-3, 0.95, 1e-7)
    assert _defaults(o.Adam)["epsilon"] == 1e-7
    assert _defaults(o.AdamW)["weight_decay"] == 0.004

"""Tests of the chapter "Backpropagation and automatic differentiation".

The from-scratch NumPy backward pass (``companion.numpy.backprop``) is checked
against central finite differences, ``torch.autograd`` and the Keras
dispatcher ``companion.keras.backprop.value_and_grad``, for every activation
and loss, all in float64.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from companion.numpy import backprop as bp

CASES = list(itertools.product(bp.ACTIVATIONS, bp.LOSSES))
TOL = 1e-6


def make_problem(loss, seed=0, n=6, d=3, hidden=5, k=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, k, size=n) if loss == "softmax_cross_entropy" else rng.normal(size=(n, k))
    params = bp.init_params(d, hidden, k, seed=seed)
    # non-zero biases, so that a bug in the bias gradients cannot hide
    params["b1"] = rng.normal(scale=0.3, size=hidden)
    params["b2"] = rng.normal(scale=0.3, size=k)
    return params, x, y


def numpy_grads(params, x, y, activation, loss):
    value, cache = bp.forward(params, x, y, activation=activation, loss=loss)
    return value, bp.backward(cache)


# ----------------------------------------------------------------------------
# The gradient checker itself

def test_numerical_gradient_of_a_known_function():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2)), rng.normal(size=4)

    def f(p):  # sum(a^3) + sum(sin(b)) * sum(a): gradient known in closed form
        return np.sum(p["a"] ** 3) + np.sum(np.sin(p["b"])) * np.sum(p["a"])

    num = bp.numerical_gradient(f, {"a": a, "b": b}, eps=1e-5)
    exact_a = 3 * a ** 2 + np.sum(np.sin(b))
    exact_b = np.cos(b) * np.sum(a)
    assert np.allclose(num["a"], exact_a, rtol=1e-8, atol=1e-9)
    assert np.allclose(num["b"], exact_b, rtol=1e-8, atol=1e-9)


def test_numerical_gradient_of_a_single_array_and_leaves_it_unchanged():
    x = np.array([1.0, -2.0, 0.5])
    before = x.copy()
    g = bp.numerical_gradient(lambda v: np.sum(v ** 2) + v[0] * v[1], x)
    assert np.allclose(g, [2 * 1.0 - 2.0, 2 * -2.0 + 1.0, 1.0], atol=1e-8)
    assert np.array_equal(x, before)


def test_numerical_gradient_detects_a_wrong_gradient():
    params, x, y = make_problem("mse")
    _, grads = numpy_grads(params, x, y, "tanh", "mse")
    num = bp.numerical_gradient(lambda p: bp.loss_value(p, x, y, activation="tanh", loss="mse"),
                                params)
    wrong = dict(grads, W1=grads["W1"] * 1.01)   # a 1% error in one parameter's gradient
    assert bp.relative_error(grads, num) < TOL
    assert bp.relative_error(wrong, num) > 1e-3


@pytest.mark.parametrize("bad", [
    dict(f="not callable"), dict(eps=0.0), dict(eps=-1e-6), dict(eps=float("nan")),
    dict(params={"a": np.array([1, 2, 3])}),          # integers cannot be nudged by eps
    dict(params=[1.0, 2.0]),
    dict(f=lambda p: np.ones(2)),                      # not a scalar
])
def test_numerical_gradient_rejects_bad_input(bad):
    args = dict(f=lambda p: float(np.sum(p["a"] ** 2)), params={"a": np.ones(3)}, eps=1e-6)
    args.update(bad)
    if "f" in bad and callable(bad["f"]):
        args["params"] = np.ones(3)
    with pytest.raises(ValueError):
        bp.numerical_gradient(args["f"], args["params"], args["eps"])


# ----------------------------------------------------------------------------
# NumPy backward pass against finite differences

@pytest.mark.parametrize("activation,loss", CASES)
def test_backward_matches_finite_differences(activation, loss):
    params, x, y = make_problem(loss, seed=1)
    _, grads = numpy_grads(params, x, y, activation, loss)
    num = bp.numerical_gradient(
        lambda p: bp.loss_value(p, x, y, activation=activation, loss=loss), params, eps=1e-6)
    assert set(grads) == {"W1", "b1", "W2", "b2"}
    assert all(grads[k].shape == params[k].shape for k in params)
    assert bp.relative_error(grads, num) < TOL


def test_output_deltas_have_the_closed_forms():
    z = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]])
    value, delta = bp.loss_and_delta(z, np.array([0, 2]), "softmax_cross_entropy")
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert np.isclose(value, -(np.log(p[0, 0]) + np.log(p[1, 2])) / 2)
    assert np.allclose(delta, (p - np.array([[1, 0, 0], [0, 0, 1]])) / 2)
    target = np.ones_like(z)
    value, delta = bp.loss_and_delta(z, target, "mse")
    assert np.isclose(value, np.mean((z - 1) ** 2))
    assert np.allclose(delta, 2 * (z - 1) / z.size)


def test_cross_entropy_is_stable_for_huge_logits():
    value, delta = bp.loss_and_delta(np.array([[1000.0, 0.0]]), np.array([1]),
                                     "softmax_cross_entropy")
    assert np.isclose(value, 1000.0) and np.all(np.isfinite(delta))


# ----------------------------------------------------------------------------
# Against torch.autograd

@pytest.mark.parametrize("activation,loss", CASES)
def test_backward_matches_torch_autograd(activation, loss):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    params, x, y = make_problem(loss, seed=2)
    value, grads = numpy_grads(params, x, y, activation, loss)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    phi = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[activation]
    z2 = phi(torch.from_numpy(x) @ t["W1"].T + t["b1"]) @ t["W2"].T + t["b2"]
    out = (F.cross_entropy(z2, torch.from_numpy(y)) if loss == "softmax_cross_entropy"
           else F.mse_loss(z2, torch.from_numpy(y)))
    out.backward()
    assert abs(out.item() - value) < 1e-12
    assert bp.relative_error({k: v.grad.numpy() for k, v in t.items()}, grads) < TOL


# ----------------------------------------------------------------------------
# Against the Keras dispatcher (tf.GradientTape on TensorFlow, torch.autograd on torch)

@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("activation,loss", CASES)
def test_backward_matches_keras_value_and_grad(activation, loss):
    keras = pytest.importorskip("keras")
    from companion.keras import backprop as kbp

    params, x, y = make_problem(loss, seed=3)
    value, grads = numpy_grads(params, x, y, activation, loss)
    variables = {k: keras.Variable(v, dtype="float64", name=k) for k, v in params.items()}
    k_value, k_grads = kbp.numpy_value_and_grad(
        lambda: kbp.two_layer_loss(variables, x, y, activation=activation, loss=loss),
        list(variables.values()))
    assert all(g.dtype == np.float64 for g in k_grads)
    # XLA's CPU tanh is a fast approximation, about 1e-8 relative error even in
    # float64 (measured on the JAX backend); the other backends agree to 1e-12.
    approximate = keras.backend.backend() == "jax" and activation == "tanh"
    assert abs(k_value - value) < (1e-7 * abs(value) if approximate else 1e-12)
    assert bp.relative_error(dict(zip(variables, k_grads)), grads) < TOL


@pytest.mark.keras_backend_agnostic
def test_keras_value_and_grad_on_a_known_function_and_unused_variable():
    keras = pytest.importorskip("keras")
    from companion.keras import backprop as kbp

    a = keras.Variable(np.array([1.0, -2.0, 3.0]), dtype="float64")
    unused = keras.Variable(np.array([5.0, 6.0]), dtype="float64")
    frozen = keras.Variable(np.array([2.0]), dtype="float64", trainable=False)
    value, (ga, gu, gf) = kbp.numpy_value_and_grad(
        lambda: keras.ops.sum(a * a) * frozen[0], [a, unused, frozen])
    assert np.isclose(value, 28.0)
    assert np.allclose(ga, [4.0, -8.0, 12.0]) and np.allclose(gu, 0.0) and np.allclose(gf, [14.0])


@pytest.mark.keras_backend_agnostic
def test_keras_value_and_grad_rejects_bad_input():
    keras = pytest.importorskip("keras")
    from companion.keras import backprop as kbp

    v = keras.Variable(np.ones(3), dtype="float64")
    with pytest.raises(ValueError, match="keras.Variable"):
        kbp.value_and_grad(lambda: keras.ops.sum(v), [np.ones(3)])
    with pytest.raises(ValueError, match="at least one"):
        kbp.value_and_grad(lambda: keras.ops.sum(v), [])
    with pytest.raises(ValueError, match="callable"):
        kbp.value_and_grad("sum", [v])
    with pytest.raises(ValueError, match="scalar"):
        kbp.value_and_grad(lambda: v * 2.0, [v])
    with pytest.raises(ValueError, match="activation"):
        kbp.two_layer_loss({}, np.ones((2, 3)), np.zeros(2, dtype=int), activation="gelu")


# ----------------------------------------------------------------------------
# Bad input to the NumPy network

@pytest.mark.parametrize("change,match", [
    (dict(activation="gelu"), "activation"),
    (dict(loss="hinge"), "loss"),
    (dict(x=np.ones((4, 2))), r"x must have shape \(batch, 3\)"),
    (dict(x=np.ones(3)), "x must have shape"),
    (dict(y=np.array([0.0, 1.0, 0.0, 1.0])), "integer class labels"),
    (dict(y=np.array([0, 1, 2, 9])), "class labels must lie"),
    (dict(y=np.array([0, 1])), "integer class labels"),
    (dict(loss="mse", y=np.ones(4)), r"mse needs targets of shape \(4, 4\)"),
])
def test_forward_rejects_bad_input(change, match):
    params, x, y = make_problem("softmax_cross_entropy", n=4)
    args = dict(x=x, y=y, activation="tanh", loss="softmax_cross_entropy")
    args.update(change)
    with pytest.raises(ValueError, match=match):
        bp.forward(params, args["x"], args["y"], activation=args["activation"], loss=args["loss"])


def test_bad_params_are_rejected():
    params, x, y = make_problem("softmax_cross_entropy")
    with pytest.raises(ValueError, match="keys"):
        bp.forward({k: v for k, v in params.items() if k != "b2"}, x, y)
    with pytest.raises(ValueError, match="b1 must have shape"):
        bp.forward(dict(params, b1=np.zeros(7)), x, y)
    with pytest.raises(ValueError, match="W2 must have shape"):
        bp.forward(dict(params, W2=np.zeros((4, 2))), x, y)
    with pytest.raises(ValueError, match="cache"):
        bp.backward({"x": x})
    with pytest.raises(ValueError, match="lr"):
        bp.sgd_step(params, params, lr=0.0)
    with pytest.raises(ValueError, match="positive integer"):
        bp.init_params(3, 0, 2)


# ----------------------------------------------------------------------------
# Gradient descent

@pytest.mark.parametrize("activation,loss", CASES)
def test_one_gradient_step_lowers_the_loss(activation, loss):
    params, x, y = make_problem(loss, seed=4)
    before, grads = numpy_grads(params, x, y, activation, loss)
    after = bp.loss_value(bp.sgd_step(params, grads, lr=0.05), x, y, activation=activation,
                          loss=loss)
    assert after < before
    # and to first order by lr * |grad|^2, as the Taylor expansion predicts
    squared = sum(np.sum(g ** 2) for g in grads.values())
    assert abs((before - after) - 0.05 * squared) < 0.1 * 0.05 * squared


def test_training_learns_moons():
    from companion import data

    x, y = data.moons(n=200, noise=0.15, seed=0)
    params, losses = bp.train(bp.init_params(2, 8, 2, seed=0), x.astype(np.float64), y,
                              steps=150, lr=1.0)
    assert losses[-1] < 0.3 * losses[0]
    accuracy = np.mean(bp.predict(params, x).argmax(axis=1) == y)
    assert accuracy > 0.93

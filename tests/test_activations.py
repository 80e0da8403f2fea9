"""NumPy activations and their derivatives against PyTorch and Keras (chapter: Activation functions)."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.keras import autodiff
from companion.numpy import activations as A
from tests.conftest import ROOT

# Points away from the kinks at 0, spread over the saturating range.
Z = np.array([-6.0, -2.5, -1.0, -0.3, 0.2, 0.7, 1.5, 3.0, 6.0])

# name -> (NumPy function, PyTorch function, Keras function)
PAIRS = {
    "sigmoid": (A.sigmoid, torch.sigmoid, keras.activations.sigmoid),
    "tanh": (A.tanh, torch.tanh, keras.activations.tanh),
    "linear": (A.identity, lambda x: x * 1.0, keras.activations.linear),
    "relu": (A.relu, F.relu, keras.activations.relu),
    "leaky_relu": (A.leaky_relu, F.leaky_relu,
                   lambda x: keras.activations.leaky_relu(x, negative_slope=0.01)),
    "elu": (A.elu, F.elu, keras.activations.elu),
    "gelu": (A.gelu, F.gelu, keras.activations.gelu),
    "gelu_tanh": (A.gelu_tanh, lambda x: F.gelu(x, approximate="tanh"), keras.ops.gelu),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_values_match_both_frameworks(name):
    ref, torch_fn, keras_fn = PAIRS[name]
    expected = ref(Z)
    np.testing.assert_allclose(torch_fn(torch.tensor(Z)).numpy(), expected, rtol=1e-12, atol=1e-12)
    got = keras.ops.convert_to_numpy(keras_fn(keras.ops.convert_to_tensor(Z, dtype="float64")))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_derivatives_match_autograd_in_both_frameworks(name):
    ref_grad = A.derivative(name, Z)
    _, torch_fn, keras_fn = PAIRS[name]
    x = torch.tensor(Z, requires_grad=True)
    (g,) = torch.autograd.grad(torch_fn(x).sum(), [x])
    np.testing.assert_allclose(g.numpy(), ref_grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(autodiff.grad(keras_fn, Z, dtype="float64"), ref_grad,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(A.ELEMENTWISE))
def test_derivatives_match_central_differences(name):
    f = A.activation(name)
    h = 1e-6
    numeric = (f(Z + h) - f(Z - h)) / (2 * h)
    np.testing.assert_allclose(A.derivative(name, Z), numeric, atol=1e-6)


def test_relu_kink_uses_the_frameworks_convention():
    x = torch.zeros(1, requires_grad=True)
    (g,) = torch.autograd.grad(F.relu(x).sum(), [x])
    assert g.item() == A.relu_derivative(np.zeros(1))[0] == 0.0
    assert autodiff.grad(keras.activations.relu, np.zeros(1))[0] == 0.0


def test_gelu_defaults_differ_between_keras_activations_and_keras_ops():
    z = np.linspace(-3, 3, 13)
    exact, approx = A.gelu(z), A.gelu_tanh(z)
    assert np.abs(exact - approx).max() > 1e-4            # the two forms really differ
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.activations.gelu(z)), exact,
                               atol=1e-6)                 # keras.activations.gelu: exact
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.gelu(z)), approx,
                               atol=1e-6)                 # keras.ops.gelu: tanh form
    np.testing.assert_allclose(F.gelu(torch.tensor(z)).numpy(), exact, atol=1e-12)


def test_leaky_relu_default_slopes_differ_between_frameworks():
    z = np.array([-10.0])
    assert F.leaky_relu(torch.tensor(z)).item() == pytest.approx(-0.1)        # 0.01
    assert float(keras.activations.leaky_relu(z)[0]) == pytest.approx(-2.0)   # 0.2
    assert float(keras.layers.LeakyReLU()(z)[0]) == pytest.approx(-3.0)       # 0.3
    assert A.leaky_relu(z)[0] == pytest.approx(-0.1)


def test_sigmoid_temperature_limits():
    z = np.array([-2.0, -0.1, 0.1, 2.0])
    np.testing.assert_allclose(A.sigmoid_with_temperature(z, 1.0), A.sigmoid(z))
    np.testing.assert_allclose(A.sigmoid_with_temperature(z, 1e-4), A.step(z), atol=1e-12)
    np.testing.assert_allclose(A.sigmoid_with_temperature(z, 1e4), 0.5, atol=1e-4)
    assert A.sigmoid_derivative(np.zeros(1), temperature=0.5)[0] == pytest.approx(0.5)
    np.testing.assert_allclose(
        torch.sigmoid(torch.tensor(z) / 0.5).numpy(), A.sigmoid_with_temperature(z, 0.5))


def test_softmax_jacobian_matches_torch():
    z = np.array([0.5, -1.0, 2.0, 0.0])
    jac = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), torch.tensor(z))
    np.testing.assert_allclose(A.softmax_jacobian(z), jac.numpy(), atol=1e-12)
    np.testing.assert_allclose(A.softmax_jacobian(z).sum(axis=0), 0.0, atol=1e-12)


def test_softmax_matches_both_frameworks_for_large_logits():
    z = np.array([[1000.0, 999.0, -1000.0], [0.0, 1.0, 2.0]], dtype="float32")
    np.testing.assert_allclose(torch.softmax(torch.tensor(z), 1).numpy(), A.softmax(z), atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.activations.softmax(z)),
                               A.softmax(z), atol=1e-6)


def test_saturation_bounds():
    z = np.linspace(-10, 10, 2001)
    assert A.sigmoid_derivative(z).max() == pytest.approx(0.25)
    assert A.tanh_derivative(z).max() == pytest.approx(1.0)
    assert A.sigmoid_derivative(np.array([10.0]))[0] < 5e-5


@pytest.mark.parametrize("call, message", [
    (lambda: A.sigmoid_with_temperature(np.zeros(2), 0.0), "temperature must be a positive"),
    (lambda: A.leaky_relu(np.zeros(2), negative_slope=-0.1), "negative_slope"),
    (lambda: A.elu_derivative(np.zeros(2), alpha=-1.0), "alpha must be a positive"),
    (lambda: A.derivative("swish", np.zeros(2)), "unknown activation 'swish'"),
    (lambda: A.activation("softplus"), "unknown activation 'softplus'"),
    (lambda: A.step(np.array(["a", "b"])), "real numbers"),
    (lambda: A.softmax_jacobian(np.zeros((2, 3))), "1-D"),
])
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_autodiff_grad_on_the_torch_backend():
    code = ("import numpy as np, keras; from companion.keras import autodiff; "
            "from companion.numpy import activations as A; z = np.linspace(-3, 3, 7); "
            "g = autodiff.grad(keras.activations.gelu, z, 'float64'); "
            "assert keras.backend.backend() == 'torch'; "
            "assert np.allclose(g, A.gelu_derivative(z), atol=1e-9); "
            "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]); "
            "w = autodiff.weight_gradients(m, keras.losses.MeanSquaredError(), "
            "np.ones((4, 3)), np.zeros((4, 2))); "
            "k, b = m.get_weights(); out = np.ones((4, 3)) @ k + b; "
            "assert np.allclose(w[m.layers[0].bias.path], out.mean(0), atol=1e-6); print('ok')")
    env = dict(os.environ, KERAS_BACKEND="torch")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_weight_gradients_match_torch_autograd():
    """A stack of sigmoid layers with the same weights gives the same gradients in both."""
    rng = np.random.default_rng(0)
    widths = [5, 8, 8, 1]
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    torch_layers, keras_layers = [], [keras.Input((5,))]
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        torch_layers += [torch.nn.Linear(w_in, w_out), torch.nn.Sigmoid()]
        keras_layers.append(keras.layers.Dense(w_out, activation="sigmoid"))
    torch_net = torch.nn.Sequential(*torch_layers)
    keras_net = keras.Sequential(keras_layers)
    for linear, dense in zip(torch_net[::2], keras_net.layers):
        dense.set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])
    loss = F.mse_loss(torch_net(torch.tensor(x)), torch.tensor(y))
    torch_grads = torch.autograd.grad(loss, [m.weight for m in torch_net[::2]])
    keras_grads = autodiff.weight_gradients(keras_net, keras.losses.MeanSquaredError(), x, y)
    for g, dense in zip(torch_grads, keras_net.layers):
        np.testing.assert_allclose(keras_grads[dense.kernel.path], g.numpy().T, rtol=1e-4, atol=1e-7)

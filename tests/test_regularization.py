"""companion.numpy.regularization against PyTorch and Keras (chapter: Regularization)."""
import keras
import numpy as np
import pytest
import torch

from companion.numpy import regularization as reg

RNG = np.random.default_rng(0)
W = RNG.normal(size=(4, 3))


def _grad_fn(w):
    # data gradient: a strong pull of w[0] towards 1, nothing on w[1]
    return np.array([100.0 * (w[0] - 1.0), 0.0])


# ------------------------------------------------------------------ penalties

def test_l2_penalty_matches_keras_regularizer_and_torch_autograd():
    value, grad = reg.l2_penalty(W, 0.01)
    assert value == pytest.approx(0.01 * np.sum(W ** 2))
    keras_value = float(keras.ops.convert_to_numpy(keras.regularizers.L2(0.01)(W.astype("float32"))))
    assert keras_value == pytest.approx(value, rel=1e-5)
    w = torch.tensor(W, requires_grad=True)
    (0.01 * (w ** 2).sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), grad, rtol=1e-12)
    np.testing.assert_allclose(grad, 2 * 0.01 * W)  # the factor 2: no 1/2 in front


def test_l1_penalty_matches_keras_regularizer_and_torch_autograd():
    value, grad = reg.l1_penalty(W, 0.03)
    keras_value = float(keras.ops.convert_to_numpy(keras.regularizers.L1(0.03)(W.astype("float32"))))
    assert keras_value == pytest.approx(value, rel=1e-5)
    w = torch.tensor(W, requires_grad=True)
    (0.03 * w.abs().sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), grad)
    assert reg.l1_penalty(np.zeros(3), 1.0)[1].tolist() == [0.0, 0.0, 0.0]


def test_torch_sgd_weight_decay_is_l2_with_half_the_factor():
    grad = RNG.normal(size=W.shape)
    w = torch.nn.Parameter(torch.tensor(W))
    opt = torch.optim.SGD([w], lr=0.1, weight_decay=0.2)
    w.grad = torch.tensor(grad)
    opt.step()
    expected = reg.sgd_step(W, grad, lr=0.1, weight_decay=0.2)
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-12)
    # the same step as plain SGD on loss + lam * ||w||^2 with lam = wd / 2
    _, penalty_grad = reg.l2_penalty(W, 0.1)
    np.testing.assert_allclose(expected, reg.sgd_step(W, grad + penalty_grad, lr=0.1))


def test_keras_sgd_on_l2_regularized_dense_matches_numpy():
    lam, lr = 0.05, 0.1
    layer = keras.layers.Dense(1, use_bias=False, kernel_regularizer=keras.regularizers.L2(lam))
    model = keras.Sequential([keras.Input((3,)), layer])
    kernel = RNG.normal(size=(3, 1)).astype("float32")
    layer.kernel.assign(kernel)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    x, y = np.zeros((2, 3), "float32"), np.zeros((2, 1), "float32")  # data gradient is 0
    model.train_on_batch(x, y)
    _, penalty_grad = reg.l2_penalty(kernel, lam)
    np.testing.assert_allclose(layer.kernel.numpy(), reg.sgd_step(kernel, penalty_grad, lr=lr),
                               rtol=1e-6)


# ------------------------------------------------------------------ Adam + L2 versus AdamW

@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_weight_decay_matches_torch(decoupled):
    w0, lr, wd, steps = np.array([0.5, 1.0]), 0.01, 0.1, 30
    expected = reg.adam_steps(w0, _grad_fn, steps=steps, lr=lr, weight_decay=wd,
                              decoupled=decoupled)
    w = torch.nn.Parameter(torch.tensor(w0))
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([w], lr=lr, weight_decay=wd, eps=1e-8)
    for _ in range(steps):
        w.grad = torch.tensor(_grad_fn(w.detach().numpy()))
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_weight_decay_matches_keras(decoupled):
    w0, lr, wd, steps = np.array([0.5, 1.0]), 0.01, 0.1, 30
    expected = reg.adam_steps(w0, _grad_fn, steps=steps, lr=lr, weight_decay=wd,
                              decoupled=decoupled, eps=1e-7)
    var = keras.Variable(w0.astype("float32"))
    if decoupled:
        opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd, epsilon=1e-7)
    else:   # Keras's Adam has no coupled decay: add the L2 gradient by hand
        opt = keras.optimizers.Adam(learning_rate=lr, epsilon=1e-7)
    for _ in range(steps):
        w = keras.ops.convert_to_numpy(var).astype(float)
        g = _grad_fn(w) + (0.0 if decoupled else wd * w)
        opt.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), var)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(var), expected, rtol=1e-4, atol=1e-5)


def test_adam_l2_and_adamw_differ():
    kwargs = dict(steps=50, lr=0.01, weight_decay=0.01)
    coupled = reg.adam_steps([0.5, 1.0], _grad_fn, decoupled=False, **kwargs)
    decoupled = reg.adam_steps([0.5, 1.0], _grad_fn, decoupled=True, **kwargs)
    # the weight without a data gradient: Adam normalizes the tiny L2 gradient to a
    # step of about lr, while AdamW shrinks it by the factor (1 - lr * wd) per step
    assert coupled[1] < 0.6                       # lost over 40% in 50 steps
    assert decoupled[1] == pytest.approx((1 - 0.01 * 0.01) ** 50, rel=1e-9)


# ------------------------------------------------------------------ dropout

def test_inverted_dropout_train_and_eval():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    mask = (np.arange(12).reshape(3, 4) % 3 != 0).astype(float)
    out = reg.inverted_dropout(x, 0.25, mask=mask)
    np.testing.assert_allclose(out, x * mask / 0.75)
    np.testing.assert_array_equal(reg.inverted_dropout(x, 0.25, training=False), x)
    mean = np.mean([reg.inverted_dropout(np.ones(1000), 0.5, rng=np.random.default_rng(s)).mean()
                    for s in range(20)])
    assert mean == pytest.approx(1.0, abs=0.02)   # unbiased in expectation


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_framework_dropout_is_inverted(framework):
    p, x = 0.4, np.linspace(1.0, 2.0, 500).astype("float32").reshape(5, 100)
    if framework == "torch":
        layer = torch.nn.Dropout(p)
        layer.train()
        out = layer(torch.tensor(x)).numpy()
        layer.eval()
        test_out = layer(torch.tensor(x)).numpy()
    else:
        layer = keras.layers.Dropout(p, seed=0)
        out = keras.ops.convert_to_numpy(layer(x, training=True))
        test_out = keras.ops.convert_to_numpy(layer(x, training=False))
    mask = (out != 0).astype(float)
    assert 0.45 < mask.mean() < 0.75                  # about 1 - p of the units kept
    np.testing.assert_allclose(out, reg.inverted_dropout(x, p, mask=mask), rtol=1e-6)
    np.testing.assert_array_equal(test_out, x)        # identity at test time


# ------------------------------------------------------------------ bias and variance

def test_bias_variance_decomposition():
    truth = np.array([0.0, 1.0, 2.0])
    preds = np.array([[1.0, 1.0, 2.0], [1.0, 3.0, 2.0]])
    bias2, var = reg.bias_variance(preds, truth)
    assert bias2 == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    assert var == pytest.approx((0.0 + 1.0 + 0.0) / 3)
    # bias^2 + variance is the mean squared error of the models, averaged
    assert bias2 + var == pytest.approx(np.mean((preds - truth) ** 2))


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("call", [
    lambda: reg.l2_penalty(W, -1.0),
    lambda: reg.l1_penalty(W, float("nan")),
    lambda: reg.sgd_step(W, np.zeros(3), lr=0.1),
    lambda: reg.inverted_dropout(W, 1.0),
    lambda: reg.inverted_dropout(W, 0.5, mask=np.full(W.shape, 0.5)),
    lambda: reg.dropout_mask((2, 2), -0.1, np.random.default_rng(0)),
    lambda: reg.adam_steps([1.0], lambda w: w, steps=0),
    lambda: reg.bias_variance(np.zeros((1, 3)), np.zeros(3)),
    lambda: reg.bias_variance(np.zeros((2, 3)), np.zeros(4)),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()

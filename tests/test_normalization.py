"""NumPy batch norm, layer norm and gradient clipping against PyTorch and Keras.

Chapter: Training deep networks (book/foundations/deep_training.md).
"""
import keras
import numpy as np
import pytest
import torch
from torch import nn

from companion.numpy import normalization as N


def kn(value):
    return keras.ops.convert_to_numpy(value)


@pytest.fixture
def batches(rng):
    return [rng.normal(2.0, 3.0, size=(16, 5)).astype(np.float32) for _ in range(4)]


def test_framework_defaults_are_the_documented_ones():
    bn = nn.BatchNorm1d(3)
    assert (bn.momentum, bn.eps) == (0.1, 1e-5)
    assert nn.LayerNorm(3).eps == 1e-5
    kbn = keras.layers.BatchNormalization()
    assert (kbn.momentum, kbn.epsilon) == (0.99, 1e-3)
    assert keras.layers.LayerNormalization().epsilon == 1e-3
    assert N.CONVENTIONS["pytorch"]["momentum"] == 0.1 and N.CONVENTIONS["keras"]["momentum"] == 0.99
    assert N.BatchNorm(3).eps == 1e-5 and N.BatchNorm(3, convention="keras").eps == 1e-3


@pytest.mark.parametrize("eps", [1e-5, 1e-3])
def test_batch_norm_matches_torch_in_train_and_eval_mode(batches, rng, eps):
    ref = N.BatchNorm(5, convention="pytorch", eps=eps)
    ref.gamma, ref.beta = rng.normal(size=5), rng.normal(size=5)
    bn = nn.BatchNorm1d(5, eps=eps)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(ref.gamma)), bn.bias.copy_(torch.tensor(ref.beta))
    bn.train()
    for x in batches:
        np.testing.assert_allclose(bn(torch.from_numpy(x)).detach().numpy(),
                                   ref(x, training=True), atol=2e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), ref.running_mean, atol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), ref.running_var, atol=1e-4)
    bn.eval()
    x = batches[0][:3]
    np.testing.assert_allclose(bn(torch.from_numpy(x)).detach().numpy(), ref(x), atol=2e-5)


def test_batch_norm_matches_keras_in_train_and_eval_mode(batches, rng):
    ref = N.BatchNorm(5, convention="keras", momentum=0.8)
    ref.gamma, ref.beta = rng.normal(size=5), rng.normal(size=5)
    bn = keras.layers.BatchNormalization(momentum=0.8)   # default epsilon 1e-3 on both sides
    bn.build((None, 5))
    bn.gamma.assign(ref.gamma.astype("float32")), bn.beta.assign(ref.beta.astype("float32"))
    for x in batches:
        np.testing.assert_allclose(kn(bn(x, training=True)), ref(x, training=True), atol=2e-5)
    np.testing.assert_allclose(kn(bn.moving_mean), ref.running_mean, atol=1e-5)
    np.testing.assert_allclose(kn(bn.moving_variance), ref.running_var, atol=1e-4)
    x = batches[1][:3]
    np.testing.assert_allclose(kn(bn(x, training=False)), ref(x), atol=2e-5)


def test_matched_frameworks_agree_except_for_the_biased_running_variance(batches):
    tbn, kbn = nn.BatchNorm1d(5, momentum=0.1, eps=1e-3), keras.layers.BatchNormalization(momentum=0.9)
    for x in batches:
        np.testing.assert_allclose(tbn(torch.from_numpy(x)).detach().numpy(),
                                   kn(kbn(x, training=True)), atol=2e-5)
    np.testing.assert_allclose(tbn.running_mean.numpy(), kn(kbn.moving_mean), atol=1e-5)
    # The running variance differs: PyTorch stores n/(n-1) times the batch variance.
    assert np.all(tbn.running_var.numpy() > kn(kbn.moving_variance) + 0.05)
    unbiased, biased = N.BatchNorm(5, momentum=0.1, eps=1e-3), N.BatchNorm(5, convention="keras", momentum=0.9)
    for x in batches:
        unbiased(x, training=True), biased(x, training=True)
    np.testing.assert_allclose(tbn.running_var.numpy(), unbiased.running_var, atol=1e-4)
    np.testing.assert_allclose(kn(kbn.moving_variance), biased.running_var, atol=1e-4)


def test_batch_norm_training_output_is_standardized(rng):
    y, _ = N.batch_norm_train(rng.normal(3, 5, size=(64, 4)), np.ones(4), np.zeros(4), eps=0.0)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-12)


def test_batch_norm_backward_matches_autograd(rng):
    x = rng.normal(1, 2, size=(8, 3))
    gamma, beta, dy = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(8, 3))
    _, cache = N.batch_norm_train(x, gamma, beta, eps=1e-5)
    dx, dgamma, dbeta = N.batch_norm_backward(dy, cache)
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    out = nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5)
    out.backward(torch.tensor(dy))
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("eps", [1e-5, 1e-3])
def test_layer_norm_matches_both_frameworks(rng, eps):
    x = rng.normal(1, 4, size=(6, 7)).astype(np.float32)
    gamma, beta = rng.normal(size=7), rng.normal(size=7)
    ref = N.layer_norm(x, gamma, beta, eps)
    ln = nn.LayerNorm(7, eps=eps)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor(gamma)), ln.bias.copy_(torch.tensor(beta))
    np.testing.assert_allclose(ln(torch.from_numpy(x)).detach().numpy(), ref, atol=2e-5)
    kln = keras.layers.LayerNormalization(epsilon=eps)
    kln.build((None, 7))
    kln.gamma.assign(gamma.astype("float32")), kln.beta.assign(beta.astype("float32"))
    np.testing.assert_allclose(kn(kln(x)), ref, atol=2e-5)
    # Independent of the rest of the batch:
    np.testing.assert_allclose(N.layer_norm(x[:1], gamma, beta, eps), ref[:1])


@pytest.fixture
def grads(rng):
    return [rng.normal(size=(4, 3)) * 5.0, rng.normal(size=3) * 0.2, rng.normal(size=(2, 2))]


def _torch_clip(grads, how, c):
    params = [nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    if how == "global":
        total = nn.utils.clip_grad_norm_(params, c)
    elif how == "tensor":
        total = [nn.utils.clip_grad_norm_([p], c) for p in params]
    else:
        total = nn.utils.clip_grad_value_(params, c)
    return [p.grad.numpy() for p in params], total


def _keras_clip(grads, argument, c):
    variables = [keras.Variable(np.zeros(g.shape, dtype="float32")) for g in grads]
    keras.optimizers.SGD(learning_rate=1.0, **{argument: c}).apply_gradients(
        zip([g.astype("float32") for g in grads], variables))
    return [-kn(v) for v in variables]


@pytest.mark.parametrize("c", [0.5, 3.0, 1e3])
def test_clipping_matches_torch_utilities(grads, c):
    ref, norm = N.clip_by_global_norm(grads, c)
    got, total = _torch_clip(grads, "global", c)
    assert float(total) == pytest.approx(norm)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    for a, b in zip(_torch_clip(grads, "tensor", c)[0], N.clip_by_norm_per_tensor(grads, c)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    for a, b in zip(_torch_clip(grads, "value", c)[0], N.clip_by_value(grads, c)):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("c", [0.5, 3.0])
def test_keras_clipnorm_is_per_variable_and_global_clipnorm_is_global(grads, c):
    per_tensor, (global_, _) = N.clip_by_norm_per_tensor(grads, c), N.clip_by_global_norm(grads, c)
    for a, b in zip(_keras_clip(grads, "clipnorm", c), per_tensor):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(_keras_clip(grads, "global_clipnorm", c), global_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(_keras_clip(grads, "clipvalue", c), N.clip_by_value(grads, c)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # ... and the two norms really differ on these gradients.
    assert max(np.abs(a - b).max() for a, b in zip(per_tensor, global_)) > 1e-2


def test_only_global_norm_clipping_keeps_the_direction(grads):
    assert N.cosine(grads, N.clip_by_global_norm(grads, 1.0)[0]) == pytest.approx(1.0)
    assert N.cosine(grads, N.clip_by_norm_per_tensor(grads, 1.0)) < 0.999
    assert N.cosine(grads, N.clip_by_value(grads, 1.0)) < 0.999
    assert N.global_norm(N.clip_by_global_norm(grads, 1.0)[0]) == pytest.approx(1.0)
    unclipped, _ = N.clip_by_global_norm(grads, 1e6)
    for a, b in zip(unclipped, grads):
        np.testing.assert_array_equal(a, b)


def test_bad_input_raises_clear_errors(rng):
    bn = N.BatchNorm(4)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        bn(rng.normal(size=(8, 3)), training=True)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        bn(rng.normal(size=8))
    with pytest.raises(ValueError, match="at least 2 examples"):
        bn(rng.normal(size=(1, 4)), training=True)
    with pytest.raises(ValueError, match="unknown convention"):
        N.BatchNorm(4, convention="jax")
    with pytest.raises(ValueError, match="momentum"):
        N.BatchNorm(4, momentum=1.5)
    with pytest.raises(ValueError, match="num_features"):
        N.BatchNorm(0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        N.layer_norm(rng.normal(size=(2, 4)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="eps"):
        N.layer_norm(rng.normal(size=(2, 3)), np.ones(3), np.zeros(3), eps=-1.0)
    with pytest.raises(ValueError, match="max_norm"):
        N.clip_by_global_norm([np.ones(3)], 0.0)
    with pytest.raises(ValueError, match="clip_value"):
        N.clip_by_value([np.ones(3)], -1.0)
    with pytest.raises(ValueError, match="list of arrays"):
        N.clip_by_norm_per_tensor(np.ones(3), 1.0)
    _, cache = N.batch_norm_train(rng.normal(size=(5, 4)), np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="dy must have the shape"):
        N.batch_norm_backward(np.ones((5, 3)), cache)

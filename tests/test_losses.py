"""NumPy losses against PyTorch and Keras: values, gradients, stability, errors (chapter: Loss functions)."""
import warnings

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.keras import autodiff
from companion.numpy import losses as L


def t(a):
    return torch.tensor(np.asarray(a))


def k(value):
    return float(keras.ops.convert_to_numpy(value))


@pytest.fixture
def batch(rng):
    logits = rng.normal(size=(6, 4)) * 3
    labels = rng.integers(0, 4, 6)
    return logits, labels, np.eye(4)[labels]


def test_regression_losses_match_both_frameworks(rng):
    pred, target = rng.normal(size=(12,)) * 3, rng.normal(size=(12,))
    col = lambda a: a[:, None]  # Keras averages over the last axis, then over the batch
    assert L.mse(pred, target) == pytest.approx(F.mse_loss(t(pred), t(target)).item())
    assert L.mse(pred, target) == pytest.approx(k(keras.losses.MeanSquaredError()(col(target), col(pred))), rel=1e-6)
    assert L.mae(pred, target) == pytest.approx(F.l1_loss(t(pred), t(target)).item())
    assert L.mae(pred, target) == pytest.approx(k(keras.losses.MeanAbsoluteError()(col(target), col(pred))), rel=1e-6)
    for delta in (0.5, 1.0, 2.0):
        h = L.huber(pred, target, delta=delta)
        assert h == pytest.approx(F.huber_loss(t(pred), t(target), delta=delta).item())
        assert h == pytest.approx(k(keras.losses.Huber(delta)(col(target), col(pred))), rel=1e-6)
        s = L.smooth_l1(pred, target, beta=delta)
        assert s == pytest.approx(F.smooth_l1_loss(t(pred), t(target), beta=delta).item())
        assert s == pytest.approx(h / delta)  # SmoothL1(beta) = Huber(delta=beta) / beta


def test_binary_cross_entropy_matches_both_frameworks(rng):
    p, z = rng.uniform(0.02, 0.98, 10), rng.normal(size=10) * 4
    y = rng.integers(0, 2, 10).astype(float)
    assert L.binary_cross_entropy(p, y) == pytest.approx(F.binary_cross_entropy(t(p), t(y)).item())
    assert L.binary_cross_entropy(p, y) == pytest.approx(
        k(keras.losses.BinaryCrossentropy()(y[:, None], p[:, None])), rel=1e-5)
    with_logits = L.binary_cross_entropy_with_logits(z, y)
    assert with_logits == pytest.approx(F.binary_cross_entropy_with_logits(t(z), t(y)).item())
    assert with_logits == pytest.approx(
        k(keras.losses.BinaryCrossentropy(from_logits=True)(y[:, None], z[:, None])), rel=1e-5)
    # The two forms agree wherever the probabilities are representable.
    assert with_logits == pytest.approx(L.binary_cross_entropy(1 / (1 + np.exp(-z)), y))


def test_probability_clipping_differs_between_frameworks():
    p, y = np.array([0.0, 1.0]), np.array([1.0, 0.0])   # confidently wrong, both
    assert L.binary_cross_entropy(p, y) == np.inf
    assert F.binary_cross_entropy(t(p), t(y)).item() == pytest.approx(100.0)   # log clamped at -100
    clipped = L.binary_cross_entropy(p, y, epsilon=keras.config.epsilon())
    assert clipped == pytest.approx(-np.log(1e-7))                               # about 16.1
    keras_value = k(keras.losses.BinaryCrossentropy()(y[:, None], p[:, None]))
    assert 15.5 < keras_value < 16.5      # float32 rounds 1 - 1e-7, so not exactly 16.118


def test_cross_entropy_sparse_and_one_hot_agree_with_both_frameworks(batch):
    z, labels, one_hot = batch
    ce = L.cross_entropy(z, labels)
    assert ce == pytest.approx(L.cross_entropy(z, one_hot))
    assert ce == pytest.approx(F.cross_entropy(t(z), t(labels)).item())
    assert ce == pytest.approx(F.cross_entropy(t(z), t(one_hot)).item())
    assert ce == pytest.approx(
        k(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, z)), rel=1e-6)
    assert ce == pytest.approx(
        k(keras.losses.CategoricalCrossentropy(from_logits=True)(one_hot, z)), rel=1e-6)
    per = L.cross_entropy(z, labels, reduction="none")
    np.testing.assert_allclose(per, F.cross_entropy(t(z), t(labels), reduction="none").numpy())
    assert L.cross_entropy(z, labels, reduction="sum") == pytest.approx(per.sum())


def test_cross_entropy_gradient_is_p_minus_y_in_both_frameworks(batch):
    z, labels, one_hot = batch
    expected = L.cross_entropy_grad(z, labels)
    np.testing.assert_allclose(expected, (np.exp(L.log_softmax(z)) - one_hot) / len(z))
    zt = t(z).requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(zt, t(labels)), [zt])
    np.testing.assert_allclose(g.numpy(), expected, atol=1e-12)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    keras_grad = autodiff.grad(lambda v: loss(one_hot, v), z, dtype="float64")
    np.testing.assert_allclose(keras_grad, expected, atol=1e-7)


def test_binary_cross_entropy_gradient_is_sigmoid_minus_y(rng):
    z, y = rng.normal(size=8) * 3, rng.integers(0, 2, 8).astype(float)
    zt = t(z).requires_grad_(True)
    (g,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(zt, t(y), reduction="sum"), [zt])
    np.testing.assert_allclose(g.numpy(), 1 / (1 + np.exp(-z)) - y, atol=1e-12)


def test_naive_log_softmax_breaks_in_float32_and_stable_forms_do_not():
    z = np.array([[120.0, 0.0]], dtype="float32")
    label = np.array([1])
    assert L.naive_cross_entropy(z.astype(float), label) < np.inf       # float64 still copes
    assert L.naive_cross_entropy(np.array([[1000.0, 0.0]]), label) == np.inf
    assert L.cross_entropy(np.array([[1000.0, 0.0]]), label) == pytest.approx(1000.0)
    naive_torch = -torch.log(torch.softmax(t(z), dim=1))[0, 1].item()
    naive_keras = -k(keras.ops.log(keras.ops.softmax(z))[0, 1])
    assert naive_torch == np.inf and naive_keras == np.inf
    assert F.cross_entropy(t(z), t(label)).item() == pytest.approx(120.0)
    assert k(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(label, z)) == pytest.approx(120.0)


def test_hinge_losses_and_what_each_framework_calls_hinge(rng, batch):
    s, y = rng.normal(size=10), rng.choice([-1.0, 1.0], 10)
    ref = L.hinge(s, y)
    assert ref == pytest.approx(k(keras.losses.Hinge()(y[:, None], s[:, None])), rel=1e-6)
    # Keras converts labels {0, 1} to {-1, +1} ...
    assert ref == pytest.approx(k(keras.losses.Hinge()(((y + 1) / 2)[:, None], s[:, None])), rel=1e-6)
    # ... but only when every label is 0 or 1: here 0 stays 0 and its loss is max(0, 1 - 0) = 1.
    mixed = k(keras.losses.Hinge()(np.array([[0.0], [1.0], [-1.0]]), np.full((3, 1), 0.5)))
    assert mixed == pytest.approx((1.0 + 0.5 + 1.5) / 3)
    z, labels, one_hot = batch
    assert L.multi_margin(z, labels) == pytest.approx(F.multi_margin_loss(t(z), t(labels)).item())
    # Keras's CategoricalHinge is Crammer-Singer when some wrong score is >= 0 ...
    shifted = z - z.min() + 0.1
    assert L.multiclass_hinge(shifted, labels) == pytest.approx(
        k(keras.losses.CategoricalHinge()(one_hot, shifted)), rel=1e-6)
    # ... and differs otherwise (its max over wrong classes includes a 0 for the right class).
    negative = np.array([[1.0, -3.0, -2.0]])
    assert L.multiclass_hinge(negative, np.array([0])) == pytest.approx(0.0)
    assert k(keras.losses.CategoricalHinge()(np.eye(3)[[0]], negative)) == pytest.approx(0.0)
    negative = np.array([[-0.5, -3.0, -2.0]])
    assert L.multiclass_hinge(negative, np.array([0])) == pytest.approx(0.0)
    assert k(keras.losses.CategoricalHinge()(np.eye(3)[[0]], negative)) == pytest.approx(1.5)


def test_kl_divergence_argument_order_and_reductions(rng):
    p = np.exp(L.log_softmax(rng.normal(size=(5, 4))))
    q = np.exp(L.log_softmax(rng.normal(size=(5, 4))))
    kl = L.kl_divergence(p, q)
    assert kl > 0 and L.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    assert kl != pytest.approx(L.kl_divergence(q, p))                          # not symmetric
    assert kl == pytest.approx(k(keras.losses.KLDivergence()(p, q)), rel=1e-5)  # (y_true, y_pred)
    # PyTorch: input = log q (log-probabilities), target = p, and "batchmean" for the true KL.
    assert kl == pytest.approx(F.kl_div(t(np.log(q)), t(p), reduction="batchmean").item())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = F.kl_div(t(np.log(q)), t(p)).item()      # "mean": divides by batch * classes
    assert default == pytest.approx(kl / p.shape[1])
    assert kl == pytest.approx(F.kl_div(t(np.log(q)), t(np.log(p)), reduction="batchmean",
                                        log_target=True).item())


def test_triplet_matches_torch(rng):
    a, p, n = rng.normal(size=(3, 6, 4))
    assert L.triplet(a, p, n, margin=1.0) == pytest.approx(
        F.triplet_margin_loss(t(a), t(p), t(n), margin=1.0).item(), rel=1e-4)


def test_contrastive_loss_by_hand_and_against_both_frameworks(rng):
    """Similar pairs cost d^2/2, dissimilar ones max(0, m - d)^2/2; checked in torch and keras.ops."""
    a, b = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), np.array([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])
    # distances 5, 0.5, 5; labels similar, dissimilar, dissimilar; margin 2
    assert L.contrastive(a, b, [1, 0, 0], margin=2.0, reduction="none") == pytest.approx(
        [12.5, 1.125, 0.0])
    x1, x2 = rng.normal(size=(2, 8, 5))
    same = rng.integers(0, 2, size=8)
    reference = L.contrastive(x1, x2, same, margin=1.5)
    d = torch.linalg.norm(t(x1) - t(x2), dim=-1)
    y = t(same.astype(float))
    torch_loss = (y * d**2 + (1 - y) * torch.clamp(1.5 - d, min=0) ** 2).mean() / 2
    assert torch_loss.item() == pytest.approx(reference)
    dk = keras.ops.norm(x1 - x2, axis=-1)
    keras_loss = keras.ops.mean(same * dk**2 + (1 - same) * keras.ops.maximum(1.5 - dk, 0.0) ** 2) / 2
    assert float(keras_loss) == pytest.approx(reference)


@pytest.mark.parametrize("call, message", [
    (lambda: L.contrastive(np.zeros((2, 3)), np.ones((2, 3)), [1, 2]), "1 \\(similar\\) or 0"),
    (lambda: L.contrastive(np.zeros((2, 3)), np.ones((2, 3)), [1]), "one label per pair"),
    (lambda: L.mse(np.zeros(3), np.zeros(4)), "same shape"),
    (lambda: L.huber(np.zeros(3), np.zeros(3), delta=0), "delta must be a positive"),
    (lambda: L.mae(np.zeros(2), np.zeros(2), reduction="avg"), "unknown reduction 'avg'"),
    (lambda: L.binary_cross_entropy(np.array([1.5]), np.array([1.0])), "probabilities in"),
    (lambda: L.binary_cross_entropy_with_logits(np.zeros(2), np.array([0.0, 2.0])), "targets in"),
    (lambda: L.cross_entropy(np.zeros((2, 3)), np.array([0, 3])), r"\[0, 2\]"),
    (lambda: L.cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), "integers"),
    (lambda: L.cross_entropy(np.zeros(3), np.array([0])), r"\(batch, classes\)"),
    (lambda: L.cross_entropy(np.zeros((2, 3)), np.ones((2, 3))), "probability distribution"),
    (lambda: L.hinge(np.zeros(2), np.array([0.0, 1.0])), r"2 \* y - 1"),
    (lambda: L.kl_divergence(np.ones((1, 2)), np.ones((1, 2))), "probability distribution"),
    (lambda: L.mse(np.array(["a"]), np.array(["b"])), "real numbers"),
])
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()

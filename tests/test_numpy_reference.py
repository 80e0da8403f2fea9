import math

import numpy as np
import pytest

from companion import numpy as cnp
from companion.numpy.activations import ACTIVATIONS


def test_mlp_forward_by_hand():
    # the worked example of the MLP chapter
    W1 = np.array([[0.5, -1.0, 0.0], [1.0, 0.5, 2.0]])
    b1 = np.array([0.5, 0.0])
    W2 = np.array([[1.0, -1.0], [0.5, 2.0]])
    b2 = np.array([0.0, -1.0])
    x = np.array([[1.0, 2.0, -1.0], [2.0, -1.0, 1.0]])
    logits, hidden = cnp.mlp_forward(x, [W1, W2], [b1, b2], return_hidden=True)
    np.testing.assert_allclose(hidden[0], [[0.0, 0.0], [2.5, 3.5]])
    np.testing.assert_allclose(logits, [[0.0, -1.0], [-1.0, 7.25]])


def test_linear_mlp_collapses_to_one_affine_map(rng):
    Ws = [rng.normal(size=(5, 3)), rng.normal(size=(2, 5))]
    bs = [rng.normal(size=5), rng.normal(size=2)]
    x = rng.normal(size=(4, 3))
    expected = x @ (Ws[1] @ Ws[0]).T + (Ws[1] @ bs[0] + bs[1])
    np.testing.assert_allclose(cnp.mlp_forward(x, Ws, bs, activation="linear"), expected)


def test_parameter_count():
    assert cnp.parameter_count([64, 128, 64, 10]) == 17_226
    assert cnp.parameter_count([784, 256, 128, 10]) == 235_146
    with pytest.raises(ValueError):
        cnp.parameter_count([3])


def test_softmax_is_stable_and_normalized():
    p = cnp.softmax(np.array([[1000.0, 0.0], [1.0, 1.0]]))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[1], [0.5, 0.5])


def test_activation_values():
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(cnp.relu(z), [0, 0, 3])
    np.testing.assert_allclose(cnp.sigmoid(z), 1 / (1 + np.exp(-z)))
    assert cnp.sigmoid(np.array([-1000.0]))[0] == 0.0  # no overflow warning path
    np.testing.assert_allclose(ACTIVATIONS["gelu"](np.array([1.0])), [0.5 * (1 + math.erf(1 / math.sqrt(2)))])
    np.testing.assert_allclose(ACTIVATIONS["elu"](np.array([-1.0, 2.0])), [math.exp(-1) - 1, 2.0])


def test_dense_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        cnp.dense(np.zeros((2, 4)), np.zeros((5, 3)), np.zeros(5))


def test_mlp_forward_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        cnp.mlp_forward(np.zeros((1, 2)), [np.zeros((1, 2))], [np.zeros(1)], activation="swish")

"""The feedforward family beyond the MLP: perceptron rule, RBF networks, ELM, FLNN, highway."""
import numpy as np
import pytest

import companion
from companion import data, parity
from companion import numpy as cnp

FRAMEWORKS = ["torch", "keras"]


def _fw(name):
    import importlib

    return importlib.import_module(f"companion.{name}")


def _separable(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0.1).astype(np.int64)
    return x, y


# ---------------------------------------------------------------- perceptron

@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_perceptron_rule_matches_numpy_weight_for_weight(framework):
    fw = _fw(framework)
    x, y = _separable()
    model = fw.Perceptron(2)
    got = fw.train_perceptron(model, x, y, epochs=1, lr=0.5, seed=3)
    want = cnp.train_perceptron(x, y, epochs=1, lr=0.5, seed=3)
    assert got["mistakes"] == want["mistakes"] and want["mistakes"][0] > 0
    np.testing.assert_allclose(got["weights"][0], want["weights"][0], atol=1e-6)


def test_perceptron_rule_gives_identical_weights_in_both_frameworks():
    import companion.keras as ck
    import companion.torch as ct

    x, y = _separable(80, seed=1)
    t_hist = ct.train_perceptron(ct.Perceptron(2), x, y, epochs=3, seed=5)
    k_hist = ck.train_perceptron(ck.Perceptron(2), x, y, epochs=3, seed=5)
    assert t_hist["mistakes"] == k_hist["mistakes"]
    for a, b in zip(t_hist["weights"], k_hist["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("gate", ["and", "or", "nand"])
def test_perceptron_learns_linearly_separable_gates(framework, gate):
    fw = _fw(framework)
    x, y = data.logic_gate(gate)
    model = fw.Perceptron(2)
    history = fw.train_perceptron(model, x, y, epochs=50)
    assert history["mistakes"][-1] == 0
    pred = np.asarray(model.classify(x if framework == "keras" else __import__("torch").from_numpy(x)))
    np.testing.assert_array_equal(pred, y)


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_perceptron_never_learns_xor(framework):
    fw = _fw(framework)
    x, y = data.logic_gate("xor")
    history = fw.train_perceptron(fw.Perceptron(2), x, y, epochs=100)
    assert len(history["mistakes"]) == 100 and min(history["mistakes"]) > 0


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_perceptron_rejects_labels_outside_0_1(framework):
    fw = _fw(framework)
    x, _ = data.logic_gate("and")
    with pytest.raises(ValueError, match=r"labels in \{0, 1\}, got values \[-1, 1\]"):
        fw.train_perceptron(fw.Perceptron(2), x, np.array([-1, -1, -1, 1]), epochs=1)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 3\)"):
        fw.train_perceptron(fw.Perceptron(3), x, np.array([0, 0, 0, 1]), epochs=1)


def test_numpy_perceptron_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels in"):
        cnp.train_perceptron(np.zeros((2, 2)), np.array([0, 2]), epochs=1)


# ---------------------------------------------------------------- RBF network

def _sine(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3, 3, size=(n, 1)), axis=0).astype(np.float32)
    return x, np.sin(2 * x[:, 0]).astype(np.float32)


def test_rbf_features_match_numpy():
    import keras
    import torch

    import companion.keras as ck
    import companion.torch as ct

    rng = np.random.default_rng(0)
    centers, sigmas = rng.normal(size=(5, 2)), rng.uniform(0.5, 2, size=5)
    x = rng.normal(size=(9, 2)).astype(np.float32)
    want = cnp.rbf_features(x, centers, sigmas)
    t, k = ct.RBFNetwork(2, 5, 1), ck.RBFNetwork(2, 5, 1)
    t.set_centers(centers, sigmas)
    k.set_centers(centers, sigmas)
    np.testing.assert_allclose(t.rbf(torch.from_numpy(x)).detach().numpy(), want, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k.rbf(x)), want, atol=1e-5)


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_rbf_least_squares_matches_numpy_and_fits_a_sine(framework):
    fw = _fw(framework)
    x, y = _sine()
    centers = np.linspace(-3, 3, 12)[:, None]
    model = fw.RBFNetwork(1, 12, 1)
    model.set_centers(centers, 0.5)
    model.fit_output(x, y, ridge=1e-8)
    pred = fw.predict(model, x)[:, 0]
    w, b = cnp.least_squares(cnp.rbf_features(x, centers, np.full(12, 0.5)), y, ridge=1e-8)
    np.testing.assert_allclose(pred, (cnp.rbf_features(x, centers, np.full(12, 0.5)) @ w.T + b)[:, 0],
                               atol=1e-3)
    assert np.mean((pred - y) ** 2) < 1e-3


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_rbf_gradient_descent_lowers_the_loss(framework):
    fw = _fw(framework)
    x, y = _sine(seed=1)
    companion.set_seed(0)
    model = fw.RBFNetwork(1, 10, 1)
    model.set_centers(np.linspace(-3, 3, 10)[:, None], 0.7)
    history = fw.train(model, (x, y), epochs=30, lr=0.05, loss="mse", progress=False)
    assert history["loss"][-1] < 0.3 * history["loss"][0]


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_rbf_rejects_bad_centers(framework):
    fw = _fw(framework)
    model = fw.RBFNetwork(2, 4, 1)
    with pytest.raises(ValueError, match=r"centers must have shape \(4, 2\)"):
        model.set_centers(np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="positive"):
        model.set_centers(np.zeros((4, 2)), 0.0)
    with pytest.raises(ValueError, match="targets must have 1 columns"):
        model.fit_output(np.zeros((5, 2), dtype=np.float32), np.zeros((5, 2)))


# ---------------------------------------------------------------- ELM, FLNN, highway

def test_elm_twins_agree_after_least_squares():
    import companion.keras as ck
    import companion.torch as ct

    d = data.digits(seed=0)
    targets = np.eye(10)[d.y_train]
    companion.set_seed(0)
    t, k = ct.ExtremeLearningMachine(64, 300, 10), ck.ExtremeLearningMachine(64, 300, 10)
    parity.copy_torch_to_keras(t, k)     # same random hidden layer
    t.fit_output(d.x_train, targets)
    k.fit_output(d.x_train, targets)
    assert parity.max_abs_difference(t, k, d.x_test) < 1e-3
    assert ct.evaluate(t, d.test)["accuracy"] > 0.9


def test_elm_hidden_layer_is_frozen():
    import companion.keras as ck
    import companion.torch as ct

    assert not any(p.requires_grad for p in ct.ExtremeLearningMachine(4, 5, 2).hidden.parameters())
    assert not ck.ExtremeLearningMachine(4, 5, 2).hidden.trainable


def test_trig_expansion_matches_numpy():
    import keras
    import torch

    import companion.keras as ck
    import companion.torch as ct

    x = np.random.default_rng(0).uniform(-1, 1, size=(5, 2)).astype(np.float32)
    want = cnp.trig_expansion(x, order=3)
    np.testing.assert_allclose(ct.TrigExpansion(3)(torch.from_numpy(x)).numpy(), want, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ck.TrigExpansion(3)(x)), want, atol=1e-5)


def test_highway_layer_matches_numpy_and_starts_near_identity():
    import torch

    import companion.torch as ct

    torch.manual_seed(0)
    layer = ct.HighwayLayer(4)
    assert torch.all(layer.gate.bias == -2.0)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    params = [p.detach().numpy() for p in (layer.transform.weight, layer.transform.bias,
                                           layer.gate.weight, layer.gate.bias)]
    out = layer(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, cnp.highway_layer(x, *params), atol=1e-5)
    # with T = sigmoid(about -2) ~ 0.12, the output stays close to the input
    assert np.abs(out - x).mean() < 0.5 * np.abs(x).mean()


@pytest.mark.keras_backend_agnostic
def test_keras_highway_gate_bias():
    import keras

    import companion.keras as ck

    net = ck.HighwayNetwork(3, 4, 2, 2, gate_bias=-1.5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(net.highway[0].gate.bias), -1.5)


@pytest.mark.parametrize("labels", ["single", "multi"])
def test_evaluate_binary_accuracy_agrees_for_one_or_several_labels(labels):
    """Accuracy from logits (logit > 0) per example, or per label for multi-label targets."""
    import companion.keras as ck
    import companion.torch as ct

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    outputs = 1 if labels == "single" else 3
    y = (rng.random((64, outputs)) > 0.5).astype("float32")
    if labels == "single":
        y = y[:, 0]
    torch_model = ct.MLP(5, hidden=(8,), out_features=outputs)
    keras_model = ck.MLP(5, hidden=(8,), out_features=outputs)
    parity.copy_torch_to_keras(torch_model, keras_model)
    logits = ct.predict(torch_model, x).reshape(y.shape)
    expected = float(np.mean((logits > 0) == y))
    assert 0.0 < expected < 1.0  # a random net gets some labels right and some wrong
    for module, model in ((ct, torch_model), (ck, keras_model)):
        scores = module.evaluate(model, (x, y), loss="binary_cross_entropy")
        assert scores["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize("init, variance", [("he", lambda i, o: 2 / i), ("lecun", lambda i, o: 1 / i),
                                            ("xavier", lambda i, o: 2 / (i + o))])
def test_mlp_init_draws_the_same_distribution_in_both_frameworks(init, variance):
    import keras

    import companion.keras as ck
    import companion.torch as ct

    torch_mlp = ct.MLP(400, (300,), 200, init=init)
    keras_mlp = ck.MLP(400, (300,), 200, init=init)
    first_t = torch_mlp.net[0].weight.detach().numpy().T           # (in, out), as Keras
    kernels = [w for w in keras_mlp.trainable_weights if len(w.shape) == 2]
    first_k = np.asarray(keras.ops.convert_to_numpy(kernels[0]))
    for w in (first_t, first_k):
        assert w.var() == pytest.approx(variance(400, 300), rel=0.03)
    assert not torch_mlp.net[0].bias.detach().numpy().any()
    # and the default is each framework's own: PyTorch's variance is 1 / (3 fan_in)
    default = ct.MLP(400, (300,), 200).net[0].weight.detach().numpy()
    assert default.var() == pytest.approx(1 / 1200, rel=0.03)
    with pytest.raises(ValueError, match="unknown init 'kaiming'"):
        ct.MLP(4, (3,), 2, init="kaiming")
    with pytest.raises(ValueError, match="unknown init 'kaiming'"):
        ck.MLP(4, (3,), 2, init="kaiming")

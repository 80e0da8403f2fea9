"""The artificial neuron (Part I): threshold units, gates, Hebb, STDP, stochastic neuron."""
import numpy as np
import pytest

from companion import data
from companion.numpy import neuron

TRUTH = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0], "nor": [1, 0, 0, 0]}
X2 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


# ---------------------------------------------------------------- threshold unit and gates

@pytest.mark.parametrize("name", sorted(TRUTH))
def test_two_input_gates_reproduce_their_truth_tables(name):
    assert neuron.gate(name, X2).tolist() == TRUTH[name]
    # the same table as the book's dataset of logic gates
    x, y = data.logic_gate(name)
    assert neuron.gate(name, x).tolist() == y.tolist()


def test_not_gate_and_truth_table_inputs():
    assert neuron.truth_table_inputs(1).tolist() == [[0.0], [1.0]]
    assert neuron.gate("not", neuron.truth_table_inputs(1)).tolist() == [1, 0]
    assert neuron.truth_table_inputs(2).tolist() == X2.tolist()
    assert neuron.truth_table_inputs(3).shape == (8, 3)


def test_threshold_unit_fires_at_the_threshold_and_accepts_one_example():
    assert neuron.threshold_unit([[1.0, 1.0]], [1.0, 1.0], -2.0).tolist() == [1]   # z = 0 fires
    assert neuron.threshold_unit([[1.0, 1.0]], [1.0, 1.0], -2.01).tolist() == [0]
    assert neuron.threshold_unit([0.5, 0.5], [1.0, 1.0], 0.0).tolist() == [1]


def test_gate_biases_sit_between_the_classes():
    """The hand-set weights leave a margin, so the strict rule z > 0 gives the same table."""
    for name, table in TRUTH.items():
        w, b = neuron.gate_weights(name)
        assert ((X2 @ w + b > 0).astype(int)).tolist() == table
        assert np.abs(X2 @ w + b).min() >= 0.5


def test_no_line_on_a_grid_separates_xor_but_many_separate_and():
    grid = np.linspace(-3, 3, 25)
    assert len(neuron.separating_lines(X2, [0, 1, 1, 0], grid)) == 0
    assert len(neuron.separating_lines(X2, [1, 0, 0, 1], grid)) == 0      # XNOR neither
    found = neuron.separating_lines(X2, TRUTH["and"], grid)
    assert len(found) > 0
    for w1, w2, b in found[:20]:
        assert neuron.threshold_unit(X2, [w1, w2], b).tolist() == TRUTH["and"]


@pytest.mark.parametrize("bad, match", [
    (lambda: neuron.threshold_unit(X2, [1.0, 1.0, 1.0]), "w must have shape"),
    (lambda: neuron.threshold_unit(np.zeros((2, 2, 2)), [1.0, 1.0]), "x must have shape"),
    (lambda: neuron.threshold_unit([[np.nan, 0.0]], [1.0, 1.0]), "finite"),
    (lambda: neuron.gate("xor", X2), "XOR has no weights"),
    (lambda: neuron.gate("and", [[0.5, 1.0]]), "must be 0 or 1"),
    (lambda: neuron.truth_table_inputs(0), "n_inputs"),
    (lambda: neuron.separating_lines(np.zeros((4, 3)), [0, 1, 1, 0], [0.0]), "two columns"),
    (lambda: neuron.separating_lines(X2, [0, 2, 1, 0], [0.0]), "y must hold"),
])
def test_bad_input_raises_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


# ---------------------------------------------------------------- the gates in both frameworks

def torch_gate(name):
    import torch

    w, b = neuron.gate_weights(name)
    layer = torch.nn.Linear(len(w), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w[None, :], dtype=torch.float32))
        layer.bias.fill_(b)

    def run(x):
        with torch.no_grad():
            z = layer(torch.as_tensor(x, dtype=torch.float32))
        return (z >= 0).long().squeeze(-1).numpy()
    return run


def keras_gate(name):
    import keras

    w, b = neuron.gate_weights(name)
    layer = keras.layers.Dense(1)
    layer.build((None, len(w)))
    layer.set_weights([np.array(w, dtype="float32")[:, None], np.array([b], dtype="float32")])

    def run(x):
        z = keras.ops.convert_to_numpy(layer(np.asarray(x, dtype="float32")))
        return (z >= 0).astype(np.int64).squeeze(-1)
    return run


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("make", [torch_gate, keras_gate], ids=["torch", "keras"])
@pytest.mark.parametrize("name", ["and", "or", "nand", "nor", "not"])
def test_framework_gates_match_numpy(make, name):
    x = neuron.truth_table_inputs(1 if name == "not" else 2)
    got = make(name)(x)
    assert got.tolist() == neuron.gate(name, x).tolist()


# ---------------------------------------------------------------- Hebb's rule

def test_hebb_update_is_an_outer_product():
    W = neuron.hebb_update(np.zeros((2, 3)), [1, -1, 1], [1, -1], lr=0.5)
    np.testing.assert_allclose(W, 0.5 * np.array([[1, -1, 1], [-1, 1, -1]]))


def test_hebb_associator_recalls_orthogonal_patterns_even_with_a_flipped_bit():
    from scipy.linalg import hadamard

    inputs = hadamard(16)[1:5].astype(float)                 # four orthogonal +/-1 patterns
    rng = np.random.default_rng(0)
    outputs = rng.choice([-1.0, 1.0], size=(4, 5))
    W = neuron.hebb_weights(inputs, outputs)
    np.testing.assert_allclose(W, outputs.T @ inputs)
    assert (neuron.hebb_recall(W, inputs) == outputs).all()
    noisy = inputs.copy()
    noisy[np.arange(4), [0, 3, 5, 7]] *= -1                   # one wrong bit per pattern:
    # the right pattern still scores 16 - 2 = 14, each other one at most 2 in size
    assert (neuron.hebb_recall(W, noisy) == outputs).all()


def test_hebb_associator_fails_beyond_its_capacity():
    """Many random patterns interfere (crosstalk), so recall is no longer perfect."""
    rng = np.random.default_rng(1)
    inputs = rng.choice([-1.0, 1.0], size=(40, 8))
    outputs = rng.choice([-1.0, 1.0], size=(40, 5))
    W = neuron.hebb_weights(inputs, outputs)
    assert (neuron.hebb_recall(W, inputs) == outputs).mean() < 0.9


def test_hebb_rejects_bad_input():
    with pytest.raises(ValueError, match="bipolar"):
        neuron.hebb_weights([[0, 1]], [[1]])
    with pytest.raises(ValueError, match="same number of patterns"):
        neuron.hebb_weights([[1, -1], [1, 1]], [[1]])
    with pytest.raises(ValueError, match="W must have shape"):
        neuron.hebb_update(np.zeros((3, 3)), [1, 1], [1, 1])
    with pytest.raises(ValueError, match="lr must be positive"):
        neuron.hebb_update(np.zeros((1, 1)), [1], [1], lr=0.0)


# ---------------------------------------------------------------- STDP

def test_stdp_signs_and_shape():
    dt = np.array([-60.0, -20.0, -5.0, 0.0, 5.0, 20.0, 60.0])
    dw = neuron.stdp_window(dt, a_plus=1.0, a_minus=0.5, tau_plus=20.0, tau_minus=10.0)
    assert (dw[dt > 0] > 0).all() and (dw[dt < 0] < 0).all() and dw[dt == 0] == 0
    # pre before post (dt = t_post - t_pre > 0) potentiates, decaying with |dt|
    assert dw[4] > dw[5] > dw[6] > 0 and dw[2] < dw[1] < dw[0] < 0
    np.testing.assert_allclose(dw[5], np.exp(-1.0))
    np.testing.assert_allclose(dw[1], -0.5 * np.exp(-2.0))


def test_stdp_rejects_bad_parameters():
    with pytest.raises(ValueError, match="tau_plus must be positive"):
        neuron.stdp_window(1.0, tau_plus=0.0)
    with pytest.raises(ValueError, match="a_minus must be non-negative"):
        neuron.stdp_window(1.0, a_minus=-1.0)
    with pytest.raises(ValueError, match="finite"):
        neuron.stdp_window([np.inf])


# ---------------------------------------------------------------- stochastic binary neuron

def test_firing_probability_is_a_tempered_sigmoid():
    z = np.array([-800.0, -2.0, 0.0, 1.0, 800.0])
    p = neuron.firing_probability(z, temperature=2.0)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z / 2.0)), atol=1e-12)
    assert np.isfinite(p).all() and p[2] == 0.5
    # low temperature: close to the threshold unit; high temperature: close to a coin flip
    np.testing.assert_allclose(neuron.firing_probability([-1.0, 1.0], 0.01), [0, 1], atol=1e-12)
    np.testing.assert_allclose(neuron.firing_probability([-1.0, 1.0], 1e4), [0.5, 0.5], atol=1e-3)


def test_sampled_frequencies_match_the_formula():
    z = np.linspace(-4, 4, 9)
    n = 20_000
    s = neuron.sample_stochastic_neuron(z, temperature=1.5, n_samples=n, seed=0)
    assert s.shape == (n, 9) and set(np.unique(s)) <= {0, 1}
    p = neuron.firing_probability(z, 1.5)
    tolerance = 4 * np.sqrt(p * (1 - p) / n) + 1e-9            # four standard errors
    assert (np.abs(s.mean(axis=0) - p) <= tolerance).all()


def test_stochastic_neuron_rejects_bad_input():
    with pytest.raises(ValueError, match="temperature must be positive"):
        neuron.firing_probability(0.0, temperature=0.0)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        neuron.sample_stochastic_neuron(0.0, n_samples=0)
    with pytest.raises(ValueError, match="finite"):
        neuron.firing_probability([np.nan])

import numpy as np
import pytest

from companion import data


def test_digits_split_shapes_and_ranges():
    d = data.digits(seed=0)
    assert d.x_train.shape == (1077, 64) and d.x_val.shape == (360, 64) and d.x_test.shape == (360, 64)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert set(np.unique(d.y_test)) == set(range(10))
    # stratified: every class is between 8% and 12% of every part
    for y in (d.y_train, d.y_val, d.y_test):
        freq = np.bincount(y) / len(y)
        assert freq.min() > 0.08 and freq.max() < 0.12


def test_digits_are_reproducible_and_seed_dependent():
    a, b, c = data.digits(seed=3), data.digits(seed=3), data.digits(seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_train, c.y_train)
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797


def test_digits_unflattened():
    d = data.digits(flatten=False)
    assert d.x_train.shape[1:] == (8, 8)


@pytest.mark.parametrize("gate,truth", [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]),
                                        ("xor", [0, 1, 1, 0]), ("NAND", [1, 1, 1, 0])])
def test_logic_gates(gate, truth):
    x, y = data.logic_gate(gate)
    assert x.shape == (4, 2)
    assert y.tolist() == truth


def test_unknown_gate():
    with pytest.raises(ValueError, match="unknown logic gate 'xnor'"):
        data.logic_gate("xnor")


def test_moons_spirals_xor_blobs():
    for x, y in (data.moons(200, seed=1), data.spirals(300, classes=3, seed=1),
                 data.xor_blobs(100, seed=1)):
        assert x.ndim == 2 and x.shape[1] == 2 and x.dtype == np.float32
        assert len(x) == len(y) and y.dtype == np.int64
    x, y = data.spirals(300, classes=3, seed=1)
    assert np.bincount(y).tolist() == [100, 100, 100]
    np.testing.assert_array_equal(data.spirals(50, seed=9)[0], data.spirals(50, seed=9)[0])


def test_xor_blobs_labels_follow_xor():
    x, y = data.xor_blobs(400, noise=0.05, seed=0)
    corner = (x > 0.5).astype(int)
    assert np.mean((corner[:, 0] ^ corner[:, 1]) == y) > 0.99


@pytest.mark.parametrize("kwargs,match", [
    (dict(val_size=0.5, test_size=0.5), "below 1"),
    (dict(val_size=0.0), "fraction"),
    (dict(test_size=1.2), "fraction"),
])
def test_split_rejects_bad_fractions(kwargs, match):
    x, y = np.zeros((20, 2)), np.arange(20) % 2
    with pytest.raises(ValueError, match=match):
        data.split(x, y, **kwargs)


def test_split_rejects_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        data.split(np.zeros((10, 2)), np.zeros(9))


@pytest.mark.parametrize("bad", [0, -5, 2.5])
def test_generators_reject_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive integer"):
        data.moons(bad)
    with pytest.raises(ValueError):
        data.spirals(bad)


def test_spirals_need_two_classes():
    with pytest.raises(ValueError, match="at least 2"):
        data.spirals(10, classes=1)


def test_linearly_separable_keeps_its_margin():
    x, y = data.linearly_separable(300, margin=0.15, seed=2)
    distance = (x @ np.array([1.0, 0.5]) - 0.1) / np.linalg.norm([1.0, 0.5])
    assert np.abs(distance).min() >= 0.15 - 1e-6
    assert np.array_equal(y, (distance > 0).astype(int))
    assert 0.2 < y.mean() < 0.8
    with pytest.raises(ValueError, match="margin"):
        data.linearly_separable(10, margin=0.7)


def test_noisy_sine():
    x, y = data.noisy_sine(100, noise=0.0, seed=1)
    assert x.shape == (100, 1) and y.shape == (100,) and np.all(np.diff(x[:, 0]) >= 0)
    np.testing.assert_allclose(y, data.sine_curve(x[:, 0]), atol=1e-6)
    _, y_noisy = data.noisy_sine(100, noise=0.2, seed=1)
    assert 0.1 < np.std(y_noisy - y) < 0.3
    with pytest.raises(ValueError, match="low < high"):
        data.noisy_sine(10, low=1.0, high=0.0)


def test_topic_windows_are_balanced_disjoint_and_decodable():
    from companion.data import text

    d = text.topic_windows(steps=12, per_topic=40, vocab_size=300, seed=1)
    assert d.x_train.shape == (4 * 24, 13) and d.x_test.shape == (4 * 8, 13)
    assert (d.x_train[:, 0] == text.CLS).all()
    assert np.bincount(d.y_train).tolist() == [24, 24, 24, 24]
    assert d.vocab[:4] == list(text.SPECIALS) and d.vocab_size <= 300
    assert d.x_train.max() < d.vocab_size
    rows = {tuple(r) for r in d.x_train} & {tuple(r) for r in d.x_test}
    assert not rows, "a window is in both train and test"
    assert d.decode(d.x_train[0]).startswith("[CLS] ")
    assert text.words("Use str.format(x)!") == ["use", "str", ".", "format", "(", "x", ")", "!"]
    with pytest.raises(ValueError, match="unknown help topics"):
        text.topic_windows(topics=("compound", "no-such-topic"))
    with pytest.raises(ValueError, match="lower per_topic or steps"):
        text.topic_windows(per_topic=100_000)

"""Part IV, recurrent networks: data, NumPy references, written-out cells, parity, training.

The registry-driven tests (test_models.py, test_parity.py) already check every
registered recurrent model's shapes, bad input and forward parity. This file
checks what they cannot: the written-out cells against the frameworks' own
layers, backpropagation through time against autograd, the weight-layout
facts the chapters state, and one training step taken identically.
"""
import numpy as np
import pytest

from companion import data, parity
from companion import numpy as cnp

keras_agnostic = pytest.mark.keras_backend_agnostic


def _x(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def _np(t):
    return t.detach().numpy()


# ================================================================ data

def test_adding_problem_targets_are_the_marked_sums():
    x, y = data.adding_problem(200, steps=30, seed=3)
    assert x.shape == (200, 30, 2) and y.shape == (200,)
    assert x.dtype == np.float32 and y.dtype == np.float32
    markers = x[..., 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :15].sum(axis=1) == 1) and np.all(markers[:, 15:].sum(axis=1) == 1)
    np.testing.assert_allclose((x[..., 0] * markers).sum(axis=1), y, rtol=1e-6)
    np.testing.assert_array_equal(data.adding_problem(5, 10, seed=1)[0],
                                  data.adding_problem(5, 10, seed=1)[0])
    assert not np.array_equal(data.adding_problem(5, 10, seed=1)[1], data.adding_problem(5, 10, seed=2)[1])
    # predicting the mean gives an MSE of 1/6, the baseline the chapters quote
    _, y = data.adding_problem(50_000, 20, seed=0)
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 0.005


def test_reversal_and_noisy_sine():
    x, y = data.reversal(50, length=5, vocab=7, seed=0)
    assert x.shape == (50, 5, 7) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x.argmax(-1)[:, ::-1], y)
    x, y = data.sine_windows(30, steps=12, noise=0.0, seed=0)
    assert x.shape == (30, 12, 1) and y.shape == (30,)
    assert np.abs(x).max() <= 1.0 and np.abs(y).max() <= 1.0


@pytest.mark.parametrize("call,match", [
    (lambda: data.adding_problem(10, steps=1), "at least 2"),
    (lambda: data.adding_problem(0), "positive integer"),
    (lambda: data.reversal(10, vocab=1), "at least 2"),
    (lambda: data.reversal(10, length=0), "positive integer"),
    (lambda: data.sine_windows(10, noise=-1.0), "non-negative"),
    (lambda: data.windows(np.arange(5.0), lookback=5), "too short"),
    (lambda: data.windows(np.zeros((4, 4)), lookback=2), "1-D"),
    (lambda: data.forecasting_split(data.sunspots(), 10, val_size=0.6, test_size=0.5), "below 1"),
    (lambda: data.char_corpus(max_chars=0), "positive integer"),
])
def test_sequence_loaders_reject_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_real_series_ship_with_statsmodels():
    s = data.sunspots()
    assert len(s) == 309 and s.time[0] == 1700 and s.time[-1] == 2008
    assert s.values.dtype == np.float32 and s.values.min() >= 0
    c = data.co2()
    assert len(c) == 444 and int(c.time[0]) == 1965 and int(c.time[-1]) == 2001
    assert 315 < c.values.min() < c.values.max() < 375   # ppm, rising over the decades
    assert c.values[-12:].mean() > c.values[:12].mean() + 40


def test_windows_and_the_chronological_split():
    x, y = data.windows(np.arange(10.0), lookback=3, horizon=2)
    assert x.shape == (6, 3, 1)
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2])
    assert y[0] == 4 and y[-1] == 9
    s = data.sunspots()
    split = data.forecasting_split(s, lookback=20, val_size=0.15, test_size=0.15)
    n = len(s) - 20
    assert len(split.y_train) + len(split.y_val) + len(split.y_test) == n
    assert split.t_val[0] > s.time[19 + len(split.y_train)] - 1
    assert np.all(np.diff(split.t_test) == 1) and split.t_val[-1] < split.t_test[0]
    # standardized with training statistics; unscale undoes it exactly
    train_part = s.values[:len(split.y_train) + 20]
    assert abs(split.mean - train_part.mean()) < 1e-3
    np.testing.assert_allclose(split.unscale(split.y_test), s.values[-len(split.y_test):], rtol=1e-5)
    # the test inputs end right before their targets: the last input is the previous year
    np.testing.assert_allclose(split.unscale(split.x_test[1:, -1, 0]),
                               split.unscale(split.y_test[:-1]), rtol=1e-5)


def test_char_corpus_round_trip_and_next_character_targets():
    corpus = data.char_corpus()
    assert len(corpus.text) > 300_000 and 80 <= corpus.vocab_size <= 100
    assert all(c == "\n" or " " <= c <= "~" for c in corpus.chars)
    assert corpus.decode(corpus.encode("def f(x):\n    return x")) == "def f(x):\n    return x"
    x, y = corpus.sequences(40, start=0.0, stop=0.01)
    assert x.shape[1:] == (40, corpus.vocab_size) and x.dtype == np.float32 and y.dtype == np.int64
    ids = x.argmax(-1)
    np.testing.assert_array_equal(ids[:, 1:], y[:, :-1])      # the target is the next character
    np.testing.assert_array_equal(y[0, -1], ids[1, 0])
    with pytest.raises(ValueError, match="outside the alphabet"):
        corpus.encode("\u00e9")
    with pytest.raises(ValueError, match="start < stop"):
        corpus.sequences(40, start=0.5, stop=0.5)
    assert len(data.char_corpus(max_chars=1000).text) == 1000


# ================================================================ NumPy references vs PyTorch

def test_numpy_rnn_forward_matches_torch():
    import torch

    torch.manual_seed(0)
    layer = torch.nn.RNN(3, 4, batch_first=True)
    x = _x((2, 6, 3))
    params = parity.torch_recurrent_params(layer)
    np.testing.assert_allclose(cnp.rnn_forward(x, *params), _np(layer(torch.from_numpy(x))[0]),
                               atol=1e-6)


@pytest.mark.parametrize("truncate", [None, 3])
def test_bptt_by_hand_matches_autograd(truncate):
    """The NumPy BPTT gradients equal autograd's, also with truncation every 3 steps."""
    import torch

    torch.manual_seed(1)
    cell = torch.nn.RNNCell(2, 5)
    x, target = _x((3, 9, 2), seed=1), _x((3, 9), seed=2)
    readout = _x((5,), seed=3)
    h, hs = torch.zeros(3, 5), []
    for t in range(9):
        if truncate and t % truncate == 0:
            h = h.detach()                                  # what truncated BPTT does
        h = cell(torch.from_numpy(x[:, t]), h)
        hs.append(h)
    hs = torch.stack(hs, dim=1)
    loss = ((hs @ torch.from_numpy(readout) - torch.from_numpy(target)) ** 2).mean()
    loss.backward()

    params = parity.torch_recurrent_params(cell)
    h_np = cnp.rnn_forward(x, *params)
    np.testing.assert_allclose(h_np, _np(hs), atol=1e-6)
    dy = 2 * (h_np @ readout - target) / target.size        # dL/dy for every step
    grads = cnp.rnn_backward(x, h_np, params[1], dy[..., None] * readout, truncate=truncate)
    np.testing.assert_allclose(grads["W_ih"], _np(cell.weight_ih.grad), atol=1e-6)
    np.testing.assert_allclose(grads["W_hh"], _np(cell.weight_hh.grad), atol=1e-6)
    np.testing.assert_allclose(grads["b"], _np(cell.bias_ih.grad), atol=1e-6)
    np.testing.assert_allclose(grads["b"], _np(cell.bias_hh.grad), atol=1e-6)


def test_truncation_really_changes_the_gradient():
    rng = np.random.default_rng(0)
    W_ih, W_hh = rng.normal(size=(4, 2)), rng.normal(size=(4, 4)) * 0.5
    x = rng.normal(size=(2, 8, 2))
    h = cnp.rnn_forward(x, W_ih, W_hh, np.zeros(4), np.zeros(4))
    dh = np.zeros_like(h)
    dh[:, -1] = 1.0                                   # only the last step has a loss
    full, cut = cnp.rnn_backward(x, h, W_hh, dh), cnp.rnn_backward(x, h, W_hh, dh, truncate=4)
    assert np.abs(full["W_hh"] - cut["W_hh"]).max() > 1e-3
    assert np.abs(cut["h0"]).max() == 0.0 and np.abs(full["h0"]).max() > 1e-4


def test_bptt_matches_finite_differences():
    rng = np.random.default_rng(2)
    W_ih, W_hh = rng.normal(size=(3, 2)), rng.normal(size=(3, 3)) * 0.6
    b_ih, b_hh = rng.normal(size=3), rng.normal(size=3)
    x, target = rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, 3))

    def loss(W):
        return 0.5 * np.sum((cnp.rnn_forward(x, W_ih, W, b_ih, b_hh) - target) ** 2)

    h = cnp.rnn_forward(x, W_ih, W_hh, b_ih, b_hh)
    grad = cnp.rnn_backward(x, h, W_hh, h - target)["W_hh"]
    numeric = np.zeros_like(W_hh)
    eps = 1e-6
    for idx in np.ndindex(*W_hh.shape):
        step = np.zeros_like(W_hh)
        step[idx] = eps
        numeric[idx] = (loss(W_hh + step) - loss(W_hh - step)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_numpy_lstm_and_gru_match_torch():
    import torch

    torch.manual_seed(2)
    x = _x((2, 7, 3))
    lstm, gru = torch.nn.LSTM(3, 4, batch_first=True), torch.nn.GRU(3, 4, batch_first=True)
    h, c = cnp.lstm_forward(x, *parity.torch_recurrent_params(lstm))
    out, (h_n, c_n) = lstm(torch.from_numpy(x))
    np.testing.assert_allclose(h, _np(out), atol=1e-6)
    np.testing.assert_allclose(c[:, -1], _np(c_n[0]), atol=1e-6)
    np.testing.assert_allclose(cnp.gru_forward(x, *parity.torch_recurrent_params(gru)),
                               _np(gru(torch.from_numpy(x))[0]), atol=1e-6)


def test_recurrent_parameter_counts_in_both_frameworks():
    """PyTorch keeps two bias vectors per block, Keras one (two for a reset-after GRU)."""
    import torch

    for kind, layer in (("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        t = layer(3, 5, batch_first=True)
        assert sum(p.numel() for p in t.parameters()) == cnp.recurrent_parameter_count(kind, 3, 5)
    assert cnp.recurrent_parameter_count("lstm", 3, 5, "torch") == 4 * 5 * 8 + 2 * 20
    assert cnp.recurrent_parameter_count("lstm", 3, 5, "keras") == 4 * 5 * 8 + 20
    with pytest.raises(ValueError, match="unknown recurrent layer"):
        cnp.recurrent_parameter_count("transformer", 3, 5)


@keras_agnostic
@pytest.mark.parametrize("kind,layer_name,kwargs", [
    ("rnn", "SimpleRNN", {}), ("lstm", "LSTM", {}), ("gru", "GRU", {}),
    ("gru", "GRU", {"reset_after": False}),
])
def test_keras_parameter_counts(kind, layer_name, kwargs):
    import keras

    layer = getattr(keras.layers, layer_name)(5, **kwargs)
    layer.build((None, None, 3))
    assert layer.count_params() == cnp.recurrent_parameter_count(kind, 3, 5, "keras", **kwargs)


# ================================================================ written-out cells vs library layers

@pytest.mark.parametrize("ours,theirs,state", [
    ("ElmanCell", "RNNCell", "h"), ("LSTMCell", "LSTMCell", "hc"), ("GRUCell", "GRUCell", "h"),
])
def test_torch_cells_match_pytorch_cells(ours, theirs, state):
    """Our cells store PyTorch's parameters under PyTorch's names, and compute the same step."""
    import torch

    import companion.torch as ct

    torch.manual_seed(3)
    mine, ref = getattr(ct, ours)(3, 4), getattr(torch.nn, theirs)(3, 4)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    mine.load_state_dict(ref.state_dict())
    x = torch.from_numpy(_x((5, 3)))
    s = (torch.from_numpy(_x((5, 4), 1)),) if state == "h" else (
        (torch.from_numpy(_x((5, 4), 1)), torch.from_numpy(_x((5, 4), 2))),)
    out_mine, out_ref = mine(x, *s), ref(x, *s)
    for a, b in zip(out_mine if state == "hc" else [out_mine], out_ref if state == "hc" else [out_ref]):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_unrolled_cells_match_pytorch_layers(kind):
    import torch

    import companion.torch as ct

    torch.manual_seed(4)
    cell = {"rnn": ct.ElmanCell, "lstm": ct.LSTMCell, "gru": ct.GRUCell}[kind](3, 4)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        3, 4, batch_first=True)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            p.copy_(getattr(layer, name + "_l0"))
    x = torch.from_numpy(_x((2, 8, 3)))
    out, _ = ct.Unroll(cell)(x)
    torch.testing.assert_close(out, layer(x)[0], atol=1e-6, rtol=0)


def test_peephole_cell_matches_numpy_and_is_an_lstm_without_peepholes():
    import torch

    import companion.torch as ct

    torch.manual_seed(5)
    cell = ct.PeepholeLSTMCell(3, 4)
    x = _x((2, 6, 3))
    out, (h, c) = ct.Unroll(cell)(torch.from_numpy(x))
    peepholes = [_np(cell.peephole_i), _np(cell.peephole_f), _np(cell.peephole_o)]
    h_np, c_np = cnp.lstm_forward(x, *parity.torch_recurrent_params(cell), peephole=peepholes)
    np.testing.assert_allclose(_np(out), h_np, atol=1e-6)
    np.testing.assert_allclose(_np(c), c_np[:, -1], atol=1e-6)
    plain = cnp.lstm_forward(x, *parity.torch_recurrent_params(cell))[0]
    assert np.abs(plain - h_np).max() > 1e-3         # the peepholes matter ...
    with torch.no_grad():
        for g in "ifo":
            getattr(cell, f"peephole_{g}").zero_()
    torch.testing.assert_close(ct.Unroll(cell)(torch.from_numpy(x))[0],  # ... and only they
                               torch.from_numpy(plain).float(), atol=1e-6, rtol=0)


def test_torch_forget_bias_starts_at_one_like_keras():
    import companion.torch as ct

    model = ct.LSTM(3, 4)
    b = _np(model.rnn.bias_ih_l0) + _np(model.rnn.bias_hh_l0)
    np.testing.assert_array_equal(b[4:8], 1.0)
    cell = ct.LSTMCell(3, 4, unit_forget_bias=False)
    assert np.abs(_np(cell.bias_ih)[4:8] + _np(cell.bias_hh)[4:8] - 1.0).min() > 0


@keras_agnostic
@pytest.mark.parametrize("kind,kwargs", [
    ("rnn", {}), ("lstm", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}),
])
def test_keras_cells_match_keras_layers(kind, kwargs):
    """Our Keras cells, run by layers.RNN, equal Keras's own layers with the same weights."""
    import keras

    import companion.keras as ck

    keras.utils.set_random_seed(6)
    ref = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
           "gru": keras.layers.GRU}[kind](4, return_sequences=True, **kwargs)
    mine = keras.layers.RNN({"rnn": ck.ElmanCell, "lstm": ck.LSTMCell,
                             "gru": ck.GRUCell}[kind](4, **kwargs), return_sequences=True)
    ref.build((None, None, 3))
    mine.build((None, None, 3))
    assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in ref.weights]
    # random biases too, so that the bias layout is tested, not just zeros
    mine.set_weights([w + _x(w.shape, seed=i, scale=0.3) for i, w in enumerate(ref.get_weights())])
    ref.set_weights(mine.get_weights())
    x = _x((2, 7, 3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mine(x)),
                               keras.ops.convert_to_numpy(ref(x)), atol=1e-6)


@keras_agnostic
def test_keras_lstm_default_forget_bias_is_one():
    import keras

    import companion.keras as ck

    for layer in (keras.layers.LSTM(3), keras.layers.RNN(ck.LSTMCell(3))):
        layer.build((None, None, 2))
        bias = keras.ops.convert_to_numpy(layer.cell.bias)
        np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


# ================================================================ PyTorch -> Keras weight facts

@keras_agnostic
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_pytorch_and_keras_layers_agree_after_the_copy(kind):
    """The gate orders and bias layouts that parity.keras_recurrent_weights encodes."""
    import keras
    import torch

    torch.manual_seed(7)
    t = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        3, 4, batch_first=True)
    k = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
         "gru": keras.layers.GRU}[kind](4, return_sequences=True)
    k.build((None, None, 3))
    k.set_weights(parity.keras_recurrent_weights(kind, *parity.torch_recurrent_params(t)))
    x = _x((2, 9, 3), scale=2.0)
    expected = _np(t(torch.from_numpy(x))[0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(x)), expected, atol=1e-5)
    if kind == "gru":
        # Without reordering PyTorch's (r, z, n) into Keras's (z, r, h) they disagree.
        W_ih, W_hh, b_ih, b_hh = parity.torch_recurrent_params(t)
        k.set_weights([W_ih.T, W_hh.T, np.stack([b_ih, b_hh])])
        assert np.abs(keras.ops.convert_to_numpy(k(x)) - expected).max() > 1e-2


@keras_agnostic
def test_reset_before_gru_matches_keras_reset_after_false():
    """Cho et al.'s reset-before GRU: our PyTorch cell and Keras's reset_after=False."""
    import keras
    import torch

    import companion.torch as ct

    torch.manual_seed(8)
    cell = ct.GRUCell(3, 4, reset_after=False)
    k = keras.layers.GRU(4, return_sequences=True, reset_after=False)
    k.build((None, None, 3))
    parity.RULES[("GRUCell", "GRUCell")](cell, k.cell)
    x = _x((2, 6, 3))
    out_t = _np(ct.Unroll(cell)(torch.from_numpy(x))[0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(x)), out_t, atol=1e-6)
    np.testing.assert_allclose(
        cnp.gru_forward(x, *parity.torch_recurrent_params(cell), reset_after=False), out_t, atol=1e-6)
    # the two placements of the reset gate are different functions
    assert np.abs(cnp.gru_forward(x, *parity.torch_recurrent_params(cell)) - out_t).max() > 1e-3


@keras_agnostic
def test_copy_refuses_recurrent_pairs_that_differ():
    import keras
    import torch

    k = keras.layers.GRU(4, reset_after=False)
    k.build((None, None, 3))
    with pytest.raises(ValueError, match="reset_after"):
        parity.RULES[("GRU", "GRUCell")](torch.nn.GRU(3, 4, batch_first=True), k.cell)
    k = keras.layers.SimpleRNN(4)
    k.build((None, None, 3))
    with pytest.raises(ValueError, match="bidirectional"):
        parity.RULES[("RNN", "SimpleRNNCell")](torch.nn.RNN(3, 4, bidirectional=True), k.cell)
    with pytest.raises(ValueError, match="tanh"):
        parity.RULES[("RNN", "SimpleRNNCell")](torch.nn.RNN(3, 4, nonlinearity="relu"), k.cell)
    with pytest.raises(ValueError, match="num_layers"):
        parity.torch_recurrent_params(torch.nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="no reverse"):
        parity.torch_recurrent_params(torch.nn.LSTM(3, 4), reverse=True)


@keras_agnostic
def test_bidirectional_layers_agree_direction_by_direction():
    import keras
    import torch

    torch.manual_seed(9)
    t = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True)
    k = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))
    k.build((None, None, 3))
    k.forward_layer.set_weights(parity.keras_recurrent_weights("gru", *parity.torch_recurrent_params(t)))
    k.backward_layer.set_weights(
        parity.keras_recurrent_weights("gru", *parity.torch_recurrent_params(t, reverse=True)))
    x = _x((2, 5, 3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(x)), _np(t(torch.from_numpy(x))[0]),
                               atol=1e-6)


# ================================================================ gradients in both frameworks

@keras_agnostic
@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_keras_gradients_equal_torch_autograd(name):
    """companion.keras.gradients (one SGD step, backend-independent) equals autograd."""
    import torch

    import companion.keras as ck
    import companion.torch as ct

    torch.manual_seed(10)
    t = getattr(ct, name)(2, 4, 1, return_sequences=True)
    k = getattr(ck, name)(2, 4, 1, return_sequences=True)
    parity.copy_torch_to_keras(t, k)
    x, y = _x((3, 6, 2)), _x((3, 6), seed=1)
    g_t, g_k = ct.gradients(t, (x, y)), ck.gradients(k, (x, y))
    assert len(g_t) == 6 and len(g_k) == 5        # PyTorch has two recurrent biases, Keras one
    g_t, g_k = list(g_t.values()), list(g_k.values())
    kind = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}[name]
    if kind == "gru":   # Keras's two biases are PyTorch's two, reordered
        expected = parity.keras_recurrent_weights(kind, *g_t[:4])
    else:               # d(b_ih + b_hh) = db_ih = db_hh
        expected = parity.keras_recurrent_weights(kind, *g_t[:3], np.zeros_like(g_t[3]))
        np.testing.assert_allclose(g_t[2], g_t[3], atol=1e-7)
    for a, b in zip(expected + [g_t[4].T, g_t[5]], g_k):
        np.testing.assert_allclose(b, a, atol=2e-6)
    assert max(np.abs(g).max() for g in g_k) > 1e-3
    # the helper put the weights back
    assert parity.max_abs_difference(t, k, x) < 1e-5


@keras_agnostic
def test_input_gradients_agree_and_vanish_in_a_simple_rnn():
    import torch

    import companion.keras as ck
    import companion.torch as ct

    torch.manual_seed(11)
    t, k = ct.SimpleRNN(2, 8, 1), ck.SimpleRNN(2, 8, 1)
    parity.copy_torch_to_keras(t, k)
    x = _x((4, 30, 2))
    g_t, g_k = ct.input_gradients(t, x), ck.input_gradients(k, x)
    assert g_t.shape == x.shape
    norms_t, norms_k = (np.linalg.norm(g, axis=-1).mean(axis=0) for g in (g_t, g_k))
    # the probe starts at zero, so even tiny gradients agree to float32 precision
    np.testing.assert_allclose(norms_k, norms_t, rtol=1e-3)
    assert norms_t[-1] > 1e3 * norms_t[0]      # 30 steps back the gradient has all but gone
    assert parity.max_abs_difference(t, k, x) < 1e-5 and k.trainable


# ================================================================ training

@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "PeepholeLSTM", "GRU"])
def test_torch_training_lowers_the_loss(name):
    import companion
    import companion.torch as ct

    x, y = data.adding_problem(256, steps=8, seed=0)
    companion.set_seed(0)
    model = getattr(ct, name)(2, 8, 1)
    h = ct.train(model, (x, y), epochs=4, lr=0.02, batch_size=64, loss="mse", clip_norm=1.0,
                 progress=False)
    assert h["loss"][-1] < 0.7 * h["loss"][0]


@keras_agnostic
@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "PeepholeLSTM", "GRU"])
def test_keras_training_lowers_the_loss(name):
    import companion
    import companion.keras as ck

    x, y = data.adding_problem(256, steps=8, seed=0)
    companion.set_seed(0)
    model = getattr(ck, name)(2, 8, 1)
    h = ck.train(model, (x, y), epochs=4, lr=0.02, batch_size=64, loss="mse", clip_norm=1.0,
                 progress=False)
    assert h["loss"][-1] < 0.7 * h["loss"][0]


@keras_agnostic
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_seq2seq_learns_with_sequence_labels(framework):
    import importlib

    import companion

    fw = importlib.import_module(f"companion.{framework}")
    x, y = data.reversal(512, length=4, vocab=5, seed=0)
    companion.set_seed(0)
    model = fw.Seq2Seq(5, 32, 5, output_steps=4)
    h = fw.train(model, (x, y), epochs=8, lr=0.01, batch_size=64, progress=False)
    assert set(h) == {"loss", "accuracy"}
    assert h["loss"][-1] < 0.8 * h["loss"][0] and h["accuracy"][-1] > 0.4
    scores = fw.evaluate(model, (x, y))
    assert 0.4 < scores["accuracy"] <= 1 and scores["loss"] < h["loss"][0]
    assert fw.predict(model, x[:3]).shape == (3, 4, 5)


@keras_agnostic
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_clip_norm_bounds_the_step(framework):
    """With SGD, learning rate 1 and clip_norm c, no step moves the weights by more than c."""
    import importlib

    import companion

    fw = importlib.import_module(f"companion.{framework}")
    x, y = data.adding_problem(32, steps=6, seed=0)
    y = y * 100.0                                         # a huge loss: the gradient is clipped
    companion.set_seed(0)
    model = fw.SimpleRNN(2, 4, 1)
    before = _weights(model, framework)
    fw.train(model, (x, y), epochs=1, lr=1.0, batch_size=32, optimizer="sgd", loss="mse",
             clip_norm=0.5, progress=False)
    step = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(_weights(model, framework), before)))
    assert 0.49 < step < 0.501


def _weights(model, framework):
    if framework == "torch":
        return [_np(p).copy() for p in model.parameters()]
    import keras

    return [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]


@keras_agnostic
@pytest.mark.parametrize("name", ["LSTM", "GRU", "PeepholeLSTM"])
def test_one_sgd_step_gives_the_same_recurrent_weights(name):
    """Same weights, same batch, one SGD step: the same new weights, mapped by the parity rules.

    One exception, and it is a real difference between the frameworks: an
    LSTM's two PyTorch biases each receive the full gradient, so their sum
    (the only thing the cell uses) moves twice as far as Keras's single bias.
    The GRU keeps two biases in Keras too, and matches exactly.
    """
    import keras
    import torch

    import companion.keras as ck
    import companion.torch as ct

    x, y = data.adding_problem(16, steps=7, seed=1)
    torch.manual_seed(12)
    t, k = getattr(ct, name)(2, 6, 1), getattr(ck, name)(2, 6, 1)
    parity.copy_torch_to_keras(t, k)
    k_before = k.get_weights()
    t_before = [p.detach().clone() for p in t.parameters()]

    opt = torch.optim.SGD(t.parameters(), lr=0.5)
    loss = torch.nn.functional.mse_loss(t(torch.from_numpy(x)).squeeze(-1), torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse")
    keras_loss = k.train_on_batch(x, y)
    assert abs(float(keras_loss) - loss.item()) < 1e-5   # the loss before the step

    stepped = getattr(ck, name)(2, 6, 1)                  # a twin given the new PyTorch weights
    parity.copy_torch_to_keras(t, stepped)
    names = [w.name for w in k.weights]
    for w_name, new_t, new_k, old_k in zip(names, stepped.get_weights(), k.get_weights(), k_before):
        if w_name == "bias" and name != "GRU" and new_t.ndim == 1 and len(new_t) == 24:
            np.testing.assert_allclose(new_t - old_k, 2 * (new_k - old_k), atol=1e-6)
            assert np.abs(new_k - old_k).max() > 1e-4
        else:
            np.testing.assert_allclose(new_t, new_k, atol=1e-6, err_msg=w_name)
    assert max((p.detach() - b).abs().max().item() for p, b in zip(t.parameters(), t_before)) > 1e-3


# ================================================================ bad input

def test_torch_recurrent_models_reject_bad_input():
    import torch

    import companion.torch as ct

    model = ct.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps, 3\)"):
        model(torch.zeros(2, 3))                       # one sequence without the batch axis
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps, 3\)"):
        model(torch.zeros(2, 0, 3))                    # no steps at all
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(2, 5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"LSTMCell expected input of shape \(batch, 3\)"):
        ct.LSTMCell(3, 4)(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        ct.GRU(3, 0)
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        ct.Seq2Seq(3, 4, 3, 2, cell="transformer")
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps, 3\)"):
        ct.Unroll(ct.ElmanCell(3, 4))(torch.zeros(2, 5, 4))


@keras_agnostic
def test_keras_recurrent_models_reject_bad_input():
    import companion.keras as ck

    model = ck.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps, 3\)"):
        model(np.zeros((2, 3), dtype="float32"))
    with pytest.raises(ValueError, match="floating-point"):
        model(np.zeros((2, 5, 3), dtype="int32"))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        ck.GRU(3, 0)
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        ck.Seq2Seq(3, 4, 3, 2, cell="transformer")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        ck.GRUCell(0)


def test_numpy_references_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps, 3\)"):
        cnp.rnn_forward(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 4)), 0, 0)
    with pytest.raises(ValueError, match=r"W_ih must have shape \(4 \* hidden"):
        cnp.lstm_forward(np.zeros((1, 2, 3)), np.zeros((6, 3)), np.zeros((6, 6)), 0, 0)

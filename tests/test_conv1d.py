"""Conv1DNet: the 1-D fully convolutional network for signals, in both frameworks."""
import numpy as np
import pytest
import torch

from companion import parity
from companion.keras import Conv1DNet as KConv1DNet
from companion.torch import Conv1DNet


def _correlate_same(x, w):
    """NumPy cross-correlation of (in, length) with (out, in, k), "same" padding:
    (k - 1) // 2 zeros before the signal and the rest after, as both frameworks pad."""
    out_c, in_c, k = w.shape
    left = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (left, k - 1 - left)))
    length = x.shape[1]
    return np.array([[np.sum(padded[:, t:t + k] * w[o]) for t in range(length)]
                     for o in range(out_c)])


@pytest.mark.parametrize("k", [3, 8])
def test_first_block_is_a_same_padded_cross_correlation(k):
    torch.manual_seed(0)
    model = Conv1DNet(in_channels=2, num_classes=3, channels=(4,), kernel_sizes=(k,)).eval()
    x = np.random.default_rng(0).normal(size=(1, 2, 9)).astype(np.float32)
    conv = model.features[0]
    got = conv(torch.from_numpy(x)).detach().numpy()[0]
    want = _correlate_same(x[0], conv.weight.detach().numpy())
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_any_length_gives_one_row_of_logits_per_signal():
    model = Conv1DNet(in_channels=1, num_classes=4, channels=(8, 8), kernel_sizes=(5, 3)).eval()
    for length in (1, 7, 100):
        assert model(torch.zeros(3, 1, length)).shape == (3, 4)
    k = KConv1DNet(in_channels=1, num_classes=4, channels=(8, 8), kernel_sizes=(5, 3))
    assert tuple(k(np.zeros((3, 100, 1), np.float32)).shape) == (3, 4)


def test_parity_on_a_long_signal_with_the_paper_widths():
    torch.manual_seed(1)
    t = Conv1DNet(in_channels=3, num_classes=5, channels=(16, 32, 16)).eval()
    k = KConv1DNet(in_channels=3, num_classes=5, channels=(16, 32, 16))
    parity.copy_torch_to_keras(t, k)
    x = np.random.default_rng(1).normal(size=(4, 3, 64)).astype(np.float32)
    assert parity.max_abs_difference(t, k, x, layout="NCL") < 1e-5
    # reading the Keras input as channels-first would be a different function
    out_t, out_k = parity.outputs(t, k, x, layout="NCL")
    assert np.abs(out_t - out_k).max() < 1e-5


def test_the_wrong_layout_is_refused_with_a_hint():
    model = Conv1DNet(in_channels=3, num_classes=2, channels=(4,), kernel_sizes=(3,))
    with pytest.raises(ValueError, match=r"\(batch, 3, length\).*transpose with x.transpose\(1, 2\)"):
        model(torch.zeros(2, 50, 3))
    k = KConv1DNet(in_channels=3, num_classes=2, channels=(4,), kernel_sizes=(3,))
    with pytest.raises(ValueError, match=r"\(batch, length, 3\).*x.transpose\(0, 2, 1\)"):
        k(np.zeros((2, 3, 50), np.float32))


@pytest.mark.parametrize("cls", [Conv1DNet, KConv1DNet])
@pytest.mark.parametrize("kwargs, match", [
    ({"channels": (4, 4), "kernel_sizes": (3,)}, "same, non-zero length"),
    ({"channels": (), "kernel_sizes": ()}, "same, non-zero length"),
    ({"kernel_sizes": (8, 0, 3)}, "kernel_sizes must be a positive integer"),
    ({"dropout": 1.0}, "dropout"),
    ({"num_classes": 0}, "num_classes"),
])
def test_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_both_frameworks_learn_to_tell_a_rising_from_a_falling_chirp():
    from companion import keras as ck
    from companion import torch as ct

    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    y = rng.integers(0, 2, size=256)
    freq = np.where(y[:, None] == 1, 2 + 6 * t, 8 - 6 * t)
    x = (np.sin(2 * np.pi * freq * t + rng.uniform(0, 6, (256, 1)))
         + 0.3 * rng.normal(size=(256, 40))).astype(np.float32)[:, None, :]
    torch.manual_seed(0)
    tm = Conv1DNet(in_channels=1, num_classes=2, channels=(8, 8), kernel_sizes=(7, 5))
    ht = ct.train(tm, (x, y), epochs=15, lr=1e-2, batch_size=32)
    km = KConv1DNet(in_channels=1, num_classes=2, channels=(8, 8), kernel_sizes=(7, 5))
    hk = ck.train(km, (x.transpose(0, 2, 1), y), epochs=15, lr=1e-2, batch_size=32)
    for history in (ht, hk):
        assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]


def test_burst_signals_hide_a_slow_or_fast_burst_anywhere():
    from companion.data import burst_signals

    x, y = burst_signals(n=200, length=64, burst=16, noise=0.0, seed=3)
    assert x.shape == (200, 1, 64) and x.dtype == np.float32 and y.sum() == 100
    spectrum = np.abs(np.fft.rfft(x[:, 0], n=256, axis=1))
    peak = spectrum.argmax(axis=1) * 64 / 256 / 64 * 16    # cycles per burst length
    assert np.all(peak[y == 0] < 3.5) and np.all(peak[y == 1] > 3.5)
    starts = np.array([np.flatnonzero(np.abs(row[0]) > 1e-6)[0] for row in x])
    assert starts.min() <= 5 and starts.max() >= 40          # the position varies
    with pytest.raises(ValueError, match="must fit"):
        burst_signals(length=10, burst=20)

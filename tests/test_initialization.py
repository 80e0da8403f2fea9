"""NumPy initialization schemes against torch.nn.init and keras.initializers statistics.

Chapter: Training deep networks (book/foundations/deep_training.md).
"""
import math

import keras
import numpy as np
import pytest
import torch
from torch import nn

from companion.numpy import initialization as I

FAN_IN, FAN_OUT = 400, 300


def test_formulas():
    assert I.target_std("xavier_uniform", 100, 300) == pytest.approx(math.sqrt(2 / 400))
    assert I.target_std("he_normal", 100, 300) == pytest.approx(math.sqrt(2 / 100))
    assert I.uniform_limit("xavier_uniform", 100, 300) == pytest.approx(math.sqrt(6 / 400))
    assert I.uniform_limit("he_uniform", 100, 300) == pytest.approx(math.sqrt(6 / 100))
    assert I.uniform_limit("torch_default", 100, 300) == pytest.approx(1 / 10)


@pytest.mark.parametrize("scheme", I.SCHEMES)
def test_numpy_samples_have_the_target_statistics(scheme):
    w = I.initialize(scheme, FAN_IN, FAN_OUT, rng=0)
    assert w.shape == (FAN_IN, FAN_OUT)
    assert abs(w.mean()) < 0.02 * I.target_std(scheme, FAN_IN, FAN_OUT)
    assert w.std() == pytest.approx(I.target_std(scheme, FAN_IN, FAN_OUT), rel=0.01)
    if "uniform" in scheme or scheme == "torch_default":
        assert np.abs(w).max() <= I.uniform_limit(scheme, FAN_IN, FAN_OUT)
    np.testing.assert_array_equal(w, I.initialize(scheme, FAN_IN, FAN_OUT, rng=0))


TORCH = {"xavier_uniform": nn.init.xavier_uniform_, "xavier_normal": nn.init.xavier_normal_,
         "he_uniform": lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"),
         "he_normal": lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"),
         "torch_default": lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5))}


@pytest.mark.parametrize("scheme", I.SCHEMES)
def test_torch_init_matches_numpy_statistics(scheme):
    torch.manual_seed(0)
    t = TORCH[scheme](torch.empty(FAN_OUT, FAN_IN)).numpy()   # PyTorch layout (out, in)
    w = I.initialize(scheme, FAN_IN, FAN_OUT, rng=0)
    assert t.std() == pytest.approx(w.std(), rel=0.02)
    if "uniform" in scheme or scheme == "torch_default":
        assert np.abs(t).max() == pytest.approx(np.abs(w).max(), rel=0.01)


def test_torch_linear_default_is_the_fan_in_uniform():
    torch.manual_seed(0)
    layer = nn.Linear(FAN_IN, FAN_OUT)
    bound = 1 / math.sqrt(FAN_IN)
    for p in (layer.weight, layer.bias):
        assert p.abs().max().item() <= bound
    assert layer.weight.std().item() == pytest.approx(
        I.target_std("torch_default", FAN_IN, FAN_OUT), rel=0.02)


KERAS = {"xavier_uniform": keras.initializers.GlorotUniform,
         "xavier_normal": keras.initializers.GlorotNormal,
         "he_uniform": keras.initializers.HeUniform, "he_normal": keras.initializers.HeNormal}


@pytest.mark.parametrize("scheme", sorted(KERAS))
def test_keras_initializers_match_numpy_statistics(scheme):
    w = keras.ops.convert_to_numpy(KERAS[scheme](seed=0)((FAN_IN, FAN_OUT)))
    target = I.target_std(scheme, FAN_IN, FAN_OUT)
    assert w.std() == pytest.approx(target, rel=0.02)
    if "uniform" in scheme:
        assert np.abs(w).max() <= I.uniform_limit(scheme, FAN_IN, FAN_OUT) * (1 + 1e-6)
    else:  # Keras truncates its normals at two (pre-correction) standard deviations
        assert np.abs(w).max() <= 2 * target / 0.87962566103423978 * (1 + 1e-6)


def test_keras_dense_default_is_glorot_uniform_with_zero_bias():
    dense = keras.layers.Dense(FAN_OUT)
    dense.build((None, FAN_IN))
    assert type(dense.kernel_initializer).__name__ == "GlorotUniform"
    assert not keras.ops.convert_to_numpy(dense.bias).any()
    w = keras.ops.convert_to_numpy(dense.kernel)
    assert w.std() == pytest.approx(I.target_std("xavier_uniform", FAN_IN, FAN_OUT), rel=0.02)


def test_mlp_kernels_and_fixed_scale():
    ks = I.mlp_kernels([8, 16, 4], "he_normal", rng=1)
    assert [k.shape for k in ks] == [(8, 16), (16, 4)]
    small = I.mlp_kernels([64, 64], 0.01, rng=1)[0]
    assert small.std() == pytest.approx(0.01, rel=0.05)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="unknown scheme"):
        I.initialize("lecun", 3, 4)
    with pytest.raises(ValueError, match="unknown scheme"):
        I.target_std("orthogonal", 3, 4)
    with pytest.raises(ValueError, match="fan_in must be a positive integer"):
        I.he_normal(0, 4)
    with pytest.raises(ValueError, match="fan_out must be a positive integer"):
        I.xavier_uniform(3, 2.5)
    with pytest.raises(ValueError, match="std must be positive"):
        I.normal(3, 4, std=0.0)
    with pytest.raises(ValueError, match="rng must be"):
        I.he_uniform(3, 4, rng="seed")
    with pytest.raises(ValueError, match="at least an input and an output"):
        I.mlp_kernels([8], "he_normal")

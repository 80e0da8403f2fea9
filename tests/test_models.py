"""Behaviour of every registered model in both frameworks: shapes, errors, learning."""
import re

import numpy as np
import pytest

from companion import data, registry

SPECS = registry.MODELS
ids = [s.name for s in SPECS]


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---------------------------------------------------------------- PyTorch

@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_torch_forward_shape(spec):
    import torch

    model = spec.torch_class()(**spec.kwargs)
    out = model(torch.from_numpy(spec.example_input("torch")))
    assert out.shape[0] == spec.input_shape[0]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_torch_rejects_wrong_input_shape(spec):
    import torch

    model = spec.torch_class()(**spec.kwargs)
    with pytest.raises(ValueError, match=rf"expected input of shape {re.escape(spec.expected('torch'))}"):
        model(torch.from_numpy(spec.example_input("torch", spec.bad_input_shape)))


# ---------------------------------------------------------------- Keras

@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_keras_forward_shape(spec):
    import keras

    model = spec.keras_class()(**spec.kwargs)
    out = keras.ops.convert_to_numpy(model(spec.example_input("keras")))
    assert out.shape[0] == spec.input_shape[0]
    assert np.isfinite(out).all()


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_keras_rejects_wrong_input_shape(spec):
    model = spec.keras_class()(**spec.kwargs)
    with pytest.raises(ValueError, match=rf"expected input of shape {re.escape(spec.expected('keras'))}"):
        model(spec.example_input("keras", spec.bad_input_shape))


# ---------------------------------------------------------------- images: the other layout

IMAGE_SPECS = [s for s in SPECS if s.layout == "NCHW"]


@pytest.mark.parametrize("spec", IMAGE_SPECS, ids=[s.name for s in IMAGE_SPECS])
def test_torch_image_model_rejects_channels_last_input(spec):
    """An NHWC batch given to a PyTorch model fails with a message naming NCHW."""
    import torch

    model = spec.torch_class()(**spec.kwargs)
    nhwc = spec.input_shape_for("keras")
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, .*NCHW"):
        model(torch.from_numpy(_x(nhwc)))


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("spec", IMAGE_SPECS, ids=[s.name for s in IMAGE_SPECS])
def test_keras_image_model_rejects_channels_first_input(spec):
    model = spec.keras_class()(**spec.kwargs)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, .*NHWC"):
        model(_x(spec.input_shape_for("torch")))


def test_expected_shape_defaults_to_the_input_shape():
    spec = registry.get("MLP")
    assert spec.expected() == "(batch, 12)"
    assert registry.get("LSTM").expected() == "(batch, steps, 3)"


# ---------------------------------------------------------------- MLP specifics

def test_mlp_rejects_integer_input_and_bad_arguments():
    import torch

    from companion.torch import MLP

    with pytest.raises(ValueError, match="floating-point"):
        MLP(4, (3,), 2)(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLP(4, (3,), 2, activation="swish")
    with pytest.raises(ValueError, match="dropout"):
        MLP(4, (3,), 2, dropout=1.0)
    with pytest.raises(ValueError, match="hidden width"):
        MLP(4, (0,), 2)


@pytest.mark.keras_backend_agnostic
def test_keras_mlp_rejects_integer_input_and_bad_arguments():
    from companion.keras import MLP

    with pytest.raises(ValueError, match="floating-point"):
        MLP(4, (3,), 2)(np.zeros((2, 4), dtype=np.int32))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLP(4, (3,), 2, activation="swish")
    with pytest.raises(ValueError, match="in_features"):
        MLP(0, (3,), 2)


def test_mlp_has_the_same_parameter_count_in_both_frameworks():
    from companion import numpy as cnp
    from companion.keras import MLP as KerasMLP
    from companion.torch import MLP as TorchMLP

    t = TorchMLP(64, (128, 64), 10, dropout=0.1)
    k = KerasMLP(64, (128, 64), 10, dropout=0.1)
    assert sum(p.numel() for p in t.parameters()) == k.count_params() == cnp.parameter_count([64, 128, 64, 10])


def test_mlp_features_are_the_last_hidden_layer():
    import torch

    from companion.torch import MLP

    model = MLP(5, (6, 3), 2)
    x = torch.from_numpy(_x((4, 5)))
    h = model.features(x)
    assert h.shape == (4, 3) and (h >= 0).all()  # after ReLU
    torch.testing.assert_close(model.net[-1](h), model(x))


# ---------------------------------------------------------------- training

def _blobs():
    x, y = data.moons(300, noise=0.1, seed=0)
    return (x[:200], y[:200]), (x[200:], y[200:])


def test_torch_training_lowers_the_loss_and_is_reproducible():
    import companion
    from companion.torch import MLP, evaluate, train

    train_data, val_data = _blobs()
    histories = []
    for _ in range(2):
        companion.set_seed(0)
        model = MLP(2, (16,), 2)
        histories.append(train(model, train_data, val_data, epochs=15, lr=0.02, progress=False))
    h = histories[0]
    assert set(h) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert len(h["loss"]) == 15
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h == histories[1]
    assert evaluate(model, val_data)["accuracy"] > 0.85


@pytest.mark.keras_backend_agnostic
def test_keras_training_lowers_the_loss_with_the_same_history_keys():
    import companion
    from companion.keras import MLP, evaluate, train

    train_data, val_data = _blobs()
    companion.set_seed(0)
    model = MLP(2, (16,), 2)
    h = train(model, train_data, val_data, epochs=15, lr=0.02, progress=False)
    assert set(h) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert len(h["val_loss"]) == 15
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert evaluate(model, val_data)["accuracy"] > 0.85


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_binary_and_regression_losses(framework):
    import importlib

    import companion

    fw = importlib.import_module(f"companion.{framework}")
    (x, y), _ = _blobs()
    companion.set_seed(0)
    model = fw.MLP(2, (16,), 1)
    h = fw.train(model, (x, y), epochs=10, lr=0.02, loss="binary_cross_entropy", progress=False)
    assert h["loss"][-1] < h["loss"][0] and h["accuracy"][-1] > 0.8
    target = (x[:, 0] ** 2).astype(np.float32)
    model = fw.MLP(2, (16,), 1)
    h = fw.train(model, (x, target), epochs=10, lr=0.02, loss="mse", progress=False)
    assert "accuracy" not in h and h["loss"][-1] < h["loss"][0]


@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_train_rejects_unknown_loss_and_optimizer(framework):
    import importlib

    fw = importlib.import_module(f"companion.{framework}")
    (x, y), _ = _blobs()
    model = fw.MLP(2, (4,), 2)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        fw.train(model, (x, y), epochs=1, loss="hinge", progress=False)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        fw.train(model, (x, y), epochs=1, optimizer="lbfgs", progress=False)


FLOAT_SPECS = [s for s in SPECS if s.input_kind == "float"]


@pytest.mark.parametrize("spec", FLOAT_SPECS, ids=[s.name for s in FLOAT_SPECS])
def test_torch_float64_input_gets_a_clear_error_and_a_double_model_takes_it(spec):
    """PyTorch does not mix float64 inputs with float32 weights; the model says what to do."""
    import torch

    torch.manual_seed(0)
    model = spec.torch_class()(**spec.kwargs).eval()
    x = torch.from_numpy(spec.example_input("torch").astype(np.float64))
    with pytest.raises(ValueError, match=r"expected a float32 input like its weights, got dtype torch\.float64"):
        model(x)
    with torch.no_grad():
        out = model.double()(x)
    assert out.dtype == torch.float64


def _signature(cls):
    import inspect

    return [(name, p.default) for name, p in inspect.signature(cls.__init__).parameters.items()
            if name not in ("self", "kwargs")]


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_same_constructor_arguments_and_defaults_in_both_frameworks(spec):
    """The same call builds the same model in PyTorch and Keras (book/api.md)."""
    torch_args, keras_args = _signature(spec.torch_class()), _signature(spec.keras_class())
    # Keras models that draw random numbers own a SeedGenerator: `seed` is their only extra.
    keras_args = [arg for arg in keras_args if arg[0] != "seed"]
    assert torch_args == keras_args


SYNONYMS = {"n_classes", "classes", "num_outputs", "n_outputs", "output_dim", "out_dim",
            "input_dim", "in_dim", "n_features", "num_features", "input_features",
            "output_features", "n_channels", "channels_in", "vocab", "n_vocab", "hidden_dim"}


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_size_arguments_follow_the_naming_convention(spec):
    names = {name for name, _ in _signature(spec.torch_class())}
    assert not names & SYNONYMS, f"use the book's names (book/api.md), not {names & SYNONYMS}"
    if spec.input_kind == "tokens":
        assert names & {"vocab_size", "src_vocab"}


TOKEN_SPECS = [s for s in SPECS if s.input_kind == "tokens"]


@pytest.mark.parametrize("spec", TOKEN_SPECS, ids=[s.name for s in TOKEN_SPECS])
def test_token_models_take_integer_ids_in_the_training_helpers(spec):
    """train/evaluate/predict pass int ids (not floats) to models that declare token_input."""
    assert getattr(spec.torch_class(), "token_input", False) is True
    assert getattr(spec.keras_class(), "token_input", False) is True

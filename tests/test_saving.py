"""Saved models come back: every registered model, in both frameworks, reloads with identical outputs.

Keras: the native ``.keras`` file (architecture and weights) and a
``.weights.h5`` file loaded into a freshly built twin. PyTorch: a
``state_dict`` saved with ``torch.save`` and loaded with ``weights_only=True``.
"""
import numpy as np
import pytest

from companion import registry

SPECS = registry.MODELS
ids = [s.name for s in SPECS]


def _input(spec, framework):
    return spec.example_input(framework)


def _keras_out(model, x):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_keras_model_survives_the_native_format(spec, tmp_path):
    import keras

    model = spec.keras_class()(**spec.kwargs)
    x = _input(spec, "keras")
    path = tmp_path / f"{spec.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(_keras_out(loaded, x), _keras_out(model, x))


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_keras_weights_file_loads_into_a_new_twin(spec, tmp_path):
    model = spec.keras_class()(**spec.kwargs)
    x = _input(spec, "keras")
    path = tmp_path / f"{spec.name}.weights.h5"
    model.save_weights(path)
    fresh = spec.keras_class()(**spec.kwargs)
    fresh.load_weights(path)
    np.testing.assert_array_equal(_keras_out(fresh, x), _keras_out(model, x))


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_torch_state_dict_loads_with_weights_only(spec, tmp_path):
    import torch

    torch.manual_seed(0)
    model = spec.torch_class()(**spec.kwargs).eval()
    path = tmp_path / f"{spec.name}.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(1)
    fresh = spec.torch_class()(**spec.kwargs).eval()
    fresh.load_state_dict(torch.load(path, weights_only=True))
    x = torch.from_numpy(_input(spec, "torch"))
    with torch.no_grad():
        out, again = model(x), fresh(x)
    out, again = (o[0] if isinstance(o, tuple) else o for o in (out, again))
    assert torch.equal(out, again)


def test_non_default_arguments_are_saved_not_the_defaults(tmp_path):
    """The review's case: LeNet5(activation="relu", pooling="max") used to reload as tanh/avg."""
    import keras

    from companion.keras import LeNet5

    model = LeNet5(activation="relu", pooling="max")
    model.save(tmp_path / "lenet.keras")
    loaded = keras.saving.load_model(tmp_path / "lenet.keras")
    assert loaded.get_config()["activation"] == "relu"
    assert loaded.get_config()["pooling"] == "max"
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_array_equal(_keras_out(loaded, x), _keras_out(model, x))

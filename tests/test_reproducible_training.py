"""train(seed=) fixes everything random in the call, dropout included, in both frameworks,
and leaves the caller's global generators as they were (issue 17, "Reproducible")."""
import random

import numpy as np
import pytest

X = np.random.default_rng(0).normal(size=(96, 6)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _torch_model():
    import torch

    from companion.torch import MLP
    torch.manual_seed(0)
    return MLP(6, (32,), 2, dropout=0.5)


def _keras_model():
    import keras

    from companion.keras import MLP
    keras.utils.set_random_seed(0)
    return MLP(6, (32,), 2, dropout=0.5)


def _weights(model):
    if hasattr(model, "state_dict"):
        return {k: v.clone() for k, v in model.state_dict().items()}
    return [w.copy() for w in model.get_weights()]


def _restore(model, weights):
    if hasattr(model, "load_state_dict"):
        model.load_state_dict(weights)
    else:
        model.set_weights(weights)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_same_seed_same_weights_same_history_with_dropout(framework):
    from companion import keras as ck
    from companion import torch as ct
    module, model = (ct, _torch_model()) if framework == "torch" else (ck, _keras_model())
    start = _weights(model)
    first = module.train(model, (X, Y), epochs=3, batch_size=16, seed=7, progress=False)
    _restore(model, start)
    module.train(model, (X, Y), epochs=1, batch_size=16, seed=99, progress=False)  # disturb
    _restore(model, start)
    again = module.train(model, (X, Y), epochs=3, batch_size=16, seed=7, progress=False)
    assert again["loss"] == first["loss"]
    _restore(model, start)
    other = module.train(model, (X, Y), epochs=3, batch_size=16, seed=8, progress=False)
    assert other["loss"] != first["loss"]      # the seed does reach the dropout masks / order


def test_torch_train_leaves_the_global_generator_alone():
    import torch

    from companion import torch as ct
    model = _torch_model()
    torch.manual_seed(123)
    before = torch.get_rng_state().clone()
    ct.train(model, (X, Y), epochs=1, batch_size=16, seed=5, progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_keras_train_leaves_the_global_generators_alone():
    from companion import keras as ck
    model = _keras_model()
    random.seed(1)
    np.random.seed(1)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    ck.train(model, (X, Y), epochs=1, batch_size=16, seed=5, progress=False)
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]) \
        and after[2:] == numpy_state[2:]


def test_trainable_parameters_is_framework_neutral_at_the_top_level():
    import companion
    from companion import keras as ck
    from companion import torch as ct
    t = ct.ResNet(block="basic", layers=(1, 1), num_classes=3, in_channels=1, width=4)
    k = ck.ResNet(block="basic", layers=(1, 1), num_classes=3, in_channels=1, width=4)
    n = companion.trainable_parameters(t)
    assert n == companion.trainable_parameters(k)
    assert k.count_params() > n          # Keras also counts BatchNorm's moving statistics

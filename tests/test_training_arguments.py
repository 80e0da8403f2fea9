"""The same bad argument to ``train`` gets the same ValueError in both frameworks.

One table of cases runs against ``companion.torch.train`` and
``companion.keras.train`` (issue: a user met inconsistent behaviour between
the two halves of the library). The decisions are documented in
``companion.checks.check_training_args``.
"""
import numpy as np
import pytest

import companion.keras as ck
import companion.torch as ct
from companion.checks import check_training_args
from companion.config import _cuda_visible

X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
Y = np.arange(20) % 3

CASES = [
    (dict(optimizer="adam", weight_decay=0.1), "use 'adamw'"),
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(batch_size=2.5), "batch_size must be a positive integer"),
    (dict(lr=-0.1), "lr must be a positive number, got -0.1"),
    (dict(lr=0.0), "lr must be a positive number"),
    (dict(lr=float("nan")), "lr must be a positive number"),
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(weight_decay=-1e-3, optimizer="adamw"), "weight_decay must be a number >= 0"),
    (dict(device="tpu"), "device must be None, 'cpu', 'mps' or 'cuda"),
]
if not _cuda_visible():
    CASES.append((dict(device="cuda"), "no CUDA GPU is visible"))


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("arguments, message", CASES, ids=[str(c[0]) for c in CASES])
def test_bad_arguments_raise_the_same_error_in_both_frameworks(framework, arguments, message):
    module = ct if framework == "torch" else ck
    kwargs = dict(epochs=1, progress=False)
    kwargs.update(arguments)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        module.train(module.MLP(4, (5,), 3), (X, Y), **kwargs)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_valid_edge_values_train_in_both_frameworks(framework):
    module = ct if framework == "torch" else ck
    history = module.train(module.MLP(4, (5,), 3), (X, Y), epochs=1, batch_size=64, lr=1e-3,
                           optimizer="adamw", weight_decay=0.0, device="cpu", progress=False)
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])


def test_device_names():
    common = dict(epochs=1, lr=1e-3, batch_size=8, optimizer="sgd", weight_decay=0.0)
    for device in (None, "cpu", "mps"):
        check_training_args(device=device, **common)
    with pytest.raises(ValueError, match="device must be"):
        check_training_args(device="cuda:x", **common)

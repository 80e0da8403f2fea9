"""The same bad argument to ``train`` gets the same ValueError in both frameworks.

One table of cases runs against ``companion.torch.train`` and
``companion.keras.train`` (issue: a user met inconsistent behaviour between
the two halves of the library). The decisions are documented in
``companion.checks.check_training_args``.
"""
import numpy as np
import pytest

import companion
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


DATA_CASES = [
    (lambda: (X, Y.astype(float) + 0.5), "class indices, whole numbers"),
    (lambda: (X, -(Y + 1)), "class indices, whole numbers"),
    (lambda: (X, Y + 3), "label 5 is out of range for a model with 3 outputs"),
    (lambda: (X, Y[:-1]), "the same number of examples"),
    (lambda: (np.where(np.arange(20)[:, None] == 3, np.nan, X), Y), "NaN or infinite"),
    (lambda: X, "must be an \\(x, y\\) pair"),
    (lambda: (X, Y, Y), "must be an \\(x, y\\) pair"),
]


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("make_data, message", DATA_CASES, ids=[m for _, m in DATA_CASES])
def test_bad_training_data_raises_the_same_error_in_both_frameworks(framework, make_data, message):
    module = ct if framework == "torch" else ck
    with pytest.raises(ValueError, match=message):
        module.train(module.MLP(4, (5,), 3), make_data(), epochs=1, progress=False)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_whole_float_labels_and_column_labels_train_like_integer_labels(framework):
    """(N, 1) labels and float labels that are whole numbers mean the same classes in both."""
    module = ct if framework == "torch" else ck
    results = []
    for labels in (Y, Y.astype(float), Y[:, None]):
        companion.set_seed(0)
        model = module.MLP(4, (5,), 3)
        history = module.train(model, (X, labels), epochs=3, seed=0, progress=False)
        results.append((round(history["loss"][-1], 5), round(history["accuracy"][-1], 5)))
    assert results[0] == results[1] == results[2]
    assert 0 < results[0][1] <= 1                      # accuracy is measured, not 0.0


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_a_diverging_run_stops_with_a_clear_error(framework):
    module = ct if framework == "torch" else ck
    big = (X * 1e3, (X[:, 0] * 1e3).astype(np.float32))
    with pytest.raises(FloatingPointError, match="training diverged"):
        module.train(module.MLP(4, (64, 64), 1), big, epochs=20, lr=10.0, optimizer="sgd",
                     loss="mse", progress=False)

"""Early stopping with the best weights put back, the validation-split helper and batched
evaluation: the same behaviour in both frameworks (``train(..., early_stopping=p)``)."""
import numpy as np
import pytest

import companion
import companion.keras as ck
import companion.torch as ct
from companion import data

FRAMEWORKS = {"torch": ct, "keras": ck}


def _noisy_task(seed=0):
    """A small regression task that a wide MLP overfits after a few dozen epochs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(scale=1.0, size=40)).astype(np.float32)
    x_val = rng.normal(size=(200, 3)).astype(np.float32)
    y_val = x_val[:, 0].astype(np.float32)
    return (x, y), (x_val, y_val)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_early_stopping_stops_and_restores_the_best_epoch(framework):
    m = FRAMEWORKS[framework]
    companion.set_seed(0)
    train, val = _noisy_task()
    model = m.MLP(3, (64, 64), 1)
    history = m.train(model, train, val, epochs=400, lr=1e-2, batch_size=8, loss="mse",
                      early_stopping=5, progress=False)
    run = len(history["val_loss"])
    best = int(np.argmin(history["val_loss"]))
    assert run < 400, "an overfitting model must stop before the last epoch"
    assert run == best + 1 + 5, (run, best)           # exactly `patience` epochs after the best
    restored = m.evaluate(model, val, loss="mse")["loss"]
    assert restored == pytest.approx(history["val_loss"][best], rel=1e-4, abs=1e-6)
    assert restored < history["val_loss"][-1]         # not the last epoch's weights


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_best_weights_come_back_even_without_stopping(framework):
    m = FRAMEWORKS[framework]
    companion.set_seed(0)
    train, val = _noisy_task(1)
    model = m.MLP(3, (64, 64), 1)
    history = m.train(model, train, val, epochs=30, lr=3e-2, batch_size=8, loss="mse",
                      early_stopping=1000, progress=False)
    assert len(history["val_loss"]) == 30
    best = min(history["val_loss"])
    assert m.evaluate(model, val, loss="mse")["loss"] == pytest.approx(best, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("arguments, message", [
    (dict(early_stopping=0), "early_stopping .* must be a positive integer"),
    (dict(early_stopping=3, val=False), "early_stopping watches val_loss: pass val_data"),
    (dict(early_stopping=3, checkpoint="x"), "early_stopping and checkpoint cannot be combined"),
])
def test_early_stopping_arguments(framework, arguments, message, tmp_path):
    m = FRAMEWORKS[framework]
    train, val = _noisy_task()
    kwargs = dict(arguments)
    if not kwargs.pop("val", True):
        val = None
    if "checkpoint" in kwargs:
        kwargs["checkpoint"] = str(tmp_path / "run")
    with pytest.raises(ValueError, match=message):
        m.train(m.MLP(3, (4,), 1), train, val, epochs=2, loss="mse", progress=False, **kwargs)


def test_validation_split_keeps_classes_and_sizes():
    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    y = np.repeat([0, 1, 2, 3], 25)
    (x_tr, y_tr), (x_val, y_val) = data.validation_split(x, y, val_size=0.2, seed=3)
    assert len(x_tr) == 80 and len(x_val) == 20
    assert np.bincount(y_val).tolist() == [5, 5, 5, 5]          # stratified
    assert sorted(np.concatenate([x_tr[:, 0], x_val[:, 0]]).tolist()) == x[:, 0].tolist()
    again = data.validation_split(x, y, val_size=0.2, seed=3)
    assert np.array_equal(again[1][0], x_val)                    # same seed, same split
    with pytest.raises(ValueError, match=r"val_size must be a fraction in \(0, 1\)"):
        data.validation_split(x, y, val_size=1.0)
    with pytest.raises(ValueError, match="same length"):
        data.validation_split(x, y[:-1])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_evaluation_in_batches_equals_one_pass(framework):
    m = FRAMEWORKS[framework]
    companion.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(103, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=103)
    model = m.MLP(4, (8,), 3)
    whole = m.evaluate(model, (x, y), batch_size=1024)
    pieces = m.evaluate(model, (x, y), batch_size=10)           # 11 batches, the last of 3
    assert pieces["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert pieces["accuracy"] == pytest.approx(whole["accuracy"])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        m.evaluate(model, (x, y), batch_size=0)
    with pytest.raises(ValueError, match=r"data must be an \(x, y\) pair"):
        m.evaluate(model, x)

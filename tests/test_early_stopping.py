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


# ---------------------------------------------------------------- cyclical and plateau schedules

def test_cyclical_schedule_is_a_triangle_between_a_tenth_and_the_peak():
    from companion.schedules import scheduled_lr

    lrs = [scheduled_lr(0.1, e, 12, "cyclical") for e in range(12)]   # step = 2 epochs
    assert lrs[:5] == pytest.approx([0.01, 0.055, 0.1, 0.055, 0.01])
    assert lrs[4:8] == pytest.approx(lrs[:4])                           # periodic
    assert min(lrs) == pytest.approx(0.01) and max(lrs) == pytest.approx(0.1)


def test_plateau_rule():
    from companion.schedules import Plateau

    rule = Plateau(patience=2, factor=0.5)
    scales = [rule.step(v) for v in (1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.8, 0.85)]
    assert scales == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25]


def _expected_rates(schedule, history, epochs, lr):
    """The rate of every epoch by companion.schedules, given the run's own validation losses."""
    from companion.schedules import Plateau, scheduled_lr

    rule, rates = Plateau(), []
    for epoch in range(epochs):
        rates.append(scheduled_lr(lr, epoch, epochs, schedule) * rule.scale)
        if schedule == "plateau":
            rule.step(history["val_loss"][epoch])
    return rates


@pytest.mark.parametrize("schedule", ["cyclical", "plateau"])
def test_torch_uses_the_scheduled_rate_in_every_step(schedule, monkeypatch):
    import torch

    from companion.torch import training

    seen = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setitem(training.OPTIMIZERS, "sgd", Recording)
    train, val = _noisy_task(2)
    companion.set_seed(0)
    history = ct.train(ct.MLP(3, (32,), 1), train, val, epochs=12, lr=0.05, batch_size=10,
                       optimizer="sgd", loss="mse", schedule=schedule, progress=False)
    per_epoch = seen[::4]                                # 40 examples / 10 = 4 steps per epoch
    assert per_epoch == pytest.approx(_expected_rates(schedule, history, 12, 0.05))
    if schedule == "plateau":
        assert min(per_epoch) < 0.05, "a noisy task must hit a plateau within 12 epochs"


@pytest.mark.parametrize("schedule", ["cyclical", "plateau"])
def test_keras_ends_on_the_same_scheduled_rate(schedule):
    import keras

    train, val = _noisy_task(2)
    companion.set_seed(0)
    model = ck.MLP(3, (32,), 1)
    history = ck.train(model, train, val, epochs=12, lr=0.05, batch_size=10, optimizer="sgd",
                       loss="mse", schedule=schedule, progress=False)
    rates = _expected_rates(schedule, history, 12, 0.05)
    final = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    # cyclical: set at the start of the last epoch; plateau: set after it, from its val_loss
    if schedule == "plateau":
        from companion.schedules import Plateau

        rule = Plateau()
        for value in history["val_loss"]:
            rule.step(value)
        expected = 0.05 * rule.scale
    else:
        expected = rates[-1]
    assert final == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_schedule_arguments(framework, tmp_path):
    m = FRAMEWORKS[framework]
    train, val = _noisy_task()
    with pytest.raises(ValueError, match="schedule='plateau' watches val_loss"):
        m.train(m.MLP(3, (4,), 1), train, epochs=2, loss="mse", schedule="plateau", progress=False)
    with pytest.raises(ValueError, match="cannot be combined"):
        m.train(m.MLP(3, (4,), 1), train, val, epochs=2, loss="mse", schedule="plateau",
                checkpoint=str(tmp_path / "run"), progress=False)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        m.train(m.MLP(3, (4,), 1), train, val, epochs=2, loss="mse", schedule="step", progress=False)

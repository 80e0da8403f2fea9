"""Training Keras models with ``fit``, returning the same history dict as PyTorch's loop."""
from __future__ import annotations

import keras
import numpy as np
from tqdm.auto import tqdm

from companion.checks import check_choice
from companion.schedules import SCHEDULES, scheduled_lr

LOSSES = ("cross_entropy", "binary_cross_entropy", "mse")
OPTIMIZERS = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam,
              "adamw": keras.optimizers.AdamW}


def _loss_and_metrics(loss: str):
    if loss == "cross_entropy":
        return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    if loss == "binary_cross_entropy":
        # The model returns a logit, so the decision threshold is 0, not 0.5.
        return (keras.losses.BinaryCrossentropy(from_logits=True),
                [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)])
    return keras.losses.MeanSquaredError(), []


class TqdmCallback(keras.callbacks.Callback):
    """One progress bar over epochs, like the PyTorch loop's."""

    def __init__(self, epochs: int, desc: str):
        super().__init__()
        self.bar = tqdm(total=epochs, desc=desc)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{(logs or {}).get('loss', float('nan')):.4f}")

    def on_train_end(self, logs=None):
        self.bar.close()


def _optimizer(name: str, lr: float, weight_decay: float):
    check_choice(name, OPTIMIZERS, "optimizer")
    if weight_decay and name == "adam":
        # PyTorch's Adam adds weight_decay * w to the gradient (L2 penalty);
        # Keras's weight_decay is decoupled (AdamW-style), so it is refused here.
        raise ValueError("weight_decay with 'adam' differs between the frameworks; use 'adamw'")
    kwargs = {"weight_decay": weight_decay} if weight_decay else {}
    return OPTIMIZERS[name](learning_rate=lr, **kwargs)


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled mini-batches of ``(x, y)``, each passed through ``augment(x_batch, rng)``."""

    def __init__(self, x, y, batch_size: int, augment, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.augment(self.x[idx], self.rng), self.y[idx]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


def train(model: keras.Model, train_data, val_data=None, *, epochs: int, lr: float = 1e-3,
          batch_size: int = 32, optimizer: str = "adam", loss: str = "cross_entropy",
          weight_decay: float = 0.0, seed: int = 0, device=None,
          progress: bool = True, augment=None, schedule: str = "constant",
          jit_compile="auto") -> dict:
    """Compile and ``fit`` ``model``; return ``fit``'s history as a plain dict.

    Same arguments and same history keys as ``companion.torch.train``
    (``device`` is accepted for symmetry; Keras places tensors itself).
    ``augment(x_batch, rng) -> x_batch`` (NumPy) transforms every training batch;
    ``schedule`` is ``"constant"`` or ``"cosine"``, as in PyTorch.
    ``jit_compile`` is passed to ``compile`` (Keras-only): ``False`` skips XLA,
    whose compile time dominates short runs of deep networks on a CPU.
    """
    check_choice(loss, LOSSES, "loss")
    check_choice(schedule, SCHEDULES, "schedule")
    keras.utils.set_random_seed(seed)  # the shuffling order is reproducible
    loss_fn, metrics = _loss_and_metrics(loss)
    model.compile(optimizer=_optimizer(optimizer, lr, weight_decay), loss=loss_fn,
                  metrics=metrics, jit_compile=jit_compile)
    x, y = np.asarray(train_data[0], dtype="float32"), np.asarray(train_data[1])
    val = None
    if val_data is not None:
        val = (np.asarray(val_data[0], dtype="float32"), np.asarray(val_data[1]))
    callbacks = [TqdmCallback(epochs, type(model).__name__)] if progress else []
    if schedule != "constant":
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch: float(scheduled_lr(lr, epoch, epochs, schedule))))
    if augment is None:
        fit = model.fit(x, y, validation_data=val, epochs=epochs, batch_size=batch_size,
                        shuffle=True, verbose=0, callbacks=callbacks)
    else:
        batches = AugmentedBatches(x, y, batch_size, augment, seed)
        fit = model.fit(batches, validation_data=val, epochs=epochs, verbose=0,
                        callbacks=callbacks)
    # LearningRateScheduler logs the rate too; PyTorch's history has no such key.
    return {k: [float(v) for v in values] for k, values in fit.history.items()
            if k != "learning_rate"}


def predict(model: keras.Model, x, batch_size: int = 1024) -> np.ndarray:
    """Model outputs (logits) for NumPy input, in inference mode, as NumPy."""
    x = np.asarray(x, dtype="float32")
    outs = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
            for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)


def evaluate(model: keras.Model, data, *, loss: str = "cross_entropy") -> dict:
    """Mean loss (and accuracy for classification) on ``data = (x, y)``."""
    check_choice(loss, LOSSES, "loss")
    x, y = data
    out = predict(model, x)
    loss_fn, _ = _loss_and_metrics(loss)
    scores = {"loss": float(keras.ops.convert_to_numpy(loss_fn(np.asarray(y), out)))}
    if loss == "cross_entropy":
        scores["accuracy"] = float(np.mean(out.argmax(-1) == np.asarray(y)))
    elif loss == "binary_cross_entropy":
        scores["accuracy"] = float(np.mean((out.reshape(len(y)) > 0) == np.asarray(y)))
    return scores

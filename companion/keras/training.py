"""Training Keras models with ``fit``, returning the same history dict as PyTorch's loop."""
from __future__ import annotations

import contextlib
import json

import keras
import numpy as np
from tqdm.auto import tqdm

from companion.checks import (check_binary_labels, check_choice, check_early_stopping, check_features,
                              check_positive_int,
                              check_finite_loss, check_label_range, check_training_args,
                              training_pair)
from companion.keras.seeding import private_backend_generator, seed_random_layers, seed_states
from companion.scaling import PRECISIONS, check_scaling_args, checkpoint_files
from companion.schedules import Plateau, check_schedule, scheduled_lr

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


def _optimizer(name: str, lr: float, weight_decay: float, clip_norm: float | None = None,
               accumulate: int = 1):
    check_choice(name, OPTIMIZERS, "optimizer")
    if weight_decay and name == "adam":
        # PyTorch's Adam adds weight_decay * w to the gradient (L2 penalty);
        # Keras's weight_decay is decoupled (AdamW-style), so it is refused here.
        raise ValueError("weight_decay with 'adam' differs between the frameworks; use 'adamw'")
    kwargs = {"weight_decay": weight_decay} if weight_decay else {}
    if clip_norm is not None:
        kwargs["global_clipnorm"] = clip_norm   # one norm over all gradients, as in PyTorch
    if accumulate > 1:
        # The optimizer sums the gradients of `accumulate` batches and applies their mean.
        kwargs["gradient_accumulation_steps"] = accumulate
    return OPTIMIZERS[name](learning_rate=lr, **kwargs)


POLICIES = {"float32": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@contextlib.contextmanager
def precision_policy(precision: str):
    """Build models inside ``with precision_policy("bfloat16"):`` to train them with
    ``train(..., precision="bfloat16")``.

    Keras fixes a layer's compute dtype when the layer is created, from the
    global dtype policy (``"mixed_bfloat16"``: compute in bfloat16, keep the
    weights in float32). This sets that policy for the block and restores the
    previous one afterwards.
    """
    check_choice(precision, PRECISIONS, "precision")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision] or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _check_precision(model: keras.Model, precision: str) -> None:
    """The layers with weights must compute in ``precision`` (a few may stay float32)."""
    computes = {layer.compute_dtype for layer in model._flatten_layers()
                if layer.weights and not isinstance(layer, keras.layers.InputLayer)}
    low = {"bfloat16", "float16"} & computes
    if (precision == "float32" and low) or (precision != "float32" and (
            precision not in computes or low - {precision})):
        raise ValueError(
            f"precision={precision!r} but the model's layers compute in {sorted(computes)}; "
            f"Keras fixes the compute dtype when a layer is built: create the model inside "
            f"`with companion.keras.precision_policy({precision!r}):`")


def _backend_rng_state():
    """On the PyTorch backend, unseeded dropout draws from PyTorch's global generator."""
    if keras.backend.backend() != "torch":
        return None
    import torch
    return torch.get_rng_state().tolist()


def _set_backend_rng_state(state) -> None:
    if state is not None and keras.backend.backend() == "torch":
        import torch
        torch.set_rng_state(torch.tensor(state, dtype=torch.uint8))


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled mini-batches of ``(x, y)``, each passed through ``augment(x_batch, rng)``.

    ``augment=None`` only shuffles: ``train`` feeds every ``fit`` through this
    class, so the order comes from ``seed`` alone (NumPy's generator, not
    Keras's global one, which ``fit(shuffle=True)`` would draw from).
    """

    def __init__(self, x, y, batch_size: int, augment, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        if self.augment is None:
            return self.x[idx], self.y[idx]
        return self.augment(self.x[idx], self.rng), self.y[idx]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


class EpochBatches(keras.utils.PyDataset):
    """One epoch's mini-batches, drawn from ``(seed, epoch)`` alone (checkpointed training).

    The order is a permutation seeded by ``(seed, epoch)`` and batch ``i`` is
    augmented with a generator seeded by ``(seed, epoch, i)``: whatever Keras
    reads ahead or twice, a resumed run sees exactly the batches the
    uninterrupted run saw.
    """

    def __init__(self, x, y, batch_size: int, augment, seed: int, epoch: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.seed, self.epoch = seed, epoch
        self.order = np.random.default_rng([seed, epoch]).permutation(len(x))

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        if self.augment is None:
            return self.x[idx], self.y[idx]
        return self.augment(self.x[idx], np.random.default_rng([self.seed, self.epoch, i])), \
            self.y[idx]


class PlateauCallback(keras.callbacks.Callback):
    """``companion.schedules.Plateau`` in Keras: the next epoch's rate from this epoch's val_loss."""

    def __init__(self, lr: float):
        super().__init__()
        self.lr, self.rule = lr, Plateau()

    def on_epoch_end(self, epoch, logs=None):
        scale = self.rule.step(float((logs or {})["val_loss"]))
        self.model.optimizer.learning_rate.assign(self.lr * scale)


class RestoreBest(keras.callbacks.Callback):
    """Stop after ``patience`` epochs without a lower ``val_loss``; always end with the best weights."""

    def __init__(self, patience: int):
        super().__init__()
        self.patience = patience

    def on_train_begin(self, logs=None):
        self.best, self.best_weights, self.waited = float("inf"), None, 0

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {})["val_loss"])
        if value < self.best:
            self.best, self.waited = value, 0
            self.best_weights = self.model.get_weights()
        else:
            self.waited += 1
            if self.waited >= self.patience:
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def resolve_jit_compile(jit_compile) -> bool:
    """``"auto"``: compile on the JAX backend only; ``True``/``False`` as given."""
    if jit_compile == "auto":
        return keras.backend.backend() == "jax"
    if not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
    return jit_compile


def _model_input(x, model) -> np.ndarray:
    """float32 features, or int32 token ids for a model whose class sets ``token_input = True``
    (the language models of part VI)."""
    return np.asarray(x).astype("int32" if getattr(model, "token_input", False) else "float32")


def train(model: keras.Model, train_data, val_data=None, *, epochs: int, lr: float = 1e-3,
          batch_size: int = 32, optimizer: str = "adam", loss: str = "cross_entropy",
          weight_decay: float = 0.0, clip_norm: float | None = None, seed: int = 0,
          device=None, progress: bool = True, augment=None, schedule: str = "constant",
          jit_compile="auto", accumulate: int = 1, precision: str = "float32",
          checkpoint=None, resume: bool = False, stop_after: int | None = None,
          early_stopping: int | None = None) -> dict:
    """Compile and ``fit`` ``model``; return ``fit``'s history as a plain dict.

    Same arguments and same history keys as ``companion.torch.train``
    (``device`` is accepted for symmetry; Keras places tensors itself, but a
    ``"cuda"`` request with no GPU visible is refused, as in PyTorch).
    ``clip_norm`` becomes the optimizer's ``global_clipnorm``.
    ``augment(x_batch, rng) -> x_batch`` (NumPy) transforms every training batch;
    ``schedule`` is ``"constant"``, ``"cosine"``, ``"cyclical"`` or
    ``"plateau"``, with the same values as in PyTorch (``companion.schedules``;
    not Keras's ``ReduceLROnPlateau``, whose ``min_delta`` and cooldown differ).
    ``jit_compile="auto"`` (the default) compiles the training step with XLA
    on the JAX backend, where running op by op is 8 to 75 times slower, and
    not on TensorFlow or PyTorch, where for the book's small models on a CPU
    compilation costs more time than it saves (about twice the run time);
    ``True`` or ``False`` decides it yourself.
    ``seed`` fixes everything random in the call, as in PyTorch: the order of
    the mini-batches (NumPy, from ``seed``), the augmentations and the states
    of dropout and noise layers (reset from ``seed`` by
    ``seed_random_layers``); no global generator is reset. The same seed and
    the same starting weights give the same history. (The two frameworks draw
    different random numbers, so their histories differ from each other.)
    ``early_stopping=p``: as in PyTorch, stop after ``p`` epochs without a
    lower ``val_loss`` and restore the best epoch's weights, also when
    training ran to ``epochs`` (Keras's own ``EarlyStopping`` restores them
    only when it stopped early).

    Scaling (appendix "From one device to many"; the same arguments as in PyTorch):

    * ``accumulate=k``: one optimizer step every ``k`` batches of ``batch_size``
      with the mean of their gradients (the optimizer's
      ``gradient_accumulation_steps``); the same update as one batch of
      ``k * batch_size`` when the training set is a multiple of it (Keras
      averages the ``k`` batches equally, and carries an incomplete group over
      to the next epoch, where PyTorch steps on it).
    * ``precision``: ``"float32"``, ``"bfloat16"`` or ``"float16"``; Keras fixes
      a layer's compute dtype when it is created, so build the model inside
      ``with precision_policy(precision):`` (``mixed_bfloat16`` /
      ``mixed_float16``: computations in 16 bits, weights in float32;
      ``compile`` adds loss scaling for float16). A model built otherwise is a
      ``ValueError``.
    * ``checkpoint="runs/mlp"`` writes ``runs/mlp.weights.h5`` (the model's and
      the optimizer's variables, ``model.save_weights``) and ``runs/mlp.json``
      (epoch, history, dropout's random states, and on the PyTorch backend
      PyTorch's global generator, from which unseeded dropout draws) after every
      epoch; ``resume=True`` continues from them (or starts afresh where there
      are none yet, as a preemptible job wants) and ``stop_after=n`` ends the
      call after epoch ``n``. With a checkpoint, each epoch's batches are
      shuffled and augmented by NumPy from ``(seed, epoch)`` (``EpochBatches``,
      so that a resumed run draws them again) and ``fit`` runs one epoch at a
      time: the numbers differ from a run without checkpoint, but an
      interrupted and resumed run equals an uninterrupted one (on the
      TensorFlow and JAX backends; on the PyTorch backend only without
      dropout, because Keras's first ``fit`` of a new model draws from
      PyTorch's global generator too).
    """
    check_choice(loss, LOSSES, "loss")
    check_schedule(schedule, val_data, checkpoint)
    check_training_args(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                        weight_decay=weight_decay, device=device)
    check_scaling_args(epochs=epochs, accumulate=accumulate, precision=precision,
                       checkpoint=checkpoint, resume=resume, stop_after=stop_after)
    _check_precision(model, precision)
    jit_compile = resolve_jit_compile(jit_compile)
    check_early_stopping(early_stopping, val_data, checkpoint)
    loss_fn, metrics = _loss_and_metrics(loss)
    model.compile(optimizer=_optimizer(optimizer, lr, weight_decay, clip_norm, accumulate),
                  loss=loss_fn, metrics=metrics, jit_compile=jit_compile)
    if model.built:
        # Create the optimizer's slots (Adam's moments) now: otherwise they are
        # created inside the first traced step, and TensorFlow traces that step
        # twice, once to create them and once to run; for the deeper networks
        # of the book the second trace costs seconds. The values are unchanged.
        model.optimizer.build(model.trainable_variables)
    x, y = training_pair(train_data, loss)
    x = _model_input(x, model)
    if loss == "cross_entropy":             # labels must index the model's outputs
        check_label_range(y, int(model(x[:1], training=False).shape[-1]))
    val = None
    if val_data is not None:
        x_val, y_val = training_pair(val_data, loss, "val_data")
        val = (_model_input(x_val, model), y_val)
    if checkpoint is not None:
        if not (resume and checkpoint_files(checkpoint)["keras_state"].exists()):
            seed_random_layers(model, seed)
        history = _train_with_checkpoints(model, x, y, val, epochs=epochs, lr=lr,
                                          batch_size=batch_size, seed=seed, progress=progress,
                                          augment=augment, schedule=schedule,
                                          checkpoint=checkpoint, resume=resume,
                                          stop_after=stop_after)
        check_finite_loss(history)
        return history
    callbacks = [TqdmCallback(epochs, type(model).__name__)] if progress else []
    callbacks.append(keras.callbacks.TerminateOnNaN())   # stop a diverged run at once
    if early_stopping is not None:
        callbacks.append(RestoreBest(early_stopping))
    if schedule == "plateau":
        callbacks.append(PlateauCallback(lr))
    elif schedule != "constant":
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch: float(scheduled_lr(lr, epoch, epochs, schedule))))
    seed_random_layers(model, seed)         # dropout's masks come from seed ...
    batches = AugmentedBatches(x, y, batch_size, augment, seed)   # ... and so does the order
    with private_backend_generator(seed):
        fit = model.fit(batches, validation_data=val, epochs=epochs, verbose=0,
                        shuffle=False, callbacks=callbacks)   # the batches are shuffled already
    # LearningRateScheduler logs the rate too; PyTorch's history has no such key.
    history = {k: [float(v) for v in values] for k, values in fit.history.items()
               if k != "learning_rate"}
    check_finite_loss(history)              # a diverged run stops with a clear error
    return history


def _train_with_checkpoints(model, x, y, val, *, epochs, lr, batch_size, seed, progress,
                            augment, schedule, checkpoint, resume, stop_after) -> dict:
    """``train`` with a checkpoint: ``fit`` one epoch at a time, saving after each."""
    files = checkpoint_files(checkpoint)
    history, start = {}, 0
    if resume and files["keras_state"].exists():
        model.load_weights(files["keras_weights"])   # model and optimizer variables
        state = json.loads(files["keras_state"].read_text())
        history, start = state["history"], state["epoch"]
        for variable, value in zip(seed_states(model), state["seed_states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        _set_backend_rng_state(state.get("backend_rng"))
    end = stop_after or epochs
    for epoch in tqdm(range(start, end), desc=type(model).__name__, disable=not progress):
        model.optimizer.learning_rate.assign(scheduled_lr(lr, epoch, epochs, schedule))
        batches = EpochBatches(x, y, batch_size, augment, seed, epoch)
        fit = model.fit(batches, validation_data=val, epochs=epoch + 1, initial_epoch=epoch,
                        shuffle=False, verbose=0)   # EpochBatches has shuffled already
        for key, values in fit.history.items():
            if key != "learning_rate":
                history.setdefault(key, []).extend(float(v) for v in values)
        files["keras_state"].parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(files["keras_weights"])
        seeds = [keras.ops.convert_to_numpy(v).tolist() for v in seed_states(model)]
        files["keras_state"].write_text(json.dumps(
            {"epoch": epoch + 1, "history": history, "seed_states": seeds,
             "backend_rng": _backend_rng_state()}))
    return history


def predict(model: keras.Model, x, batch_size: int = 1024) -> np.ndarray:
    """Model outputs (logits) for NumPy input, in inference mode, as NumPy.

    A model whose class sets ``token_input = True`` (the language models of
    part VI) gets int32 token ids; any other model float32.
    """
    x = _model_input(x, model)
    outs = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
            for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)


def evaluate(model: keras.Model, data, *, loss: str = "cross_entropy", batch_size: int = 1024) -> dict:
    """Mean loss (and accuracy for classification) on ``data = (x, y)``.

    The outputs are computed ``batch_size`` examples at a time, as in PyTorch.
    """
    check_choice(loss, LOSSES, "loss")
    x, y = training_pair(data, loss, "data")
    check_positive_int(batch_size, "batch_size")
    out = predict(model, x, batch_size)
    loss_fn, _ = _loss_and_metrics(loss)
    scores = {"loss": float(keras.ops.convert_to_numpy(loss_fn(np.asarray(y), out)))}
    if loss == "cross_entropy":
        scores["accuracy"] = float(np.mean(out.argmax(-1) == np.asarray(y)))
    elif loss == "binary_cross_entropy":
        y = np.asarray(y)
        if out.ndim == y.ndim + 1:  # one logit per example: (batch, 1) against (batch,)
            out = out.squeeze(-1)
        # logit > 0 <=> p > 0.5; with several labels per example, the share of labels right
        scores["accuracy"] = float(np.mean((out > 0) == y))
    return scores


def train_perceptron(model, x, y, *, epochs: int, lr: float = 1.0, seed: int = 0,
                     shuffle: bool = True) -> dict:
    """Rosenblatt's perceptron rule, one example at a time (no gradients).

    For each example: predict ``y_hat = step(w . x + b)`` in {0, 1}; the error
    ``y - y_hat`` is -1, 0 or +1, and the update is ``w += lr * error * x``,
    ``b += lr * error``, so only mistakes move the weights. Stops after the
    first epoch without a mistake. The visiting order comes from NumPy
    (``seed``), so the PyTorch version visits the examples in the same order.

    Returns ``{"mistakes": [...], "weights": [...]}``: the number of mistakes
    in each epoch and the parameters ``[w_1, ..., w_d, b]`` after it.
    """
    check_binary_labels(y, "Perceptron")
    y = np.asarray(y, dtype="float32")
    check_features(np.shape(x), model.in_features, "Perceptron")
    x = keras.ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    kernel, bias = model.linear.kernel, model.linear.bias   # kernel: (features, 1)
    rng = np.random.default_rng(seed)
    history = {"mistakes": [], "weights": []}
    for _ in range(epochs):
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        mistakes = 0
        for i in order:
            score = keras.ops.sum(kernel[:, 0] * x[i]) + bias[0]
            y_hat = float(keras.ops.convert_to_numpy(score) >= 0)
            error = y[i] - y_hat
            if error != 0:
                kernel.assign(kernel + lr * error * keras.ops.expand_dims(x[i], 1))
                bias.assign(bias + lr * error)
                mistakes += 1
        history["mistakes"].append(mistakes)
        history["weights"].append(np.concatenate([keras.ops.convert_to_numpy(kernel)[:, 0],
                                                  keras.ops.convert_to_numpy(bias)]))
        if mistakes == 0:
            break
    return history


# Keras 3 has no backend-independent "gradient of this function" call: each
# backend differentiates in its own way (tf.GradientTape, torch.autograd,
# jax.grad). What every backend does run is an optimizer step, and one step of
# plain SGD with learning rate 1 moves each weight by exactly minus its
# gradient. The two functions below read gradients off such a step.

class _Mode(keras.Model):
    """``model(x, training=mode)`` whatever mode ``fit`` asks for."""

    def __init__(self, model, mode: bool):
        super().__init__(name="fixed_mode")
        self.model, self.mode = model, mode

    def call(self, x, training=False):
        return self.model(x, training=self.mode)


def gradients(model: keras.Model, data, *, loss: str = "mse", training: bool = False) -> dict:
    """The gradient of the mean loss on ``data = (x, y)`` for every weight.

    Computed in inference mode by default, as ``companion.torch.gradients``
    does: batch normalisation normalises with its moving statistics and
    dropout is off; ``training=True`` uses the batch's own statistics (and
    dropout), as a training step does. Backend-independent: ``w_before -
    w_after`` for one SGD step with learning rate 1 on the whole of ``data``;
    every variable of the model (the moving statistics included) is put back
    afterwards, so the model computes exactly what it computed before.
    Returns ``{weight path: NumPy array}`` in Keras's layout. Float32 rounding
    of ``w - g`` limits the relative precision to about ``1e-7 * |w| / |g|``.
    """
    check_choice(loss, LOSSES, "loss")
    loss_fn, _ = _loss_and_metrics(loss)
    x, y = np.asarray(data[0], dtype="float32"), np.asarray(data[1])
    saved = [keras.ops.convert_to_numpy(w) for w in model.weights]
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    probe = _Mode(model, bool(training))
    probe.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=loss_fn)
    probe.train_on_batch(x, y)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    for w, value in zip(model.weights, saved):
        w.assign(value)
    return {w.path: b - a for w, b, a in zip(model.trainable_weights, before, after)}


class _InputProbe(keras.Model):
    """``model(x + probe)`` with a trainable probe that starts at zero and a frozen model."""

    def __init__(self, model, shape):
        super().__init__(name="input_probe")
        self.model = model
        self.probe = self.add_weight(shape=shape, initializer="zeros", name="probe")

    def call(self, x, training=False):
        return self.model(x + self.probe, training=False)


def _sum_per_example(y_true, y_pred):
    return keras.ops.sum(keras.ops.reshape(y_pred, (keras.ops.shape(y_pred)[0], -1)), axis=1)


def input_gradients(model: keras.Model, x) -> np.ndarray:
    """``d(sum of the model's outputs for example i) / d(x[i])`` for every example and step.

    Backend-independent: a zero *probe* the size of ``x`` is added to the
    input and is the only trainable weight; one SGD step with learning rate 1
    on the loss "sum of the outputs" moves the probe to exactly minus the
    gradient (Keras averages the loss over the batch, so the result is
    multiplied back by the batch size). Because the probe starts at 0, even
    gradients of 1e-30 come out with full float32 relative precision.
    Shape: the shape of ``x``.
    """
    x = np.asarray(x, dtype="float32")
    trainable = model.trainable
    model.trainable = False
    try:
        probed = _InputProbe(model, x.shape)
        probed.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=_sum_per_example)
        probed.train_on_batch(x, np.zeros(len(x), dtype="float32"))
        return -keras.ops.convert_to_numpy(probed.probe) * len(x)
    finally:
        model.trainable = trainable

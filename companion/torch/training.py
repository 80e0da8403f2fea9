"""A small, readable PyTorch training loop.

``train`` returns the same history dict as ``companion.keras.train`` (the keys
of ``keras.Model.fit``), so chapters can plot both frameworks together.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from companion.checks import (check_binary_labels, check_choice, check_features,
                              check_early_stopping, check_positive_int,
                              check_finite_loss, check_label_range, check_training_args,
                              training_pair)
from companion.scaling import check_scaling_args, checkpoint_files
from companion.schedules import Plateau, check_schedule, scheduled_lr

LOSSES = {
    "cross_entropy": nn.CrossEntropyLoss,        # integer labels, logits in
    "binary_cross_entropy": nn.BCEWithLogitsLoss,  # {0, 1} labels, one logit in
    "mse": nn.MSELoss,
}
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def _as_tensors(x, y, loss: str, device, dtype=torch.float32, tokens: bool = False):
    # token ids (models with ``token_input = True``, part VI) stay integers; features are floats
    x = torch.as_tensor(np.asarray(x), dtype=torch.long if tokens else dtype, device=device)
    if loss == "cross_entropy":
        y = torch.as_tensor(np.asarray(y), dtype=torch.long, device=device)
    else:
        y = torch.as_tensor(np.asarray(y), dtype=dtype, device=device)
    return x, y


def _tokens(model) -> bool:
    """Whether the model reads integer token ids (its class sets ``token_input = True``)."""
    return bool(getattr(model, "token_input", False))


def _float_dtype(model: nn.Module) -> torch.dtype:
    """float32, or float64 for a model built in double precision (``model.double()``)."""
    dtype = next(model.parameters()).dtype
    return torch.float64 if dtype == torch.float64 else torch.float32


def _loss_value(loss_fn, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if isinstance(loss_fn, nn.CrossEntropyLoss) and out.ndim > 2:
        # A sequence of class scores (batch, steps, classes) with labels (batch, steps):
        # every step is one classification (nn.CrossEntropyLoss wants classes second).
        return loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    # A single-output model returns (batch, 1) or (batch, steps, 1); targets lack the 1.
    if out.ndim == y.ndim + 1 and out.shape[-1] == 1:
        out = out.squeeze(-1)
    return loss_fn(out, y)


def _accuracy(out: torch.Tensor, y: torch.Tensor, loss: str) -> float:
    if loss == "cross_entropy":
        return (out.argmax(dim=-1) == y).float().mean().item()
    if out.ndim == y.ndim + 1:
        out = out.squeeze(-1)
    return ((out > 0).float() == y).float().mean().item()  # logit > 0 <=> p > 0.5


def _private_random_numbers(train_fn):
    """Run ``train`` on a private copy of PyTorch's global generator, seeded with ``seed``.

    Dropout and other random layers draw from PyTorch's global generator. Inside
    ``train`` that generator is forked (``torch.random.fork_rng``) and seeded
    with the call's ``seed``, so the same seed gives the same dropout masks, and
    retraining the same weights gives the same losses, whatever ran before; on
    return the caller's generator is exactly where it was (no side effect).
    """
    @functools.wraps(train_fn)
    def train(model, *args, **kwargs):
        seed = kwargs.get("seed", 0)
        device = kwargs.get("device")
        params = next(model.parameters(), None) if isinstance(model, nn.Module) else None
        # (train itself validates ``device``; here only "is it a CUDA device?")
        on_cuda = str(device).startswith("cuda") or \
            (params is not None and params.device.type == "cuda")
        devices = list(range(torch.cuda.device_count())) if on_cuda and \
            torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return train_fn(model, *args, **kwargs)
    return train


@_private_random_numbers
def train(model: nn.Module, train_data, val_data=None, *, epochs: int, lr: float = 1e-3,
          batch_size: int = 32, optimizer: str = "adam", loss: str = "cross_entropy",
          weight_decay: float = 0.0, clip_norm: float | None = None, seed: int = 0,
          device: str | None = None, progress: bool = True, augment=None,
          schedule: str = "constant", accumulate: int = 1, precision: str = "float32",
          checkpoint=None, resume: bool = False, stop_after: int | None = None,
          early_stopping: int | None = None) -> dict:
    """Train ``model`` with mini-batch gradient descent; return the history dict.

    ``train_data`` and ``val_data`` are ``(x, y)`` pairs of NumPy arrays.
    History keys: ``loss`` and ``val_loss``, plus ``accuracy`` and
    ``val_accuracy`` for classification losses; one value per epoch.
    ``clip_norm`` rescales the gradient whenever the norm of all gradients
    together exceeds it (global-norm clipping, as Keras's ``global_clipnorm``).
    Sequence outputs work too: ``(batch, steps, classes)`` scores with
    ``(batch, steps)`` labels, or ``(batch, steps, 1)`` predictions with
    ``(batch, steps)`` targets.
    ``augment``, if given, is a NumPy function ``(x_batch, rng) -> x_batch``
    applied to every training batch (e.g. ``companion.data.random_shift``).
    ``schedule="cosine"`` lowers the learning rate from ``lr`` towards 0 over
    the epochs, ``"cyclical"`` cycles it between ``lr / 10`` and ``lr``, and
    ``"plateau"`` halves it whenever ``val_loss`` has not improved for two
    epochs (one value per epoch, ``companion.schedules``; Keras follows the
    same values).

    ``seed`` fixes everything random in the call: the shuffling order, the
    augmentations and dropout's masks (dropout draws from a private copy of
    PyTorch's global generator, seeded with ``seed``; the caller's generator
    is left as it was). The same seed and the same starting weights give the
    same history; the initial weights come from ``companion.set_seed``.

    ``early_stopping=p`` stops after ``p`` epochs in a row without a lower
    ``val_loss`` and puts back the weights of the epoch with the lowest
    ``val_loss`` (also when training ran to ``epochs``); it needs ``val_data``.
    The history then has one entry per epoch run, and the best epoch is
    ``argmin(history["val_loss"])``.

    Scaling (appendix "From one device to many"; the same arguments as in Keras):

    * ``accumulate=k`` takes one optimizer step every ``k`` mini-batches of
      ``batch_size``, with the gradient of their mean loss: the same update as
      one batch of ``k * batch_size``, in a ``k`` times smaller memory.
    * ``precision``: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"``
      mixed precision: the forward pass and the loss run under
      ``torch.autocast``; the weights and the optimizer stay float32.
      ``"float16"`` also scales the loss (``torch.amp.GradScaler``) so that small
      gradients do not underflow.
    * ``checkpoint="runs/mlp"`` writes ``runs/mlp.pt`` after every epoch (model,
      optimizer, epoch, history, and the shuffling, augmentation and PyTorch
      random states); ``resume=True`` continues from it (or starts afresh where
      there is none yet, as a preemptible job wants), so an interrupted run
      ends with the same weights and history as an uninterrupted one. The
      file holds tensors and plain Python values only and is read with
      ``torch.load(..., weights_only=True)``. ``stop_after=n`` ends this call
      after epoch ``n`` (as a job's time limit would), keeping the checkpoint.
    """
    check_choice(loss, LOSSES, "loss")
    check_schedule(schedule, val_data, checkpoint)
    check_choice(optimizer, OPTIMIZERS, "optimizer")
    check_training_args(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                        weight_decay=weight_decay, device=device)
    check_scaling_args(epochs=epochs, accumulate=accumulate, precision=precision,
                       checkpoint=checkpoint, resume=resume, stop_after=stop_after)
    check_early_stopping(early_stopping, val_data, checkpoint)
    train_data = training_pair(train_data, loss)
    if val_data is not None:
        val_data = training_pair(val_data, loss, "val_data")
    device = device or next(model.parameters()).device
    model.to(device)
    x, y = _as_tensors(*train_data, loss, device, _float_dtype(model), _tokens(model))
    if loss == "cross_entropy":             # labels must index the model's outputs
        was_training = model.training
        model.eval()
        with torch.no_grad():
            n_outputs = model(x[:1]).shape[-1]
        model.train(was_training)
        check_label_range(train_data[1], n_outputs)
    loss_fn = LOSSES[loss]()
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)  # the shuffling order is reproducible
    rng = np.random.default_rng(seed)                 # ... and so are the augmentations
    classify = loss != "mse"
    device_type = torch.device(device).type
    autocast = torch.autocast(device_type, dtype=getattr(torch, precision),
                              enabled=precision != "float32")
    scaler = torch.amp.GradScaler(device_type, enabled=precision == "float16")

    history = {"loss": [], "val_loss": []}
    if classify:
        history.update(accuracy=[], val_accuracy=[])
    start = 0
    path = checkpoint_files(checkpoint)["torch"] if checkpoint is not None else None
    if resume and path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors, plain values
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])        # dropout's random numbers
        rng.bit_generator.state = state["numpy_rng"]
        history, start = state["history"], state["epoch"]
    end = stop_after or epochs
    best_loss, best_state, waited = float("inf"), None, 0
    plateau = Plateau()
    bar = tqdm(range(start, end), desc=type(model).__name__, disable=not progress)
    for epoch in bar:
        for group in opt.param_groups:
            group["lr"] = scheduled_lr(lr, epoch, epochs, schedule) * plateau.scale
        model.train()
        total_loss, total_correct = 0.0, 0.0
        batches = torch.randperm(len(x), generator=generator).split(batch_size * accumulate)
        for group_idx in batches:           # one optimizer step per group of micro-batches
            opt.zero_grad()
            for idx in group_idx.split(batch_size):
                xb, yb = x[idx], y[idx]
                if augment is not None:     # 0. a new random variant of every image
                    xb = torch.as_tensor(augment(xb.cpu().numpy(), rng), device=device)
                with autocast:
                    out = model(xb)         # 1. forward pass
                    batch_loss = _loss_value(loss_fn, out, yb)  # 2. loss
                # 3. backward pass; the weight len(idx) / len(group_idx) makes the summed
                #    gradients those of the mean loss over the whole group
                scaler.scale(batch_loss * (len(idx) / len(group_idx))).backward()
                total_loss += batch_loss.item() * len(idx)
                if classify:
                    total_correct += _accuracy(out.detach(), yb, loss) * len(idx)
            if clip_norm is not None:       #    (recurrent nets: cap the gradient's norm)
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            scaler.step(opt)                # 4. update the weights
            scaler.update()
        history["loss"].append(total_loss / len(x))
        check_finite_loss(history)          # a diverged run stops with a clear error
        if classify:
            history["accuracy"].append(total_correct / len(x))
        if val_data is not None:
            scores = evaluate(model, val_data, loss=loss)
            history["val_loss"].append(scores["loss"])
            if classify:
                history["val_accuracy"].append(scores["accuracy"])
            if schedule == "plateau":       # the next epoch's rate depends on this one's val_loss
                plateau.step(scores["loss"])
        if early_stopping is not None:      # keep the best weights; stop when patience runs out
            if scores["loss"] < best_loss:
                best_loss, waited = scores["loss"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
        if path is not None:                # 5. save everything a resumed run needs
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"epoch": epoch + 1, "model": model.state_dict(),
                        "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                        "numpy_rng": rng.bit_generator.state, "history": history}, path)
        if early_stopping is not None and waited >= early_stopping:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if val_data is None:
        history = {k: v for k, v in history.items() if not k.startswith("val_")}
    return history


@torch.no_grad()
def predict(model: nn.Module, x, batch_size: int = 1024) -> np.ndarray:
    """Model outputs (logits) for NumPy input, in evaluation mode, as NumPy.

    A model whose class sets ``token_input = True`` (the language models of
    part VI) gets int64 token ids; any other model its floating-point dtype.
    """
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x), dtype=torch.long if _tokens(model)
                        else _float_dtype(model), device=device)
    return torch.cat([model(xb) for xb in x.split(batch_size)]).cpu().numpy()


@torch.no_grad()
def evaluate(model: nn.Module, data, *, loss: str = "cross_entropy", batch_size: int = 1024) -> dict:
    """Mean loss (and accuracy for classification) on ``data = (x, y)``.

    Evaluated ``batch_size`` examples at a time (as Keras does), so a large
    test set does not need one forward pass's memory for all of it; the
    result is the mean over every example (and every step of a sequence).
    """
    check_choice(loss, LOSSES, "loss")
    data = training_pair(data, loss, "data")
    check_positive_int(batch_size, "batch_size")
    model.eval()
    device = next(model.parameters()).device
    x, y = _as_tensors(*data, loss, device, _float_dtype(model), _tokens(model))
    loss_fn = LOSSES[loss]()
    total_loss = total_correct = 0.0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        out = model(xb)
        weight = yb.numel()                 # the mean is over labels (steps included)
        total_loss += _loss_value(loss_fn, out, yb).item() * weight
        if loss != "mse":
            total_correct += _accuracy(out, yb, loss) * weight
    scores = {"loss": total_loss / y.numel()}
    if loss != "mse":
        scores["accuracy"] = total_correct / y.numel()
    return scores


@torch.no_grad()
def train_perceptron(model, x, y, *, epochs: int, lr: float = 1.0, seed: int = 0,
                     shuffle: bool = True) -> dict:
    """Rosenblatt's perceptron rule, one example at a time (no gradients).

    For each example: predict ``y_hat = step(w . x + b)`` in {0, 1}; the error
    ``y - y_hat`` is -1, 0 or +1, and the update is ``w += lr * error * x``,
    ``b += lr * error``, so only mistakes move the weights. Stops after the
    first epoch without a mistake. The visiting order comes from NumPy
    (``seed``), so the Keras version visits the examples in the same order.

    Returns ``{"mistakes": [...], "weights": [...]}``: the number of mistakes
    in each epoch and the parameters ``[w_1, ..., w_d, b]`` after it.
    """
    check_binary_labels(y, "Perceptron")
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.float32)
    check_features(x.shape, model.in_features, "Perceptron")
    w, b = model.linear.weight[0], model.linear.bias   # views: updating them updates the model
    rng = np.random.default_rng(seed)
    history = {"mistakes": [], "weights": []}
    for _ in range(epochs):
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        mistakes = 0
        for i in order:
            y_hat = (torch.dot(w, x[i]) + b[0] >= 0).float()
            error = y[i] - y_hat
            if error != 0:
                w += lr * error * x[i]
                b += lr * error
                mistakes += 1
        history["mistakes"].append(mistakes)
        history["weights"].append(torch.cat([w, b]).numpy().copy())
        if mistakes == 0:
            break
    return history


def gradients(model: nn.Module, data, *, loss: str = "mse", training: bool = False) -> dict:
    """The gradient of the mean loss on ``data = (x, y)`` for every parameter, by autograd.

    Computed in evaluation mode by default (batch normalisation with its
    running statistics, no dropout), as ``companion.keras.gradients``;
    ``training=True`` uses the batch's own statistics, as a training step
    does. Either way the model is left as it was: same mode, same running
    statistics, ``.grad`` fields untouched. Returns ``{parameter name: NumPy
    array}`` in PyTorch's layout.
    """
    check_choice(loss, LOSSES, "loss")
    was_training = model.training
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    model.train(bool(training))
    device = next(model.parameters()).device
    x, y = _as_tensors(*data, loss, device, _float_dtype(model), _tokens(model))
    params = dict(model.named_parameters())
    try:
        value = _loss_value(LOSSES[loss](), model(x), y)
        grads = torch.autograd.grad(value, list(params.values()))
    finally:
        model.train(was_training)
        with torch.no_grad():               # a training-mode pass moved the running statistics
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    return {name: g.detach().cpu().numpy() for name, g in zip(params, grads)}


def input_gradients(model: nn.Module, x) -> np.ndarray:
    """``d(sum of the model's outputs for example i) / d(x[i])`` for every example and step.

    The examples do not interact, so one backward pass of the sum over the
    batch gives every example's own gradient. Shape: the shape of ``x``.
    """
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), [x])
    return grad.detach().cpu().numpy()

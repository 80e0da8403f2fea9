"""``value_and_grad`` for Keras 3 on any backend, in float64 (chapter:
Backpropagation and automatic differentiation, ``book/foundations/backprop.md``).

Keras 3 runs on TensorFlow, PyTorch or JAX and leaves differentiation to the
backend: it has no backend-neutral "value and gradient of this function"
call. This module is the small dispatcher the chapter uses instead. It is
one of the few places in the companion's Keras code that touch a backend
directly, on purpose:

* TensorFlow backend: ``tf.GradientTape`` records the operations of ``fn()``
  and replays them backwards;
* PyTorch backend: Keras variables hold ``torch.nn.Parameter`` tensors, so
  ``torch.autograd.grad`` differentiates ``fn()`` directly;
* JAX backend: JAX differentiates pure functions only, so the variables'
  values are passed in explicitly through ``keras.StatelessScope`` and
  ``jax.value_and_grad`` does the rest.

``fn`` is any function of no arguments that reads the variables (through
``keras.ops``, layers or models) and returns a scalar. Unlike the helpers in
``companion.keras.autodiff`` (which differentiate with respect to inputs or
a model's float32 weights), this one differentiates with respect to any list
of ``keras.Variable`` objects and keeps their dtype, so float64 variables
give float64 gradients.
"""
from __future__ import annotations

import keras
import numpy as np

BACKENDS = ("tensorflow", "torch", "jax")


def _check(fn, variables):
    if not callable(fn):
        raise ValueError(f"fn must be a callable with no arguments returning a scalar, "
                         f"got {type(fn).__name__}")
    variables = list(variables)
    if not variables:
        raise ValueError("variables must hold at least one keras.Variable")
    for v in variables:
        if not isinstance(v, keras.Variable):
            raise ValueError(f"variables must be keras.Variable objects (e.g. "
                             f"keras.Variable(array, dtype='float64')), got {type(v).__name__}")
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(f"value_and_grad supports the backends {BACKENDS}, not {backend!r}")
    return variables, backend


def _check_scalar(value):
    if len(keras.ops.shape(value)) != 0:
        raise ValueError(f"fn must return a scalar, got shape {tuple(keras.ops.shape(value))}")


def value_and_grad(fn, variables):
    """Return ``(fn(), [d fn / d v for v in variables])`` on the active backend.

    The value and the gradients are backend tensors with the dtype of the
    variables; convert them with ``keras.ops.convert_to_numpy`` (or call
    ``numpy_value_and_grad``). A variable that ``fn`` does not use gets a
    gradient of zeros.
    """
    variables, backend = _check(fn, variables)

    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for v in variables:              # trainable variables are watched anyway;
                tape.watch(v.value)          # this covers non-trainable ones too
            value = fn()
        _check_scalar(value)
        grads = tape.gradient(value, [v.value for v in variables],
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, list(grads)

    if backend == "torch":
        import torch

        tensors = [v.value for v in variables]
        flags = [t.requires_grad for t in tensors]
        for t in tensors:
            t.requires_grad_(True)
        try:
            value = fn()
            _check_scalar(value)
            # autograd.grad returns the gradients instead of adding them to .grad
            grads = torch.autograd.grad(value, tensors, allow_unused=True)
        finally:
            for t, flag in zip(tensors, flags):
                t.requires_grad_(flag)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads)]
        return value.detach(), grads

    import jax  # pragma: no cover - JAX is not installed in the book's environment

    def pure(values):  # pragma: no cover
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn()

    value, grads = jax.value_and_grad(pure)([v.value for v in variables])  # pragma: no cover
    return value, list(grads)  # pragma: no cover


def numpy_value_and_grad(fn, variables):
    """``value_and_grad`` with the results converted to a float and NumPy arrays."""
    value, grads = value_and_grad(fn, variables)
    return (float(keras.ops.convert_to_numpy(value)),
            [np.asarray(keras.ops.convert_to_numpy(g)) for g in grads])


# ----------------------------------------------------------------------------
# The chapter's two-layer network written with keras.ops, for any backend

ACTIVATIONS = ("tanh", "sigmoid", "relu")
LOSSES = ("softmax_cross_entropy", "mse")


def two_layer_loss(variables: dict, x, y, *, activation: str = "tanh",
                   loss: str = "softmax_cross_entropy"):
    """The loss of ``companion.numpy.backprop.forward``, written with ``keras.ops``.

    ``variables`` holds ``keras.Variable`` objects ``W1, b1, W2, b2`` in the
    NumPy reference's layout (``W`` is ``(out, in)``). The affine maps use
    ``keras.ops.einsum`` and the averages ``keras.ops.sum`` divided by a
    count: on the PyTorch and JAX backends, Keras 3 follows JAX's type
    promotion, under which ``keras.ops.matmul`` and ``keras.ops.mean`` of
    float64 tensors return float32 (only the TensorFlow backend keeps
    float64 there); ``einsum`` and ``sum`` keep float64 on every backend.
    """
    from keras import ops

    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {list(LOSSES)}")
    missing = {"W1", "b1", "W2", "b2"} - set(variables)
    if missing:
        raise ValueError(f"variables must hold W1, b1, W2 and b2; missing {sorted(missing)}")
    dtype = variables["W1"].dtype
    x = ops.convert_to_tensor(np.asarray(x), dtype=dtype)
    z1 = ops.einsum("nd,hd->nh", x, variables["W1"]) + variables["b1"]
    a1 = {"tanh": ops.tanh, "sigmoid": ops.sigmoid, "relu": ops.relu}[activation](z1)
    z2 = ops.einsum("nh,kh->nk", a1, variables["W2"]) + variables["b2"]
    n, k = np.shape(x)[0], int(variables["W2"].shape[0])
    if loss == "softmax_cross_entropy":
        log_probs = ops.log_softmax(z2, axis=-1)
        labels = ops.convert_to_tensor(np.asarray(y).reshape(-1, 1), dtype="int32")
        picked = ops.take_along_axis(log_probs, labels, axis=1)
        return -ops.sum(picked) / n
    diff = z2 - ops.convert_to_tensor(np.asarray(y), dtype=dtype)
    return ops.sum(diff * diff) / (n * k)

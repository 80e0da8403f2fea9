"""``value_and_grad`` for Keras 3 on any backend, in float64, and the two-layer network (chapter:
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
``keras.ops``, layers or models) and returns a scalar. The dispatcher itself,
``value_and_grad``, lives in ``companion.keras.autodiff`` (shared with the
activation, loss and deep-training chapters) and is re-exported here; this
module adds the chapter's two-layer network written with ``keras.ops``.
"""
from __future__ import annotations

import keras
import numpy as np

from companion.keras.autodiff import numpy_value_and_grad, value_and_grad  # noqa: F401

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

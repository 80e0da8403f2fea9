"""Gradients for Keras code, whatever the backend.

Used by the chapters "Activation functions", "Loss functions",
"Backpropagation" and "Training deep networks" (``book/foundations/``).

Keras 3 has no backend-neutral "gradient of this function" call: training
(``fit``, ``train_on_batch``) differentiates internally, but to *read* a
gradient each backend has its own tool: ``tf.GradientTape`` for TensorFlow,
``torch.autograd`` for PyTorch and ``jax.value_and_grad`` for JAX.
``value_and_grad`` below is the one place that picks the right tool from
``keras.backend.backend()``; ``grad`` (with respect to an input) and
``weight_gradients`` (with respect to a model's weights) are built on it, so a
chapter can stay backend-neutral. Gradients keep the variables' dtype, so
float64 variables give float64 gradients. (``companion.keras.training.gradients`` reads weight
gradients off an SGD step instead, which works everywhere but loses precision
when a gradient is many orders of magnitude smaller than its weight; the
saturation experiments need the exact values.)
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
    if backend == "jax" and any(v.dtype == "float64" for v in variables):
        import jax

        if not jax.config.jax_enable_x64:   # JAX would silently compute in float32
            raise ValueError("float64 gradients on the JAX backend need 64-bit JAX: set the "
                             "environment variable JAX_ENABLE_X64=1 before importing keras")
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

    import jax

    def pure(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            value = fn()
        _check_scalar(value)
        return value

    value, grads = jax.value_and_grad(pure)([v.value for v in variables])
    return value, list(grads)


def numpy_value_and_grad(fn, variables):
    """``value_and_grad`` with the results converted to a float and NumPy arrays."""
    value, grads = value_and_grad(fn, variables)
    return (float(keras.ops.convert_to_numpy(value)),
            [np.asarray(keras.ops.convert_to_numpy(g)) for g in grads])


def grad(fn, x, dtype: str = "float32") -> np.ndarray:
    """The gradient of ``sum(fn(x))`` with respect to ``x``, as NumPy.

    ``fn`` takes and returns backend tensors (write it with ``keras.ops`` or
    ``keras.activations``). For an element-wise ``fn`` this is the derivative
    ``fn'(x)`` at every entry; for a loss it is the gradient of the loss.
    """
    x = keras.Variable(np.asarray(x, dtype=dtype), dtype=dtype, trainable=False)
    _, (g,) = numpy_value_and_grad(lambda: keras.ops.sum(fn(x.value)), [x])
    return g


def weight_gradients(model: keras.Model, loss_fn, x, y) -> dict:
    """The gradient of ``loss_fn(y, model(x))`` for every trainable weight.

    Returns ``{weight path: NumPy array}`` in Keras's layout (kernels are
    ``(in, out)``). The model runs in training mode, its weights are untouched.
    """
    x = keras.ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    y = keras.ops.convert_to_tensor(np.asarray(y))
    weights = model.trainable_weights
    _, grads = numpy_value_and_grad(lambda: loss_fn(y, model(x, training=True)), weights)
    return {w.path: g for w, g in zip(weights, grads)}

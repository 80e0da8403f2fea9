"""Gradients for Keras code, whatever the backend.

Used by the chapters "Activation functions" and "Loss functions"
(``book/foundations/activations.md``, ``book/foundations/losses.md``).

Keras 3 has no backend-neutral "gradient of this function" call: training
(``fit``, ``train_on_batch``) differentiates internally, but to *read* a
gradient each backend has its own tool: ``tf.GradientTape`` for TensorFlow,
``torch.autograd`` for PyTorch and ``jax.grad`` for JAX. The two functions
below pick the right one from ``keras.backend.backend()``, so a chapter can
stay backend-neutral. (``companion.keras.training.gradients`` reads weight
gradients off an SGD step instead, which works everywhere but loses precision
when a gradient is many orders of magnitude smaller than its weight; the
saturation experiments need the exact values.)
"""
from __future__ import annotations

import keras
import numpy as np

BACKENDS = ("tensorflow", "torch", "jax")


def _backend() -> str:
    name = keras.backend.backend()
    if name not in BACKENDS:
        raise ValueError(f"gradients need one of the backends {BACKENDS}, got {name!r}")
    return name


def grad(fn, x, dtype: str = "float32") -> np.ndarray:
    """The gradient of ``sum(fn(x))`` with respect to ``x``, as NumPy.

    ``fn`` takes and returns backend tensors (write it with ``keras.ops`` or
    ``keras.activations``). For an element-wise ``fn`` this is the derivative
    ``fn'(x)`` at every entry; for a loss it is the gradient of the loss.
    """
    x = np.asarray(x, dtype=dtype)
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            total = tf.reduce_sum(fn(xt))
        return tape.gradient(total, xt).numpy()
    if backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True, device=keras.ops.convert_to_tensor(x).device)
        (g,) = torch.autograd.grad(fn(xt).sum(), [xt])
        return g.detach().cpu().numpy()
    import jax  # pragma: no cover - JAX is not installed in the book's environment
    import jax.numpy as jnp

    return np.asarray(jax.grad(lambda v: jnp.sum(fn(v)))(jnp.asarray(x)))


def weight_gradients(model: keras.Model, loss_fn, x, y) -> dict:
    """The gradient of ``loss_fn(y, model(x))`` for every trainable weight.

    Returns ``{weight path: NumPy array}`` in Keras's layout (kernels are
    ``(in, out)``). The model runs in training mode, its weights are untouched.
    """
    x = keras.ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    y = keras.ops.convert_to_tensor(np.asarray(y))
    weights = model.trainable_weights
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, weights)
    elif backend == "torch":
        import torch

        loss = loss_fn(y, model(x, training=True))
        grads = torch.autograd.grad(loss, [w.value for w in weights])
    else:  # pragma: no cover - JAX is not installed in the book's environment
        import jax

        trainable = [w.value for w in weights]
        frozen = [w.value for w in model.non_trainable_weights]

        def loss_of(values):
            out, _ = model.stateless_call(values, frozen, x, training=True)
            return loss_fn(y, out)

        grads = jax.grad(loss_of)(trainable)
    return {w.path: keras.ops.convert_to_numpy(g) for w, g in zip(weights, grads)}

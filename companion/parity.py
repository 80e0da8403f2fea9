"""Copy weights from a PyTorch model to its Keras twin, and compare their outputs.

The two twins are built with the same layers in the same order, so the copy
walks both models' weight-carrying layers in order and applies, for each pair
of layer types, a rule that knows how the two frameworks store that layer:

=================  =================  =========================================
PyTorch            Keras              rule
=================  =================  =========================================
``nn.Linear``      ``layers.Dense``   kernel is ``weight.T`` (PyTorch stores
                                      ``(out, in)``, Keras ``(in, out)``)
``nn.Conv2d``      ``layers.Conv2D``  kernel is ``weight`` transposed from
                                      OIHW ``(out, in/groups, kh, kw)`` to
                                      HWIO ``(kh, kw, in/groups, out)``;
                                      stride, groups and (effective) padding
                                      must agree, else ``ValueError``
``BatchNorm2d``    ``layers.Batch-    gamma, beta, moving mean, moving
                   Normalization``    variance from weight, bias,
                                      running_mean, running_var; requires
                                      Keras ``momentum == 1 - m`` and equal
                                      ``epsilon``, else ``ValueError``.
                                      In training mode one difference stays:
                                      PyTorch updates the running variance
                                      with the unbiased batch variance
                                      (divided by m - 1), Keras with the
                                      biased one (divided by m)
=================  =================  =========================================

Pooling, padding, activation, dropout and flatten layers carry no weights:
the twins must simply be built to match (``companion/keras/cnn.py`` says
how). Images: PyTorch models take NCHW, Keras models NHWC, so
:func:`outputs` takes a ``layout`` and transposes the input for Keras (and a
spatial output back) when it is ``"NCHW"``.

Later chapters add rules (convolutions, normalization, recurrent cells) to
``RULES``; a pair with no rule raises a ``ValueError`` that names it.
"""
from __future__ import annotations

import numpy as np


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _linear_to_dense(t_layer, k_layer) -> None:
    weights = [_numpy(t_layer.weight).T]
    if t_layer.bias is not None:
        weights.append(_numpy(t_layer.bias))
    k_layer.set_weights(weights)


def _conv2d_to_conv2d(t_layer, k_layer) -> None:
    mismatches = []
    if tuple(t_layer.stride) != tuple(k_layer.strides):
        mismatches.append(f"stride {tuple(t_layer.stride)} vs {tuple(k_layer.strides)}")
    if t_layer.groups != k_layer.groups:
        mismatches.append(f"groups {t_layer.groups} vs {k_layer.groups}")
    padding = tuple(t_layer.padding)
    kernel = tuple(t_layer.kernel_size)
    symmetric_same = all(k % 2 == 1 and p == k // 2 for k, p in zip(kernel, padding)) \
        and tuple(t_layer.stride) == (1, 1)
    # Keras "valid" after an explicit ZeroPadding2D (which the walk cannot see) is
    # allowed; "same" is only accepted where it pads symmetrically like PyTorch.
    if k_layer.padding == "same" and not symmetric_same:
        mismatches.append(f"PyTorch padding={padding} is not Keras 'same' for kernel "
                          f"{kernel} and stride {tuple(t_layer.stride)}")
    if mismatches:
        raise ValueError(f"Conv2d and Conv2D do not match: {'; '.join(mismatches)}")
    weights = [_numpy(t_layer.weight).transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    if t_layer.bias is not None:
        weights.append(_numpy(t_layer.bias))
    k_layer.set_weights(weights)


def _batchnorm_to_batchnorm(t_layer, k_layer) -> None:
    # PyTorch: running = (1 - m) * running + m * batch;
    # Keras:   moving  = momentum * moving + (1 - momentum) * batch.
    if abs(k_layer.momentum - (1.0 - t_layer.momentum)) > 1e-9:
        raise ValueError(f"BatchNorm momentum differs: PyTorch {t_layer.momentum} needs Keras "
                         f"momentum {1 - t_layer.momentum}, got {k_layer.momentum}")
    if abs(k_layer.epsilon - t_layer.eps) > 1e-12:
        raise ValueError(f"BatchNorm epsilon differs: PyTorch {t_layer.eps}, Keras "
                         f"{k_layer.epsilon} (Keras's default is 1e-3, PyTorch's 1e-5)")
    k_layer.set_weights([_numpy(t_layer.weight), _numpy(t_layer.bias),
                         _numpy(t_layer.running_mean), _numpy(t_layer.running_var)])


RULES = {
    ("Linear", "Dense"): _linear_to_dense,
    ("Conv2d", "Conv2D"): _conv2d_to_conv2d,
    ("BatchNorm2d", "BatchNormalization"): _batchnorm_to_batchnorm,
}

LAYOUTS = ("features", "NCHW")


def torch_layers(model) -> list:
    """The layers of a PyTorch model that own parameters, in registration order."""
    return [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]


def keras_layers(model) -> list:
    """The layers of a Keras model that own weights, in tracking order."""
    # Depth-first over each layer's direct sub-layers, in the order they were
    # assigned (Keras's own recursive flatten returns them in reverse order).
    found = []

    def visit(layer):
        children = list(layer._flatten_layers(include_self=False, recursive=False))
        if not children and layer.weights:
            found.append(layer)
        for child in children:
            visit(child)

    visit(model)
    return found


def copy_torch_to_keras(torch_model, keras_model) -> None:
    """Give ``keras_model`` exactly the weights of ``torch_model``.

    Raises ``ValueError`` when the models' weight-carrying layers do not line
    up one to one or a layer pair has no copy rule.
    """
    t_list, k_list = torch_layers(torch_model), keras_layers(keras_model)
    if not k_list:
        raise ValueError("the Keras model has no weights yet: build it (call it once) first")
    if len(t_list) != len(k_list):
        raise ValueError(
            f"the models do not line up: PyTorch has {len(t_list)} layers with weights "
            f"({[type(t).__name__ for t in t_list]}), Keras has {len(k_list)} "
            f"({[type(k).__name__ for k in k_list]})"
        )
    for t_layer, k_layer in zip(t_list, k_list):
        pair = (type(t_layer).__name__, type(k_layer).__name__)
        if pair not in RULES:
            raise ValueError(f"no weight-copy rule for PyTorch {pair[0]} -> Keras {pair[1]}")
        RULES[pair](t_layer, k_layer)


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC (PyTorch's image layout to Keras's)."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """NHWC -> NCHW (Keras's image layout to PyTorch's)."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def outputs(torch_model, keras_model, x, layout: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Both models' outputs on the same NumPy input, in evaluation mode.

    With ``layout="NCHW"``, ``x`` is an image batch in PyTorch's layout: the
    Keras model gets it transposed to NHWC, and a 4-D (spatial) Keras output
    is transposed back to NCHW, so the two returned arrays line up.
    """
    import keras
    import torch

    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {list(LAYOUTS)}")
    torch_model.eval()
    x = np.asarray(x, dtype=np.float32)
    with torch.no_grad():
        device = next(torch_model.parameters()).device
        out_t = _numpy(torch_model(torch.from_numpy(x).to(device)))
    x_k = to_channels_last(x) if layout == "NCHW" else x
    out_k = np.asarray(keras.ops.convert_to_numpy(keras_model(x_k, training=False)))
    if layout == "NCHW" and out_k.ndim == 4:
        out_k = to_channels_first(out_k)
    return out_t, out_k


def trainable_parameters(model) -> int:
    """Number of trainable parameters of a PyTorch or Keras model.

    (Keras's ``count_params()`` also counts BatchNorm's moving statistics,
    which PyTorch keeps as buffers, not parameters.)
    """
    if hasattr(model, "trainable_weights"):
        return int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def max_abs_difference(torch_model, keras_model, x, layout: str = "features") -> float:
    """Largest absolute difference between the two models' outputs on ``x``."""
    out_t, out_k = outputs(torch_model, keras_model, x, layout)
    if out_t.shape != out_k.shape:
        raise ValueError(f"output shapes differ: PyTorch {out_t.shape}, Keras {out_k.shape}")
    return float(np.max(np.abs(out_t - out_k)))

"""Copy weights from a PyTorch model to its Keras twin, and compare their outputs.

The two twins are built with the same layers in the same order, so the copy
walks both models' weight-carrying layers in order and applies, for each pair
of layer types, a rule that knows how the two frameworks store that layer:

=================  =================  =========================================
PyTorch            Keras              rule
=================  =================  =========================================
``nn.Linear``      ``layers.Dense``   kernel is ``weight.T`` (PyTorch stores
                                      ``(out, in)``, Keras ``(in, out)``)
``RBFLayer``       ``RBFLayer``       centres and log-widths, same shapes
=================  =================  =========================================

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


def _same_shapes(t_layer, k_layer) -> None:
    """Layers of the book's own that store their parameters the same way in both."""
    k_layer.set_weights([_numpy(p) for p in t_layer.parameters(recurse=False)])


RULES = {
    ("Linear", "Dense"): _linear_to_dense,
    ("RBFLayer", "RBFLayer"): _same_shapes,
}


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


def outputs(torch_model, keras_model, x) -> tuple[np.ndarray, np.ndarray]:
    """Both models' outputs on the same NumPy input, in evaluation mode."""
    import keras
    import torch

    torch_model.eval()
    x = np.asarray(x, dtype=np.float32)
    with torch.no_grad():
        device = next(torch_model.parameters()).device
        out_t = _numpy(torch_model(torch.from_numpy(x).to(device)))
    out_k = keras.ops.convert_to_numpy(keras_model(x, training=False))
    return out_t, np.asarray(out_k)


def max_abs_difference(torch_model, keras_model, x) -> float:
    """Largest absolute difference between the two models' outputs on ``x``."""
    out_t, out_k = outputs(torch_model, keras_model, x)
    if out_t.shape != out_k.shape:
        raise ValueError(f"output shapes differ: PyTorch {out_t.shape}, Keras {out_k.shape}")
    return float(np.max(np.abs(out_t - out_k)))

"""Copy weights from a PyTorch model to its Keras twin, and compare their outputs.

The two twins are built with the same layers in the same order, so the copy
walks both models' weight-carrying layers in order and applies, for each pair
of layer types, a rule that knows how the two frameworks store that layer:

=========================  ======================  ==========================================
PyTorch                    Keras                   rule
=========================  ======================  ==========================================
``nn.Linear``              ``layers.Dense``        kernel is ``weight.T`` (PyTorch stores
                                                   ``(out, in)``, Keras ``(in, out)``)
``nn.RNN``, ``RNNCell``,   ``SimpleRNNCell``,      kernel ``weight_ih.T``, recurrent kernel
``ElmanCell``              ``ElmanCell``           ``weight_hh.T``, bias ``b_ih + b_hh``
                                                   (Keras keeps one bias, PyTorch two)
``nn.LSTM``, ``LSTMCell``  ``LSTMCell``            as above with four blocks; the gate order
                                                   is the same, PyTorch's (i, f, g, o) is
                                                   Keras's (i, f, c, o)
``PeepholeLSTMCell``       ``PeepholeLSTMCell``    the LSTM rule plus the three peephole
                                                   vectors, copied as they are
``nn.GRU``, ``GRUCell``    ``GRUCell``             blocks reordered from PyTorch's (r, z, n)
                                                   to Keras's (z, r, h); with
                                                   ``reset_after=True`` the bias is
                                                   ``(2, 3H)``: ``[b_ih; b_hh]``, reordered.
                                                   With ``reset_after=False`` (only the
                                                   companion's written-out GRUCell has it in
                                                   PyTorch) the bias is ``b_ih + b_hh``
``RBFLayer``               ``RBFLayer``            centres and log-widths, same shapes
=========================  ======================  ==========================================

A pair with no rule raises a ``ValueError`` that names it; so does a recurrent
pair that would not compute the same function (a multi-layer or bidirectional
PyTorch layer, a GRU whose two sides disagree on ``reset_after``).
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


# ---------------------------------------------------------------- recurrent layers

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def torch_recurrent_params(layer, reverse: bool = False) -> list[np.ndarray]:
    """``[W_ih, W_hh, b_ih, b_hh]`` of a PyTorch recurrent cell or one-layer recurrent layer.

    ``reverse=True`` reads the backward direction of a bidirectional layer.
    """
    if hasattr(layer, "weight_ih_l0"):          # nn.RNN / nn.LSTM / nn.GRU
        if layer.num_layers != 1:
            raise ValueError(f"copy one layer at a time: this {type(layer).__name__} has "
                             f"num_layers={layer.num_layers}")
        if reverse and not layer.bidirectional:
            raise ValueError(f"this {type(layer).__name__} has no reverse direction")
        if not layer.bias:
            raise ValueError("the recurrent layers of the book always have biases")
        suffix = "_l0_reverse" if reverse else "_l0"
    else:                                       # a cell
        suffix = ""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return [_numpy(getattr(layer, name + suffix)) for name in names]


def _reorder_gru(a: np.ndarray) -> np.ndarray:
    """PyTorch's GRU blocks (r, z, n) along the first axis -> Keras's (z, r, h)."""
    r, z, n = np.split(a, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def keras_recurrent_weights(kind: str, W_ih, W_hh, b_ih, b_hh,
                            reset_after: bool = True) -> list[np.ndarray]:
    """Keras's ``[kernel, recurrent_kernel, bias]`` from PyTorch-layout weights.

    ``kind`` is ``"rnn"``, ``"lstm"`` or ``"gru"``. This function is the whole
    difference between the two frameworks' recurrent layers.
    """
    if kind not in _GATES:
        raise ValueError(f"unknown recurrent layer {kind!r}; expected one of {sorted(_GATES)}")
    W_ih, W_hh, b_ih, b_hh = (np.asarray(a) for a in (W_ih, W_hh, b_ih, b_hh))
    if kind == "gru":
        W_ih, W_hh, b_ih, b_hh = (_reorder_gru(a) for a in (W_ih, W_hh, b_ih, b_hh))
        bias = np.stack([b_ih, b_hh]) if reset_after else b_ih + b_hh
    else:
        bias = b_ih + b_hh   # the two biases are only ever added: Keras keeps their sum
    return [W_ih.T, W_hh.T, bias]


def _one_direction(t_layer) -> None:
    if getattr(t_layer, "bidirectional", False):
        raise ValueError(
            f"a bidirectional PyTorch {type(t_layer).__name__} is two Keras layers "
            "(layers.Bidirectional): copy each direction with torch_recurrent_params"
        )


def _simple_rnn_rule(t_layer, k_layer) -> None:
    _one_direction(t_layer)
    if getattr(t_layer, "nonlinearity", "tanh") != "tanh":
        raise ValueError("Keras's SimpleRNN uses tanh; this PyTorch RNN does not")
    k_layer.set_weights(keras_recurrent_weights("rnn", *torch_recurrent_params(t_layer)))


def _lstm_rule(t_layer, k_layer) -> None:
    _one_direction(t_layer)
    k_layer.set_weights(keras_recurrent_weights("lstm", *torch_recurrent_params(t_layer)))


def _peephole_lstm_rule(t_layer, k_layer) -> None:
    weights = keras_recurrent_weights("lstm", *torch_recurrent_params(t_layer))
    peepholes = [_numpy(getattr(t_layer, f"peephole_{g}")) for g in "ifo"]
    k_layer.set_weights(weights + peepholes)


def _gru_rule(t_layer, k_layer) -> None:
    _one_direction(t_layer)
    torch_after = getattr(t_layer, "reset_after", True)   # nn.GRU always resets after
    if torch_after != k_layer.reset_after:
        raise ValueError(
            f"the GRUs compute different functions: PyTorch reset_after={torch_after}, "
            f"Keras reset_after={k_layer.reset_after}"
        )
    k_layer.set_weights(keras_recurrent_weights("gru", *torch_recurrent_params(t_layer),
                                                reset_after=k_layer.reset_after))


RULES = {
    ("Linear", "Dense"): _linear_to_dense,
    ("RBFLayer", "RBFLayer"): _same_shapes,
    ("RNN", "SimpleRNNCell"): _simple_rnn_rule,
    ("RNNCell", "SimpleRNNCell"): _simple_rnn_rule,
    ("ElmanCell", "SimpleRNNCell"): _simple_rnn_rule,
    ("RNN", "ElmanCell"): _simple_rnn_rule,
    ("ElmanCell", "ElmanCell"): _simple_rnn_rule,
    ("LSTM", "LSTMCell"): _lstm_rule,
    ("LSTMCell", "LSTMCell"): _lstm_rule,
    ("PeepholeLSTMCell", "PeepholeLSTMCell"): _peephole_lstm_rule,
    ("GRU", "GRUCell"): _gru_rule,
    ("GRUCell", "GRUCell"): _gru_rule,
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

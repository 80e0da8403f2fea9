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
``nn.Conv2d``              ``layers.Conv2D``       kernel is ``weight`` transposed from OIHW
                                                   ``(out, in/groups, kh, kw)`` to HWIO
                                                   ``(kh, kw, in/groups, out)``; stride,
                                                   groups and (effective) padding must agree
``BatchNorm2d``            ``layers.               gamma, beta, moving mean, moving variance
                           BatchNormalization``    from weight, bias, running_mean,
                                                   running_var; requires Keras
                                                   ``momentum == 1 - m`` and equal
                                                   ``epsilon``. In training mode one
                                                   difference stays: PyTorch updates the
                                                   running variance with the unbiased batch
                                                   variance (divided by m - 1), Keras with
                                                   the biased one (divided by m)
``RBFLayer``               ``RBFLayer``            centres and log-widths, same shapes
``nn.ConvTranspose2d``     ``layers.               kernel is ``weight`` transposed from
                           Conv2DTranspose``       ``(in, out, kh, kw)`` to ``(kh, kw, out,
                                                   in)``, with no spatial flip; strides must
                                                   agree, and the padding must crop alike:
                                                   Keras ``"valid"`` is PyTorch
                                                   ``padding=0, output_padding=0``, Keras
                                                   ``"same"`` is ``2 * padding == kernel -
                                                   stride`` with ``output_padding=0``
=========================  ======================  ==========================================

A pair with no rule raises a ``ValueError`` that names it; so does a pair
that would not compute the same function (a multi-layer or bidirectional
PyTorch recurrent layer, a GRU whose two sides disagree on ``reset_after``,
convolutions whose stride, groups or padding differ, batch norms with
mismatched momentum or epsilon).

So the twins compute the same function right after a copy, and keep doing so
through training only where no batch normalization runs in training mode:
after training-mode batches the running variances drift apart by the factor
``m / (m - 1)`` per batch, and so do the evaluation outputs (3.9e-4 after
three batches of a bottleneck block, ``tests/test_parity.py``). To compare
twins after training, copy the trained PyTorch weights and running statistics
into the Keras twin again.

Pooling, padding, activation, dropout and flatten layers carry no weights:
the twins must simply be built to match (``companion/keras/cnn.py`` says
how). Images: PyTorch models take NCHW, Keras models NHWC, so
:func:`outputs` takes a ``layout`` and transposes the input for Keras (and a
spatial output back) when it is ``"NCHW"``.
"""
from __future__ import annotations

import numpy as np


def _numpy(tensor) -> np.ndarray:
    """A copy of a tensor's values. Not a view: on the JAX backend a Keras variable
    assigned from a NumPy array can keep sharing its memory, and a later in-place
    PyTorch update (an optimizer step) would then change the Keras weights too."""
    return tensor.detach().cpu().numpy().copy()


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


# ---------------------------------------------------------------- convolutional layers

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


def _conv_transpose_to_conv_transpose(t_layer, k_layer) -> None:
    """``nn.ConvTranspose2d`` -> ``layers.Conv2DTranspose``.

    PyTorch stores the weight as ``(in, out, kh, kw)`` (the layout of the
    convolution it transposes, read backwards); Keras as ``(kh, kw, out, in)``.
    Both scatter every input pixel through the kernel without flipping it, so
    the copy is a pure axis permutation. The full transposed convolution has
    ``(H - 1) * stride + kernel`` rows; PyTorch crops ``padding`` rows at the
    top and ``padding - output_padding`` at the bottom, Keras ``"valid"``
    crops none and ``"same"`` crops ``kernel - stride`` rows, the smaller half
    at the top.
    """
    mismatches = []
    stride, kernel = tuple(t_layer.stride), tuple(t_layer.kernel_size)
    padding, out_pad = tuple(t_layer.padding), tuple(t_layer.output_padding)
    if stride != tuple(k_layer.strides):
        mismatches.append(f"stride {stride} vs {tuple(k_layer.strides)}")
    if t_layer.groups != 1 or tuple(t_layer.dilation) != (1, 1):
        mismatches.append("only groups=1 and dilation=1 have a rule")
    k_out_pad = getattr(k_layer, "output_padding", None)
    if k_out_pad not in (None, 0, (0, 0)):
        mismatches.append(f"Keras output_padding={k_out_pad} has no rule")
    if any(out_pad):
        mismatches.append(f"PyTorch output_padding={out_pad} crops unevenly; use an even "
                          "kernel - stride with padding=(kernel - stride) // 2 instead")
    elif k_layer.padding == "valid" and any(padding):
        mismatches.append(f"PyTorch padding={padding} crops, Keras 'valid' does not")
    elif k_layer.padding == "same" and any(2 * p != k - s for p, k, s in zip(padding, kernel, stride)):
        mismatches.append(f"PyTorch padding={padding} is not Keras 'same' for kernel {kernel} "
                          f"and stride {stride} (needs 2 * padding == kernel - stride)")
    if mismatches:
        raise ValueError(f"ConvTranspose2d and Conv2DTranspose do not match: {'; '.join(mismatches)}")
    weights = [conv_transpose_kernel(_numpy(t_layer.weight))]
    if t_layer.bias is not None:
        weights.append(_numpy(t_layer.bias))
    k_layer.set_weights(weights)


def conv_transpose_kernel(weight: np.ndarray) -> np.ndarray:
    """PyTorch ``ConvTranspose2d`` weight ``(in, out, kh, kw)`` -> Keras ``(kh, kw, out, in)``."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(f"expected a 4-D (in, out, kh, kw) weight, got shape {weight.shape}")
    return weight.transpose(2, 3, 1, 0)


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
    ("Conv2d", "Conv2D"): _conv2d_to_conv2d,
    ("BatchNorm2d", "BatchNormalization"): _batchnorm_to_batchnorm,
    ("ConvTranspose2d", "Conv2DTranspose"): _conv_transpose_to_conv_transpose,
}


def _conv1d_to_conv1d(t_layer, k_layer) -> None:
    """``nn.Conv1d`` -> ``layers.Conv1D``: the kernel goes from (out, in, k) to (k, in, out).

    Padding must agree: PyTorch's ``padding="same"`` is Keras's ``"same"`` (both
    put the odd extra zero after the signal), and an explicit symmetric padding
    ``p`` with an odd kernel ``2p + 1`` and stride 1 is ``"same"`` too.
    """
    mismatches = []
    stride, kernel = tuple(t_layer.stride), tuple(t_layer.kernel_size)
    if stride != tuple(k_layer.strides):
        mismatches.append(f"stride {stride} vs {tuple(k_layer.strides)}")
    if tuple(t_layer.dilation) != tuple(k_layer.dilation_rate):
        mismatches.append(f"dilation {tuple(t_layer.dilation)} vs {tuple(k_layer.dilation_rate)}")
    if t_layer.groups != k_layer.groups:
        mismatches.append(f"groups {t_layer.groups} vs {k_layer.groups}")
    padding = t_layer.padding
    if padding == "same" or (isinstance(padding, tuple) and stride == (1,)
                             and kernel[0] % 2 == 1 and padding == (kernel[0] // 2,)):
        torch_padding = "same"
    elif padding in ("valid", (0,)):
        torch_padding = "valid"
    else:
        torch_padding = f"padding={padding}"
    if k_layer.padding != torch_padding:
        mismatches.append(f"PyTorch {torch_padding} vs Keras {k_layer.padding!r}")
    if mismatches:
        raise ValueError(f"Conv1d and Conv1D do not match: {'; '.join(mismatches)}")
    weights = [_numpy(t_layer.weight).transpose(2, 1, 0)]  # (out, in, k) -> (k, in, out)
    if t_layer.bias is not None:
        weights.append(_numpy(t_layer.bias))
    k_layer.set_weights(weights)


RULES.update({
    ("Conv1d", "Conv1D"): _conv1d_to_conv1d,
    ("BatchNorm1d", "BatchNormalization"): _batchnorm_to_batchnorm,
})

LAYOUTS = ("features", "NCHW", "NCL")


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
    is transposed back to NCHW, so the two returned arrays line up. With
    ``layout="NCL"``, ``x`` is a batch of signals ``(batch, channels, length)``
    and the Keras model gets ``(batch, length, channels)``.
    """
    import keras
    import torch

    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {list(LAYOUTS)}")
    torch_model.eval()
    x = np.asarray(x)
    if x.dtype.kind != "i":  # token ids stay integers; everything else is float32
        x = x.astype(np.float32)
    with torch.no_grad():
        device = next(torch_model.parameters()).device
        out_t = _numpy(torch_model(torch.from_numpy(x).to(device)))
    x_k = to_channels_last(x) if layout == "NCHW" else \
        np.ascontiguousarray(x.transpose(0, 2, 1)) if layout == "NCL" else x
    out_k = np.asarray(keras.ops.convert_to_numpy(keras_model(x_k, training=False)))
    if layout == "NCHW" and out_k.ndim == 4:
        out_k = to_channels_first(out_k)
    if layout == "NCL" and out_k.ndim == 3:
        out_k = np.ascontiguousarray(out_k.transpose(0, 2, 1))
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


# ---------------------------------------------------------------- part VIII: hybrid models

def _layernorm_to_layernorm(t_layer, k_layer) -> None:
    """``nn.LayerNorm`` -> ``layers.LayerNormalization``: gamma and beta; epsilons must agree
    (PyTorch's default is 1e-5, Keras's 1e-3)."""
    if abs(k_layer.epsilon - t_layer.eps) > 1e-12:
        raise ValueError(f"LayerNorm epsilon differs: PyTorch {t_layer.eps}, Keras {k_layer.epsilon}")
    k_layer.set_weights([_numpy(t_layer.weight), _numpy(t_layer.bias)])


def _conv2d_to_depthwise(t_layer, k_layer) -> None:
    """A depthwise ``nn.Conv2d`` (groups == channels) -> ``layers.DepthwiseConv2D``:
    weight ``(C, 1, kh, kw)`` -> kernel ``(kh, kw, C, 1)``."""
    if t_layer.groups != t_layer.in_channels or t_layer.out_channels != t_layer.in_channels:
        raise ValueError("only a depthwise Conv2d (groups == in == out channels) maps to DepthwiseConv2D")
    if tuple(t_layer.stride) != tuple(k_layer.strides):
        raise ValueError(f"depthwise stride {tuple(t_layer.stride)} vs {tuple(k_layer.strides)}")
    weights = [_numpy(t_layer.weight).transpose(2, 3, 0, 1)]
    if t_layer.bias is not None:
        weights.append(_numpy(t_layer.bias))
    k_layer.set_weights(weights)


RULES.update({
    ("LayerNorm", "LayerNormalization"): _layernorm_to_layernorm,
    ("Conv2d", "DepthwiseConv2D"): _conv2d_to_depthwise,
    ("GATAttention", "GATAttention"): _same_shapes,
    ("RelativePositionBias", "RelativePositionBias"): _same_shapes,
})


# ---------------------------------------------------------------- parts VI and VII

def _embedding_to_embedding(t_layer, k_layer) -> None:
    """``nn.Embedding`` -> ``layers.Embedding``: the same (vocabulary, dimension) table."""
    _same_shapes(t_layer, k_layer)


RULES.update({
    ("Embedding", "Embedding"): _embedding_to_embedding,
})

# -- part VI (transformers): copy rules go here --
# BERT's masked-LM decoder (companion.{torch,keras}.bert.TiedDecoder): its weight is the
# word-embedding table (copied with the Embedding); the layer owns only its bias (vocab,).
RULES[("TiedDecoder", "TiedDecoder")] = _same_shapes
# -- part VII (generative): copy rules go here --
# -- part IX (applications): copy rules go here --

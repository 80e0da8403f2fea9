"""Recurrent networks in Keras 3 (part IV of the book).

Read side by side with ``companion/torch/rnn.py``: same class names, same
constructor arguments, same layer order. Only backend-agnostic APIs
(``keras.layers``, ``keras.ops``) are used.

* **Cells, written out** (chapters Simple RNN, LSTM, GRU): ``ElmanCell``,
  ``LSTMCell``, ``PeepholeLSTMCell``, ``GRUCell``. One time step each. They
  store their weights exactly as Keras's own ``SimpleRNNCell``, ``LSTMCell``
  and ``GRUCell`` do (``kernel``, ``recurrent_kernel``, ``bias``; same gate
  order), and they plug into ``keras.layers.RNN``, which runs a cell over a
  sequence.
* **Sequence models** (registered, parity-tested against PyTorch):
  ``SimpleRNN``, ``LSTM``, ``GRU`` (Keras's built-in layers plus a ``Dense``
  head), ``PeepholeLSTM`` (``layers.RNN`` over the written-out cell) and
  ``Seq2Seq`` (an encoder-decoder).

Every sequence is batch first: ``(batch, steps, features)``.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from companion.checks import (check_choice, check_features, check_float, check_positive_int,
                              check_sequence)
from companion.keras.saving import serializable


def _forget_bias_initializer(units: int):
    """Bias 1 for the forget gate (the second of i, f, c, o), 0 elsewhere:
    what ``keras.layers.LSTM(unit_forget_bias=True)`` does."""

    def init(shape, dtype=None):
        return ops.concatenate([ops.zeros((units,), dtype=dtype), ops.ones((units,), dtype=dtype),
                                ops.zeros((2 * units,), dtype=dtype)])

    return init


def _previous(states):
    return states[0] if isinstance(states, (list, tuple)) else states


# ---------------------------------------------------------------- cells, written out

class ElmanCell(layers.Layer):
    """One step of the Elman (simple) RNN (chapter: Simple RNN).

    ``h_t = tanh(x_t K + h_{t-1} R + b)``, weights as in ``SimpleRNNCell``:
    ``kernel (I, H)``, ``recurrent_kernel (H, H)``, ``bias (H,)``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(units, "units")
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.input_size = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(self.input_size, self.units), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                name="recurrent_kernel", initializer="orthogonal")
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")

    def call(self, inputs, states, training=False):
        check_features(inputs.shape, self.input_size, "ElmanCell")
        h = ops.tanh(ops.matmul(inputs, self.kernel)
                     + ops.matmul(_previous(states), self.recurrent_kernel) + self.bias)
        return h, [h]


class LSTMCell(layers.Layer):
    """One step of the LSTM (chapter: LSTM).

    Weights as in Keras's ``LSTMCell``: ``kernel (I, 4H)``, ``recurrent_kernel
    (H, 4H)``, one ``bias (4H,)``, the four blocks in the order i, f, c, o
    (Keras calls the candidate c where PyTorch calls it g). The state is
    ``[h, c]``.
    """

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(units, "units")
        self.units = units
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.input_size = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(self.input_size, 4 * self.units), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(self.units, 4 * self.units),
                                                name="recurrent_kernel", initializer="orthogonal")
        init = _forget_bias_initializer(self.units) if self.unit_forget_bias else "zeros"
        self.bias = self.add_weight(shape=(4 * self.units,), name="bias", initializer=init)

    def gates(self, inputs, h):
        """Pre-activations of the four blocks, split: what every LSTM variant starts from."""
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        return ops.split(z, 4, axis=-1)

    def call(self, inputs, states, training=False):
        check_features(inputs.shape, self.input_size, type(self).__name__)
        h, c = states
        zi, zf, zc, zo = self.gates(inputs, h)
        i, f, g, o = ops.sigmoid(zi), ops.sigmoid(zf), ops.tanh(zc), ops.sigmoid(zo)
        c = f * c + i * g          # forget part of the old memory, write part of the candidate
        h = o * ops.tanh(c)        # expose part of the memory
        return h, [h, c]


class PeepholeLSTMCell(LSTMCell):
    """LSTM step with diagonal peephole connections (chapter: LSTM).

    The input and forget gates see ``c_{t-1}``, the output gate sees the new
    ``c_t``, through one weight per unit (Gers, Schraudolph and Schmidhuber,
    2002). Extra weights: ``peephole_i``, ``peephole_f``, ``peephole_o``, each ``(H,)``.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.peephole_i = self.add_weight(shape=(self.units,), name="peephole_i",
                                          initializer="glorot_uniform")
        self.peephole_f = self.add_weight(shape=(self.units,), name="peephole_f",
                                          initializer="glorot_uniform")
        self.peephole_o = self.add_weight(shape=(self.units,), name="peephole_o",
                                          initializer="glorot_uniform")

    def call(self, inputs, states, training=False):
        check_features(inputs.shape, self.input_size, type(self).__name__)
        h, c = states
        zi, zf, zc, zo = self.gates(inputs, h)
        i = ops.sigmoid(zi + self.peephole_i * c)       # peeks at c_{t-1}
        f = ops.sigmoid(zf + self.peephole_f * c)       # peeks at c_{t-1}
        c = f * c + i * ops.tanh(zc)
        o = ops.sigmoid(zo + self.peephole_o * c)       # peeks at the new c_t
        h = o * ops.tanh(c)
        return h, [h, c]


class GRUCell(layers.Layer):
    """One step of the GRU in Keras's convention (chapter: GRU).

    Weights as in Keras's ``GRUCell``: ``kernel (I, 3H)``, ``recurrent_kernel
    (H, 3H)``, blocks in the order z (update), r (reset), h (candidate). With
    ``reset_after=True`` (Keras's default, and what ``torch.nn.GRU`` computes)
    the bias is ``(2, 3H)``: an input bias and a recurrent bias, the second
    inside the reset gate's product::

        z = sigmoid(x K_z + b_z + h R_z + b'_z)
        r = sigmoid(x K_r + b_r + h R_r + b'_r)
        n = tanh(x K_h + b_h + r * (h R_h + b'_h))        # reset_after=True
        n = tanh(x K_h + b_h + (r * h) R_h)               # reset_after=False, bias (3H,)
        h_new = z * h + (1 - z) * n                       # z near 1 keeps the past
    """

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(units, "units")
        self.units = units
        self.reset_after = reset_after
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.input_size = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(self.input_size, 3 * self.units), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(self.units, 3 * self.units),
                                                name="recurrent_kernel", initializer="orthogonal")
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self.bias = self.add_weight(shape=shape, name="bias", initializer="zeros")

    def call(self, inputs, states, training=False):
        check_features(inputs.shape, self.input_size, "GRUCell")
        h = _previous(states)
        if self.reset_after:
            x_z, x_r, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias[0], 3, axis=-1)
            h_z, h_r, h_h = ops.split(ops.matmul(h, self.recurrent_kernel) + self.bias[1], 3,
                                      axis=-1)
            z = ops.sigmoid(x_z + h_z)
            r = ops.sigmoid(x_r + h_r)
            n = ops.tanh(x_h + r * h_h)
        else:
            x_z, x_r, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 3, axis=-1)
            R_z, R_r, R_h = ops.split(self.recurrent_kernel, 3, axis=-1)
            z = ops.sigmoid(x_z + ops.matmul(h, R_z))
            r = ops.sigmoid(x_r + ops.matmul(h, R_r))
            n = ops.tanh(x_h + ops.matmul(r * h, R_h))
        h = z * h + (1 - z) * n
        return h, [h]


# ---------------------------------------------------------------- sequence models

class _SequenceModel(keras.Model):
    """A recurrent layer followed by a ``Dense`` head.

    ``return_sequences=False`` (many-to-one): the head reads the last hidden
    state and the output is ``(batch, output_size)``. ``return_sequences=True``
    (many-to-many): the head reads every step, ``(batch, steps, output_size)``.
    """

    def __init__(self, rnn_layer, input_size: int, output_size: int, return_sequences: bool,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_size, self.return_sequences = input_size, bool(return_sequences)
        self.rnn = rnn_layer          # built with return_sequences=True: every step's state
        self.head = layers.Dense(output_size)
        self.build((None, None, input_size))   # create the weights now, as PyTorch does

    def build(self, input_shape):
        self.rnn.build(input_shape)
        self.head.build((None, self.rnn.cell.units))

    def states(self, x, training=False):
        """The hidden state of every step, ``(batch, steps, hidden)``."""
        check_sequence(x.shape, self.input_size, type(self).__name__)
        check_float(x.dtype, type(self).__name__)
        return self.rnn(x, training=training)

    def call(self, x, training=False):
        h = self.states(x, training=training)
        return self.head(h if self.return_sequences else h[:, -1])


def _check_sizes(input_size, hidden_size, output_size):
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    check_positive_int(output_size, "output_size")


@serializable
class SimpleRNN(_SequenceModel):
    """Elman RNN plus a linear head (chapter: Simple RNN); ``layers.SimpleRNN`` with tanh."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False, **kwargs):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = layers.SimpleRNN(hidden_size, return_sequences=True)
        super().__init__(rnn, input_size, output_size, return_sequences, **kwargs)


@serializable
class LSTM(_SequenceModel):
    """LSTM plus a linear head (chapter: LSTM); ``layers.LSTM``.

    ``unit_forget_bias=True`` (Keras's default) starts the forget gate at bias 1.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False, unit_forget_bias: bool = True, **kwargs):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = layers.LSTM(hidden_size, return_sequences=True, unit_forget_bias=unit_forget_bias)
        super().__init__(rnn, input_size, output_size, return_sequences, **kwargs)


@serializable
class PeepholeLSTM(_SequenceModel):
    """LSTM with diagonal peepholes plus a linear head (chapter: LSTM).

    Keras 3 has no built-in peephole LSTM: ``layers.RNN`` runs the written-out
    :class:`PeepholeLSTMCell`.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False, unit_forget_bias: bool = True, **kwargs):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = layers.RNN(PeepholeLSTMCell(hidden_size, unit_forget_bias), return_sequences=True)
        super().__init__(rnn, input_size, output_size, return_sequences, **kwargs)


@serializable
class GRU(_SequenceModel):
    """GRU plus a linear head (chapter: GRU); ``layers.GRU`` with ``reset_after=True``,
    which computes the same function as ``torch.nn.GRU``."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False, **kwargs):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = layers.GRU(hidden_size, return_sequences=True, reset_after=True)
        super().__init__(rnn, input_size, output_size, return_sequences, **kwargs)


LAYERS = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}


@serializable
class Seq2Seq(keras.Model):
    """An encoder-decoder (chapter: Recurrent networks, overview).

    The encoder reads the whole input; its final state is the *context*, the
    only thing the decoder learns about the input. The decoder starts from
    that state, receives the context as its input at each of ``output_steps``
    steps (``RepeatVector``), and a ``Dense`` head turns each decoder state
    into output scores. Input ``(batch, steps, input_size)``, output
    ``(batch, output_steps, output_size)``; the two lengths need not match.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 output_steps: int, cell: str = "gru", **kwargs):
        super().__init__(**kwargs)
        _check_sizes(input_size, hidden_size, output_size)
        check_positive_int(output_steps, "output_steps")
        check_choice(cell, LAYERS, "cell")
        self.input_size, self.output_steps, self.cell = input_size, output_steps, cell
        self.encoder = LAYERS[cell](hidden_size, return_state=True)
        self.decoder = LAYERS[cell](hidden_size, return_sequences=True)
        self.repeat = layers.RepeatVector(output_steps)
        self.head = layers.Dense(output_size)
        self.build((None, None, input_size))

    def build(self, input_shape):
        hidden = self.encoder.cell.units
        self.encoder.build(input_shape)
        self.decoder.build((None, self.output_steps, hidden))
        self.head.build((None, self.output_steps, hidden))

    def call(self, x, training=False):
        check_sequence(x.shape, self.input_size, "Seq2Seq")
        check_float(x.dtype, "Seq2Seq")
        _, *state = self.encoder(x, training=training)   # [h], or [h, c] for an LSTM
        context = state[0]
        out = self.decoder(self.repeat(context), initial_state=state, training=training)
        return self.head(out)

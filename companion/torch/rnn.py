"""Recurrent networks in PyTorch (part IV of the book).

Read side by side with ``companion/keras/rnn.py``: same class names, same
constructor arguments, same layer order.

* **Cells, written out** (chapters Simple RNN, LSTM, GRU): ``ElmanCell``,
  ``LSTMCell``, ``PeepholeLSTMCell``, ``GRUCell``. One time step each, with the
  equations in the code. They store their parameters exactly as PyTorch's own
  ``nn.RNNCell``, ``nn.LSTMCell`` and ``nn.GRUCell`` do (same names, shapes and
  gate order), so the same weights give the same numbers; ``Unroll`` runs a
  cell over a sequence.
* **Sequence models** (registered, parity-tested against Keras):
  ``SimpleRNN``, ``LSTM``, ``GRU`` (PyTorch's fast built-in layers plus a
  linear head), ``PeepholeLSTM`` (the written-out cell, unrolled; neither
  framework has a built-in peephole LSTM) and ``Seq2Seq`` (an encoder-decoder).

Every sequence is batch first: ``(batch, steps, features)``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from companion.checks import (check_choice, check_features, check_float, check_positive_int,
                              check_sequence)


def _uniform_(module: nn.Module, hidden_size: int) -> None:
    """PyTorch's initialization for recurrent layers: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters(recurse=False):
        nn.init.uniform_(p, -bound, bound)


def _set_forget_bias_(bias_ih: torch.Tensor, bias_hh: torch.Tensor, hidden: int) -> None:
    """Start the forget gate open, as Keras's ``unit_forget_bias=True`` does.

    The two bias vectors are always added, so ``b_ih`` gets 1 and ``b_hh`` 0
    in the forget-gate block (the second of i, f, g, o).
    """
    with torch.no_grad():
        bias_ih[hidden:2 * hidden] = 1.0
        bias_hh[hidden:2 * hidden] = 0.0


# ---------------------------------------------------------------- cells, written out

class ElmanCell(nn.Module):
    """One step of the Elman (simple) RNN (chapter: Simple RNN).

    ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``. Parameters as in
    ``nn.RNNCell``: ``weight_ih (H, I)``, ``weight_hh (H, H)``, ``bias_ih``, ``bias_hh``.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(hidden_size))
        _uniform_(self, hidden_size)

    def initial_state(self, batch: int, device=None) -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size, device=device, dtype=self.weight_hh.dtype)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        check_features(x.shape, self.input_size, type(self).__name__)
        if h is None:
            h = self.initial_state(len(x), x.device)
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)


class LSTMCell(nn.Module):
    """One step of the LSTM (chapter: LSTM).

    Parameters as in ``nn.LSTMCell``: ``weight_ih (4H, I)``, ``weight_hh (4H, H)``,
    ``bias_ih (4H)``, ``bias_hh (4H)``, the four blocks in the order
    i (input gate), f (forget gate), g (candidate), o (output gate). The state
    is the pair ``(h, c)``.
    """

    def __init__(self, input_size: int, hidden_size: int, unit_forget_bias: bool = True):
        super().__init__()
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        _uniform_(self, hidden_size)
        if unit_forget_bias:
            _set_forget_bias_(self.bias_ih, self.bias_hh, hidden_size)

    def initial_state(self, batch: int, device=None):
        zeros = torch.zeros(batch, self.hidden_size, device=device, dtype=self.weight_hh.dtype)
        return zeros, zeros.clone()

    def gates(self, x, h, c):
        """Pre-activations of the four blocks, split: what every LSTM variant starts from."""
        z = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        return z.chunk(4, dim=-1)

    def forward(self, x: torch.Tensor, state=None):
        check_features(x.shape, self.input_size, type(self).__name__)
        h, c = self.initial_state(len(x), x.device) if state is None else state
        zi, zf, zg, zo = self.gates(x, h, c)
        i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
        c = f * c + i * g          # forget part of the old memory, write part of the candidate
        h = o * torch.tanh(c)      # expose part of the memory
        return h, c


class PeepholeLSTMCell(LSTMCell):
    """LSTM step with diagonal peephole connections (chapter: LSTM).

    The gates also see the cell state, through one weight per unit
    (Gers, Schraudolph and Schmidhuber, 2002): the input and forget gates see
    the old state ``c_{t-1}``, the output gate sees the new state ``c_t``.
    Extra parameters: ``peephole_i``, ``peephole_f``, ``peephole_o``, each ``(H,)``.
    """

    def __init__(self, input_size: int, hidden_size: int, unit_forget_bias: bool = True):
        super().__init__(input_size, hidden_size, unit_forget_bias)
        bound = 1.0 / math.sqrt(hidden_size)
        self.peephole_i = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        self.peephole_f = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        self.peephole_o = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, state=None):
        check_features(x.shape, self.input_size, type(self).__name__)
        h, c = self.initial_state(len(x), x.device) if state is None else state
        zi, zf, zg, zo = self.gates(x, h, c)
        i = torch.sigmoid(zi + self.peephole_i * c)      # peeks at c_{t-1}
        f = torch.sigmoid(zf + self.peephole_f * c)      # peeks at c_{t-1}
        c = f * c + i * torch.tanh(zg)
        o = torch.sigmoid(zo + self.peephole_o * c)      # peeks at the new c_t
        h = o * torch.tanh(c)
        return h, c


class GRUCell(nn.Module):
    """One step of the GRU in PyTorch's convention (chapter: GRU).

    Parameters as in ``nn.GRUCell``: ``weight_ih (3H, I)``, ``weight_hh (3H, H)``,
    ``bias_ih``, ``bias_hh``, blocks in the order r (reset), z (update),
    n (candidate)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     # reset_after=True (nn.GRU)
        h' = (1 - z) * n + z * h                           # z near 1 keeps the past

    ``reset_after=False`` applies the reset gate before the product,
    ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``: the form of Cho et al.
    (2014) and of Keras's ``GRU(reset_after=False)``. ``nn.GRU`` has no such option.
    """

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = True):
        super().__init__()
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        self.input_size, self.hidden_size, self.reset_after = input_size, hidden_size, reset_after
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        _uniform_(self, hidden_size)

    def initial_state(self, batch: int, device=None) -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size, device=device, dtype=self.weight_hh.dtype)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        check_features(x.shape, self.input_size, type(self).__name__)
        if h is None:
            h = self.initial_state(len(x), x.device)
        x_r, x_z, x_n = (x @ self.weight_ih.T + self.bias_ih).chunk(3, dim=-1)
        W_hr, W_hz, W_hn = self.weight_hh.chunk(3, dim=0)
        b_hr, b_hz, b_hn = self.bias_hh.chunk(3)
        r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
        z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
        if self.reset_after:
            n = torch.tanh(x_n + r * (h @ W_hn.T + b_hn))
        else:
            n = torch.tanh(x_n + (r * h) @ W_hn.T + b_hn)
        return (1 - z) * n + z * h


class Unroll(nn.Module):
    """Run a cell over a sequence: PyTorch's counterpart of ``keras.layers.RNN(cell)``.

    Returns ``(outputs, state)`` like ``nn.RNN``: the hidden state of every step,
    ``(batch, steps, hidden)``, and the final state (``h``, or ``(h, c)`` for an LSTM).
    """

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor, state=None):
        check_sequence(x.shape, self.cell.input_size, type(self.cell).__name__)
        outputs = []
        for t in range(x.shape[1]):          # the loop the built-in layers run in C++
            state = self.cell(x[:, t], state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return torch.stack(outputs, dim=1), state


# ---------------------------------------------------------------- sequence models

class _SequenceModel(nn.Module):
    """A recurrent layer followed by a linear head.

    ``return_sequences=False`` (many-to-one): the head reads the last hidden
    state and the output is ``(batch, output_size)``. ``return_sequences=True``
    (many-to-many): the head reads every step, ``(batch, steps, output_size)``.
    """

    def __init__(self, rnn: nn.Module, input_size: int, hidden_size: int, output_size: int,
                 return_sequences: bool):
        super().__init__()
        self.input_size, self.return_sequences = input_size, bool(return_sequences)
        self.rnn = rnn
        self.head = nn.Linear(hidden_size, output_size)

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden state of every step, ``(batch, steps, hidden)``."""
        check_sequence(x.shape, self.input_size, type(self).__name__)
        check_float(x.dtype, type(self).__name__, self)
        return self.rnn(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.states(x)
        return self.head(h if self.return_sequences else h[:, -1])


def _check_sizes(input_size, hidden_size, output_size):
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    check_positive_int(output_size, "output_size")


class SimpleRNN(_SequenceModel):
    """Elman RNN plus a linear head (chapter: Simple RNN); ``nn.RNN`` with tanh."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = nn.RNN(input_size, hidden_size, nonlinearity="tanh", batch_first=True)
        super().__init__(rnn, input_size, hidden_size, output_size, return_sequences)


class LSTM(_SequenceModel):
    """LSTM plus a linear head (chapter: LSTM); ``nn.LSTM``.

    ``unit_forget_bias=True`` starts the forget gate at bias 1, as Keras does by
    default; ``nn.LSTM`` on its own draws all biases uniformly.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False, unit_forget_bias: bool = True):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        if unit_forget_bias:
            _set_forget_bias_(rnn.bias_ih_l0, rnn.bias_hh_l0, hidden_size)
        super().__init__(rnn, input_size, hidden_size, output_size, return_sequences)


class PeepholeLSTM(_SequenceModel):
    """LSTM with diagonal peepholes plus a linear head (chapter: LSTM).

    Neither framework has a built-in peephole LSTM, so this unrolls
    :class:`PeepholeLSTMCell` in a Python loop (slower than ``nn.LSTM``).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False, unit_forget_bias: bool = True):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = Unroll(PeepholeLSTMCell(input_size, hidden_size, unit_forget_bias))
        super().__init__(rnn, input_size, hidden_size, output_size, return_sequences)


class GRU(_SequenceModel):
    """GRU plus a linear head (chapter: GRU); ``nn.GRU``, whose reset gate acts after the product."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1,
                 return_sequences: bool = False):
        _check_sizes(input_size, hidden_size, output_size)
        rnn = nn.GRU(input_size, hidden_size, batch_first=True)
        super().__init__(rnn, input_size, hidden_size, output_size, return_sequences)


LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Seq2Seq(nn.Module):
    """An encoder-decoder (chapter: Recurrent networks, overview).

    The encoder reads the whole input; its final state is the *context*, the
    only thing the decoder learns about the input. The decoder starts from
    that state, receives the context as its input at each of ``output_steps``
    steps, and a linear head turns each decoder state into output scores.
    Input ``(batch, steps, input_size)``, output
    ``(batch, output_steps, output_size)``; the two lengths need not match.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 output_steps: int, cell: str = "gru"):
        super().__init__()
        _check_sizes(input_size, hidden_size, output_size)
        check_positive_int(output_steps, "output_steps")
        check_choice(cell, LAYERS, "cell")
        self.input_size, self.output_steps, self.cell = input_size, output_steps, cell
        self.encoder = LAYERS[cell](input_size, hidden_size, batch_first=True)
        self.decoder = LAYERS[cell](hidden_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x.shape, self.input_size, "Seq2Seq")
        check_float(x.dtype, "Seq2Seq", self)
        _, state = self.encoder(x)                  # (1, batch, hidden); an LSTM's is (h, c)
        context = (state[0] if self.cell == "lstm" else state)[-1]
        repeated = context[:, None, :].expand(-1, self.output_steps, -1)
        out, _ = self.decoder(repeated, state)      # the decoder starts from the encoder's state
        return self.head(out)

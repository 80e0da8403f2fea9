"""Recurrent networks by hand: forward passes and backpropagation through time (part IV).

Arrays are batch first: inputs ``x`` have shape ``(batch, steps, inputs)`` and
the returned hidden states ``(batch, steps, hidden)``. Weights use the book's
(and PyTorch's) layout: ``W_ih`` is ``(gates * hidden, inputs)``, ``W_hh`` is
``(gates * hidden, hidden)``, with two bias vectors ``b_ih`` and ``b_hh``, and
the gate blocks stacked in PyTorch's order:

* Elman RNN: one block, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``;
* LSTM: ``(i, f, g, o)``, input gate, forget gate, candidate, output gate;
* GRU: ``(r, z, n)``, reset gate, update gate, candidate.

``companion.parity`` converts these to Keras's layout.
"""
from __future__ import annotations

import numpy as np

from companion.checks import check_choice
from companion.numpy.activations import sigmoid


def _check_input(x, W_ih, gates: int, name: str):
    x = np.asarray(x, dtype=float)
    W_ih = np.asarray(W_ih, dtype=float)
    if W_ih.ndim != 2 or W_ih.shape[0] % gates:
        raise ValueError(f"{name}: W_ih must have shape ({gates} * hidden, inputs), got {W_ih.shape}")
    if x.ndim != 3 or x.shape[-1] != W_ih.shape[1]:
        raise ValueError(
            f"{name} expected input of shape (batch, steps, {W_ih.shape[1]}), got {x.shape}"
        )
    return x, W_ih.shape[0] // gates


# ---------------------------------------------------------------- Elman RNN

def rnn_forward(x, W_ih, W_hh, b_ih, b_hh, h0=None):
    """Hidden states of an Elman RNN for every step, shape ``(batch, steps, hidden)``."""
    x, hidden = _check_input(x, W_ih, 1, "rnn_forward")
    h = np.zeros((x.shape[0], hidden)) if h0 is None else np.asarray(h0, dtype=float)
    states = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states.append(h)
    return np.stack(states, axis=1)


def rnn_backward(x, h, W_hh, dh, h0=None, truncate: int | None = None):
    """Backpropagation through time for the Elman RNN.

    ``h`` are the states from :func:`rnn_forward` and ``dh[:, t]`` is the
    gradient of the loss with respect to ``h_t`` that arrives from the output
    at step ``t`` (zero where a step has no loss). Going backwards, the error
    at each step is that direct part plus what flows back from step ``t + 1``:

        delta_t = (dh_t + W_hh^T delta_{t+1}) * (1 - h_t^2)

    and every weight's gradient is the sum of its per-step contributions, since
    the same weights are used at every step. With ``truncate=k`` the sequence
    is treated as chunks of ``k`` steps and no gradient crosses a chunk
    boundary (truncated BPTT, as with ``h.detach()`` every ``k`` steps).

    Returns a dict with the gradients for ``W_ih``, ``W_hh``, ``b`` (the same
    for ``b_ih`` and ``b_hh``, which always appear as a sum) and ``h0``.
    """
    x, h, dh = (np.asarray(a, dtype=float) for a in (x, h, dh))
    W_hh = np.asarray(W_hh, dtype=float)
    batch, steps, hidden = h.shape
    h_prev = np.concatenate([np.zeros((batch, 1, hidden)) if h0 is None
                             else np.asarray(h0, dtype=float)[:, None], h[:, :-1]], axis=1)
    grads = {"W_ih": 0.0, "W_hh": 0.0, "b": 0.0}
    carried = np.zeros((batch, hidden))   # dL/dh_t that flows back from step t + 1
    for t in reversed(range(steps)):
        if truncate is not None and (t + 1) % truncate == 0:
            carried = np.zeros_like(carried)   # a chunk boundary: the state was detached here
        delta = (dh[:, t] + carried) * (1.0 - h[:, t] ** 2)   # dL/d(pre-activation at t)
        grads["W_ih"] = grads["W_ih"] + delta.T @ x[:, t]
        grads["W_hh"] = grads["W_hh"] + delta.T @ h_prev[:, t]
        grads["b"] = grads["b"] + delta.sum(axis=0)
        carried = delta @ W_hh
    grads["h0"] = carried
    return grads


# ---------------------------------------------------------------- LSTM

def lstm_forward(x, W_ih, W_hh, b_ih, b_hh, state=None, peephole=None, return_gates=False):
    """Hidden states of an LSTM (optionally with peephole connections).

    Per step, with the gate blocks in PyTorch's order (i, f, g, o):

        i = sigmoid(W_i x + U_i h + b_i [+ p_i * c_prev])
        f = sigmoid(W_f x + U_f h + b_f [+ p_f * c_prev])
        g = tanh(W_g x + U_g h + b_g)
        c = f * c_prev + i * g
        o = sigmoid(W_o x + U_o h + b_o [+ p_o * c])
        h = o * tanh(c)

    ``peephole`` is ``(p_i, p_f, p_o)``, three vectors of length ``hidden``
    (diagonal peepholes, as in Gers, Schraudolph and Schmidhuber 2002).
    Returns ``(h, c)`` for every step, each ``(batch, steps, hidden)``, and with
    ``return_gates`` also a dict of the gate activations.
    """
    x, hidden = _check_input(x, W_ih, 4, "lstm_forward")
    batch = x.shape[0]
    if state is None:
        h, c = np.zeros((batch, hidden)), np.zeros((batch, hidden))
    else:
        h, c = (np.asarray(s, dtype=float) for s in state)
    p_i, p_f, p_o = (np.zeros(hidden),) * 3 if peephole is None else peephole
    hs, cs, gates = [], [], {k: [] for k in "ifgo"}
    for t in range(x.shape[1]):
        z = x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        zi, zf, zg, zo = np.split(z, 4, axis=1)
        i = sigmoid(zi + p_i * c)
        f = sigmoid(zf + p_f * c)
        g = np.tanh(zg)
        c = f * c + i * g
        o = sigmoid(zo + p_o * c)          # the output gate peeks at the *new* cell state
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        for k, v in zip("ifgo", (i, f, g, o)):
            gates[k].append(v)
    out = (np.stack(hs, axis=1), np.stack(cs, axis=1))
    if return_gates:
        return out + ({k: np.stack(v, axis=1) for k, v in gates.items()},)
    return out


# ---------------------------------------------------------------- GRU

def gru_forward(x, W_ih, W_hh, b_ih, b_hh, h0=None, reset_after: bool = True,
                return_gates=False):
    """Hidden states of a GRU in the convention of PyTorch and Keras.

    Per step, with the gate blocks in PyTorch's order (r, z, n):

        r = sigmoid(W_r x + b_ir + U_r h + b_hr)
        z = sigmoid(W_z x + b_iz + U_z h + b_hz)
        n = tanh(W_n x + b_in + r * (U_n h + b_hn))      reset_after=True
        n = tanh(W_n x + b_in + U_n (r * h) + b_hn)      reset_after=False
        h = (1 - z) * n + z * h_prev

    so ``z`` near 1 keeps the old state. ``reset_after=True`` is what
    ``torch.nn.GRU`` and Keras's default compute; ``reset_after=False`` is
    the form of Cho et al. (2014), Keras's other option.
    """
    x, hidden = _check_input(x, W_ih, 3, "gru_forward")
    h = np.zeros((x.shape[0], hidden)) if h0 is None else np.asarray(h0, dtype=float)
    W_hr, W_hz, W_hn = np.split(np.asarray(W_hh, dtype=float), 3, axis=0)
    b_hr, b_hz, b_hn = np.split(np.asarray(b_hh, dtype=float), 3)
    hs, gates = [], {k: [] for k in "rzn"}
    for t in range(x.shape[1]):
        xr, xz, xn = np.split(x[:, t] @ W_ih.T + b_ih, 3, axis=1)
        r = sigmoid(xr + h @ W_hr.T + b_hr)
        z = sigmoid(xz + h @ W_hz.T + b_hz)
        if reset_after:
            n = np.tanh(xn + r * (h @ W_hn.T + b_hn))
        else:
            n = np.tanh(xn + (r * h) @ W_hn.T + b_hn)
        h = (1.0 - z) * n + z * h
        hs.append(h)
        for k, v in zip("rzn", (r, z, n)):
            gates[k].append(v)
    out = np.stack(hs, axis=1)
    if return_gates:
        return out, {k: np.stack(v, axis=1) for k, v in gates.items()}
    return out


# ---------------------------------------------------------------- sizes

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def recurrent_parameter_count(kind: str, input_size: int, hidden_size: int,
                              framework: str = "torch", reset_after: bool = True) -> int:
    """Parameters of one recurrent layer, as each framework stores them.

    Both store ``gates * hidden * (inputs + hidden)`` weights. PyTorch keeps
    two bias vectors per gate block (``b_ih`` and ``b_hh``); Keras keeps one,
    except for the GRU with ``reset_after=True``, whose recurrent bias sits
    inside the reset gate's product and so cannot be merged.
    """
    check_choice(kind, _GATES, "recurrent layer")
    check_choice(framework, ("torch", "keras"), "framework")
    g = _GATES[kind]
    weights = g * hidden_size * (input_size + hidden_size)
    two_biases = framework == "torch" or (kind == "gru" and reset_after)
    return weights + (2 if two_biases else 1) * g * hidden_size

"""The artificial neuron in NumPy (chapter: The artificial neuron, Part I).

Reference versions of the units and learning rules of that chapter, written
for reading and used as test oracles:

* :func:`threshold_unit` - the binary threshold unit (McCulloch-Pitts style);
* ``GATE_WEIGHTS``, :func:`gate` - hand-set weights for AND, OR, NAND, NOR, NOT;
* :func:`separating_lines` - exhaustive search for a line that separates two classes;
* :func:`hebb_weights`, :func:`hebb_update`, :func:`hebb_recall` - Hebb's rule
  for a linear pattern associator with bipolar (+1/-1) patterns;
* :func:`stdp_window` - the exponential pair-based STDP window (a model);
* :func:`firing_probability`, :func:`sample_stochastic_neuron` - the
  stochastic binary neuron, which fires with probability ``sigmoid(z / T)``.
"""
from __future__ import annotations

import numpy as np

from companion.numpy.activations import sigmoid_with_temperature

# Hand-set weights (w, b) of a threshold unit that fires when w . x + b >= 0.
# The biases sit halfway between the scores of the two classes, so the same
# weights also work with the strict rule "fires when w . x + b > 0".
GATE_WEIGHTS: dict[str, tuple[tuple[float, ...], float]] = {
    "and": ((1.0, 1.0), -1.5),   # fires only when x1 + x2 >= 1.5: both inputs on
    "or": ((1.0, 1.0), -0.5),    # fires when at least one input is on
    "nand": ((-1.0, -1.0), 1.5),
    "nor": ((-1.0, -1.0), 0.5),
    "not": ((-1.0,), 0.5),       # one input: fires when it is off
}


def _matrix(x, what: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{what} must have shape (n_inputs,) or (batch, n_inputs), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} must be finite, got NaN or infinite values")
    return x


def threshold_unit(x, w, b: float = 0.0) -> np.ndarray:
    """Binary threshold unit: ``1`` where ``x @ w + b >= 0``, else ``0`` (int64).

    ``x`` is ``(batch, n)`` (or one example ``(n,)``), ``w`` is ``(n,)``.
    """
    x = _matrix(x)
    w = np.asarray(w, dtype=float)
    if w.ndim != 1 or w.shape[0] != x.shape[1]:
        raise ValueError(f"w must have shape ({x.shape[1]},) to match x of shape {x.shape}, "
                         f"got {w.shape}")
    if not np.isfinite(b):
        raise ValueError(f"b must be a finite number, got {b!r}")
    return (x @ w + b >= 0).astype(np.int64)


def gate_weights(name: str) -> tuple[np.ndarray, float]:
    """The hand-set ``(w, b)`` of a logic gate: ``and``, ``or``, ``nand``, ``nor`` or ``not``."""
    key = str(name).lower()
    if key not in GATE_WEIGHTS:
        raise ValueError(f"unknown gate {name!r}; expected one of {sorted(GATE_WEIGHTS)} "
                         "(XOR has no weights: no single threshold unit computes it)")
    w, b = GATE_WEIGHTS[key]
    return np.array(w), b


def gate(name: str, x) -> np.ndarray:
    """Output of the threshold unit wired as gate ``name`` on inputs ``x`` in {0, 1}."""
    w, b = gate_weights(name)
    x = _matrix(x)
    if not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("logic-gate inputs must be 0 or 1")
    return threshold_unit(x, w, b)


def truth_table_inputs(n_inputs: int) -> np.ndarray:
    """All ``2**n_inputs`` binary input rows, in counting order (float)."""
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or not 1 <= n_inputs <= 16:
        raise ValueError(f"n_inputs must be an integer from 1 to 16, got {n_inputs!r}")
    rows = np.arange(2 ** n_inputs)[:, None] >> np.arange(n_inputs - 1, -1, -1) & 1
    return rows.astype(float)


def separating_lines(x, y, values) -> np.ndarray:
    """Every ``(w1, w2, b)`` on the grid ``values**3`` whose threshold unit reproduces ``y``.

    An exhaustive search: it returns an array of shape ``(k, 3)``, empty when no
    grid line separates the two classes (for XOR it is empty on any grid).
    """
    x = _matrix(x)
    y = np.asarray(y)
    if x.shape[1] != 2:
        raise ValueError(f"x must have two columns (points in the plane), got shape {x.shape}")
    if y.shape != (x.shape[0],) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"y must hold one label in {{0, 1}} per row of x, got {y!r}")
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("values must hold at least one grid value")
    w1, w2, b = (g.ravel() for g in np.meshgrid(values, values, values, indexing="ij"))
    scores = x[:, :1] * w1 + x[:, 1:] * w2 + b           # (points, candidates)
    ok = ((scores >= 0) == (y[:, None] == 1)).all(axis=0)
    return np.stack([w1[ok], w2[ok], b[ok]], axis=1)


# ---------------------------------------------------------------- Hebb's rule

def _bipolar(p, what: str) -> np.ndarray:
    p = _matrix(p, what)
    if not np.isin(p, (-1.0, 1.0)).all():
        raise ValueError(f"{what} must be bipolar patterns with entries -1 or +1")
    return p


def hebb_update(W, pre, post, lr: float = 1.0) -> np.ndarray:
    """One Hebbian step: ``W + lr * outer(post, pre)`` (no error signal, no target).

    ``W`` is ``(n_post, n_pre)``; a weight grows when its two units are active
    together (same sign) and shrinks when they disagree.
    """
    W = np.asarray(W, dtype=float)
    pre, post = np.asarray(pre, dtype=float), np.asarray(post, dtype=float)
    if pre.ndim != 1 or post.ndim != 1 or W.shape != (post.size, pre.size):
        raise ValueError(f"W must have shape (len(post), len(pre)) = ({post.size}, {pre.size}) "
                         f"with 1-D pre and post, got W {W.shape}, pre {pre.shape}, post {post.shape}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    return W + lr * np.outer(post, pre)


def hebb_weights(inputs, outputs, lr: float = 1.0) -> np.ndarray:
    """Weights of a linear associator after one Hebbian pass over the pairs.

    ``inputs`` is ``(k, n)``, ``outputs`` is ``(k, m)``, both bipolar. The
    result, ``lr * outputs.T @ inputs``, is the sum of the ``k`` outer products
    that :func:`hebb_update` adds one pair at a time.
    """
    X, Y = _bipolar(inputs, "inputs"), _bipolar(outputs, "outputs")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"inputs and outputs need the same number of patterns, "
                         f"got {X.shape[0]} and {Y.shape[0]}")
    W = np.zeros((Y.shape[1], X.shape[1]))
    for x, y in zip(X, Y):
        W = hebb_update(W, x, y, lr)
    return W


def hebb_recall(W, x) -> np.ndarray:
    """Recall bipolar outputs: ``sign(x @ W.T)``, with ties (0) sent to +1."""
    W = np.asarray(W, dtype=float)
    x = _matrix(x)
    if W.ndim != 2 or W.shape[1] != x.shape[1]:
        raise ValueError(f"W must have shape (n_out, {x.shape[1]}) to match x, got {W.shape}")
    return np.where(x @ W.T >= 0, 1, -1)


# ---------------------------------------------------------------- STDP

def stdp_window(dt, a_plus: float = 1.0, a_minus: float = 1.05, tau_plus: float = 20.0,
                tau_minus: float = 20.0) -> np.ndarray:
    """Pair-based STDP: the weight change for one pre/post spike pair.

    ``dt = t_post - t_pre`` (ms). Pre before post (``dt > 0``) potentiates,
    ``a_plus * exp(-dt / tau_plus)``; post before pre (``dt < 0``) depresses,
    ``-a_minus * exp(dt / tau_minus)``; ``dt = 0`` gives 0 by convention.
    This is a model fitted to experiments, not a law of every synapse.
    """
    dt = np.asarray(dt, dtype=float)
    if not np.all(np.isfinite(dt)):
        raise ValueError("dt must be finite")
    for name, value in (("a_plus", a_plus), ("a_minus", a_minus)):
        if not value >= 0:
            raise ValueError(f"{name} must be non-negative, got {value!r}")
    for name, value in (("tau_plus", tau_plus), ("tau_minus", tau_minus)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    ltp = a_plus * np.exp(-np.abs(dt) / tau_plus)
    ltd = -a_minus * np.exp(-np.abs(dt) / tau_minus)
    return np.where(dt > 0, ltp, np.where(dt < 0, ltd, 0.0))


# ---------------------------------------------------------------- stochastic binary neuron

def firing_probability(z, temperature: float = 1.0) -> np.ndarray:
    """``P(s = 1) = sigmoid(z / T)``: the stochastic binary neuron's firing probability."""
    z = np.asarray(z, dtype=float)
    if not np.all(np.isfinite(z)):
        raise ValueError("z must be finite")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    return sigmoid_with_temperature(z, temperature)


def sample_stochastic_neuron(z, temperature: float = 1.0, n_samples: int = 1,
                             seed: int | None = 0) -> np.ndarray:
    """Draw ``n_samples`` binary states per entry of ``z``: shape ``(n_samples, *z.shape)``."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    p = firing_probability(z, temperature)
    rng = np.random.default_rng(seed)
    return (rng.random((int(n_samples), *p.shape)) < p).astype(np.int64)

"""Procedural datasets: logic gates, XOR clouds, two moons, spirals."""
from __future__ import annotations

import numpy as np

from companion.checks import check_choice, check_positive_int

_GATES = {
    "and": [0, 0, 0, 1],
    "or": [0, 1, 1, 1],
    "nand": [1, 1, 1, 0],
    "nor": [1, 0, 0, 0],
    "xor": [0, 1, 1, 0],
}


def logic_gate(name: str):
    """The four input pairs of a two-input gate and its {0, 1} truth table.

    >>> x, y = logic_gate("xor"); y.tolist()
    [0, 1, 1, 0]
    """
    check_choice(name.lower(), _GATES, "logic gate")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    return x, np.array(_GATES[name.lower()], dtype=np.int64)


def xor_blobs(n: int = 400, noise: float = 0.15, seed: int = 0):
    """Noisy XOR: four Gaussian clouds at the corners of the unit square."""
    check_positive_int(n, "n")
    rng = np.random.default_rng(seed)
    corners, labels = logic_gate("xor")
    idx = rng.integers(0, 4, size=n)
    x = corners[idx] + rng.normal(0.0, noise, size=(n, 2))
    return x.astype(np.float32), labels[idx]


def moons(n: int = 500, noise: float = 0.2, seed: int = 0):
    """scikit-learn's two interleaving half circles."""
    from sklearn.datasets import make_moons

    check_positive_int(n, "n")
    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64)


def spirals(n: int = 600, classes: int = 2, turns: float = 1.5, noise: float = 0.1,
            seed: int = 0):
    """Interleaved arms of a spiral, one arm per class (a classic non-linear task).

    Points lie in roughly ``[-1, 1]^2``; ``turns`` sets how far each arm winds.
    """
    check_positive_int(n, "n")
    check_positive_int(classes, "classes")
    if classes < 2:
        raise ValueError(f"classes must be at least 2, got {classes}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = rng.uniform(0.05, 1.0, size=n)
    theta = 2 * np.pi * turns * r + 2 * np.pi * y / classes
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    x += rng.normal(0.0, noise * r[:, None], size=x.shape)
    return x.astype(np.float32), y.astype(np.int64)


def linearly_separable(n: int = 200, margin: float = 0.1, seed: int = 0):
    """Points in ``[-1, 1]^2`` split by the line ``x1 + 0.5 x2 = 0.1``, with a gap.

    Every point lies at least ``margin`` (Euclidean distance) from the line, so
    the two classes are linearly separable with margin at least ``margin``:
    the setting of the perceptron convergence theorem.
    """
    check_positive_int(n, "n")
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
    rng = np.random.default_rng(seed)
    normal, offset = np.array([1.0, 0.5]), -0.1
    kept = np.empty((0, 2))
    while len(kept) < n:
        x = rng.uniform(-1, 1, size=(2 * n, 2))
        distance = (x @ normal + offset) / np.linalg.norm(normal)
        kept = np.vstack([kept, x[np.abs(distance) >= margin]])
    x = kept[:n]
    y = (x @ normal + offset > 0).astype(np.int64)
    return x.astype(np.float32), y


def noisy_sine(n: int = 200, noise: float = 0.1, low: float = -3.0, high: float = 3.0,
               seed: int = 0):
    """A 1-D regression task: ``y = sin(2x) + 0.3 sin(5x) + noise`` on ``[low, high]``.

    Returns ``x`` of shape ``(n, 1)`` (sorted) and ``y`` of shape ``(n,)``; the
    noise-free curve is :func:`sine_curve`.
    """
    check_positive_int(n, "n")
    if noise < 0 or not low < high:
        raise ValueError(f"need noise >= 0 and low < high, got noise={noise}, low={low}, high={high}")
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, size=n))
    y = sine_curve(x) + rng.normal(0.0, noise, size=n)
    return x[:, None].astype(np.float32), y.astype(np.float32)


def sine_curve(x):
    """The noise-free target of :func:`noisy_sine`."""
    x = np.asarray(x, dtype=float)
    return np.sin(2 * x) + 0.3 * np.sin(5 * x)


def burst_signals(n: int = 600, length: int = 128, burst: int = 24, noise: float = 0.5,
                  seed: int = 0):
    """Signals that contain one short burst, slow (class 0) or fast (class 1), anywhere.

    Each signal is Gaussian noise (standard deviation ``noise``) plus one
    Hann-windowed sine of ``burst`` samples at a random position: 2 cycles
    per burst for class 0, 5 for class 1. The class lives in a local shape
    whose position is random, the situation convolution with global pooling
    is built for. Returns ``x`` of shape ``(n, 1, length)`` (channels first,
    PyTorch's ``Conv1d`` layout) and balanced int64 labels.
    """
    check_positive_int(n, "n")
    check_positive_int(length, "length")
    check_positive_int(burst, "burst")
    if burst > length:
        raise ValueError(f"burst ({burst}) must fit in the signal (length {length})")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    t = np.arange(burst) / burst
    window = np.hanning(burst)
    x = rng.normal(0.0, noise, size=(n, length))
    starts = rng.integers(0, length - burst + 1, size=n)
    phases = rng.uniform(0, 2 * np.pi, size=n)
    for i in range(n):
        cycles = 2 if y[i] == 0 else 5
        x[i, starts[i]:starts[i] + burst] += window * np.sin(2 * np.pi * cycles * t + phases[i])
    return x[:, None, :].astype(np.float32), y

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

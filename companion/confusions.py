"""Which classes a classifier mixes up: the most-confused pairs of a confusion matrix.

Used by the error analysis of the image-classification study (Part IX) with
``companion.plots.plot_confused_pairs``, which shows the images behind each pair.
"""
from __future__ import annotations

import numpy as np


def _labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer class labels, got dtype "
                         f"{y.dtype} and shape {y.shape}")
    if len(y) and y.min() < 0:
        raise ValueError(f"{name} must hold class labels >= 0, got {y.min()}")
    return y


def most_confused(y_true, y_pred, top: int = 3) -> list:
    """The ``top`` (true class, predicted class, count) cells off the diagonal of the
    confusion matrix, largest count first (ties in class order); cells with a count
    of zero are left out, so the list may be shorter than ``top``.

    The pairs are ordered: "a 4 read as a 9" and "a 9 read as a 4" are two
    different mistakes, as they are two cells of the matrix.
    """
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {len(y_true)} "
                         f"and {len(y_pred)}")
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    n = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    np.fill_diagonal(counts, 0)
    order = np.argsort(-counts, axis=None, kind="stable")[:top]
    cells = [(int(i // n), int(i % n)) for i in order]
    return [(a, b, int(counts[a, b])) for a, b in cells if counts[a, b] > 0]

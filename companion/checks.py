"""Input checks shared by the PyTorch and Keras models.

They work on shapes (tuples) and dtype names so that both frameworks raise
the same ``ValueError`` with the same message.
"""
from __future__ import annotations


def check_features(shape, expected: int, model: str) -> None:
    """Require a 2-D input ``(batch, expected)``."""
    shape = tuple(shape)
    if len(shape) != 2 or (shape[-1] is not None and int(shape[-1]) != expected):
        raise ValueError(
            f"{model} expected input of shape (batch, {expected}), got {shape}"
        )


def check_float(dtype_name: str, model: str) -> None:
    """Require a floating-point input (models never silently cast integers)."""
    if "float" not in str(dtype_name):
        raise ValueError(
            f"{model} expected a floating-point input (float32), got dtype {dtype_name}"
        )


def check_choice(value, choices, what: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(choices)}")


def check_positive_int(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def check_binary_labels(labels, model: str) -> None:
    """Require class labels in {0, 1} (the book's convention for binary tasks)."""
    import numpy as np

    values = np.unique(np.asarray(labels))
    if not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"{model} expects labels in {{0, 1}}, got values {values.tolist()[:10]}"
        )


def check_sequence(shape, features: int, model: str) -> None:
    """Require a 3-D, batch-first input ``(batch, steps, features)`` with at least one step."""
    shape = tuple(shape)
    ok = len(shape) == 3 and (shape[-1] is None or int(shape[-1]) == features)
    if ok and shape[1] is not None and int(shape[1]) < 1:
        ok = False
    if not ok:
        raise ValueError(
            f"{model} expected input of shape (batch, steps, {features}), got {shape}"
        )

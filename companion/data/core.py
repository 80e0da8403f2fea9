"""Train/validation/test splits shared by every dataset."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Arrays for training, validation (model selection) and test (final report)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def train(self):
        return self.x_train, self.y_train

    @property
    def val(self):
        return self.x_val, self.y_val

    @property
    def test(self):
        return self.x_test, self.y_test

    def __repr__(self) -> str:
        return (
            f"Split(train={self.x_train.shape}, val={self.x_val.shape}, "
            f"test={self.x_test.shape})"
        )


def split(x, y, *, val_size: float = 0.2, test_size: float = 0.2, seed: int = 0,
          stratify: bool = True) -> Split:
    """Shuffle and split ``(x, y)`` into train, validation and test parts.

    With ``stratify=True`` every part keeps the class proportions of ``y``.
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    for name, frac in (("val_size", val_size), ("test_size", test_size)):
        if not 0.0 < frac < 1.0:
            raise ValueError(f"{name} must be a fraction in (0, 1), got {frac!r}")
    if val_size + test_size >= 1.0:
        raise ValueError(
            f"val_size + test_size must be below 1, got {val_size} + {test_size}"
        )
    strat = y if stratify else None
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=strat
    )
    strat = y_rest if stratify else None
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_size / (1.0 - test_size), random_state=seed,
        stratify=strat,
    )
    return Split(x_train, y_train, x_val, y_val, x_test, y_test)


def validation_split(x, y, *, val_size: float = 0.2, seed: int = 0, stratify: bool = True):
    """Hold out a validation part of a training set whose test set is fixed elsewhere.

    Returns ``((x_train, y_train), (x_val, y_val))``, the pairs that both
    frameworks' ``train(model, train_data, val_data)`` take. Use it when a
    benchmark ships its own test split (tune on ``val``, report on the test set
    once); ``split`` makes all three parts from one array. With
    ``stratify=True`` both parts keep the class proportions of ``y`` (set it to
    False for regression targets).
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not 0.0 < val_size < 1.0:
        raise ValueError(f"val_size must be a fraction in (0, 1), got {val_size!r}")
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_size, random_state=seed, stratify=y if stratify else None)
    return (x_train, y_train), (x_val, y_val)

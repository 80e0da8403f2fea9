"""Corruptions for the denoising autoencoder (part V): NumPy in, NumPy out.

Each takes images or feature vectors with values in [0, 1], a corruption
``level`` in [0, 1] and a NumPy ``rng`` (a ``numpy.random.Generator`` or an
integer seed), and returns a new float32 array of the same shape; the input
is never modified. The same ``rng`` state gives the same corruption, so both
frameworks can train on identical noisy copies.
"""
from __future__ import annotations

import numpy as np

CORRUPTIONS = ("gaussian", "salt_and_pepper", "masking")


def _check(x, level: float, what: str):
    if (isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating))
            or not 0.0 <= float(level) <= 1.0):
        raise ValueError(f"{what}: the corruption level must be a number in [0, 1], got {level!r}")
    return np.asarray(x, dtype=np.float32)


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def gaussian_noise(x, level: float, rng=0, clip: bool = True) -> np.ndarray:
    """``x + level * N(0, 1)``, clipped back to [0, 1] (``clip=False`` keeps it unbounded)."""
    x = _check(x, level, "gaussian_noise")
    noisy = x + np.float32(level) * _rng(rng).standard_normal(x.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0) if clip else noisy


def salt_and_pepper(x, level: float, rng=0) -> np.ndarray:
    """A share ``level`` of the entries, chosen at random, set to 0 or 1 (equally likely)."""
    x = _check(x, level, "salt_and_pepper")
    rng = _rng(rng)
    hit = rng.random(x.shape) < level
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), x).astype(np.float32)


def masking(x, level: float, rng=0) -> np.ndarray:
    """Masking noise: a share ``level`` of the entries, chosen at random, set to 0."""
    x = _check(x, level, "masking")
    keep = _rng(rng).random(x.shape) >= level
    return (x * keep).astype(np.float32)


def corrupt(x, kind: str, level: float, rng=0) -> np.ndarray:
    """Dispatch on ``kind``, one of ``CORRUPTIONS``."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; expected one of {list(CORRUPTIONS)}")
    return {"gaussian": gaussian_noise, "salt_and_pepper": salt_and_pepper,
            "masking": masking}[kind](x, level, rng)

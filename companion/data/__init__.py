"""Datasets of the book, as NumPy arrays, with no framework and no download.

Every loader takes a ``seed`` so that a rerun gives the same arrays. Features
are ``float32``; class labels are ``int64``.
"""
from companion.data.core import Split, split
from companion.data.synthetic import (linearly_separable, logic_gate, moons, noisy_sine,
                                      sine_curve, spirals, xor_blobs)
from companion.data.sklearn_sets import digits

__all__ = ["Split", "digits", "linearly_separable", "logic_gate", "moons", "noisy_sine", "sine_curve", "split", "spirals", "xor_blobs"]

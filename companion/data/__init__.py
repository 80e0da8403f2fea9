"""Datasets of the book, as NumPy arrays, with no framework and no download.

Every loader takes a ``seed`` so that a rerun gives the same arrays. Features
are ``float32``; class labels are ``int64``.
"""
from companion.data.core import Split, split
from companion.data.synthetic import logic_gate, moons, spirals, xor_blobs
from companion.data.images import (SHAPES, channels_last, digits32, mnist, random_flip, random_shift,
                                   read_idx, shapes)
from companion.data.sklearn_sets import digits

__all__ = ["SHAPES", "Split", "channels_last", "digits", "digits32", "logic_gate", "mnist",
           "moons", "random_flip", "random_shift", "read_idx", "shapes", "split", "spirals", "xor_blobs"]

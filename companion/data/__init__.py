"""Datasets of the book, as NumPy arrays, with no framework and no download.

Every loader takes a ``seed`` so that a rerun gives the same arrays. Features
are ``float32``; class labels are ``int64``.
"""
from companion.data.core import Split, split
from companion.data.synthetic import logic_gate, moons, spirals, xor_blobs
from companion.data.sklearn_sets import digits

__all__ = ["Split", "digits", "logic_gate", "moons", "split", "spirals", "xor_blobs"]

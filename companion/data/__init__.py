"""Datasets of the book, as NumPy arrays, with no framework and no download.

Every loader takes a ``seed`` so that a rerun gives the same arrays. Features
are ``float32``; class labels are ``int64``.
"""
from companion.data.core import Split, split, validation_split
from companion.data.corruptions import (CORRUPTIONS, corrupt, gaussian_noise, masking,
                                        salt_and_pepper)
from companion.data.sequences import (CharCorpus, Series, SeriesSplit, adding_problem,
                                      char_corpus, co2, forecasting_split, reversal,
                                      sine_windows, sunspots, windows)
from companion.data.synthetic import (burst_signals, linearly_separable, logic_gate, moons,
                                      noisy_sine,
                                      sine_curve, spirals, xor_blobs)
from companion.data.images import (SHAPES, channels_last, digits32, mnist, random_flip,
                                   random_shift, read_idx, shapes)
from companion.data.sklearn_sets import digits
from companion.data.real import (SHUTTLE_FEATURES, TWEET_CLASSES, LabelledText,
                                 electricity_demand, mnist5k, shuttle, tweets)
from companion.data.synthetic import logic_gate, moons, spirals, xor_blobs

__all__ = [
    "CORRUPTIONS", "corrupt", "gaussian_noise", "masking", "salt_and_pepper",
    "SHAPES", "CharCorpus", "burst_signals",
    "Series", "SeriesSplit", "Split", "adding_problem", "channels_last",
    "char_corpus", "co2", "digits", "digits32", "forecasting_split", "linearly_separable",
    "logic_gate", "mnist", "moons", "noisy_sine", "random_flip", "random_shift", "read_idx",
    "reversal", "shapes", "sine_curve", "sine_windows", "spirals", "split", "sunspots",
    "validation_split",
    "windows", "xor_blobs",
    "LabelledText", "SHUTTLE_FEATURES", "TWEET_CLASSES", "electricity_demand", "mnist5k",
    "shuttle", "tweets",
]

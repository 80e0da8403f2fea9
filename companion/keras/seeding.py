"""Seeding Keras training without leaving global generators changed.

``train`` resets the random layers of its model from its ``seed``
(:func:`seed_random_layers`) and, on the PyTorch backend, draws unseeded
numbers from a private copy of PyTorch's generator
(:func:`private_backend_generator`).

``keras.utils.set_random_seed(seed)`` makes a ``fit`` reproducible, but it
resets Python's, NumPy's and (on that backend) PyTorch's global generators
and Keras's global seed for everyone. :func:`scoped_random_seed` seeds them
for one block and then puts Python's, NumPy's, PyTorch's and Keras's global
state back as they were, so a training call has no random side effect on
the code around it. (TensorFlow's op-level global seed, which
``set_random_seed`` also sets, has no getter; it stays at ``seed``. The
book's code draws no unseeded TensorFlow random numbers outside Keras.)
"""
from __future__ import annotations

import contextlib
import functools
import random
import sys

import keras
import numpy as np


@contextlib.contextmanager
def scoped_random_seed(seed: int):
    """``keras.utils.set_random_seed(seed)`` for the duration of a ``with`` block."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch_state = sys.modules["torch"].get_rng_state() if "torch" in sys.modules else None
    keras_seed = global_state.get_global_attribute(rng_utils.GLOBAL_RANDOM_SEED)
    keras_generator = global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if torch_state is not None:
            sys.modules["torch"].set_rng_state(torch_state)
        global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, keras_seed)
        global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, keras_generator)


def seeded(train_fn):
    """Run a training function inside ``scoped_random_seed(seed)`` (its ``seed`` argument)."""
    @functools.wraps(train_fn)
    def wrapper(*args, **kwargs):
        with scoped_random_seed(kwargs.get("seed", 0)):
            return train_fn(*args, **kwargs)
    return wrapper


def seed_states(model: keras.Model) -> list:
    """The random-number states of dropout and noise layers: variables that are no weights."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def seed_random_layers(model: keras.Model, seed: int) -> None:
    """Reset every random layer's seed state (dropout, noise) to a value derived from ``seed``.

    Each Keras ``Dropout`` (and every ``SeedGenerator`` of a noise or sampling
    layer) keeps its own state, which advances with every draw. ``train``
    resets them from its ``seed`` so that the same seed gives the same masks
    and retraining the same weights gives the same losses; nothing global is
    touched.
    """
    states = [v for v in seed_states(model)
              if tuple(v.shape) == (2,) and "int" in str(v.dtype)]   # int64 on TensorFlow
    for i, variable in enumerate(states):
        derived = int(np.random.default_rng([seed, i]).integers(1, 2**31 - 1))
        variable.assign(np.array([derived, 0], dtype=str(variable.dtype).split(".")[-1]))


@contextlib.contextmanager
def private_backend_generator(seed: int):
    """On the PyTorch backend, unseeded random ops draw from PyTorch's global generator:
    fork it and seed it for the call, as ``companion.torch.train`` does."""
    if keras.backend.backend() != "torch":
        yield
        return
    import torch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

"""Seeding Keras training loops without leaving global generators changed.

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

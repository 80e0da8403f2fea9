"""Saving the Keras twins in Keras's native ``.keras`` format.

Keras rebuilds a saved model by calling its class with the dictionary that
``get_config`` returned, then loads the weights into it. The companion's
models take their sizes and options as constructor arguments, so
``serializable`` records exactly those arguments when a model is built and
returns them from ``get_config``; it also registers the class, so that
``keras.saving.load_model`` finds it by name. Without it,
``LeNet5(activation="relu", pooling="max")`` would come back from a file
with the default tanh and average pooling, or a model with required
arguments could not be saved at all.

Every class in ``companion.registry`` is decorated; ``tests/test_saving.py``
saves and reloads each one, in both frameworks.
"""
from __future__ import annotations

import functools
import inspect

import keras
import numpy as np


def _plain(value):
    """Tuples and arrays become lists, as they would in the JSON file (so a round trip is exact)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def serializable(cls):
    """Class decorator: ``get_config`` returns the constructor's arguments; register ``cls``."""
    signature = inspect.signature(cls.__init__)
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self) is cls:   # a subclass records its own arguments
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = {name: _plain(value) for name, value in bound.arguments.items()
                         if name not in ("self", "kwargs")}
            object.__setattr__(self, "_constructor_arguments", arguments)  # not a tracked weight

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                **getattr(self, "_constructor_arguments", {})}

    # Keras inspects the constructor's signature (getfullargspec, which does not
    # follow functools.wraps): show it the original one.
    del __init__.__wrapped__
    __init__.__signature__ = signature
    cls.__init__ = __init__
    cls.get_config = get_config
    return keras.saving.register_keras_serializable(package=cls.__module__)(cls)

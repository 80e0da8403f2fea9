"""Transfer learning in Keras 3: reuse a trained body under a new output layer.

Read side by side with ``companion/torch/transfer.py``: same function names,
same arguments, same recipe (train on the source task, ``copy_body`` into a
model with the target task's ``num_classes``, then ``freeze_body`` for feature
extraction or train everything for full fine-tuning).

Freezing is done per weight (``variable.trainable = False``), not per layer:
a frozen ``BatchNormalization`` layer (``layer.trainable = False``) would also
switch to inference mode, which PyTorch's ``requires_grad_(False)`` does not
do. Freezing the weights only keeps the two frameworks alike. The
``trainable`` flags are read when ``compile`` runs, so freeze before training
(``companion.keras.train`` compiles).
"""
from __future__ import annotations

import keras
import numpy as np


def _layers(layer):
    """Every sub-layer of ``layer``, depth first, in the order they were created."""
    for sub in getattr(layer, "layers", []):
        yield sub
        yield from _layers(sub)


def output_layer(model: keras.Model) -> keras.layers.Dense:
    """The model's output layer: the last ``Dense`` layer it tracks."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"output_layer expected a keras.Model, got {type(model).__name__}")
    dense = [layer for layer in _layers(model) if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError(f"{type(model).__name__} has no Dense layer to serve as its output layer")
    return dense[-1]


def _body(model: keras.Model) -> list:
    head = {id(w) for w in output_layer(model).weights}
    return [w for w in model.weights if id(w) not in head]


def copy_body(source: keras.Model, target: keras.Model) -> int:
    """Copy every weight of ``source`` into ``target`` (in creation order), except the
    output layer's; batch normalization's moving statistics included.

    Both models must have the same architecture up to the output layer and be
    built. Returns the number of tensors copied; a different number or shape of
    weights raises a ``ValueError``.
    """
    src, tgt = _body(source), _body(target)
    if len(src) != len(tgt):
        raise ValueError(f"the bodies differ: source has {len(src)} weight tensors outside its "
                         f"output layer, target {len(tgt)} (are both models built?)")
    for s, t in zip(src, tgt):
        if tuple(s.shape) != tuple(t.shape):
            raise ValueError(f"{s.path}: source has shape {tuple(s.shape)}, target "
                             f"{t.path} {tuple(t.shape)}")
    for s, t in zip(src, tgt):
        t.assign(np.asarray(keras.ops.convert_to_numpy(s)))
    return len(src)


def freeze_body(model: keras.Model) -> int:
    """Mark every weight except the output layer's as not trainable; return how many
    parameters stay trainable.

    Batch normalization (if the body has any) still updates its moving
    statistics in training mode, as with PyTorch's ``freeze_body``.
    """
    head = {id(w) for w in output_layer(model).weights}
    for w in model.weights:
        if id(w) in head:
            w.trainable = True
        elif w.trainable:
            w.trainable = False
            w._frozen_by_freeze_body = True   # so that unfreeze leaves BN's statistics alone
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def unfreeze(model: keras.Model) -> int:
    """Make every weight that ``freeze_body`` froze trainable again; return how many
    parameters are trainable."""
    for w in model.weights:
        if getattr(w, "_frozen_by_freeze_body", False):
            w.trainable = True
            w._frozen_by_freeze_body = False
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))

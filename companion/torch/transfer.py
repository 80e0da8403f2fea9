"""Transfer learning in PyTorch: reuse a trained body under a new output layer.

Read side by side with ``companion/keras/transfer.py`` (same function names,
same arguments). The recipe of the image-classification study (Part IX):

1. train a classifier on the source task (say digits 0 to 4);
2. build the same network with ``num_classes`` of the target task and copy
   every weight except the output layer: ``copy_body(source, target)``;
3. either freeze the copied body and train only the new output layer
   (``freeze_body(target)``: *feature extraction*), or train everything with a
   small learning rate (*full fine-tuning*).

The output layer ("head") of the book's classifiers is their last
``nn.Linear``: ``LeNet5``, ``ResNet``, ``CoAtNet``, ``MLP``.
"""
from __future__ import annotations

from torch import nn


def output_layer(model: nn.Module) -> nn.Linear:
    """The model's output layer: the last ``nn.Linear`` it registers."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"output_layer expected a torch.nn.Module, got {type(model).__name__}")
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to serve as its output "
                         "layer")
    return linear[-1]


def _head_names(model: nn.Module) -> set:
    head = output_layer(model)
    prefix = next(name for name, m in model.named_modules() if m is head)
    return {f"{prefix}.{key}" for key in head.state_dict()}


def copy_body(source: nn.Module, target: nn.Module) -> int:
    """Copy every parameter and buffer of ``source`` into ``target``, except the output layer.

    Both models must have the same architecture up to the output layer (the
    output layers may differ in size: that is the point). Returns the number
    of tensors copied. A missing or differently shaped tensor raises a
    ``ValueError`` that names it.
    """
    src_head, tgt_head = _head_names(source), _head_names(target)
    src = {k: v for k, v in source.state_dict().items() if k not in src_head}
    tgt = {k: v for k, v in target.state_dict().items() if k not in tgt_head}
    if src.keys() != tgt.keys():
        raise ValueError(f"the bodies differ: only in source {sorted(src.keys() - tgt.keys())}, "
                         f"only in target {sorted(tgt.keys() - src.keys())}")
    for key, value in src.items():
        if value.shape != tgt[key].shape:
            raise ValueError(f"{key}: source has shape {tuple(value.shape)}, target "
                             f"{tuple(tgt[key].shape)}")
    target.load_state_dict(src, strict=False)
    return len(src)


def freeze_body(model: nn.Module) -> int:
    """Stop the gradient of every parameter except the output layer's; return how many
    parameters stay trainable.

    Only the weights are frozen: batch normalization (if the body has any)
    still updates its running statistics in training mode, as in Keras's
    ``freeze_body``.
    """
    head = set(map(id, output_layer(model).parameters()))
    for p in model.parameters():
        p.requires_grad_(id(p) in head)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def unfreeze(model: nn.Module) -> int:
    """Make every parameter trainable again; return how many there are."""
    for p in model.parameters():
        p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters())

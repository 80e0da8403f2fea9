"""Framework-free helpers of the appendix "From one device to many".

* the checks of the training loops' scaling arguments (``accumulate``,
  ``precision``, ``checkpoint``, ``resume``, ``stop_after``), shared so that
  ``companion.torch.train`` and ``companion.keras.train`` accept and refuse
  exactly the same values with the same messages;
* ``training_memory``: the bytes that training with Adam needs per GPU for
  parameters, gradients and optimizer states, unsharded and under the three
  ZeRO stages (the FSDP table of the chapter).
"""
from __future__ import annotations

from pathlib import Path

PRECISIONS = ("float32", "bfloat16", "float16")


def check_scaling_args(*, epochs, accumulate, precision, checkpoint, resume, stop_after) -> None:
    """Raise ``ValueError`` for a bad value of one of the training loops' scaling arguments."""
    if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
        raise ValueError(f"accumulate must be a positive integer (micro-batches per "
                         f"optimizer step), got {accumulate!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {sorted(PRECISIONS)}")
    if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
        raise ValueError(f"checkpoint must be a path (str or pathlib.Path) or None, "
                         f"got {type(checkpoint).__name__}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from")
    if stop_after is not None:
        if isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 1:
            raise ValueError(f"stop_after must be a positive integer or None, got {stop_after!r}")
        if stop_after > epochs:
            raise ValueError(f"stop_after={stop_after} is beyond epochs={epochs}")
        if checkpoint is None:
            raise ValueError("stop_after without checkpoint=<path> would lose the run; "
                             "give a checkpoint to resume from")


def checkpoint_files(checkpoint) -> dict[str, Path]:
    """The files a checkpoint prefix stands for, in each framework.

    ``checkpoint="runs/mlp"`` is ``runs/mlp.pt`` for PyTorch and
    ``runs/mlp.weights.h5`` (model and optimizer variables) plus
    ``runs/mlp.json`` (epoch, history, random states) for Keras.
    """
    stem = Path(checkpoint)
    return {"torch": stem.with_name(stem.name + ".pt"),
            "keras_weights": stem.with_name(stem.name + ".weights.h5"),
            "keras_state": stem.with_name(stem.name + ".json")}


# Bytes per parameter in mixed-precision training with Adam (Rajbhandari et al., 2020):
# 2 for the 16-bit parameters, 2 for the 16-bit gradients, and 12 for the optimizer
# states (a float32 master copy of the parameters, Adam's two float32 moments).
BYTES_PARAMS, BYTES_GRADS, BYTES_OPTIMIZER = 2, 2, 12


def training_memory(n_params: int, n_gpus: int, stage: int = 0) -> dict[str, float]:
    """Bytes per GPU for parameters, gradients and optimizer states under ZeRO ``stage``.

    Stage 0 is plain data parallelism (every GPU holds everything); stage 1
    shards the optimizer states over the ``n_gpus``, stage 2 also the
    gradients, stage 3 (PyTorch's FSDP with full sharding) also the
    parameters. Activations and temporary buffers come on top.
    """
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"ZeRO stage must be 0, 1, 2 or 3, got {stage!r}")
    if n_gpus < 1 or n_params < 1:
        raise ValueError("n_params and n_gpus must be positive")
    params = n_params * BYTES_PARAMS / (n_gpus if stage >= 3 else 1)
    grads = n_params * BYTES_GRADS / (n_gpus if stage >= 2 else 1)
    states = n_params * BYTES_OPTIMIZER / (n_gpus if stage >= 1 else 1)
    return {"parameters": params, "gradients": grads, "optimizer": states,
            "total": params + grads + states}


def gpt_parameters(n_layer: int, d_model: int, vocab: int = 50257, context: int = 1024) -> int:
    """Parameters of a GPT-2-style decoder (tied embeddings, biases, two LayerNorms a block).

    Per block: attention ``4 d^2 + 4 d``, MLP ``8 d^2 + 5 d``, LayerNorms ``4 d``;
    plus token and position embeddings and the final LayerNorm. GPT-2 small
    (12 layers, 768 wide) has 124,439,808.
    """
    block = 12 * d_model ** 2 + 13 * d_model
    return n_layer * block + vocab * d_model + context * d_model + 2 * d_model

"""Data parallelism with the real engines, on two CPU processes or devices.

Appendix "From one device to many". Two workers, each run in a fresh process:

* PyTorch: ``DistributedDataParallel`` over the ``gloo`` backend, started by
  ``torchrun --standalone --nproc_per_node=2 -m companion.distributed torch OUT``.
  Each process trains on its half of every batch; DDP averages the gradients
  (an all-reduce) so that both processes take the same step.
* Keras: ``keras.distribution.DataParallel`` on the JAX backend with two
  virtual CPU devices (``KERAS_BACKEND=jax`` and
  ``XLA_FLAGS=--xla_force_host_platform_device_count=2``, which must be set
  before JAX is imported, hence the fresh process):
  ``python -m companion.distributed keras OUT``.

Both workers also train the same model on the whole batches in one process or
on one device, and save the two runs (loss curves, weights after the first
step) to ``OUT`` (an ``.npz`` file), so the notebook can check that they agree. ``run_torch`` and
``run_keras`` start a worker from Python and return what it saved.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FEATURES, HIDDEN, CLASSES, BATCH = 8, 16, 3, 32


def problem(steps: int, seed: int = 0):
    """``steps`` batches of a 3-class problem, and the initial weights (NumPy, float32)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps, BATCH, FEATURES)).astype("float32")
    y = (x[..., 0] > 0).astype("int64") + (x[..., 1] > 0.5)   # labels 0, 1, 2
    w1 = rng.normal(scale=FEATURES ** -0.5, size=(HIDDEN, FEATURES)).astype("float32")
    w2 = rng.normal(scale=HIDDEN ** -0.5, size=(CLASSES, HIDDEN)).astype("float32")
    return x, y, [w1, np.zeros(HIDDEN, "float32"), w2, np.zeros(CLASSES, "float32")]


# ----------------------------------------------------------------------------- PyTorch
def _torch_model(weights):
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, CLASSES))
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):   # PyTorch layout: (out, in)
            p.copy_(torch.from_numpy(w))
    return model


def _torch_run(model, x, y, lr, rank=0, world=1):
    """SGD on every batch; this process sees rows ``rank::world`` of each batch."""
    import torch
    import torch.distributed as dist
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses, first = [], None
    for xb, yb in zip(torch.from_numpy(x), torch.from_numpy(y)):
        loss = torch.nn.functional.cross_entropy(model(xb[rank::world]), yb[rank::world])
        opt.zero_grad()
        loss.backward()          # under DDP: gradients all-reduced (averaged) here
        opt.step()
        if world > 1:            # the loss on the whole batch, for the curve
            loss = loss.detach().clone()
            dist.all_reduce(loss)
            loss /= world
        losses.append(loss.item())
        if first is None:        # the weights after one step
            first = [p.detach().numpy().copy() for p in model.parameters()]
    return losses, first


def torch_worker(out: str, steps: int, lr: float) -> None:
    """One process of the DDP run (started by torchrun); rank 0 also runs one process alone."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo")             # torchrun's environment says where to meet
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y, weights = problem(steps)
    ddp = DistributedDataParallel(_torch_model(weights))
    ddp_losses, ddp_first = _torch_run(ddp, x, y, lr, rank, world)
    if rank == 0:                               # the reference: one process, whole batches
        single_losses, single_first = _torch_run(_torch_model(weights), x, y, lr)
        _save(out, world, ddp_losses, single_losses, ddp_first, single_first)
    dist.destroy_process_group()


# ----------------------------------------------------------------------------- Keras (JAX)
def _keras_model(weights):
    import keras
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(HIDDEN, "relu"),
                              keras.layers.Dense(CLASSES)])
    w1, b1, w2, b2 = weights
    model.set_weights([w1.T, b1, w2.T, b2])     # Keras layout: (in, out)
    return model


def _keras_run(model, x, y, lr):
    import keras
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses, first = [], None
    for xb, yb in zip(x, y):
        losses.append(float(model.train_on_batch(xb, yb)))
        if first is None:
            first = [w.T for w in model.get_weights()]   # PyTorch's layout, as saved above
    return losses, first


def keras_worker(out: str, steps: int, lr: float) -> None:
    """One device, then ``DataParallel`` over every device JAX sees, on the same batches."""
    import keras

    devices = keras.distribution.list_devices()
    x, y, weights = problem(steps)
    single_losses, single_first = _keras_run(_keras_model(weights), x, y, lr)
    # Under DataParallel the variables are replicated on every device and each batch
    # is split along its first axis; JAX inserts the all-reduce of the gradients.
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    parallel = _keras_model(weights)
    ddp_losses, ddp_first = _keras_run(parallel, x, y, lr)
    _save(out, len(devices), ddp_losses, single_losses, ddp_first, single_first,
          sharding=str(parallel.weights[0].value.sharding))


def _save(out, world, ddp_losses, single_losses, ddp_first, single_first, **extra):
    """The two runs' loss curves and their weights after the first step, to ``out``."""
    np.savez(out, world=world, ddp_losses=ddp_losses, single_losses=single_losses,
             **{f"ddp_first_{i}": w for i, w in enumerate(ddp_first)},
             **{f"single_first_{i}": w for i, w in enumerate(single_first)}, **extra)


def first_step_difference(result: dict) -> float:
    """Largest difference between the parallel and the single weights after one step."""
    n = sum(key.startswith("ddp_first_") for key in result)
    return max(float(np.abs(result[f"ddp_first_{i}"] - result[f"single_first_{i}"]).max())
               for i in range(n))


# ----------------------------------------------------------------------------- launchers
def _launch(command, env, out, timeout):
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    result = dict(np.load(out))
    result["seconds"] = time.perf_counter() - started
    return result


def run_torch(steps: int = 20, lr: float = 0.5, nproc: int = 2, timeout: float = 120) -> dict:
    """Start ``torchrun --standalone --nproc_per_node=nproc`` on ``torch_worker``; its results."""
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m",
                                                          "torch.distributed.run"]
    out = Path(tempfile.mkdtemp()) / "ddp.npz"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = launcher + ["--standalone", f"--nproc_per_node={nproc}", "-m",
                          "companion.distributed", "torch", str(out), str(steps), str(lr)]
    return _launch(command, env, out, timeout)


def run_keras(steps: int = 20, lr: float = 0.5, devices: int = 2, timeout: float = 120) -> dict:
    """Run ``keras_worker`` in a fresh process on the JAX backend with ``devices`` CPU devices."""
    out = Path(tempfile.mkdtemp()) / "data_parallel.npz"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    command = [sys.executable, "-m", "companion.distributed", "keras", str(out), str(steps),
               str(lr)]
    return _launch(command, env, out, timeout)


def jax_available() -> bool:
    """Whether JAX is installed (the Keras data-parallel run needs it)."""
    import importlib.util
    return importlib.util.find_spec("jax") is not None


if __name__ == "__main__":
    engine, out, steps, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    {"torch": torch_worker, "keras": keras_worker}[engine](out, steps, lr)

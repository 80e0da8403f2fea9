"""Which engine is fastest? The same book models trained by every engine, timed.

Appendix "From one device to many". Keras chooses its backend once per
process, so ``compare`` starts one process per backend::

    KERAS_BACKEND=tensorflow python -m companion.engines OUT.json mlp,gru 2 300
    (models, epochs, examples)

The ``tensorflow`` process times Keras on TensorFlow with and without XLA
(``jit_compile``), the ``jax`` process Keras on JAX (always compiled by XLA),
and the ``torch`` process plain PyTorch and Keras on the PyTorch backend.
Every process runs on one CPU thread (GPUs hidden). For each engine and model it records the
first epoch (which includes tracing and compilation) and the median of the
later epochs (the steady state): their difference is the one-off cost.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH, LR = 32, 1e-3
ENGINES = {"tensorflow": ("Keras / TensorFlow", "Keras / TensorFlow + XLA"),
           "jax": ("Keras / JAX",),
           "torch": ("PyTorch", "Keras / PyTorch")}
MODELS = ("mlp", "lenet5", "gru", "resnet")


def dataset(model: str, n: int):
    """``n`` training examples of scikit-learn's digits, shaped for ``model`` (NCHW images)."""
    from companion import data
    if model == "lenet5":
        split = data.digits32(seed=0)
        return split.x_train[:n], split.y_train[:n]
    split = data.digits(flatten=model == "mlp", seed=0)
    x = split.x_train[:n]
    return (x[:, None] if model == "resnet" else x), split.y_train[:n]


def build(model: str, framework):
    """The book's model from ``companion.torch`` or ``companion.keras``."""
    return {"mlp": lambda: framework.MLP(64, (64,), 10),
            "lenet5": lambda: framework.LeNet5(),
            "gru": lambda: framework.GRU(8, 32, 10),
            "resnet": lambda: framework.ResNet("basic", (1, 1, 1), num_classes=10,
                                               in_channels=1, width=8, stem="small")}[model]()


def time_torch(model: str, x, y, epochs: int) -> list[float]:
    """Seconds of each epoch of Adam on mini-batches of 32, plain PyTorch."""
    import torch
    import companion.torch as ct
    torch.manual_seed(0)
    net = build(model, ct)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for idx in torch.randperm(len(x)).split(BATCH):
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def time_keras(model: str, x, y, epochs: int, jit_compile) -> list[float]:
    """Seconds of each epoch of ``fit`` with Adam on mini-batches of 32."""
    import keras
    import companion.keras as ck
    from companion import parity
    keras.utils.set_random_seed(0)
    net = build(model, ck)
    if x.ndim == 4:
        x = parity.to_channels_last(x)
    net.compile(optimizer=keras.optimizers.Adam(LR), jit_compile=jit_compile,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.optimizer.build(net.trainable_variables)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    net.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[Timer()])
    return times


def summary(times: list[float]) -> dict[str, float]:
    """Epoch times -> the first epoch, the steady state (median of the others), their gap."""
    steady = float(np.median(times[1:]))
    return {"first": times[0], "steady": steady, "overhead": max(times[0] - steady, 0.0)}


def worker(out: str, models, epochs: int, n: int) -> None:
    """Time every engine this process's Keras backend offers; write JSON to ``out``."""
    import keras
    backend = keras.backend.backend()
    runs = {"tensorflow": {"Keras / TensorFlow": lambda *a: time_keras(*a, jit_compile=False),
                           "Keras / TensorFlow + XLA": lambda *a: time_keras(*a, jit_compile=True)},
            "jax": {"Keras / JAX": lambda *a: time_keras(*a, jit_compile=True)},
            "torch": {"PyTorch": time_torch,
                      "Keras / PyTorch": lambda *a: time_keras(*a, jit_compile=False)}}[backend]
    results = {}
    for model in models:
        x, y = dataset(model, n)
        for engine, run in runs.items():
            results.setdefault(engine, {})[model] = summary(run(model, x, y, epochs))
    Path(out).write_text(json.dumps(results))


def compare(models=MODELS, epochs: int = 3, n: int = 1000, backends=tuple(ENGINES),
            timeout: float = 600) -> dict:
    """Run ``worker`` once per Keras backend, one after the other, on one thread each.

    Returns ``{engine: {model: {"first", "steady", "overhead"}}}`` in seconds.
    """
    if epochs < 2:
        raise ValueError(f"epochs must be at least 2 (the first one includes compilation), "
                         f"got {epochs}")
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown models {sorted(unknown)}; expected some of {MODELS}")
    results = {}
    for backend in backends:
        out = Path(tempfile.mkdtemp()) / "engines.json"
        env = dict(os.environ, KERAS_BACKEND=backend, OMP_NUM_THREADS="1",
                   CUDA_VISIBLE_DEVICES="",        # a CPU comparison, even on a GPU machine
                   TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", JAX_PLATFORMS="cpu",
                   XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
        command = [sys.executable, "-m", "companion.engines", str(out), ",".join(models),
                   str(epochs), str(n)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"KERAS_BACKEND={backend} {' '.join(command)} failed:\n"
                               f"{done.stderr[-3000:]}")
        results.update(json.loads(out.read_text()))
    return results


if __name__ == "__main__":
    if os.environ.get("KERAS_BACKEND") == "torch":
        import torch
        torch.set_num_threads(1)  # the PyTorch engines; the others read the environment
    worker(sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]))

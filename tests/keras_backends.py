"""Run the backend-agnostic Keras tests on another Keras backend, in a subprocess.

The default backend is TensorFlow, on which the whole suite runs. The PyTorch
and JAX runs live in two test files (``test_keras_backends.py``,
``test_keras_backend_jax.py``) so that the two xdist workers can take one each.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

AGNOSTIC_FILES = ["tests/test_models.py", "tests/test_parity.py", "tests/test_feedforward.py",
                  "tests/test_flows.py",
                  "tests/test_rnn.py", "tests/test_cnn.py", "tests/test_config.py",
                  "tests/test_neuron.py", "tests/test_backprop.py"]


def require(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")


def run_agnostic_tests(backend: str) -> None:
    require(backend)
    # JAX computes in float32 unless 64-bit mode is on; the gradient checks use float64.
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_ENABLE_X64="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-m",
         "keras_backend_agnostic", *AGNOSTIC_FILES, "-W", "ignore::UserWarning"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )
    report = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert " passed" in result.stdout and "failed" not in result.stdout, report


def active_backend(backend: str) -> str:
    require(backend)
    env = dict(os.environ, KERAS_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", "import keras; print(keras.backend.backend())"],
                         env=env, capture_output=True, text=True, timeout=300)
    return out.stdout.strip() + out.stderr[-2000:]

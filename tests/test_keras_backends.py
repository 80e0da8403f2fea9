"""The Keras code is backend-agnostic: its tests also pass on the PyTorch and JAX backends.

The default backend is TensorFlow (the whole suite runs on it); these tests
run the backend-agnostic tests again in a subprocess on each other backend.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BACKENDS = ["torch", "jax"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_tests_pass_with_another_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    # JAX computes in float32 unless 64-bit mode is on; the gradient checks use float64.
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_ENABLE_X64="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-m",
         "keras_backend_agnostic", "tests/test_models.py", "tests/test_parity.py",
         "tests/test_feedforward.py", "tests/test_rnn.py", "tests/test_cnn.py",
         "tests/test_config.py", "tests/test_neuron.py", "tests/test_backprop.py",
         "-W", "ignore::UserWarning"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )
    report = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert " passed" in result.stdout and "failed" not in result.stdout, report


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_subprocess_really_uses_the_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", "import keras; print(keras.backend.backend())"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith(backend), out.stderr[-2000:]


def test_float64_gradients_on_jax_without_64_bit_mode_raise_a_clear_error():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    code = ("import keras, numpy as np\n"
            "from companion.keras import autodiff\n"
            "v = keras.Variable(np.ones(3), dtype='float64')\n"
            "try:\n"
            "    autodiff.value_and_grad(lambda: keras.ops.sum(v), [v])\n"
            "except ValueError as error:\n"
            "    print(error)\n")
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["KERAS_BACKEND"] = "jax"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert "JAX_ENABLE_X64=1" in out.stdout, out.stdout + out.stderr[-2000:]

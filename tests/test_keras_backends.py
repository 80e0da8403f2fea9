"""The Keras code is backend-agnostic: its tests also pass on the PyTorch backend."""
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_keras_tests_pass_with_the_torch_backend():
    env = dict(os.environ, KERAS_BACKEND="torch")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
         "keras_backend_agnostic", "tests/test_models.py", "tests/test_parity.py",
         "tests/test_feedforward.py", "tests/test_rnn.py", "tests/test_cnn.py",
         "tests/test_config.py", "tests/test_neuron.py", "tests/test_backprop.py",
         "-W", "ignore::UserWarning"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    report = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert " passed" in result.stdout and "failed" not in result.stdout, report


def test_the_subprocess_really_uses_the_torch_backend():
    env = dict(os.environ, KERAS_BACKEND="torch")
    out = subprocess.run([sys.executable, "-c", "import keras; print(keras.backend.backend())"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith("torch"), out.stderr[-2000:]

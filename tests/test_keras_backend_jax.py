"""The Keras code is backend-agnostic: its tests also pass on the JAX backend."""
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.keras_backends import active_backend, require, run_agnostic_tests


def test_keras_tests_pass_with_the_jax_backend():
    run_agnostic_tests("jax")


def test_the_subprocess_really_uses_the_jax_backend():
    assert active_backend("jax").splitlines()[0].endswith("jax")


def test_float64_gradients_on_jax_without_64_bit_mode_raise_a_clear_error():
    require("jax")
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

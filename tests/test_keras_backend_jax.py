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


def test_training_compiles_by_default_on_jax_only():
    """``jit_compile="auto"``: XLA on JAX (op-by-op JAX is many times slower), not on TensorFlow."""
    require("jax")
    code = ("import numpy as np, companion.keras as ck\n"
            "from companion.keras.training import resolve_jit_compile\n"
            "m = ck.MLP(4, (8,), 3)\n"
            "x = np.random.default_rng(0).normal(size=(64, 4)).astype('float32')\n"
            "h = ck.train(m, (x, np.arange(64) % 3), epochs=2, progress=False)\n"
            "print(resolve_jit_compile('auto'), m.jit_compile, len(h['loss']))\n")
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "True True 2", out.stdout + out.stderr[-2000:]


def test_jit_compile_auto_is_off_on_tensorflow_and_checked():
    import pytest

    from companion.keras.training import resolve_jit_compile

    assert resolve_jit_compile("auto") is False       # this process runs TensorFlow
    assert resolve_jit_compile(True) is True
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'"):
        resolve_jit_compile("yes")
